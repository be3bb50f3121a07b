#!/usr/bin/env python3
"""A small OTLP/HTTP trace receiver with a Jaeger-style query API.

It decodes what an OpenTelemetry SDK exports to POST /v1/traces (protobuf, or
JSON; gzip or not) with the official definitions (opentelemetry-proto), keeps
the spans in memory and answers the two calls of Jaeger's HTTP query API that
`tasker doctor telemetry` makes:

    GET /api/services          {"data": ["tasker", ...]}
    GET /api/traces/<trace id>  {"data": [{"traceID", "spans", "processes"}]}

so the doctor checks CI's telemetry the way it checks a real Jaeger. Run:

    python3 otlp_receiver.py --port 4318 [--port-file FILE]
"""

import argparse
import gzip
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

# Jaeger's names for span kinds (OTLP's enum values).
KINDS = {
    Span.SPAN_KIND_INTERNAL: "internal",
    Span.SPAN_KIND_SERVER: "server",
    Span.SPAN_KIND_CLIENT: "client",
    Span.SPAN_KIND_PRODUCER: "producer",
    Span.SPAN_KIND_CONSUMER: "consumer",
}

# At most this many traces are kept; the oldest go first.
MAX_TRACES = 100_000


def tag(key, value):
    """A Jaeger tag from an OTLP AnyValue."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return {"key": key, "type": "string", "value": value.string_value}
    if kind == "bool_value":
        return {"key": key, "type": "bool", "value": value.bool_value}
    if kind == "int_value":
        return {"key": key, "type": "int64", "value": value.int_value}
    if kind == "double_value":
        return {"key": key, "type": "float64", "value": value.double_value}
    if kind == "bytes_value":
        return {"key": key, "type": "binary", "value": value.bytes_value.hex()}
    # Arrays and key-value lists: their JSON text, as Jaeger shows them.
    return {"key": key, "type": "string", "value": json_format.MessageToJson(value, indent=None)}


class Store:
    """Spans by trace id, as Jaeger JSON, and the services seen."""

    def __init__(self):
        self.lock = threading.Lock()
        self.traces = {}  # trace id -> {"spans": [...], "processes": {...}}
        self.services = set()
        self.spans = 0

    def add(self, request):
        with self.lock:
            for resource_spans in request.resource_spans:
                resource = {kv.key: kv.value for kv in resource_spans.resource.attributes}
                service = resource.get("service.name")
                service = service.string_value if service is not None else "unknown_service"
                self.services.add(service)
                process = {
                    "serviceName": service,
                    "tags": [tag(k, v) for k, v in resource.items() if k != "service.name"],
                }
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        self.add_span(span, process, scope_spans.scope.name)

    def add_span(self, span, process, scope):
        trace_id = span.trace_id.hex()
        trace = self.traces.get(trace_id)
        if trace is None:
            if len(self.traces) >= MAX_TRACES:
                self.traces.pop(next(iter(self.traces)))
            trace = self.traces[trace_id] = {"spans": [], "processes": {}}
        pid = "p{}".format(
            next(
                (i for i, p in enumerate(trace["processes"].values(), 1) if p == process),
                len(trace["processes"]) + 1,
            )
        )
        trace["processes"][pid] = process
        tags = [tag(kv.key, kv.value) for kv in span.attributes]
        tags.append({"key": "span.kind", "type": "string", "value": KINDS.get(span.kind, "unspecified")})
        if scope:
            tags.append({"key": "otel.scope.name", "type": "string", "value": scope})
        if span.status.code == Status.STATUS_CODE_ERROR:
            tags.append({"key": "otel.status_code", "type": "string", "value": "ERROR"})
            tags.append({"key": "error", "type": "bool", "value": True})
            if span.status.message:
                tags.append({"key": "otel.status_description", "type": "string", "value": span.status.message})
        references = []
        if span.parent_span_id:
            references.append({"refType": "CHILD_OF", "traceID": trace_id, "spanID": span.parent_span_id.hex()})
        trace["spans"].append(
            {
                "traceID": trace_id,
                "spanID": span.span_id.hex(),
                "operationName": span.name,
                "references": references,
                "startTime": span.start_time_unix_nano // 1000,
                "duration": max(0, span.end_time_unix_nano - span.start_time_unix_nano) // 1000,
                "tags": tags,
                "logs": [
                    {
                        "timestamp": event.time_unix_nano // 1000,
                        "fields": [{"key": "event", "type": "string", "value": event.name}]
                        + [tag(kv.key, kv.value) for kv in event.attributes],
                    }
                    for event in span.events
                ],
                "processID": pid,
                "warnings": None,
            }
        )
        self.spans += 1

    def trace(self, trace_id):
        with self.lock:
            trace = self.traces.get(trace_id.lower())
            if trace is None:
                return None
            return {"traceID": trace_id.lower(), "spans": list(trace["spans"]), "processes": dict(trace["processes"])}


STORE = Store()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        if self.server.verbose:
            super().log_message(format, *args)

    def reply(self, status, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        if self.path.split("?")[0] != "/v1/traces":
            return self.reply(404, {"error": "only /v1/traces is received here"})
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            body = gzip.decompress(body)
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip()
        request = ExportTraceServiceRequest()
        try:
            if content_type == "application/json":
                json_format.Parse(body, request)
            else:
                request.ParseFromString(body)
        except Exception as error:  # a malformed export is the sender's bug: say so
            return self.reply(400, {"error": "not an ExportTraceServiceRequest: {}".format(error)})
        STORE.add(request)
        if content_type == "application/json":
            return self.reply(200, {})
        return self.reply(200, ExportTraceServiceResponse().SerializeToString(), "application/x-protobuf")

    def do_GET(self):
        path = self.path.split("?")[0].rstrip("/")
        if path == "/api/services":
            with STORE.lock:
                services = sorted(STORE.services)
            return self.reply(200, {"data": services, "total": len(services)})
        if path.startswith("/api/traces/"):
            trace = STORE.trace(path[len("/api/traces/"):])
            if trace is None:
                return self.reply(404, {"data": None, "errors": [{"code": 404, "msg": "trace not found"}]})
            return self.reply(200, {"data": [trace], "total": 0, "limit": 0, "offset": 0, "errors": None})
        if path in ("", "/health"):
            with STORE.lock:
                return self.reply(200, {"traces": len(STORE.traces), "spans": STORE.spans})
        return self.reply(404, {"error": "unknown path"})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4318, help="0 picks a free port")
    parser.add_argument("--port-file", help="write the port listened on to this file")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.verbose = args.verbose
    port = server.server_address[1]
    if args.port_file:
        with open(args.port_file, "w") as f:
            f.write(str(port))
    print("OTLP/HTTP receiver on http://{}:{} (POST /v1/traces, GET /api/traces/ID)".format(args.host, port), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

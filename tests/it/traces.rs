//! Traces as a collector sees them: `tasker serve` exporting OTLP/HTTP (set up
//! by the standard environment variable) to a receiver in this test that
//! decodes the protobuf with the official OpenTelemetry definitions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use prost::Message;
use serde_json::{Value, json};

use crate::support::Server;

const TEMPLATE: &str = "name: traced
namespace: tracing
steps:
  - {name: fetch, handler: noop}
  - name: charge
    handler: fail_times
    config: {times: 1}
    retry: {max_attempts: 2, backoff_ms: 5}
    depends_on: [fetch]
  - {name: ship, handler: carrier, external: true, depends_on: [charge]}
";

/// The caller's trace: the request span must become a child of this span.
const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

#[derive(Debug, Clone)]
struct Span {
    trace: String,
    id: String,
    parent: String,
    name: String,
    kind: i32,
    error: bool,
    attributes: HashMap<String, String>,
    service: String,
}

fn text(value: Option<&Any>) -> String {
    match value {
        Some(Any::StringValue(s)) => s.clone(),
        Some(Any::IntValue(i)) => i.to_string(),
        Some(Any::BoolValue(b)) => b.to_string(),
        Some(Any::DoubleValue(d)) => d.to_string(),
        _ => String::new(),
    }
}

fn decode(body: &[u8]) -> Vec<Span> {
    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf export");
    let mut spans = Vec::new();
    for resource in request.resource_spans {
        let service = resource
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "service.name")
            .map(|kv| text(kv.value.as_ref().and_then(|v| v.value.as_ref())))
            .unwrap_or_default();
        for span in resource.scope_spans.into_iter().flat_map(|s| s.spans) {
            spans.push(Span {
                trace: hex(&span.trace_id),
                id: hex(&span.span_id),
                parent: hex(&span.parent_span_id),
                name: span.name,
                kind: span.kind,
                // STATUS_CODE_ERROR
                error: span.status.is_some_and(|s| s.code == 2),
                attributes: span
                    .attributes
                    .iter()
                    .map(|kv| {
                        (
                            kv.key.clone(),
                            text(kv.value.as_ref().and_then(|v| v.value.as_ref())),
                        )
                    })
                    .collect(),
                service: service.clone(),
            });
        }
    }
    spans
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A collector on a free port; returns its base URL and what it received.
async fn receiver() -> (String, Arc<Mutex<Vec<Span>>>) {
    let spans = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&spans);
    let app = Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| async move {
            kept.lock().expect("lock").extend(decode(&body));
            ([("content-type", "application/x-protobuf")], Bytes::new())
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, spans)
}

/// `tasker serve` exporting to `collector`.
fn serve(dir: &std::path::Path, collector: &str) -> Server {
    let templates = dir.join("templates");
    std::fs::create_dir_all(&templates).expect("dir");
    std::fs::write(templates.join("traced.yaml"), TEMPLATE).expect("template");
    let db = format!("sqlite://{}?mode=rwc", dir.join("traces.db").display());
    // Task events become spans only when routed there.
    let config = dir.join("tasker.toml");
    std::fs::write(
        &config,
        "[observability.routes]\n\"task.*\" = [\"metric\", \"log\", \"span\"]\n",
    )
    .expect("config");
    let (config, templates) = (config.display().to_string(), templates.display().to_string());
    Server::start(
        &["--config", &config],
        &["--database-url", &db, "--templates", &templates],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    )
}

async fn graphql(
    client: &reqwest::Client,
    base: &str,
    query: &str,
    variables: Value,
    headers: &[(&str, &str)],
) -> Value {
    let mut request = client
        .post(format!("{base}/graphql"))
        .json(&json!({"query": query, "variables": variables, "operationName": "Traced"}));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("sent").json().await.expect("json")
}

fn one<'a>(spans: &'a [Span], what: &str, pick: impl Fn(&Span) -> bool) -> &'a Span {
    let found: Vec<&Span> = spans.iter().filter(|s| pick(s)).collect();
    assert_eq!(found.len(), 1, "exactly one {what} span expected in {spans:#?}");
    found[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_task_attempt_and_handler_spans_form_one_trace_at_the_collector() {
    tasker::install_tls_provider();
    let (collector, received) = receiver().await;
    let dir = tempfile::tempdir().expect("dir");
    let server = serve(dir.path(), &collector);
    let base = server.base.clone();
    let client = reqwest::Client::new();
    let traceparent = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");
    let created = graphql(
        &client,
        &base,
        "mutation Traced($input: CreateTaskInput!) { createTask(input: $input) { task { id traceId } } }",
        json!({"input": {"namespace": "tracing", "name": "traced", "context": {"order": 7}}}),
        &[("traceparent", &traceparent)],
    )
    .await;
    let task = &created["data"]["createTask"]["task"];
    let task_id = task["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_owned();
    assert_eq!(task["traceId"], CALLER_TRACE, "the task joins the caller's trace");

    // The external worker gets the task's trace context with its claim.
    let deadline = Instant::now() + Duration::from_secs(30);
    let claimed = loop {
        let body = graphql(
            &client,
            &base,
            "mutation Traced { claimSteps(input: {workerId: \"w\", handlers: [\"carrier\"], limit: 1, leaseSeconds: 60}) { step { id } leaseToken traceparent } }",
            json!({}),
            &[],
        )
        .await;
        if let Some(claimed) = body["data"]["claimSteps"].get(0) {
            break claimed.clone();
        }
        assert!(Instant::now() < deadline, "nothing to claim: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let worker_parent = claimed["traceparent"]
        .as_str()
        .unwrap_or_else(|| panic!("{claimed}"))
        .to_owned();
    assert!(
        worker_parent.starts_with(&format!("00-{CALLER_TRACE}-")),
        "{worker_parent}"
    );
    let done = graphql(
        &client,
        &base,
        "mutation Traced($id: ID!, $token: String!) { completeStep(stepId: $id, leaseToken: $token, results: {shipped: true}) { status } }",
        json!({"id": claimed["step"]["id"], "token": claimed["leaseToken"]}),
        &[],
    )
    .await;
    assert_eq!(done["data"]["completeStep"]["status"], "COMPLETE", "{done}");

    let spans = loop {
        let spans: Vec<Span> = received
            .lock()
            .expect("lock")
            .iter()
            .filter(|s| s.trace == CALLER_TRACE)
            .cloned()
            .collect();
        // Three attempts (one failed, retried), each with its handler call.
        let handlers = spans.iter().filter(|s| s.name == "handler").count();
        let finished = spans
            .iter()
            .any(|s| s.name == "task.completed" && s.attributes.get("task_id") == Some(&task_id));
        if handlers == 3 && finished {
            break spans;
        }
        if Instant::now() > deadline {
            let all = received.lock().expect("lock").clone();
            panic!("the trace is incomplete; every span received: {all:#?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    drop(server);

    assert!(spans.iter().all(|s| s.service == "tasker"), "{spans:#?}");
    let request = one(&spans, "request", |s| s.name == "POST /graphql");
    assert_eq!(request.parent, CALLER_SPAN, "continues the caller's span");
    assert_eq!(request.kind, 2, "SPAN_KIND_SERVER");
    assert_eq!(request.attributes["http.route"], "/graphql");
    assert_eq!(request.attributes["http.response.status_code"], "200");
    assert_eq!(request.attributes["graphql.operation.name"], "Traced");

    let task_span = one(&spans, "task", |s| s.name == "task");
    assert_eq!(task_span.parent, request.id);
    assert_eq!(task_span.attributes["tasker.task.id"], task_id);
    assert_eq!(task_span.attributes["tasker.task.namespace"], "tracing");
    assert_eq!(task_span.attributes["tasker.task.name"], "traced");
    assert_eq!(worker_parent, format!("00-{CALLER_TRACE}-{}-01", task_span.id));

    let attempts: Vec<&Span> = spans.iter().filter(|s| s.name == "step.attempt").collect();
    assert_eq!(attempts.len(), 3, "{attempts:#?}");
    for attempt in &attempts {
        assert_eq!(attempt.parent, task_span.id, "attempts hang under the task");
        assert_eq!(attempt.kind, 5, "SPAN_KIND_CONSUMER");
        assert_eq!(attempt.attributes["task_id"], task_id);
        // The request's correlation id, which the task keeps for its attempts.
        let correlation_id = &request.attributes["correlation_id"];
        assert!(!correlation_id.is_empty());
        assert_eq!(attempt.attributes.get("correlation_id"), Some(correlation_id));
        let handler = one(&spans, "handler of an attempt", |s| {
            s.name == "handler" && s.parent == attempt.id
        });
        assert_eq!(handler.attributes["handler"], attempt.attributes["handler"]);
    }
    let outcome = |step: &str, attempt: &str| {
        let found = one(&spans, "attempt", |s| {
            s.name == "step.attempt" && s.attributes["step"] == step && s.attributes["attempt"] == attempt
        });
        (found.attributes["outcome"].clone(), found.error)
    };
    assert_eq!(outcome("fetch", "1"), ("completed".to_owned(), false));
    assert_eq!(
        outcome("charge", "1"),
        ("handler".to_owned(), true),
        "a failed attempt is an error span"
    );
    assert_eq!(outcome("charge", "2"), ("completed".to_owned(), false));

    let completed = one(&spans, "task.completed event", |s| s.name == "task.completed");
    assert_eq!(
        completed.parent, task_span.id,
        "task events routed to spans join the task's trace"
    );
    assert!(
        spans.iter().all(|s| s.name != "engine.turn"),
        "engine turns stay out of traces"
    );
}

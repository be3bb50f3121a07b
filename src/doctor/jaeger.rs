//! A trace backend's Jaeger HTTP query API: the services it knows and a
//! trace by id.

use std::collections::HashMap;

use serde_json::Value;

use super::backend::{BackendError, Endpoint};

/// A span as the trace backend stored it.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSpan {
    /// Its id (16 hex digits).
    pub span_id: String,
    /// Its parent's id (a `CHILD_OF` reference), if any.
    pub parent: Option<String>,
    /// The operation name.
    pub name: String,
    /// Start, µs since the Unix epoch.
    pub start_us: i64,
    /// Duration in µs.
    pub duration_us: i64,
    /// Attributes, as text.
    pub tags: HashMap<String, String>,
    /// The `service.name` of the process that sent it.
    pub service: String,
}

impl TraceSpan {
    /// End, µs since the Unix epoch.
    pub fn end_us(&self) -> i64 {
        self.start_us + self.duration_us
    }
}

/// The trace backend's query API.
#[derive(Debug, Clone)]
pub struct Traces {
    at: Endpoint,
}

impl Traces {
    /// The query API at `base` (e.g. Jaeger's `http://127.0.0.1:16686`).
    pub fn new(base: &str) -> Self {
        Self {
            at: Endpoint::new(base),
        }
    }

    /// Its base URL.
    pub fn base(&self) -> &str {
        &self.at.base
    }

    /// The services the backend has spans of.
    pub async fn services(&self) -> Result<Vec<String>, BackendError> {
        let url = self.at.url("/api/services");
        let body = self.at.require_json(&url, "no Jaeger query API here").await?;
        Ok(body["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect())
    }

    /// Every span of trace `id` the backend holds; `None` when it has none.
    pub async fn trace(&self, id: &str) -> Result<Option<Vec<TraceSpan>>, BackendError> {
        let url = self.at.url(&format!("/api/traces/{id}"));
        Ok(self
            .at
            .get_json(&url)
            .await?
            .map(|body| parse_traces(&body))
            .filter(|spans| !spans.is_empty()))
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The spans of every trace in a query answer (`{"data": [trace, …]}`).
pub fn parse_traces(body: &Value) -> Vec<TraceSpan> {
    let mut spans = Vec::new();
    for trace in body["data"].as_array().into_iter().flatten() {
        let processes = &trace["processes"];
        for span in trace["spans"].as_array().into_iter().flatten() {
            let parent = span["references"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|r| r["refType"] == "CHILD_OF")
                .map(|r| text(&r["spanID"]));
            let tags = span["tags"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| (text(&t["key"]), text(&t["value"])))
                .collect();
            let process = span["processID"].as_str().unwrap_or_default();
            spans.push(TraceSpan {
                span_id: text(&span["spanID"]),
                parent,
                name: text(&span["operationName"]),
                start_us: span["startTime"].as_i64().unwrap_or_default(),
                duration_us: span["duration"].as_i64().unwrap_or_default(),
                tags,
                service: text(&processes[process]["serviceName"]),
            });
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn jaeger_traces_become_spans_with_parents_tags_and_services() {
        let body = json!({"data": [{
            "traceID": "4bf92f3577b34da6a3ce929d0e0e4736",
            "spans": [
                {"traceID": "4bf92f3577b34da6a3ce929d0e0e4736", "spanID": "a1", "operationName": "POST /graphql",
                 "references": [{"refType": "CHILD_OF", "traceID": "4bf92f3577b34da6a3ce929d0e0e4736", "spanID": "00f067aa0ba902b7"}],
                 "startTime": 1_700_000_000_000_000_i64, "duration": 1500, "processID": "p1",
                 "tags": [{"key": "http.response.status_code", "type": "int64", "value": 200},
                          {"key": "graphql.operation.name", "type": "string", "value": "DoctorCreateTask"}]},
                {"traceID": "4bf92f3577b34da6a3ce929d0e0e4736", "spanID": "b2", "operationName": "task",
                 "references": [{"refType": "FOLLOWS_FROM", "spanID": "zz"}, {"refType": "CHILD_OF", "spanID": "a1"}],
                 "startTime": 1_700_000_000_001_000_i64, "duration": 9000, "processID": "p1", "tags": []},
            ],
            "processes": {"p1": {"serviceName": "tasker", "tags": []}},
        }], "total": 0, "errors": null});
        let spans = parse_traces(&body);
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[0].parent.as_deref(), Some("00f067aa0ba902b7"));
        assert_eq!(spans[0].tags["http.response.status_code"], "200");
        assert_eq!(spans[0].tags["graphql.operation.name"], "DoctorCreateTask");
        assert_eq!(spans[0].service, "tasker");
        assert_eq!(spans[0].end_us(), 1_700_000_000_001_500);
        assert_eq!(
            spans[1].parent.as_deref(),
            Some("a1"),
            "the CHILD_OF reference is the parent"
        );
        assert!(parse_traces(&json!({"data": null})).is_empty());
    }
}

//! One run of a step: its idempotency key and how a failed run is described.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The key a handler uses to make its side effects idempotent: stable for one
/// attempt, different for the next.
pub fn idempotency_key(task_id: Uuid, step_name: &str, attempt: u32) -> String {
    format!("{task_id}:{step_name}:{attempt}")
}

/// Why an attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The handler returned an error.
    Handler,
    /// The attempt ran past its `timeout_ms`.
    Timeout,
    /// The lease ran out (the worker or replica died or stalled).
    LeaseExpired,
    /// No handler with the step's name is registered on the claiming replica.
    UnknownHandler,
    /// The handler panicked.
    Panic,
    /// The handler's results exceed the size limit.
    ResultTooLarge,
    /// An external worker reported the failure through `failStep`.
    Worker,
    /// The engine could not load the step's inputs (context, parent results).
    Dispatch,
    /// The replica shut down before the attempt finished: its lease was
    /// released at the end of the shutdown grace period.
    Shutdown,
    /// A step's `when` condition or `sleep.until` could not be evaluated.
    Expression,
    /// A person rejected the step (`rejectStep`).
    Rejected,
    /// The step's child task failed, was cancelled, or could not be created.
    ChildTask,
    /// An instance of the map step failed for good.
    MapItem,
}

impl FailureKind {
    /// Stable snake_case name, as stored and shown in `Step.error.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Handler => "handler",
            FailureKind::Timeout => "timeout",
            FailureKind::LeaseExpired => "lease_expired",
            FailureKind::UnknownHandler => "unknown_handler",
            FailureKind::Panic => "panic",
            FailureKind::ResultTooLarge => "result_too_large",
            FailureKind::Worker => "worker",
            FailureKind::Dispatch => "dispatch",
            FailureKind::Shutdown => "shutdown",
            FailureKind::Expression => "expression",
            FailureKind::Rejected => "rejected",
            FailureKind::ChildTask => "child_task",
            FailureKind::MapItem => "map_item",
        }
    }
}

/// Check JSON a handler or worker wants to store: at most `max_bytes` serialized,
/// and no NUL character anywhere (PostgreSQL's `jsonb` cannot hold one).
pub fn check_storable_json(value: &serde_json::Value, max_bytes: usize) -> Result<(), String> {
    fn has_nul(value: &serde_json::Value) -> bool {
        match value {
            serde_json::Value::String(s) => s.contains('\0'),
            serde_json::Value::Array(items) => items.iter().any(has_nul),
            serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
            _ => false,
        }
    }
    let size = serde_json::to_vec(value).map(|v| v.len()).unwrap_or(usize::MAX);
    if size > max_bytes {
        return Err(format!(
            "results are {size} bytes, more than the limit of {max_bytes}"
        ));
    }
    if has_nul(value) {
        return Err("results contain a NUL character (\\u0000), which cannot be stored".to_owned());
    }
    Ok(())
}

/// A failed attempt, as recorded on the step and in its error history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepFailure {
    /// What went wrong, for people.
    pub message: String,
    /// Classification.
    pub kind: FailureKind,
    /// Whether another attempt may help.
    pub retryable: bool,
    /// A wait the failing side asked for (e.g. HTTP `Retry-After`).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "millis")]
    pub retry_after: Option<Duration>,
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&(d.as_millis() as u64)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_key_changes_with_the_attempt() {
        let id = Uuid::nil();
        assert_eq!(idempotency_key(id, "charge", 1), format!("{id}:charge:1"));
        assert_ne!(idempotency_key(id, "charge", 1), idempotency_key(id, "charge", 2));
    }

    #[test]
    fn storable_json_refuses_big_values_and_nul_characters() {
        assert!(check_storable_json(&serde_json::json!({"a": "ok"}), 100).is_ok());
        assert!(check_storable_json(&serde_json::json!({"a": "x".repeat(200)}), 100).is_err());
        assert!(check_storable_json(&serde_json::json!({"a": ["nul\u{0}"]}), 100).is_err());
        assert!(check_storable_json(&serde_json::json!({"k\u{0}": 1}), 100).is_err());
    }

    #[test]
    fn failures_serialize_with_snake_case_kinds_and_millis() {
        let f = StepFailure {
            message: "boom".into(),
            kind: FailureKind::LeaseExpired,
            retryable: true,
            retry_after: Some(Duration::from_millis(1500)),
        };
        let v = serde_json::to_value(&f).expect("serializes");
        assert_eq!(v["kind"], "lease_expired");
        assert_eq!(v["retry_after"], 1500);
        assert_eq!(serde_json::from_value::<StepFailure>(v).ok(), Some(f));
    }
}

//! The normalized task template: what both YAML formats parse into, what is
//! validated, stored (as canonical JSON) and copied into every task.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::domain::backoff::RetrySpec;
use crate::domain::kind::StepProgram;
use crate::domain::priority::Priority;
use crate::domain::rate::RateLimitSpec;
use crate::domain::schedule::ScheduleDecl;

/// Namespace used when a template names none.
pub const DEFAULT_NAMESPACE: &str = "default";
/// Version used when a template names none.
pub const DEFAULT_VERSION: &str = "0.1.0";

/// A versioned, namespaced DAG of named steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskTemplate {
    /// Namespace (e.g. `payments`).
    pub namespace: String,
    /// Name, unique within the namespace (e.g. `process_order`).
    pub name: String,
    /// Semantic version.
    pub version: semver::Version,
    /// Free text for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema every task context must satisfy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_schema: Option<Value>,
    /// Priority of its tasks unless `createTask` names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// At most this many of its tasks of one key run at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<ConcurrencySpec>,
    /// Steps in declaration order.
    pub steps: Vec<StepTemplate>,
    /// Cron schedules that create its tasks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedules: Vec<ScheduleDecl>,
}

/// One step of a template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepTemplate {
    /// Unique within the template.
    pub name: String,
    /// Built-in, registered Rust handler, or external handler name.
    pub handler: String,
    /// Done by an external worker through the claim protocol.
    #[serde(default)]
    pub external: bool,
    /// Names of the parent steps.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// When false, the first failure is final.
    #[serde(default = "yes")]
    pub retryable: bool,
    /// Overrides of the server's retry defaults.
    #[serde(default)]
    pub retry: RetrySpec,
    /// Per-attempt timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// May be bypassed at task creation.
    #[serde(default)]
    pub skippable: bool,
    /// Handed to the handler as is.
    #[serde(default = "empty_object")]
    pub config: Value,
    /// At most this many runs of this step of one key (across tasks) at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<ConcurrencySpec>,
    /// At most this many starts of this step of one key (across tasks) per window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitSpec>,
    /// Free text for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its kind (a handler unless `sleep` or `approval`) and `when` condition.
    #[serde(flatten)]
    pub program: StepProgram,
}

/// A concurrency limit: at most `limit` runs of one key at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConcurrencySpec {
    /// A CEL expression over `context` whose value names the group (e.g.
    /// `context.customer_id`); without one, every run shares one group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Runs of one group at once (1–10,000).
    pub limit: u32,
    /// What a run that finds its group full does.
    #[serde(default)]
    pub strategy: ConcurrencyStrategy,
}

/// What a run that finds its concurrency group full does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConcurrencyStrategy {
    /// Wait (PENDING, with its queue reason) until a run of the group ends;
    /// groups are served in turn, oldest first within a group.
    #[default]
    Queue,
    /// Start, and cancel the group's oldest running task to make room.
    CancelInProgress,
    /// Do not start: the new task is cancelled.
    CancelNewest,
}

impl ConcurrencyStrategy {
    /// The spelling in templates and storage.
    pub const fn as_str(self) -> &'static str {
        match self {
            ConcurrencyStrategy::Queue => "queue",
            ConcurrencyStrategy::CancelInProgress => "cancel_in_progress",
            ConcurrencyStrategy::CancelNewest => "cancel_newest",
        }
    }

    /// The strategy spelled `text`, if any.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Queue, Self::CancelInProgress, Self::CancelNewest]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

fn yes() -> bool {
    true
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

impl TaskTemplate {
    /// `namespace/name@version`, the form used in messages and the CLI.
    pub fn full_name(&self) -> String {
        format!("{}/{}@{}", self.namespace, self.name, self.version)
    }

    /// A hash of the canonical JSON form: equal for templates that mean the same
    /// thing, whatever their key order or YAML flavour.
    pub fn content_hash(&self) -> String {
        let value = serde_json::to_value(self).unwrap_or(Value::Null);
        let mut canonical = String::new();
        write_canonical(&value, &mut canonical);
        let digest = Sha256::digest(canonical.as_bytes());
        crate::domain::hex(&digest)
    }

    /// The step with this name.
    pub fn step(&self, name: &str) -> Option<&StepTemplate> {
        self.steps.iter().find(|s| s.name == name)
    }
}

/// JSON with object keys sorted at every level.
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(key) {
                    write_canonical(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(config: Value) -> TaskTemplate {
        TaskTemplate {
            namespace: "default".into(),
            name: "t".into(),
            version: semver::Version::new(1, 0, 0),
            description: None,
            context_schema: None,
            priority: None,
            concurrency: None,
            schedules: Vec::new(),
            steps: vec![StepTemplate {
                name: "a".into(),
                handler: "noop".into(),
                external: false,
                depends_on: vec![],
                retryable: true,
                retry: RetrySpec::default(),
                timeout_ms: None,
                skippable: false,
                config,
                concurrency: None,
                rate_limit: None,
                description: None,
                program: StepProgram::default(),
            }],
        }
    }

    #[test]
    fn content_hash_ignores_key_order_and_sees_values() {
        let a = template(json!({"x": 1, "y": {"b": 2, "a": 1}}));
        let b = template(serde_json::from_str(r#"{"y": {"a": 1, "b": 2}, "x": 1}"#).expect("json"));
        let c = template(json!({"x": 2, "y": {"b": 2, "a": 1}}));
        assert_eq!(a.content_hash(), b.content_hash());
        assert_ne!(a.content_hash(), c.content_hash());
        assert_eq!(a.full_name(), "default/t@1.0.0");
    }
}

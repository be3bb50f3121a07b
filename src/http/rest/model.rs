//! The JSON of the REST API: what routes take and return, with their
//! OpenAPI schemas. Fields are snake_case; ids are UUIDs; times RFC 3339.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::body::empty_as_none;
use crate::domain::analysis::GraphAnalysis;
use crate::domain::{StepStatus, TaskStatus};
use crate::service::{StepView, TaskView};

fn enumeration(values: impl Iterator<Item = &'static str>, description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .description(Some(description))
        .into()
}

fn task_status() -> RefOr<Schema> {
    enumeration(TaskStatus::ALL.iter().map(|s| s.as_str()), "A task's status.")
}

fn step_status() -> RefOr<Schema> {
    enumeration(StepStatus::ALL.iter().map(|s| s.as_str()), "A step's status.")
}

/// The trace id of a W3C `traceparent` (`00-TRACE-SPAN-FLAGS`).
fn trace_id(traceparent: Option<&str>) -> Option<String> {
    traceparent.and_then(|t| t.split('-').nth(1)).map(str::to_owned)
}

/// A task.
#[derive(Debug, Serialize, ToSchema)]
pub struct Task {
    /// Id (UUID v7, time-ordered).
    pub id: Uuid,
    /// Template namespace.
    pub namespace: String,
    /// Template name.
    pub name: String,
    /// Template version.
    pub version: String,
    /// Current status.
    #[schema(schema_with = task_status)]
    pub status: &'static str,
    /// The JSON context it was created with.
    #[schema(value_type = Object)]
    pub context: Value,
    /// Who asked.
    pub initiator: Option<String>,
    /// Which system asked.
    pub source_system: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// Labels.
    pub tags: Vec<String>,
    /// The idempotency key it was created with.
    pub idempotency_key: Option<String>,
    /// Correlation id of the creating request.
    pub correlation_id: Option<String>,
    /// The W3C trace id its spans belong to.
    pub trace_id: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// When it reached COMPLETE, ERROR, CANCELLED or RESOLVED_MANUALLY.
    pub completed_at: Option<DateTime<Utc>>,
    /// 1 (least urgent) to 4 (most urgent).
    #[schema(minimum = 1, maximum = 4)]
    pub priority: u8,
    /// No step starts before this time (delayed start), when one was asked for.
    pub run_at: Option<DateTime<Utc>>,
    /// Why the task has not started, when it waits for more than a free slot.
    pub queue_reason: Option<String>,
    /// Its dependency graph (levels, critical path, bottlenecks, impact
    /// score), with `include_dependencies=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub dependency_graph: Option<GraphAnalysis>,
}

impl Task {
    /// A task without its graph.
    pub fn of(t: TaskView) -> Self {
        let queue_reason = t.queue_reason(Utc::now());
        Self {
            id: t.id,
            status: t.status.as_str(),
            trace_id: trace_id(t.trace_parent.as_deref()),
            namespace: t.namespace,
            name: t.name,
            version: t.version,
            context: t.context,
            initiator: t.initiator,
            source_system: t.source_system,
            reason: t.reason,
            tags: t.tags,
            idempotency_key: t.idempotency_key,
            correlation_id: t.correlation_id,
            created_at: t.created_at,
            updated_at: t.updated_at,
            completed_at: t.completed_at,
            priority: t.priority.get(),
            queue_reason,
            run_at: t.run_at,
            dependency_graph: None,
        }
    }
}

/// Why a step's last attempt failed.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepError {
    /// What went wrong.
    pub message: String,
    /// Classification (e.g. `handler`, `timeout`, `lease_expired`).
    pub kind: String,
    /// Whether another attempt may help.
    pub retryable: bool,
    /// A wait the failing side asked for, in ms.
    pub retry_after_ms: Option<u64>,
}

/// A step of a task.
#[derive(Debug, Serialize, ToSchema)]
pub struct Step {
    /// Id.
    pub id: Uuid,
    /// Its task.
    pub task_id: Uuid,
    /// Name, unique within the task.
    pub name: String,
    /// The handler that runs it.
    pub handler: String,
    /// Run by an external worker.
    pub external: bool,
    /// Current status.
    #[schema(schema_with = step_status)]
    pub status: &'static str,
    /// Attempts made.
    pub attempts: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Whether failures are retried.
    pub retryable: bool,
    /// Whether it may be bypassed.
    pub skippable: bool,
    /// The last failure.
    pub error: Option<StepError>,
    /// When the next attempt is due.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When the current or last attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished.
    pub completed_at: Option<DateTime<Utc>>,
    /// Its handler's configuration.
    #[schema(value_type = Object)]
    pub config: Value,
    /// What it returned, once it has.
    #[schema(value_type = Option<Object>)]
    pub results: Option<Value>,
}

impl Step {
    /// A step and its results.
    pub fn of(s: StepView, results: Option<Value>) -> Self {
        Self {
            id: s.id,
            task_id: s.task_id,
            status: s.status.as_str(),
            error: s.error.map(|e| StepError {
                kind: serde_json::to_value(e.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                message: e.message,
                retryable: e.retryable,
                retry_after_ms: e
                    .retry_after
                    .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            }),
            name: s.name,
            handler: s.handler,
            external: s.external,
            attempts: s.attempts,
            max_attempts: s.max_attempts,
            retryable: s.retryable,
            skippable: s.skippable,
            next_attempt_at: s.next_attempt_at,
            started_at: s.started_at,
            completed_at: s.completed_at,
            config: s.config,
            results,
        }
    }
}

/// `POST /tasks` (idempotency comes with the `Idempotency-Key` header).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"namespace": "default", "name": "hello_world", "context": {"greeting": "hi"}, "tags": ["example"]}))]
pub struct CreateTask {
    /// Template namespace (default `default`).
    #[schema(pattern = "^[^\\x00]*$")]
    pub namespace: Option<String>,
    /// Template name.
    #[schema(min_length = 1, pattern = "^[^\\x00]*[^\\x00\\s][^\\x00]*$")]
    pub name: String,
    /// Template version (default: the highest registered).
    #[schema(pattern = "^[^\\x00]*$")]
    pub version: Option<String>,
    /// The task's JSON context (default `{}`).
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub context: Value,
    /// Who asks.
    #[schema(max_length = 1024, pattern = "^[^\\x00]*$")]
    pub initiator: Option<String>,
    /// Which system asks.
    #[schema(max_length = 1024, pattern = "^[^\\x00]*$")]
    pub source_system: Option<String>,
    /// Why.
    #[schema(max_length = 1024, pattern = "^[^\\x00]*$")]
    pub reason: Option<String>,
    /// Labels for filtering: at most 50, each 1 to 128 characters.
    #[serde(default)]
    #[schema(max_items = 50, value_type = Vec<Tag>)]
    pub tags: Vec<String>,
    /// Skippable steps to bypass.
    #[serde(default)]
    pub bypass_steps: Vec<String>,
    /// 1 (least urgent) to 4 (most urgent); default: the template's, else 2.
    #[schema(minimum = 1, maximum = 4)]
    pub priority: Option<i64>,
    /// Start no step before this time (RFC 3339); the task is SCHEDULED until then.
    pub run_at: Option<DateTime<Utc>>,
    /// Start no step before this many seconds from now (instead of `run_at`).
    #[schema(minimum = 0, maximum = 316224000)]
    pub delay_seconds: Option<i64>,
}

/// A task's label (documentation only: tags arrive as strings).
pub struct Tag;

impl utoipa::PartialSchema for Tag {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(crate::service::MAX_TAG_CHARS))
            .pattern(Some("^[^\\x00]*$"))
            .description(Some("A task's label."))
            .into()
    }
}

impl ToSchema for Tag {}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// `POST /tasks/{id}/cancel` (the body may be left out).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Cancel {
    /// Why.
    #[schema(max_length = 1024, pattern = "^[^\\x00]*$")]
    pub reason: Option<String>,
}

/// `POST /steps/{id}/resolve` (the body may be left out).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resolve {
    /// The results its children see, as if it had returned them.
    #[schema(value_type = Option<Object>)]
    pub results: Option<Value>,
    /// Why.
    #[schema(max_length = 1024, pattern = "^[^\\x00]*$")]
    pub reason: Option<String>,
}

/// `GET /tasks` query parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TaskFilter {
    /// Template namespace.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub namespace: Option<String>,
    /// Template name.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub name: Option<String>,
    /// Template version.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub version: Option<String>,
    /// Any of these statuses, comma-separated (e.g. `ERROR,CANCELLED`).
    #[serde(default, deserialize_with = "empty_as_none")]
    #[param(
        pattern = "^((PENDING|SCHEDULED|IN_PROGRESS|COMPLETE|ERROR|CANCELLED|RESOLVED_MANUALLY)(,(PENDING|SCHEDULED|IN_PROGRESS|COMPLETE|ERROR|CANCELLED|RESOLVED_MANUALLY))*)?$"
    )]
    pub status: Option<String>,
    /// Every one of these tags, comma-separated.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub tag: Option<String>,
    /// Created at or after (RFC 3339).
    pub created_after: Option<DateTime<Utc>>,
    /// Created before (RFC 3339).
    pub created_before: Option<DateTime<Utc>>,
    /// A task id, a correlation id, or part of the initiator (case-insensitive).
    #[serde(default, deserialize_with = "empty_as_none")]
    #[param(max_length = 256)]
    pub search: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// The `next` cursor of the previous page.
    #[param(value_type = Option<uuid::Uuid>)]
    pub after: Option<String>,
    /// Add each task's dependency graph.
    #[serde(default)]
    pub include_dependencies: bool,
}

/// `?include_dependencies=` of one task.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TaskParams {
    /// Add the task's dependency graph.
    #[serde(default)]
    pub include_dependencies: bool,
}

/// `POST /templates` query parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RegisterParams {
    /// Replace a registered template of the same version with different content.
    #[serde(default)]
    pub replace: bool,
}

/// A page of tasks, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskPage {
    /// The tasks.
    pub tasks: Vec<Task>,
    /// The cursor of the next (older) page, when there is one; also in the
    /// `Link` header as `rel="next"`.
    pub next: Option<String>,
}

/// A task's steps, in template order.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepList {
    /// The steps.
    pub steps: Vec<Step>,
}

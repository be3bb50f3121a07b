//! Typed views of stored rows, the shape services hand to their callers.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::error::{Error, Result};
use crate::domain::attempt::StepFailure;
use crate::domain::backoff::RetryPolicy;
use crate::domain::kind::{StepKind, StepProgram};
use crate::domain::priority::Priority;
use crate::domain::rate::RateKey;
use crate::domain::waiting::{Gate, Queued, WaitingFor, step_waiting_for, task_queue_reason};
use crate::domain::{StepStatus, TaskStatus};
use crate::entities::{step_transition, task, task_transition, workflow_step};
use crate::store;

fn corrupt(message: String) -> Error {
    Error::Internal(store::Error::Corrupt { message })
}

fn parse<T: std::str::FromStr>(text: &str, what: &str) -> Result<T> {
    text.parse()
        .map_err(|_| corrupt(format!("unknown {what} {text:?}")))
}

/// A task.
#[derive(Debug, Clone, Serialize)]
pub struct TaskView {
    /// Id (UUID v7).
    pub id: Uuid,
    /// Template namespace.
    pub namespace: String,
    /// Template name.
    pub name: String,
    /// Template version.
    pub version: String,
    /// Current status.
    pub status: TaskStatus,
    /// The JSON context.
    pub context: Value,
    /// Who asked.
    pub initiator: Option<String>,
    /// Which system asked.
    pub source_system: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// Labels.
    pub tags: Vec<String>,
    /// Creation idempotency key.
    pub idempotency_key: Option<String>,
    /// Correlation id of the creating request.
    pub correlation_id: Option<String>,
    /// W3C `traceparent` of the span that created the task.
    pub trace_parent: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Reached COMPLETE, ERROR, CANCELLED or RESOLVED_MANUALLY.
    pub completed_at: Option<DateTime<Utc>>,
    /// How urgent.
    pub priority: Priority,
    /// No step starts before this time (delayed start), when one was asked for.
    pub run_at: Option<DateTime<Utc>>,
    /// Its concurrency group and the group's limit, when its template has one.
    pub group: Option<(String, u32)>,
    /// Waiting for its group's turn since (or from) then.
    pub queued_at: Option<DateTime<Utc>>,
    /// For a child task: the task whose step started it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_task_id: Option<Uuid>,
    /// For a child task: that step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_step_id: Option<Uuid>,
    /// The first task of its tree (itself for a task no step started).
    pub root_task_id: Uuid,
}

impl TaskView {
    /// Why it has not started at `now`, if it waits for more than a free slot.
    pub fn queue_reason(&self, now: DateTime<Utc>) -> Option<String> {
        let queued = match (&self.group, self.queued_at) {
            (Some((group, limit)), Some(_)) => Some(Queued { group, limit: *limit }),
            _ => None,
        };
        task_queue_reason(self.status, self.run_at, queued, now)
    }
}

impl TryFrom<task::Model> for TaskView {
    type Error = Error;
    fn try_from(m: task::Model) -> Result<Self> {
        Ok(Self {
            status: parse(&m.status, "task status")?,
            tags: serde_json::from_value(m.tags).map_err(|e| corrupt(format!("task {} tags: {e}", m.id)))?,
            id: m.id,
            namespace: m.namespace,
            name: m.name,
            version: m.version,
            context: m.context,
            initiator: m.initiator,
            source_system: m.source_system,
            reason: m.reason,
            idempotency_key: m.idempotency_key,
            correlation_id: m.correlation_id,
            trace_parent: m.trace_parent,
            created_at: m.created_at,
            updated_at: m.updated_at,
            completed_at: m.completed_at,
            priority: Priority::new(i64::from(m.priority))
                .map_err(|e| corrupt(format!("task {} priority: {e}", m.id)))?,
            run_at: m.run_at,
            group: m
                .flow_key
                .map(|k| (k, m.flow_limit.and_then(|l| u32::try_from(l).ok()).unwrap_or(0))),
            queued_at: m.queued_at,
            parent_task_id: m.parent_task_id,
            parent_step_id: m.parent_step_id,
            root_task_id: m.root_task_id.unwrap_or(m.id),
        })
    }
}

/// A workflow step.
#[derive(Debug, Clone, Serialize)]
pub struct StepView {
    /// Id (UUID v7).
    pub id: Uuid,
    /// Its task.
    pub task_id: Uuid,
    /// Name within the task.
    pub name: String,
    /// Handler name.
    pub handler: String,
    /// Done by an external worker.
    pub external: bool,
    /// Current status.
    pub status: StepStatus,
    /// Attempts started so far.
    pub attempts: u32,
    /// Attempts allowed by the retry policy (per budget).
    pub max_attempts: u32,
    /// Whether failures may be retried.
    pub retryable: bool,
    /// May be bypassed at creation.
    pub skippable: bool,
    /// Latest failure (cleared on success).
    pub error: Option<StepFailure>,
    /// When the next attempt may start (while WAITING_FOR_RETRY or ENQUEUED).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Start of the latest attempt.
    pub started_at: Option<DateTime<Utc>>,
    /// When it completed, failed for good, was skipped, cancelled or resolved.
    pub completed_at: Option<DateTime<Utc>>,
    /// The step's config.
    pub config: Value,
    /// Its concurrency group, when it has one.
    pub group: Option<String>,
    /// The rate-limit keys its starts count against.
    pub rate_keys: Vec<String>,
    /// The gate it waits at (claimable through it from `next_attempt_at`), if it does.
    pub gate: Option<Gate>,
    /// What it does.
    pub kind: StepKind,
    /// Its `when` condition, if it has one.
    pub condition: Option<String>,
    /// For an instance of a map: the map step, its index and its item.
    pub map: Option<(Uuid, u32, Value)>,
}

impl TryFrom<workflow_step::Model> for StepView {
    type Error = Error;
    fn try_from(m: workflow_step::Model) -> Result<Self> {
        let policy: RetryPolicy = serde_json::from_value(m.retry_policy)
            .map_err(|e| corrupt(format!("step {} policy: {e}", m.id)))?;
        let error = m
            .last_error
            .map(serde_json::from_value::<StepFailure>)
            .transpose()
            .map_err(|e| corrupt(format!("step {} error: {e}", m.id)))?;
        let rate_keys: Vec<String> = m
            .rate_limits
            .map(serde_json::from_value::<Vec<RateKey>>)
            .transpose()
            .map_err(|e| corrupt(format!("step {} rate limits: {e}", m.id)))?
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.key)
            .collect();
        let program: StepProgram = m
            .program
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| corrupt(format!("step {} program: {e}", m.id)))?
            .unwrap_or_default();
        Ok(Self {
            kind: program.kind(),
            map: match (m.map_parent, m.map_index) {
                (Some(parent), Some(index)) => Some((
                    parent,
                    u32::try_from(index).unwrap_or(0),
                    m.map_item.unwrap_or(Value::Null),
                )),
                _ => None,
            },
            condition: program.when,
            status: parse(&m.status, "step status")?,
            id: m.id,
            task_id: m.task_id,
            name: m.name,
            handler: m.handler,
            external: m.external,
            attempts: u32::try_from(m.attempts).unwrap_or(0),
            max_attempts: policy.max_attempts,
            retryable: policy.retryable,
            skippable: m.skippable,
            error,
            next_attempt_at: m.ready_at.or(m.gate_at).or(m.wake_at),
            started_at: m.started_at,
            completed_at: m.completed_at,
            config: m.config,
            gate: m.gate_at.map(|_| Gate {
                concurrency: m.flow_limit.is_some()
                    || m.flow_key
                        .as_deref()
                        .is_some_and(|k| k.starts_with(crate::store::HANDLER_GATE_PREFIX)),
                rate_limited: !rate_keys.is_empty(),
            }),
            group: m.flow_key.filter(|_| m.flow_limit.is_some()),
            rate_keys,
        })
    }
}

impl StepView {
    /// What holds it back at `now` although its parents are satisfied.
    pub fn waiting_for(&self, now: DateTime<Utc>) -> Option<WaitingFor> {
        match (self.status, self.kind) {
            (StepStatus::Waiting, StepKind::Sleep) => Some(WaitingFor::Sleep),
            (StepStatus::Waiting, StepKind::WaitFor) => Some(WaitingFor::Event),
            (StepStatus::Waiting, StepKind::Task) => Some(WaitingFor::ChildTask),
            (StepStatus::Waiting, StepKind::Map) => Some(WaitingFor::MapItems),
            (StepStatus::Waiting, _) => Some(WaitingFor::Approval),
            _ => step_waiting_for(self.status, self.next_attempt_at, self.gate, now),
        }
    }

    /// Duration of the latest attempt, once it ended.
    pub fn duration_ms(&self) -> Option<i64> {
        match (self.started_at, self.completed_at) {
            (Some(start), Some(end)) if end >= start => Some((end - start).num_milliseconds()),
            _ => None,
        }
    }
}

/// One audited status change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransitionView {
    /// Position in the entity's history, from 1.
    pub sequence: i32,
    /// Status before (`None` at creation).
    pub from: Option<String>,
    /// Status after.
    pub to: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Attempt number (steps only).
    pub attempt: Option<i32>,
    /// Why, when known.
    pub reason: Option<String>,
}

impl From<step_transition::Model> for TransitionView {
    fn from(m: step_transition::Model) -> Self {
        Self {
            sequence: m.sequence,
            from: m.from_status,
            to: m.to_status,
            at: m.created_at,
            attempt: Some(m.attempt),
            reason: m.reason,
        }
    }
}

impl From<task_transition::Model> for TransitionView {
    fn from(m: task_transition::Model) -> Self {
        Self {
            sequence: m.sequence,
            from: m.from_status,
            to: m.to_status,
            at: m.created_at,
            attempt: None,
            reason: m.reason,
        }
    }
}

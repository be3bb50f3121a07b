//! Records of committed state changes: what the audit rows say and what every
//! event published after commit is made from (one event per record).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::attempt::FailureKind;
use super::state::{StepStatus, TaskStatus};

/// One task transition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskChange {
    /// The task.
    pub task_id: Uuid,
    /// Its template's namespace.
    pub namespace: String,
    /// Its template's name.
    pub name: String,
    /// When the task was created (workflow durations count from here).
    pub created_at: DateTime<Utc>,
    /// The correlation id of the request that created the task.
    pub correlation_id: Option<String>,
    /// W3C `traceparent` of the span that created the task.
    #[serde(default)]
    pub trace_parent: Option<String>,
    /// Status before (`None` at creation).
    pub from: Option<TaskStatus>,
    /// Status after.
    pub to: TaskStatus,
    /// Position in the task's history, from 1.
    pub sequence: i32,
    /// Why, when known (e.g. a cancellation reason).
    pub reason: Option<String>,
    /// When it was committed.
    pub at: DateTime<Utc>,
}

/// One step transition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepChange {
    /// The step.
    pub step_id: Uuid,
    /// Its task.
    pub task_id: Uuid,
    /// The step's name within its task.
    pub step_name: String,
    /// The step's handler.
    pub handler: String,
    /// Whether external workers run the step.
    pub external: bool,
    /// Status before (`None` at creation).
    pub from: Option<StepStatus>,
    /// Status after.
    pub to: StepStatus,
    /// Attempt number the transition belongs to (0 before the first claim).
    pub attempt: i32,
    /// Start of the latest attempt (attempt durations count from here).
    pub started_at: Option<DateTime<Utc>>,
    /// Position in the step's history, from 1.
    pub sequence: i32,
    /// Why, when known (e.g. `lease expired`).
    pub reason: Option<String>,
    /// The kind of the failed attempt behind the transition, if any.
    pub failure: Option<FailureKind>,
    /// When it was committed.
    pub at: DateTime<Utc>,
}

/// Any committed transition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Change {
    /// A task moved.
    Task(TaskChange),
    /// A step moved.
    Step(StepChange),
}

//! `Event`: a published lifecycle event.

use async_graphql::{ID, Json, SimpleObject};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// A lifecycle event (see the event catalog).
#[derive(SimpleObject, Clone)]
pub struct Event {
    /// Catalog name, e.g. `step.completed`.
    pub name: String,
    /// When the change was committed.
    pub at: DateTime<Utc>,
    /// The task concerned.
    pub task_id: ID,
    /// The step concerned (step events).
    pub step_id: Option<ID>,
    /// The task's namespace.
    pub namespace: String,
    /// Statuses, attempt and reason of the change.
    pub payload: Json<Value>,
    /// Correlation id of the request that created the task.
    pub correlation_id: Option<String>,
}

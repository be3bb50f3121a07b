//! `Event`: a published event, and `EventDescription`: one entry of the catalog.

use async_graphql::{ID, Json, SimpleObject};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::domain::redact::Redactor;
use crate::events::{self, EventName};
use crate::service::TaskInfo;

/// An event (see `Query.eventCatalog`).
#[derive(SimpleObject, Clone)]
pub struct Event {
    /// Catalog name, e.g. `step.completed`.
    pub name: String,
    /// When it happened (for state changes: when the change was committed).
    pub at: DateTime<Utc>,
    /// The task concerned (null for registry and observability events).
    pub task_id: Option<ID>,
    /// The step concerned (step events).
    pub step_id: Option<ID>,
    /// The task's namespace, when the event concerns one.
    pub namespace: Option<String>,
    /// The event's fields, as listed by `eventCatalog.payloadFields`.
    pub payload: Json<Value>,
    /// Correlation id of the request that created the task.
    pub correlation_id: Option<String>,
}

/// The namespace of an event: its task's, else what the event says itself.
pub fn namespace_of<'a>(event: &'a events::Event, task: Option<&'a TaskInfo>) -> Option<&'a str> {
    task.map(|t| t.namespace.as_str()).or_else(|| event.namespace())
}

impl Event {
    /// The GraphQL view of `event`, with what is known of its task and
    /// sensitive payload values filtered.
    pub fn new(event: &events::Event, task: Option<&TaskInfo>, redactor: &Redactor) -> Self {
        let namespace = namespace_of(event, task).map(str::to_owned);
        Event {
            name: event.name.as_str().to_owned(),
            at: event.at,
            task_id: event.task_id.map(|t| ID(t.to_string())),
            step_id: event.step_id.map(|s| ID(s.to_string())),
            namespace,
            payload: Json(redactor.redact(&event.payload())),
            correlation_id: task.and_then(|t| t.correlation_id.clone()),
        }
    }
}

/// One entry of the event catalog.
#[derive(SimpleObject, Clone)]
pub struct EventDescription {
    /// Stable dotted name, e.g. `step.completed`.
    pub name: String,
    /// What the event means.
    pub description: String,
    /// The keys of the event's `payload`.
    pub payload_fields: Vec<String>,
    /// True when the event records a state change (exactly one per audit row).
    pub state_change: bool,
}

impl From<EventName> for EventDescription {
    fn from(name: EventName) -> Self {
        EventDescription {
            name: name.as_str().to_owned(),
            description: name.description().to_owned(),
            payload_fields: name.payload_fields().iter().map(|f| (*f).to_owned()).collect(),
            state_change: name.is_state_change(),
        }
    }
}

//! A published event: its catalog name, what it is about and its payload.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::EventName;
use crate::domain::change::{Change, StepChange, TaskChange};
use crate::domain::rate::Throttled;

/// A published event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Catalog name.
    pub name: EventName,
    /// When it happened (for state changes: when the change was committed).
    pub at: DateTime<Utc>,
    /// The task concerned, if any.
    pub task_id: Option<Uuid>,
    /// The step concerned, if any.
    pub step_id: Option<Uuid>,
    /// The transition behind a state-change event.
    pub change: Option<Change>,
    /// The payload of events that are not state changes.
    pub data: Map<String, Value>,
    /// The replica that published it, for events relayed from another one.
    pub origin: Option<String>,
}

impl Event {
    /// An event that is not a state change; add its payload with [`Event::with`].
    pub fn new(name: EventName, at: DateTime<Utc>) -> Self {
        Event {
            name,
            at,
            task_id: None,
            step_id: None,
            change: None,
            data: Map::new(),
            origin: None,
        }
    }

    /// The event of one committed transition.
    pub fn from_change(change: Change) -> Self {
        let (name, at, task_id, step_id) = match &change {
            Change::Task(t) => (EventName::for_task(t.from, t.to), t.at, t.task_id, None),
            Change::Step(s) => (
                EventName::for_step(s.from, s.to, s.failure),
                s.at,
                s.task_id,
                Some(s.step_id),
            ),
        };
        Event {
            task_id: Some(task_id),
            step_id,
            change: Some(change),
            ..Event::new(name, at)
        }
    }

    /// A step sent back to wait for a rate limit.
    pub fn throttled(t: &Throttled, at: DateTime<Utc>) -> Self {
        Event::new(EventName::StepThrottled, at)
            .task(t.task_id)
            .step(t.step_id)
            .with("step_name", t.step_name.clone())
            .with("handler", t.handler.clone())
            .with("rate_keys", t.keys.clone())
            .with(
                "until",
                t.until.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            )
    }

    /// About this task.
    pub fn task(mut self, task_id: Uuid) -> Self {
        self.task_id = Some(task_id);
        self
    }

    /// About this step.
    pub fn step(mut self, step_id: Uuid) -> Self {
        self.step_id = Some(step_id);
        self
    }

    /// With this payload field.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.data.insert(key.to_owned(), value.into());
        self
    }

    /// The event's payload (see `EventName::payload_fields`).
    pub fn payload(&self) -> Value {
        let mut payload = match &self.change {
            Some(Change::Task(TaskChange {
                namespace,
                name,
                from,
                to,
                reason,
                correlation_id,
                ..
            })) => json!({
                "namespace": namespace, "name": name, "from": from.map(|s| s.as_str()),
                "to": to.as_str(), "reason": reason, "correlation_id": correlation_id,
            }),
            Some(Change::Step(StepChange {
                step_name,
                handler,
                from,
                to,
                attempt,
                reason,
                ..
            })) => json!({
                "step_name": step_name, "handler": handler, "from": from.map(|s| s.as_str()),
                "to": to.as_str(), "attempt": attempt, "reason": reason,
            }),
            None => Value::Object(Map::new()),
        };
        if let Value::Object(fields) = &mut payload {
            fields.extend(self.data.clone());
        }
        payload
    }

    /// The namespace the event belongs to, when it says so itself.
    pub fn namespace(&self) -> Option<&str> {
        match &self.change {
            Some(Change::Task(t)) => Some(&t.namespace),
            _ => self.data.get("namespace").and_then(Value::as_str),
        }
    }
}

/// How an event travels between replicas (JSON on the Redis channel).
#[derive(Debug, Serialize, Deserialize)]
pub struct WireEvent {
    /// Catalog name.
    pub name: String,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Task concerned.
    pub task_id: Option<Uuid>,
    /// Step concerned.
    pub step_id: Option<Uuid>,
    /// The transition, for state changes.
    pub change: Option<Change>,
    /// Payload of other events.
    pub data: Map<String, Value>,
    /// The replica that published it.
    pub origin: String,
}

impl WireEvent {
    /// `event` as published by replica `origin`.
    pub fn new(event: &Event, origin: &str) -> Self {
        WireEvent {
            name: event.name.as_str().to_owned(),
            at: event.at,
            task_id: event.task_id,
            step_id: event.step_id,
            change: event.change.clone(),
            data: event.data.clone(),
            origin: origin.to_owned(),
        }
    }

    /// Back to an event; `None` for a name this replica's catalog lacks
    /// (a newer replica during a rolling upgrade).
    pub fn into_event(self) -> Option<Event> {
        Some(Event {
            name: EventName::parse(&self.name)?,
            at: self.at,
            task_id: self.task_id,
            step_id: self.step_id,
            change: self.change,
            data: self.data,
            origin: Some(self.origin),
        })
    }
}

//! Events from outside: `sendEvent` and `POST /events/{name}` store one and
//! complete the steps waiting for it; `events` reads them back.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::tasks::MAX_KEY_CHARS;
use super::{Error, Result, Tasker};
use crate::domain::attempt::check_storable_json;
use crate::domain::inbound::event_name_problem;
use crate::entities::inbound_event;
use crate::store::{self, NewEvent};

/// An event as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct EventView {
    /// Id (UUID v7).
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Its payload.
    pub payload: Value,
    /// The sender's key, if it gave one.
    pub idempotency_key: Option<String>,
    /// Waiting steps it completed.
    pub delivered: u32,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
}

impl From<inbound_event::Model> for EventView {
    fn from(m: inbound_event::Model) -> Self {
        Self {
            id: m.id,
            name: m.name,
            payload: m.payload,
            idempotency_key: m.idempotency_key,
            delivered: u32::try_from(m.delivered).unwrap_or(0),
            received_at: m.received_at,
        }
    }
}

/// What sending an event did.
#[derive(Debug, Clone)]
pub struct SentEvent {
    /// The event (the first one, when its key was sent before).
    pub event: EventView,
    /// Its key was sent before: nothing was delivered again.
    pub duplicate: bool,
    /// Steps it completed now.
    pub delivered: Vec<Uuid>,
}

impl Tasker {
    /// Store the event `name` and complete every step waiting for it whose
    /// match holds.
    pub async fn send_event(
        &self,
        name: &str,
        payload: Value,
        idempotency_key: Option<String>,
    ) -> Result<SentEvent> {
        if let Some(message) = event_name_problem(name) {
            return Err(Error::bad_input("name", message));
        }
        check_storable_json(&payload, self.settings.limits.max_context_bytes)
            .map_err(|m| Error::bad_input("payload", m.replace("results", "the payload")))?;
        if let Some(key) = &idempotency_key
            && (key.trim().is_empty() || key.chars().count() > MAX_KEY_CHARS || key.contains('\0'))
        {
            return Err(Error::bad_input(
                "idempotencyKey",
                format!("must be 1 to {MAX_KEY_CHARS} characters"),
            ));
        }
        let now = self.clock.now();
        let new = NewEvent {
            name: name.to_owned(),
            payload,
            idempotency_key,
        };
        let new = &new;
        let stored = self
            .write(|mut tx| async move {
                let stored = store::record_event(&mut tx, new.clone(), now).await?;
                Ok((stored, tx))
            })
            .await?;
        if !stored.delivered.is_empty() {
            self.wake_groups();
        }
        Ok(SentEvent {
            event: stored.event.into(),
            duplicate: stored.duplicate,
            delivered: stored.delivered.iter().map(|s| s.id).collect(),
        })
    }

    /// Events, newest first (of one name when given), at most `limit`.
    pub async fn inbound_events(&self, name: Option<&str>, limit: u64) -> Result<Vec<EventView>> {
        let found = store::recent_events(self.store.reader(), name, limit).await?;
        Ok(found.into_iter().map(EventView::from).collect())
    }

    /// The secret events of `source` are signed with, if it is configured
    /// (`Some(None)`: configured without a secret).
    pub fn event_source(&self, source: &str) -> Option<Option<&str>> {
        self.settings
            .event_sources
            .get(source)
            .map(|secret| secret.as_deref())
    }
}

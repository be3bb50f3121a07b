//! Events from outside over GraphQL: `sendEvent` stores one and completes the
//! steps waiting for it; `events` lists what arrived.

use async_graphql::{Context, ID, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::error::{GqlResult, bad_input};
use super::guard::require;
use super::types::tasker;
use crate::auth::permission::{EVENT_READ, EVENT_SEND};
use crate::service::{EventView, SentEvent};
use crate::store::MAX_EVENTS_PAGE;

/// An event from outside, as stored.
#[derive(SimpleObject)]
#[graphql(name = "InboundEvent")]
pub struct InboundEventGql {
    /// Id (a time-ordered UUID v7).
    pub id: ID,
    /// Its name (`stripe.payment_succeeded`).
    pub name: String,
    /// What waiting steps completed with.
    pub payload: Json<Value>,
    /// The sender's key, if it gave one.
    pub idempotency_key: Option<String>,
    /// Waiting steps it completed.
    pub delivered: u32,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
}

impl From<EventView> for InboundEventGql {
    fn from(e: EventView) -> Self {
        Self {
            id: ID(e.id.to_string()),
            name: e.name,
            payload: Json(e.payload),
            idempotency_key: e.idempotency_key,
            delivered: e.delivered,
            received_at: e.received_at,
        }
    }
}

/// What `sendEvent` did.
#[derive(SimpleObject)]
pub struct SendEventResult {
    /// The event (the first one, when its key was sent before).
    pub event: InboundEventGql,
    /// The key was sent before: nothing was delivered again.
    pub duplicate: bool,
    /// The waiting steps it completed now.
    pub delivered_step_ids: Vec<ID>,
}

impl From<SentEvent> for SendEventResult {
    fn from(s: SentEvent) -> Self {
        Self {
            event: s.event.into(),
            duplicate: s.duplicate,
            delivered_step_ids: s.delivered.into_iter().map(|id| ID(id.to_string())).collect(),
        }
    }
}

/// Event queries.
#[derive(Default)]
pub struct EventQuery;

#[Object]
impl EventQuery {
    /// Events that arrived, newest first (of one name when given; at most
    /// 500, default 50).
    async fn events(
        &self,
        ctx: &Context<'_>,
        name: Option<String>,
        first: Option<i32>,
    ) -> GqlResult<Vec<InboundEventGql>> {
        require(ctx, EVENT_READ, None)?;
        let first = match first {
            None => 50,
            Some(n) if (1..=MAX_EVENTS_PAGE as i32).contains(&n) => n as u64,
            Some(_) => {
                return Err(bad_input("first", format!("must be between 1 and {MAX_EVENTS_PAGE}")).into());
            }
        };
        let found = tasker(ctx)?.inbound_events(name.as_deref(), first).await?;
        Ok(found.into_iter().map(Into::into).collect())
    }
}

/// Event mutations.
#[derive(Default)]
pub struct EventMutation;

#[Object]
impl EventMutation {
    /// Store an event and complete every step waiting for it (`wait_for`)
    /// whose `match` holds, with `payload` as its results. Sending a key
    /// again returns the first event and delivers nothing.
    async fn send_event(
        &self,
        ctx: &Context<'_>,
        name: String,
        payload: Option<Json<Value>>,
        idempotency_key: Option<String>,
    ) -> GqlResult<SendEventResult> {
        require(ctx, EVENT_SEND, None)?;
        let payload = payload.map_or(Value::Null, |p| p.0);
        let sent = tasker(ctx)?.send_event(&name, payload, idempotency_key).await?;
        Ok(sent.into())
    }
}

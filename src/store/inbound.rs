//! Events from outside and the steps waiting for them. An arriving event is
//! stored, then every WAITING step for its name whose `match` holds
//! completes with its payload; a wait that starts receives the latest
//! matching event of the lookback window. Both run under a lock on the
//! event's name (PostgreSQL; SQLite has one writer), taken before any task
//! lock, so an event and a wait starting together never miss each other.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::Value;
use uuid::Uuid;

use super::error::{Error, Result};
use super::groups::lock_groups;
use super::ids::any_of;
use super::readiness::{lock_tasks, reconcile_tasks};
use super::txn::WriteTxn;
use super::waits::{complete_waiting, program_of};
use crate::domain::StepStatus;
use crate::domain::inbound::event_matches;
use crate::domain::kind::CHILD_WAIT;
use crate::entities::{inbound_event, task, workflow_step};

/// Lock names of events, apart from those of groups, rate keys and handlers.
const LOCK_PREFIX: &str = "event|";

/// Most events one `events` read returns.
pub const MAX_EVENTS_PAGE: u64 = 500;

/// Lock the event names for the rest of the transaction (waiting for each).
pub(crate) async fn lock_events(tx: &WriteTxn, names: &[String]) -> Result<()> {
    let mut keys: Vec<String> = names.iter().map(|n| format!("{LOCK_PREFIX}{n}")).collect();
    keys.sort();
    keys.dedup();
    lock_groups(tx, keys, true).await.map(drop)
}

/// An event to store.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// Its name.
    pub name: String,
    /// Its payload (what waiting steps complete with).
    pub payload: Value,
    /// The sender's key: sending it again changes nothing.
    pub idempotency_key: Option<String>,
}

/// What storing an event did.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// The event as stored (the first one, for a repeated key).
    pub event: inbound_event::Model,
    /// The key was seen before: nothing was delivered now.
    pub duplicate: bool,
    /// The waiting steps it completed.
    pub delivered: Vec<workflow_step::Model>,
}

/// Store an event and complete every step waiting for it whose match holds.
pub async fn record_event(tx: &mut WriteTxn, new: NewEvent, now: DateTime<Utc>) -> Result<StoredEvent> {
    lock_events(tx, std::slice::from_ref(&new.name)).await?;
    if let Some(key) = &new.idempotency_key {
        let first = inbound_event::Entity::find()
            .filter(inbound_event::Column::Name.eq(new.name.as_str()))
            .filter(inbound_event::Column::IdempotencyKey.eq(key.as_str()))
            .one(tx.conn())
            .await?;
        if let Some(event) = first {
            return Ok(StoredEvent {
                event,
                duplicate: true,
                delivered: Vec::new(),
            });
        }
    }
    let id = Uuid::now_v7();
    let waiting = workflow_step::Entity::find()
        .filter(workflow_step::Column::WaitEvent.eq(new.name.as_str()))
        .filter(workflow_step::Column::Status.eq(StepStatus::Waiting.as_str()))
        .all(tx.conn())
        .await?;
    let contexts = contexts_of(tx, &waiting).await?;
    let mut matched = Vec::new();
    for row in waiting {
        let context = contexts.get(&row.task_id).unwrap_or(&Value::Null);
        if waits_for(&row, context, &new.payload)? {
            matched.push(row);
        }
    }
    let task_ids: Vec<Uuid> = matched.iter().map(|r| r.task_id).collect();
    lock_tasks(tx, &task_ids).await?;
    let reason = format!("event {} ({id})", new.name);
    let done = matched
        .into_iter()
        .map(|row| (row, new.payload.clone(), Some(reason.clone())))
        .collect();
    let delivered = complete_waiting(tx, done, now).await?;
    let event = inbound_event::ActiveModel {
        id: Set(id),
        name: Set(new.name),
        payload: Set(new.payload),
        idempotency_key: Set(new.idempotency_key),
        delivered: Set(i32::try_from(delivered.len()).unwrap_or(i32::MAX)),
        received_at: Set(now),
    };
    let event = inbound_event::Entity::insert(event)
        .exec_with_returning(tx.conn())
        .await?;
    let mut tasks: Vec<Uuid> = delivered.iter().map(|r| r.task_id).collect();
    tasks.sort_unstable();
    tasks.dedup();
    reconcile_tasks(tx, &tasks, now).await?;
    Ok(StoredEvent {
        event,
        duplicate: false,
        delivered,
    })
}

/// Whether the event with `payload` is what the waiting step `row` wants. A
/// match that cannot be evaluated for this payload is no match.
fn waits_for(row: &workflow_step::Model, context: &Value, payload: &Value) -> Result<bool> {
    let Some(spec) = program_of(row)?.wait_for else {
        return Ok(false);
    };
    Ok(event_matches(&spec, context, payload).unwrap_or(false))
}

async fn contexts_of(tx: &WriteTxn, rows: &[workflow_step::Model]) -> Result<HashMap<Uuid, Value>> {
    if rows.is_empty() {
        return Ok(HashMap::new());
    }
    let found: Vec<(Uuid, Value)> = task::Entity::find()
        .select_only()
        .column(task::Column::Id)
        .column(task::Column::Context)
        .filter(any_of(
            tx.backend(),
            task::Column::Id,
            rows.iter().map(|r| r.task_id),
        ))
        .into_tuple()
        .all(tx.conn())
        .await?;
    Ok(found.into_iter().collect())
}

/// Give steps that just began to wait for an event the latest matching one
/// of the lookback window, completing them with it. Their tasks and event
/// names are locked by the caller.
pub(crate) async fn deliver_recent(
    tx: &mut WriteTxn,
    rows: &[workflow_step::Model],
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>> {
    let waiting: Vec<&workflow_step::Model> = rows
        .iter()
        .filter(|r| r.wait_event.as_deref().is_some_and(|e| e != CHILD_WAIT))
        .collect();
    if waiting.is_empty() {
        return Ok(Vec::new());
    }
    let since = now - chrono::Duration::from_std(tx.event_lookback()).unwrap_or(chrono::Duration::zero());
    let owned: Vec<workflow_step::Model> = waiting.iter().map(|r| (*r).clone()).collect();
    let contexts = contexts_of(tx, &owned).await?;
    let mut done = Vec::new();
    for row in owned {
        let Some(name) = row.wait_event.clone() else {
            continue;
        };
        let recent = inbound_event::Entity::find()
            .filter(inbound_event::Column::Name.eq(name.as_str()))
            .filter(inbound_event::Column::ReceivedAt.gte(since))
            .order_by_desc(inbound_event::Column::ReceivedAt)
            .limit(MAX_EVENTS_PAGE)
            .all(tx.conn())
            .await?;
        let context = contexts.get(&row.task_id).unwrap_or(&Value::Null);
        let mut hit = None;
        for event in recent {
            if waits_for(&row, context, &event.payload)? {
                hit = Some(event);
                break;
            }
        }
        if let Some(event) = hit {
            let reason = format!(
                "event {} ({}), received before the wait began",
                event.name, event.id
            );
            inbound_event::Entity::update_many()
                .col_expr(
                    inbound_event::Column::Delivered,
                    Expr::col(inbound_event::Column::Delivered).add(1),
                )
                .filter(inbound_event::Column::Id.eq(event.id))
                .exec(tx.conn())
                .await?;
            done.push((row, event.payload, Some(reason)));
        }
    }
    let completed = complete_waiting(tx, done, now).await?;
    Ok(completed.into_iter().map(|r| r.id).collect())
}

/// Events of `name` (any name when none), newest first, at most `limit`.
pub async fn recent_events(
    conn: &impl sea_orm::ConnectionTrait,
    name: Option<&str>,
    limit: u64,
) -> Result<Vec<inbound_event::Model>> {
    let mut query = inbound_event::Entity::find()
        .order_by_desc(inbound_event::Column::ReceivedAt)
        .order_by_desc(inbound_event::Column::Id)
        .limit(Ord::min(limit, MAX_EVENTS_PAGE));
    if let Some(name) = name {
        query = query.filter(inbound_event::Column::Name.eq(name));
    }
    query.all(conn).await.map_err(Error::from)
}

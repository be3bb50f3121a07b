//! The one place where step and task statuses change.
//!
//! Each call is a single compare-and-set `UPDATE … WHERE status IN (from…)
//! RETURNING *` that also copies the old status into `previous_status` and bumps
//! `transition_seq` (SET expressions see the row as it was before the update, on
//! both backends). Every returned row then gets its audit row and change record,
//! checked against the domain's transition table.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, SimpleExpr};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, UpdateMany};

use super::error::{Error, Result};
use super::txn::WriteTxn;
use crate::domain::attempt::FailureKind;
use crate::domain::change::{StepChange, TaskChange};
use crate::domain::{StepStatus, TaskStatus};
use crate::entities::{task, workflow_step};

/// A set of steps to move to one status.
pub(crate) struct StepMove {
    /// Target status.
    pub to: StepStatus,
    /// A status passed through on the way (two audit rows, one UPDATE), e.g.
    /// PENDING → ENQUEUED → IN_PROGRESS when a replica claims a child it just
    /// made ready.
    pub via: Option<StepStatus>,
    /// Statuses the rows may be in; rows in any other status are left alone.
    pub from: &'static [StepStatus],
    /// Which rows.
    pub filter: Condition,
    /// Extra columns to set in the same statement.
    pub set: Vec<(workflow_step::Column, SimpleExpr)>,
    /// Stored with each transition row.
    pub reason: Option<String>,
    /// The kind of the failed attempt behind the move, if any.
    pub failure: Option<FailureKind>,
}

/// A set of tasks to move to one status.
pub(crate) struct TaskMove {
    /// Target status.
    pub to: TaskStatus,
    /// Statuses the rows may be in.
    pub from: &'static [TaskStatus],
    /// Which rows.
    pub filter: Condition,
    /// Extra columns to set.
    pub set: Vec<(task::Column, SimpleExpr)>,
    /// Stored with each transition row.
    pub reason: Option<String>,
}

pub(crate) fn parse_step_status(text: &str) -> Result<StepStatus> {
    text.parse().map_err(Error::from)
}

pub(crate) fn parse_task_status(text: &str) -> Result<TaskStatus> {
    text.parse().map_err(Error::from)
}

/// The status columns both audited tables have.
struct StatusColumns<C> {
    status: C,
    previous: C,
    sequence: C,
    updated_at: C,
}

/// The UPDATE both tables share: keep the old status, set the new one, advance
/// the sequence by `hops`, stamp the time, then the caller's extra columns.
fn status_update<E: EntityTrait>(
    columns: StatusColumns<E::Column>,
    to: &'static str,
    hops: i32,
    set: Vec<(E::Column, SimpleExpr)>,
    now: DateTime<Utc>,
) -> UpdateMany<E> {
    let mut update = E::update_many()
        .col_expr(columns.previous, Expr::col(columns.status))
        .col_expr(columns.status, Expr::value(to))
        .col_expr(columns.sequence, Expr::col(columns.sequence).add(hops))
        .col_expr(columns.updated_at, Expr::value(now));
    for (column, value) in set {
        update = update.col_expr(column, value);
    }
    update
}

/// Move the matching steps; returns the updated rows (only those that moved).
pub(crate) async fn move_steps(
    tx: &mut WriteTxn,
    change: StepMove,
    now: DateTime<Utc>,
) -> Result<Vec<workflow_step::Model>> {
    use workflow_step::Column as C;
    for from in change.from {
        match change.via {
            Some(via) => {
                StepStatus::check_transition(Some(*from), via)?;
                StepStatus::check_transition(Some(via), change.to)?;
            }
            None => StepStatus::check_transition(Some(*from), change.to)?,
        }
    }
    let hops = if change.via.is_some() { 2 } else { 1 };
    let from_text: Vec<&str> = change.from.iter().map(|s| s.as_str()).collect();
    let mut set = change.set;
    if !matches!(
        change.to,
        StepStatus::Pending | StepStatus::Enqueued | StepStatus::WaitingForRetry
    ) {
        // Running or finished: no longer waiting at a concurrency gate.
        set.push((C::GateAt, null_time()));
    }
    let columns = StatusColumns {
        status: C::Status,
        previous: C::PreviousStatus,
        sequence: C::TransitionSeq,
        updated_at: C::UpdatedAt,
    };
    let rows = status_update::<workflow_step::Entity>(columns, change.to.as_str(), hops, set, now)
        .filter(change.filter)
        .filter(C::Status.is_in(from_text))
        .exec_with_returning(tx.conn())
        .await?;
    for row in &rows {
        let mut from = row
            .previous_status
            .as_deref()
            .map(parse_step_status)
            .transpose()?;
        let hops_in_order = change.via.into_iter().chain([change.to]);
        for (sequence, to) in (row.transition_seq - hops + 1..).zip(hops_in_order) {
            // A step passes ENQUEUED before the claim bumps its attempt number.
            let attempt = if to == StepStatus::InProgress {
                row.attempts
            } else {
                row.attempts - (hops - 1)
            };
            tx.record_step(StepChange {
                step_id: row.id,
                task_id: row.task_id,
                step_name: row.name.clone(),
                handler: row.handler.clone(),
                external: row.external,
                from,
                to,
                attempt,
                started_at: row.started_at,
                sequence,
                reason: change.reason.clone(),
                failure: change.failure,
                at: now,
            })?;
            from = Some(to);
        }
    }
    Ok(rows)
}

/// Move the matching tasks; returns the updated rows (only those that moved).
pub(crate) async fn move_tasks(
    tx: &mut WriteTxn,
    change: TaskMove,
    now: DateTime<Utc>,
) -> Result<Vec<task::Model>> {
    use task::Column as C;
    for from in change.from {
        TaskStatus::check_transition(Some(*from), change.to)?;
    }
    let from_text: Vec<&str> = change.from.iter().map(|s| s.as_str()).collect();
    let columns = StatusColumns {
        status: C::Status,
        previous: C::PreviousStatus,
        sequence: C::TransitionSeq,
        updated_at: C::UpdatedAt,
    };
    let mut set = change.set;
    if !matches!(change.to, TaskStatus::Pending | TaskStatus::Scheduled) {
        // Started or finished: no longer waiting for its concurrency group.
        set.push((C::QueuedAt, null_time()));
    }
    let rows = status_update::<task::Entity>(columns, change.to.as_str(), 1, set, now)
        .filter(change.filter)
        .filter(C::Status.is_in(from_text))
        .exec_with_returning(tx.conn())
        .await?;
    for row in &rows {
        let from = row
            .previous_status
            .as_deref()
            .map(parse_task_status)
            .transpose()?;
        tx.record_task(TaskChange {
            task_id: row.id,
            namespace: row.namespace.clone(),
            name: row.name.clone(),
            created_at: row.created_at,
            correlation_id: row.correlation_id.clone(),
            trace_parent: row.trace_parent.clone(),
            from,
            to: change.to,
            sequence: row.transition_seq,
            reason: change.reason.clone(),
            at: now,
        })?;
    }
    Ok(rows)
}

/// The SQL `NULL` for a nullable column assignment.
pub(crate) fn null() -> SimpleExpr {
    Expr::value(sea_orm::Value::String(None))
}

/// `NULL` typed as a timestamp (PostgreSQL wants the type to match).
pub(crate) fn null_time() -> SimpleExpr {
    Expr::value(sea_orm::Value::ChronoDateTimeUtc(None))
}

/// `NULL` typed as a UUID.
pub(crate) fn null_uuid() -> SimpleExpr {
    Expr::value(sea_orm::Value::Uuid(None))
}

/// `NULL` typed as JSON.
pub(crate) fn null_json() -> SimpleExpr {
    Expr::value(sea_orm::Value::Json(None))
}

//! Operator actions: cancel a task, retry a failed step or task, resolve a step
//! by hand. Each locks the task, checks the state machine with the current
//! statuses (so the error names them), moves rows, and re-derives readiness and
//! the task's status in the same transaction.

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter};
use serde_json::Value;
use uuid::Uuid;

use super::claims::ended_at;
use super::error::{Error, Result};
use super::lineage::open_children;
use super::queries::{find_step, find_task};
use super::readiness::{lock_tasks, promote_children, reconcile_tasks};
use super::transition::{
    StepMove, TaskMove, move_steps, move_tasks, null_time, parse_step_status, parse_task_status,
};
use super::txn::{WriteTxn, insert_all};
use crate::domain::backoff::RetryPolicy;
use crate::domain::{StepStatus, TaskStatus};
use crate::entities::{step_result, task, workflow_step};

/// What a cancellation did.
#[derive(Debug, Clone)]
pub struct Cancelled {
    /// The task, now CANCELLED.
    pub task: task::Model,
    /// Steps that were running: their handlers should be told to stop.
    pub interrupted_steps: Vec<Uuid>,
}

fn invalid(entity: &'static str, id: Uuid, source: crate::domain::TransitionError) -> Error {
    Error::InvalidTransition {
        entity,
        id: id.to_string(),
        source,
    }
}

async fn locked_task(tx: &WriteTxn, task_id: Uuid) -> Result<(task::Model, TaskStatus)> {
    lock_tasks(tx, &[task_id]).await?;
    let task = find_task(tx.conn(), task_id)
        .await?
        .ok_or_else(|| Error::NotFound {
            entity: "task",
            id: task_id.to_string(),
        })?;
    let status = parse_task_status(&task.status)?;
    Ok((task, status))
}

/// Lock the step's task, then read the step as it is under the lock.
async fn locked_step(tx: &WriteTxn, step_id: Uuid) -> Result<(workflow_step::Model, StepStatus, TaskStatus)> {
    let not_found = || Error::NotFound {
        entity: "step",
        id: step_id.to_string(),
    };
    let step = find_step(tx.conn(), step_id).await?.ok_or_else(not_found)?;
    let (_, task_status) = locked_task(tx, step.task_id).await?;
    let step = find_step(tx.conn(), step_id).await?.ok_or_else(not_found)?;
    let status = parse_step_status(&step.status)?;
    Ok((step, status, task_status))
}

/// A finished task cannot be reopened by acting on one of its steps.
fn ensure_task_open(task_id: Uuid, status: TaskStatus) -> Result<()> {
    if status.is_terminal() {
        TaskStatus::check_transition(Some(status), TaskStatus::InProgress)
            .map_err(|e| invalid("task", task_id, e))?;
    }
    Ok(())
}

/// Cancel a task: no new step starts; running steps are reported so their
/// handlers can be told.
pub async fn cancel_task(
    tx: &mut WriteTxn,
    task_id: Uuid,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Result<Cancelled> {
    let (_, status) = locked_task(tx, task_id).await?;
    TaskStatus::check_transition(Some(status), TaskStatus::Cancelled)
        .map_err(|e| invalid("task", task_id, e))?;
    let set = ended_at(now);
    let steps = move_steps(
        tx,
        StepMove {
            via: None,
            to: StepStatus::Cancelled,
            from: StepStatus::CANCELLABLE,
            filter: Condition::all().add(workflow_step::Column::TaskId.eq(task_id)),
            set,
            reason: reason.clone(),
            failure: None,
        },
        now,
    )
    .await?;
    let interrupted_steps = steps
        .iter()
        .filter(|s| s.previous_status.as_deref() == Some(StepStatus::InProgress.as_str()))
        .map(|s| s.id)
        .collect();
    let task = move_tasks(
        tx,
        TaskMove {
            to: TaskStatus::Cancelled,
            from: &[
                TaskStatus::Pending,
                TaskStatus::Scheduled,
                TaskStatus::InProgress,
                TaskStatus::Error,
            ],
            filter: Condition::all().add(task::Column::Id.eq(task_id)),
            set: vec![(task::Column::CompletedAt, Expr::value(now))],
            reason,
        },
        now,
    )
    .await?
    .into_iter()
    .next()
    .ok_or_else(|| Error::Conflict {
        message: format!("task {task_id} changed while it was being cancelled"),
    })?;
    let mut interrupted_steps: Vec<Uuid> = interrupted_steps;
    // A child cancelled on its own fails the step that started it.
    super::lineage::settle_parents(tx, std::slice::from_ref(&task), now).await?;
    // Its children go with it (and theirs, down the tree).
    for child in open_children(tx, task_id).await? {
        let reason = Some(format!("parent task {task_id} was cancelled"));
        let cancelled = Box::pin(cancel_task(tx, child, reason, now)).await?;
        interrupted_steps.extend(cancelled.interrupted_steps);
    }
    Ok(Cancelled {
        task,
        interrupted_steps,
    })
}

async fn reopen_failed_step(
    tx: &mut WriteTxn,
    step: &workflow_step::Model,
    now: DateTime<Utc>,
) -> Result<workflow_step::Model> {
    let policy: RetryPolicy = serde_json::from_value(step.retry_policy.clone())
        .map_err(|e| Error::corrupt(format!("retry policy of step {}: {e}", step.id)))?;
    let fresh_limit = step
        .attempts
        .saturating_add(i32::try_from(policy.max_attempts).unwrap_or(i32::MAX));
    let moved = move_steps(
        tx,
        StepMove {
            via: None,
            to: StepStatus::Enqueued,
            from: &[StepStatus::Error],
            filter: Condition::all().add(workflow_step::Column::Id.eq(step.id)),
            set: if step.flow_key.is_some() {
                // A concurrency group's step runs again only through its gate.
                vec![
                    (workflow_step::Column::AttemptLimit, Expr::value(fresh_limit)),
                    (workflow_step::Column::GateAt, Expr::value(now)),
                    (workflow_step::Column::CompletedAt, null_time()),
                ]
            } else {
                vec![
                    (workflow_step::Column::AttemptLimit, Expr::value(fresh_limit)),
                    (workflow_step::Column::ReadyAt, Expr::value(now)),
                    (workflow_step::Column::ClaimRank, tx.rank_expr(now)),
                    (workflow_step::Column::CompletedAt, null_time()),
                ]
            },
            reason: Some("retry requested".to_owned()),
            failure: None,
        },
        now,
    )
    .await?;
    moved.into_iter().next().ok_or_else(|| Error::Conflict {
        message: format!("step {} changed during retry", step.id),
    })
}

/// Give one failed step a fresh budget of attempts.
pub async fn retry_step(
    tx: &mut WriteTxn,
    step_id: Uuid,
    now: DateTime<Utc>,
) -> Result<workflow_step::Model> {
    let (step, status, task_status) = locked_step(tx, step_id).await?;
    ensure_task_open(step.task_id, task_status)?;
    StepStatus::check_transition(Some(status), StepStatus::Enqueued)
        .map_err(|e| invalid("step", step_id, e))?;
    let step = reopen_failed_step(tx, &step, now).await?;
    reconcile_tasks(tx, &[step.task_id], now).await?;
    Ok(step)
}

/// Give every failed step of a failed task a fresh budget of attempts.
pub async fn retry_task(
    tx: &mut WriteTxn,
    task_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<workflow_step::Model>> {
    let (_, status) = locked_task(tx, task_id).await?;
    if status != TaskStatus::Error {
        let source = crate::domain::TransitionError::Illegal {
            entity: "task",
            from: Some(status.as_str()),
            to: "IN_PROGRESS (retry needs an ERROR task)",
        };
        return Err(invalid("task", task_id, source));
    }
    let failed = workflow_step::Entity::find()
        .filter(workflow_step::Column::TaskId.eq(task_id))
        .filter(workflow_step::Column::Status.eq(StepStatus::Error.as_str()))
        .all(tx.conn())
        .await?;
    let mut reopened = Vec::with_capacity(failed.len());
    for step in &failed {
        reopened.push(reopen_failed_step(tx, step, now).await?);
    }
    reconcile_tasks(tx, &[task_id], now).await?;
    Ok(reopened)
}

/// Resolve a step by hand (optionally with results its children will receive).
/// The returned row's `previous_status` tells whether a handler was running.
pub async fn resolve_step(
    tx: &mut WriteTxn,
    step_id: Uuid,
    results: Option<Value>,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Result<workflow_step::Model> {
    let (step, status, task_status) = locked_step(tx, step_id).await?;
    ensure_task_open(step.task_id, task_status)?;
    StepStatus::check_transition(Some(status), StepStatus::ResolvedManually)
        .map_err(|e| invalid("step", step_id, e))?;
    let set = ended_at(now);
    let step = move_steps(
        tx,
        StepMove {
            via: None,
            to: StepStatus::ResolvedManually,
            from: StepStatus::RESOLVABLE,
            filter: Condition::all().add(workflow_step::Column::Id.eq(step_id)),
            set,
            reason: Some(reason.unwrap_or_else(|| "resolved manually".to_owned())),
            failure: None,
        },
        now,
    )
    .await?
    .into_iter()
    .next()
    .ok_or_else(|| Error::Conflict {
        message: format!("step {step_id} changed while being resolved"),
    })?;
    if let Some(results) = results {
        let row = step_result::ActiveModel {
            step_id: Set(step.id),
            task_id: Set(step.task_id),
            attempt: Set(step.attempts),
            results: Set(results),
            created_at: Set(now),
        };
        insert_all(tx.conn(), vec![row], 5).await?;
    }
    promote_children(tx, &[step.id], None, now).await?;
    if step.map_parent.is_some() {
        super::maps::settle_maps(tx, std::slice::from_ref(&step), now).await?;
    }
    reconcile_tasks(tx, &[step.task_id], now).await?;
    Ok(step)
}

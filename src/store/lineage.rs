//! Child tasks. A `task` step waits (WAITING, `wait_event` = [`CHILD_WAIT`])
//! until the services create its child, once per attempt (the child names the
//! step and attempt, and its idempotency key says the same). When a child
//! finishes, the transaction that finishes it also settles the step that
//! started it: COMPLETE with the child's results, or a failure. Cancelling a
//! task cancels its unfinished children.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::attempts::{FailedAttempt, fail_step};
use super::error::Result;
use super::ids::any_of;
use super::readiness::{lock_tasks, reconcile_tasks};
use super::txn::{WriteTxn, insert_all};
use super::waits::complete_waiting;
use crate::domain::attempt::{FailureKind, StepFailure};
use crate::domain::kind::child_results;
use crate::domain::{StepStatus, TaskStatus};
use crate::entities::{step_result, task, workflow_step};

pub use crate::domain::kind::CHILD_WAIT;

/// Steps waiting for a child task that has not been created for their
/// current attempt, with their tasks; at most `limit`.
pub async fn children_to_start(
    conn: &impl sea_orm::ConnectionTrait,
    limit: u64,
) -> Result<Vec<(workflow_step::Model, task::Model)>> {
    let mut started = Query::select();
    started
        .expr(Expr::val(1))
        .from_as(task::Entity, Alias::new("c"))
        .and_where(
            Expr::col((Alias::new("c"), task::Column::ParentStepId))
                .equals((workflow_step::Entity, workflow_step::Column::Id)),
        )
        .and_where(
            Expr::col((Alias::new("c"), task::Column::ParentAttempt))
                .equals((workflow_step::Entity, workflow_step::Column::Attempts)),
        );
    let steps = workflow_step::Entity::find()
        .filter(workflow_step::Column::WaitEvent.eq(CHILD_WAIT))
        .filter(workflow_step::Column::Status.eq(StepStatus::Waiting.as_str()))
        .filter(Expr::exists(started).not())
        .order_by_asc(workflow_step::Column::UpdatedAt)
        .limit(limit)
        .all(conn)
        .await?;
    if steps.is_empty() {
        return Ok(Vec::new());
    }
    let backend = conn.get_database_backend();
    let tasks: HashMap<Uuid, task::Model> = task::Entity::find()
        .filter(any_of(backend, task::Column::Id, steps.iter().map(|s| s.task_id)))
        .all(conn)
        .await?
        .into_iter()
        .map(|t| (t.id, t))
        .collect();
    Ok(steps
        .into_iter()
        .filter_map(|s| tasks.get(&s.task_id).cloned().map(|t| (s, t)))
        .collect())
}

/// Fail a step waiting for its child because the child could not be created.
pub async fn refuse_child(
    tx: &mut WriteTxn,
    step: &workflow_step::Model,
    message: String,
    now: DateTime<Utc>,
) -> Result<()> {
    lock_tasks(tx, &[step.task_id]).await?;
    let failure = StepFailure {
        message,
        kind: FailureKind::ChildTask,
        retryable: false,
        retry_after: None,
    };
    let attempt = FailedAttempt {
        row: step,
        failure: &failure,
        from: &[StepStatus::Waiting],
        filter: Condition::all()
            .add(workflow_step::Column::Id.eq(step.id))
            .add(workflow_step::Column::Attempts.eq(step.attempts)),
    };
    if let Some((_, error)) = fail_step(tx, attempt, 0.0, now).await? {
        insert_all(tx.conn(), vec![error], 9).await?;
    }
    reconcile_tasks(tx, &[step.task_id], now).await.map(drop)
}

/// The results of each step of `task_id` by step name (the latest attempt's).
async fn results_by_name(tx: &WriteTxn, task_id: Uuid) -> Result<Map<String, Value>> {
    let names: HashMap<Uuid, String> = workflow_step::Entity::find()
        .select_only()
        .column(workflow_step::Column::Id)
        .column(workflow_step::Column::Name)
        .filter(workflow_step::Column::TaskId.eq(task_id))
        .into_tuple::<(Uuid, String)>()
        .all(tx.conn())
        .await?
        .into_iter()
        .collect();
    let rows = step_result::Entity::find()
        .filter(step_result::Column::TaskId.eq(task_id))
        .order_by_asc(step_result::Column::Attempt)
        .all(tx.conn())
        .await?;
    let mut found = Map::new();
    for row in rows {
        if let Some(name) = names.get(&row.step_id) {
            found.insert(name.clone(), row.results);
        }
    }
    Ok(found)
}

/// Settle the steps that started the finished tasks among `moved`: a child
/// that completed (or was resolved) completes its step with its results; one
/// that failed or was cancelled fails it (a failed child's step is retried per
/// its policy, with a new child). Their tasks are reconciled in turn, so a
/// finished tree settles up to its root in one transaction.
pub(crate) async fn settle_parents(
    tx: &mut WriteTxn,
    moved: &[task::Model],
    now: DateTime<Utc>,
) -> Result<()> {
    let finished: Vec<&task::Model> = moved
        .iter()
        .filter(|t| t.parent_step_id.is_some() && t.completed_at.is_some())
        .collect();
    if finished.is_empty() {
        return Ok(());
    }
    let parents: Vec<Uuid> = finished.iter().filter_map(|t| t.parent_task_id).collect();
    lock_tasks(tx, &parents).await?;
    let mut completed = Vec::new();
    let mut error_rows = Vec::new();
    let mut touched = Vec::new();
    for child in finished {
        let (Some(step_id), Some(attempt)) = (child.parent_step_id, child.parent_attempt) else {
            continue;
        };
        let Some(step) = workflow_step::Entity::find_by_id(step_id)
            .filter(workflow_step::Column::Status.eq(StepStatus::Waiting.as_str()))
            .filter(workflow_step::Column::Attempts.eq(attempt))
            .one(tx.conn())
            .await?
        else {
            continue;
        };
        touched.push(step.task_id);
        let status: TaskStatus = child.status.parse()?;
        if matches!(status, TaskStatus::Complete | TaskStatus::ResolvedManually) {
            let results = child_results(child.id, &child.status, results_by_name(tx, child.id).await?);
            let reason = format!("child task {} is {}", child.id, child.status);
            completed.push((step, results, Some(reason)));
        } else {
            let failure = StepFailure {
                message: format!("child task {} ended {}", child.id, child.status),
                kind: FailureKind::ChildTask,
                retryable: status == TaskStatus::Error,
                retry_after: None,
            };
            let attempt = FailedAttempt::while_waiting(&step, &failure);
            if let Some((_, error)) = fail_step(tx, attempt, 0.5, now).await? {
                error_rows.push(error);
            }
        }
    }
    insert_all(tx.conn(), error_rows, 9).await?;
    complete_waiting(tx, completed, now).await?;
    Box::pin(reconcile_tasks(tx, &touched, now)).await.map(drop)
}

/// The unfinished children of `task_id`.
pub(crate) async fn open_children(tx: &WriteTxn, task_id: Uuid) -> Result<Vec<Uuid>> {
    let finished: Vec<&str> = [
        TaskStatus::Complete,
        TaskStatus::Cancelled,
        TaskStatus::ResolvedManually,
    ]
    .iter()
    .map(|s| s.as_str())
    .collect();
    Ok(task::Entity::find()
        .select_only()
        .column(task::Column::Id)
        .filter(task::Column::ParentTaskId.eq(task_id))
        .filter(task::Column::Status.is_not_in(finished))
        .into_tuple::<Uuid>()
        .all(tx.conn())
        .await?)
}

/// The children of the task (or, with `by_step`, of the step) `id`, oldest first.
pub async fn children_of(
    conn: &impl sea_orm::ConnectionTrait,
    id: Uuid,
    by_step: bool,
) -> Result<Vec<task::Model>> {
    let column = if by_step {
        task::Column::ParentStepId
    } else {
        task::Column::ParentTaskId
    };
    Ok(task::Entity::find()
        .filter(column.eq(id))
        .order_by_asc(task::Column::CreatedAt)
        .order_by_asc(task::Column::Id)
        .all(conn)
        .await?)
}

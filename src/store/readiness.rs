//! Incremental readiness and task finalization.
//!
//! When steps become satisfied, only their children are examined: one UPDATE
//! promotes every PENDING child whose parents are now all satisfied. Parent
//! statuses are re-read rather than counted down, so nothing can drift. This is
//! safe because every writer that changes a task's steps first holds the task's
//! row lock on PostgreSQL ([`lock_tasks`]) and SQLite has a single writer.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, JoinType, Query};
use sea_orm::{ColumnTrait, Condition, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::error::Result;
use super::queries::step_counts;
use super::transition::{StepMove, TaskMove, move_steps, move_tasks, null_time, parse_task_status};
use super::txn::WriteTxn;
use crate::domain::readiness::{StepCounts, reconcile_task};
use crate::domain::{StepStatus, TaskStatus};
use crate::entities::{step_edge, task, workflow_step};

/// Lock task rows (in id order, so lockers never deadlock each other) for the
/// rest of the transaction. A no-op on SQLite, whose writer is exclusive.
pub async fn lock_tasks(tx: &WriteTxn, task_ids: &[Uuid]) -> Result<()> {
    if tx.backend() != DbBackend::Postgres || task_ids.is_empty() {
        return Ok(());
    }
    let mut ids = task_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    task::Entity::find()
        .select_only()
        .column(task::Column::Id)
        .filter(task::Column::Id.is_in(ids))
        .order_by_asc(task::Column::Id)
        .lock_exclusive()
        .into_tuple::<Uuid>()
        .all(tx.conn())
        .await?;
    Ok(())
}

/// Promote to ENQUEUED every PENDING child of `parent_ids` whose parents are
/// all satisfied; returns the promoted steps.
pub async fn promote_children(
    tx: &mut WriteTxn,
    parent_ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<Vec<workflow_step::Model>> {
    if parent_ids.is_empty() {
        return Ok(Vec::new());
    }
    let edge = Alias::new("e");
    let parent = Alias::new("p");
    let satisfied: Vec<&str> = StepStatus::SATISFIED.iter().map(|s| s.as_str()).collect();
    let unsatisfied_parent = Query::select()
        .expr(Expr::val(1))
        .from_as(step_edge::Entity, edge.clone())
        .join_as(
            JoinType::InnerJoin,
            workflow_step::Entity,
            parent.clone(),
            Expr::col((parent.clone(), workflow_step::Column::Id))
                .equals((edge.clone(), step_edge::Column::FromStepId)),
        )
        .and_where(
            Expr::col((edge.clone(), step_edge::Column::ToStepId))
                .equals((workflow_step::Entity, workflow_step::Column::Id)),
        )
        .and_where(Expr::col((parent, workflow_step::Column::Status)).is_not_in(satisfied))
        .to_owned();
    let children = Query::select()
        .column(step_edge::Column::ToStepId)
        .from(step_edge::Entity)
        .and_where(step_edge::Column::FromStepId.is_in(parent_ids.to_vec()))
        .to_owned();
    move_steps(
        tx,
        StepMove {
            to: StepStatus::Enqueued,
            from: &[StepStatus::Pending],
            filter: Condition::all()
                .add(workflow_step::Column::Id.in_subquery(children))
                .add(Expr::exists(unsatisfied_parent).not()),
            set: vec![(workflow_step::Column::ReadyAt, Expr::value(now))],
            reason: None,
        },
        now,
    )
    .await
}

fn only(status: TaskStatus) -> &'static [TaskStatus] {
    let at = TaskStatus::ALL.iter().position(|s| *s == status).unwrap_or(0);
    &TaskStatus::ALL[at..=at]
}

/// Move each task to the status its steps call for (finished, failed, reopened);
/// returns the tasks that moved.
pub async fn reconcile_tasks(
    tx: &mut WriteTxn,
    task_ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<Vec<task::Model>> {
    if task_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut ids = task_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let statuses: Vec<(Uuid, String)> = task::Entity::find()
        .select_only()
        .column(task::Column::Id)
        .column(task::Column::Status)
        .filter(task::Column::Id.is_in(ids.clone()))
        .into_tuple()
        .all(tx.conn())
        .await?;
    let counts = step_counts(tx.conn(), &ids).await?;
    let empty = StepCounts::default();
    let mut moves: HashMap<(TaskStatus, TaskStatus), Vec<Uuid>> = HashMap::new();
    for (id, status) in statuses {
        let current = parse_task_status(&status)?;
        if let Some(target) = reconcile_task(current, counts.get(&id).unwrap_or(&empty)) {
            moves.entry((current, target)).or_default().push(id);
        }
    }
    let mut moved = Vec::new();
    for ((from, to), ids) in moves {
        let completed_at = if to.is_finished() {
            Expr::value(now)
        } else {
            null_time()
        };
        moved.extend(
            move_tasks(
                tx,
                TaskMove {
                    to,
                    from: only(from),
                    filter: Condition::all().add(task::Column::Id.is_in(ids)),
                    set: vec![(task::Column::CompletedAt, completed_at)],
                    reason: None,
                },
                now,
            )
            .await?,
        );
    }
    Ok(moved)
}

//! Incremental readiness and task finalization.
//!
//! When steps become satisfied, only their children are examined, and a child
//! is promoted when every parent is now satisfied. Parent statuses are re-read
//! rather than counted down, so nothing can drift. This is
//! safe because every writer that changes a task's steps first holds the task's
//! row lock on PostgreSQL ([`lock_tasks`]) and SQLite has a single writer.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, JoinType};
use sea_orm::{
    ColumnTrait, Condition, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, RelationTrait,
};
use uuid::Uuid;

use super::claims::{Claim, lease_columns};
use super::error::Result;
use super::gates::hold_at_gate;
use super::ids::any_of;
use super::queries::step_counts;
use super::transition::{
    StepMove, TaskMove, move_steps, move_tasks, null_time, parse_step_status, parse_task_status,
};
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
        .filter(any_of(tx.backend(), task::Column::Id, ids))
        .order_by_asc(task::Column::Id)
        .lock_exclusive()
        .into_tuple::<Uuid>()
        .all(tx.conn())
        .await?;
    Ok(())
}

/// Steps a transaction made ready, by what became of them.
#[derive(Debug, Default)]
pub struct Promotion {
    /// Now ENQUEUED, claimable by anyone.
    pub enqueued: Vec<workflow_step::Model>,
    /// Claimed on the spot for the caller (IN_PROGRESS under its lease).
    pub claimed: Vec<workflow_step::Model>,
    /// How many now wait at their concurrency group's gate.
    pub gated: usize,
}

/// Promote every PENDING child of `parent_ids` whose parents are all satisfied.
/// With `claim`, children the claimer may run are claimed at once, up to its
/// limit (local continuation: no second transaction, no index scan); the rest
/// become ENQUEUED. Lookups are by index and updates by primary key, so plans
/// stay cheap even before the planner has statistics on fresh tables.
pub async fn promote_children(
    tx: &mut WriteTxn,
    parent_ids: &[Uuid],
    claim: Option<&Claim<'_>>,
    now: DateTime<Utc>,
) -> Result<Promotion> {
    if parent_ids.is_empty() {
        return Ok(Promotion::default());
    }
    let child = Alias::new("c");
    let mut children: Vec<(Uuid, Uuid, bool, Option<String>)> = step_edge::Entity::find()
        .select_only()
        .column(step_edge::Column::ToStepId)
        .column_as(
            Expr::col((child.clone(), workflow_step::Column::TaskId)),
            "task_id",
        )
        .column_as(
            Expr::col((child.clone(), workflow_step::Column::External)),
            "external",
        )
        .column_as(
            Expr::col((child.clone(), workflow_step::Column::FlowKey)),
            "flow_key",
        )
        .join_as(JoinType::InnerJoin, step_edge::Relation::Child.def(), child)
        .filter(any_of(
            tx.backend(),
            step_edge::Column::FromStepId,
            parent_ids.iter().copied(),
        ))
        .into_tuple()
        .all(tx.conn())
        .await?;
    children.sort_unstable();
    children.dedup();
    if children.is_empty() {
        return Ok(Promotion::default());
    }
    let parent = Alias::new("p");
    let statuses: Vec<(Uuid, String)> = step_edge::Entity::find()
        .select_only()
        .column(step_edge::Column::ToStepId)
        .column_as(
            Expr::col((parent.clone(), workflow_step::Column::Status)),
            "status",
        )
        .join_as(JoinType::InnerJoin, step_edge::Relation::Parent.def(), parent)
        .filter(any_of(
            tx.backend(),
            step_edge::Column::ToStepId,
            children.iter().map(|c| c.0),
        ))
        .into_tuple()
        .all(tx.conn())
        .await?;
    let mut blocked = HashSet::new();
    for (child, status) in statuses {
        if !parse_step_status(&status)?.satisfies_dependents() {
            blocked.insert(child);
        }
    }
    let (mut local, mut shared, mut gated) = (Vec::new(), Vec::new(), Vec::new());
    for (id, task_id, external, key) in children.into_iter().filter(|c| !blocked.contains(&c.0)) {
        match claim {
            // A step of a concurrency group is claimed only through its gate.
            _ if key.is_some() => gated.push(id),
            Some(c) if local.len() < c.limit as usize && c.takes(task_id, external) => local.push(id),
            _ => shared.push(id),
        }
    }
    let mut promotion = Promotion {
        gated: gated.len(),
        ..Promotion::default()
    };
    hold_at_gate(tx, gated, now).await?;
    if !shared.is_empty() {
        promotion.enqueued = move_steps(
            tx,
            StepMove {
                via: None,
                to: StepStatus::Enqueued,
                from: &[StepStatus::Pending],
                filter: Condition::all().add(any_of(tx.backend(), workflow_step::Column::Id, shared)),
                set: vec![
                    (workflow_step::Column::ReadyAt, Expr::value(now)),
                    (workflow_step::Column::ClaimRank, tx.rank_expr(now)),
                ],
                reason: None,
                failure: None,
            },
            now,
        )
        .await?;
    }
    if let (Some(claim), false) = (claim, local.is_empty()) {
        promotion.claimed = move_steps(
            tx,
            StepMove {
                via: Some(StepStatus::Enqueued),
                to: StepStatus::InProgress,
                from: &[StepStatus::Pending],
                filter: Condition::all().add(any_of(tx.backend(), workflow_step::Column::Id, local)),
                set: lease_columns(claim, Uuid::new_v4(), now),
                reason: None,
                failure: None,
            },
            now,
        )
        .await?;
    }
    Ok(promotion)
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
        .filter(any_of(tx.backend(), task::Column::Id, ids.iter().copied()))
        // A task waiting for its concurrency group holds its steps back; it
        // has nothing to settle until admitted.
        .filter(task::Column::QueuedAt.is_null())
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
                    filter: Condition::all().add(any_of(tx.backend(), task::Column::Id, ids)),
                    set: vec![(task::Column::CompletedAt, completed_at)],
                    reason: None,
                },
                now,
            )
            .await?,
        );
    }
    // A finished child task settles the step that started it.
    super::lineage::settle_parents(tx, &moved, now).await?;
    Ok(moved)
}

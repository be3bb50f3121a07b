//! Claims and leases. A claim moves claimable steps to IN_PROGRESS under a lease
//! (owner, random token, expiry) in one statement; on PostgreSQL the candidate
//! rows are picked with `FOR UPDATE SKIP LOCKED`, so replicas never claim the
//! same row and never wait for each other. The token is a capability: completing,
//! failing or heartbeating a step needs it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, Order, Query, SimpleExpr};
use sea_orm::{ColumnTrait, Condition, DbBackend, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::error::{Error, Result};
use super::ids::any_of;
use super::transition::{StepMove, TaskMove, move_steps, move_tasks, null_json, null_time};
use super::txn::WriteTxn;
use crate::domain::{StepStatus, TaskStatus};
use crate::entities::{task, workflow_step};

/// Which steps a claimer may take.
#[derive(Debug, Clone, Copy)]
pub enum ClaimFilter<'a> {
    /// Steps run by the engine's own handlers; optionally only one task's.
    Engine {
        /// Restrict to this task (used by `tasker task create --wait`).
        task: Option<Uuid>,
    },
    /// External steps whose handler is one of these.
    External {
        /// Handler names the worker serves.
        handlers: &'a [String],
    },
}

/// A claim request.
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    /// Lease owner: an engine instance id or a worker id.
    pub owner: &'a str,
    /// Most steps to take.
    pub limit: u64,
    /// Lease length.
    pub lease: Duration,
    /// Which steps.
    pub filter: ClaimFilter<'a>,
}

fn later(now: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX)
}

impl Claim<'_> {
    /// Whether this claimer may run a step of `task_id` that is (or is not) external.
    pub(crate) fn takes(&self, task_id: Uuid, external: bool) -> bool {
        match self.filter {
            ClaimFilter::Engine { task } => !external && task.is_none_or(|t| t == task_id),
            // Workers name their handlers; they claim through the index only.
            ClaimFilter::External { .. } => false,
        }
    }
}

/// The columns a claim sets: a new attempt under the claimer's lease.
pub(crate) fn lease_columns(
    claim: &Claim<'_>,
    token: Uuid,
    now: DateTime<Utc>,
) -> Vec<(workflow_step::Column, SimpleExpr)> {
    use workflow_step::Column as C;
    vec![
        (C::Attempts, Expr::col(C::Attempts).add(1)),
        (C::LeaseOwner, Expr::value(claim.owner)),
        (C::LeaseToken, Expr::value(token)),
        (C::LeaseExpiresAt, Expr::value(later(now, claim.lease))),
        (C::StartedAt, Expr::value(now)),
        (C::ReadyAt, null_time()),
    ]
}

/// Claim up to `claim.limit` ready steps, most urgent first and then oldest
/// (by claim rank); their tasks move to IN_PROGRESS if they had not started.
pub async fn claim_steps(
    tx: &mut WriteTxn,
    claim: Claim<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<workflow_step::Model>> {
    use workflow_step::Column as C;
    if claim.limit == 0 {
        return Ok(Vec::new());
    }
    // `ready_at` is set exactly while a step is claimable (ENQUEUED, or
    // WAITING_FOR_RETRY until its time): an ordered scan of the small partial
    // index of claim ranks over those rows finds candidates, most urgent and
    // then oldest first. The status is re-checked by the update itself.
    let mut candidates = Query::select();
    candidates
        .column(C::Id)
        .from(workflow_step::Entity)
        .and_where(C::ReadyAt.is_not_null())
        .and_where(C::ReadyAt.lte(now))
        .order_by(C::ClaimRank, Order::Asc)
        .limit(claim.limit);
    match claim.filter {
        ClaimFilter::Engine { task } => {
            candidates.and_where(C::External.eq(false));
            if let Some(task_id) = task {
                candidates.and_where(C::TaskId.eq(task_id));
            }
        }
        ClaimFilter::External { handlers } => {
            candidates
                .and_where(C::External.eq(true))
                .and_where(C::Handler.is_in(handlers.to_vec()));
        }
    }
    if tx.backend() == DbBackend::Postgres {
        candidates.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let rows = move_steps(
        tx,
        StepMove {
            via: None,
            to: StepStatus::InProgress,
            from: StepStatus::CLAIMABLE,
            filter: Condition::all().add(C::Id.in_subquery(candidates)),
            set: lease_columns(&claim, Uuid::new_v4(), now),
            reason: None,
            failure: None,
        },
        now,
    )
    .await?;
    start_tasks(tx, &rows, now).await?;
    Ok(rows)
}

/// Move the tasks of just claimed steps to IN_PROGRESS if they had not started.
pub(crate) async fn start_tasks(
    tx: &mut WriteTxn,
    claimed: &[workflow_step::Model],
    now: DateTime<Utc>,
) -> Result<()> {
    let mut task_ids: Vec<Uuid> = claimed.iter().map(|r| r.task_id).collect();
    task_ids.sort_unstable();
    task_ids.dedup();
    if !task_ids.is_empty() {
        move_tasks(
            tx,
            TaskMove {
                to: TaskStatus::InProgress,
                from: &[TaskStatus::Pending, TaskStatus::Scheduled],
                filter: Condition::all().add(any_of(tx.backend(), task::Column::Id, task_ids)),
                set: vec![],
                reason: None,
            },
            now,
        )
        .await?;
    }
    Ok(())
}

/// Extend every lease `owner` holds on IN_PROGRESS steps until `until`; returns
/// the ids still held, every one of `running` that is still ours among them (one
/// of `running` missing from the answer was cancelled, resolved or taken over,
/// and its handler should stop).
///
/// On PostgreSQL the renewal never waits for a row lock: an engine turn that is
/// recording this replica's outcomes holds locks on some of these rows while it
/// waits for others, and a renewal that waited in turn closed a deadlock cycle
/// (PostgreSQL then aborted one side, and under short leases healthy steps lost
/// theirs). Rows locked right now are skipped; those of `running` that are still
/// ours by their last committed state count as held and are renewed next round,
/// which a lease of three renewal periods leaves room for.
pub async fn renew_leases(
    conn: &impl sea_orm::ConnectionTrait,
    owner: &str,
    until: DateTime<Utc>,
    running: &[Uuid],
) -> Result<Vec<Uuid>> {
    use workflow_step::Column as C;
    let backend = conn.get_database_backend();
    let mut ours = Query::select();
    ours.column(C::Id)
        .from(workflow_step::Entity)
        .and_where(C::LeaseOwner.eq(owner))
        .and_where(C::Status.eq(StepStatus::InProgress.as_str()));
    if backend == DbBackend::Postgres {
        ours.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let rows = workflow_step::Entity::update_many()
        .col_expr(C::LeaseExpiresAt, Expr::value(until))
        .filter(C::Id.in_subquery(ours))
        .exec_with_returning(conn)
        .await?;
    let mut held: Vec<Uuid> = rows.into_iter().map(|r| r.id).collect();
    if backend != DbBackend::Postgres {
        return Ok(held);
    }
    let renewed: std::collections::HashSet<Uuid> = held.iter().copied().collect();
    let skipped: Vec<Uuid> = running
        .iter()
        .copied()
        .filter(|id| !renewed.contains(id))
        .collect();
    if !skipped.is_empty() {
        let busy: Vec<Uuid> = workflow_step::Entity::find()
            .select_only()
            .column(C::Id)
            .filter(any_of(backend, C::Id, skipped))
            .filter(C::LeaseOwner.eq(owner))
            .filter(C::Status.eq(StepStatus::InProgress.as_str()))
            .into_tuple()
            .all(conn)
            .await?;
        held.extend(busy);
    }
    Ok(held)
}

/// Extend one step's lease by `extend` from `now`, if `token` still holds it.
pub async fn heartbeat(
    conn: &impl sea_orm::ConnectionTrait,
    step_id: Uuid,
    token: Uuid,
    extend: Duration,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>> {
    use workflow_step::Column as C;
    let until = later(now, extend);
    let updated = workflow_step::Entity::update_many()
        .col_expr(C::LeaseExpiresAt, Expr::value(until))
        .filter(C::Id.eq(step_id))
        .filter(C::LeaseToken.eq(token))
        .filter(C::Status.eq(StepStatus::InProgress.as_str()))
        .exec(conn)
        .await?;
    if updated.rows_affected == 1 {
        return Ok(until);
    }
    match workflow_step::Entity::find_by_id(step_id).one(conn).await? {
        None => Err(Error::NotFound {
            entity: "step",
            id: step_id.to_string(),
        }),
        Some(_) => Err(Error::LeaseLost {
            step_id: step_id.to_string(),
        }),
    }
}

/// A lease that ran out while its step was IN_PROGRESS.
#[derive(Debug, Clone)]
pub struct ExpiredLease {
    /// The step.
    pub step_id: Uuid,
    /// Its task.
    pub task_id: Uuid,
    /// The token of the lapsed claim.
    pub lease_token: Uuid,
}

/// Up to `limit` steps whose lease expired before `now`. Not locked: the
/// recording that follows takes the task locks first, as every writer does, and
/// then moves only rows whose lapsed token is still theirs, so when two
/// replicas find the same expiry one applies it and the other changes nothing.
/// (Locking the step rows here, before the task rows, inverted that order and
/// could deadlock with a late report or an operator action on the same task.)
pub async fn expired_leases(tx: &WriteTxn, now: DateTime<Utc>, limit: u64) -> Result<Vec<ExpiredLease>> {
    use workflow_step::Column as C;
    let query = workflow_step::Entity::find()
        .select_only()
        .column(C::Id)
        .column(C::TaskId)
        .column(C::LeaseToken)
        .filter(C::LeaseExpiresAt.is_not_null())
        .filter(C::LeaseExpiresAt.lt(now))
        .filter(C::Status.eq(StepStatus::InProgress.as_str()))
        .limit(limit);
    let rows: Vec<(Uuid, Uuid, Option<Uuid>)> = query.into_tuple().all(tx.conn()).await?;
    Ok(rows
        .into_iter()
        .filter_map(|(step_id, task_id, token)| {
            token.map(|lease_token| ExpiredLease {
                step_id,
                task_id,
                lease_token,
            })
        })
        .collect())
}

/// Columns that end a lease (`ready_at` is the caller's: a retry sets it).
pub(crate) fn lease_cleared() -> Vec<(workflow_step::Column, sea_orm::sea_query::SimpleExpr)> {
    use super::transition::{null, null_uuid};
    use workflow_step::Column as C;
    vec![
        (C::LeaseOwner, null()),
        (C::LeaseToken, null_uuid()),
        (C::LeaseExpiresAt, null_time()),
    ]
}

/// Columns that end a step now: no lease, not claimable, finished at `now`.
pub(crate) fn ended_at(now: DateTime<Utc>) -> Vec<(workflow_step::Column, SimpleExpr)> {
    let mut set = lease_cleared();
    set.push((workflow_step::Column::ReadyAt, null_time()));
    set.push((workflow_step::Column::CompletedAt, Expr::value(now)));
    // Whatever it waited for, it waits no more.
    set.push((workflow_step::Column::WakeAt, null_time()));
    set.push((workflow_step::Column::WaitEvent, super::transition::null()));
    set
}

/// Columns that end a lease and clear the last error (for successful endings).
pub(crate) fn lease_and_error_cleared() -> Vec<(workflow_step::Column, sea_orm::sea_query::SimpleExpr)> {
    let mut set = lease_cleared();
    set.push((workflow_step::Column::LastError, null_json()));
    set
}

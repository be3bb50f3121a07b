//! Task admission: a task of a concurrency group is created waiting for its
//! group's turn (`queued_at`, its first steps held back) and admitted here,
//! under the group's lock, by its strategy: `queue` starts the oldest while
//! slots are free, `cancel_newest` cancels what does not fit, and
//! `cancel_in_progress` cancels the oldest running tasks to make room. An
//! admitted task is IN_PROGRESS at once and its first steps are released.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{Condition, ConnectionTrait};
use uuid::Uuid;

use super::error::Result;
use super::gates::hold_at_gate;
use super::groups::{DueGroup, LockedClock, Waiting, due_groups, lock_groups, running};
use super::ids::any_of;
use super::operator::cancel_task;
use super::sql::Sql;
use super::transition::{StepMove, TaskMove, move_steps, move_tasks};
use super::txn::WriteTxn;
use crate::domain::concurrency::admit;
use crate::domain::template::ConcurrencyStrategy;
use crate::domain::{StepStatus, TaskStatus};
use crate::entities::{task, workflow_step};

/// Most waiting tasks of one group a pass looks at.
const WAITING_PER_GROUP: usize = 1_000;

/// What an admission pass did.
#[derive(Debug, Default)]
pub struct Admitted {
    /// Tasks started.
    pub started: usize,
    /// Steps that were running in tasks it cancelled (their handlers should stop).
    pub interrupted: Vec<Uuid>,
}

/// Which groups a pass admits into.
#[derive(Debug, Clone, Copy)]
pub enum AdmitScope<'a> {
    /// One group, waiting for its lock (a task was just created in it).
    Group(&'a str),
    /// Every group with tasks due, in turn from after the cursor, skipping
    /// groups another replica is admitting into.
    Due(&'a str),
}

/// Admit waiting tasks due at `now`; returns what was done and, for
/// [`AdmitScope::Due`], the group the next pass starts after. Changes are
/// stamped with `clock` read once the groups are locked.
pub async fn admit_tasks(
    tx: &mut WriteTxn,
    scope: AdmitScope<'_>,
    now: DateTime<Utc>,
    clock: LockedClock<'_>,
) -> Result<(Admitted, Option<String>)> {
    let (groups, wait) = match scope {
        AdmitScope::Group(key) => (vec![group_of(tx, key).await?], true),
        AdmitScope::Due(cursor) => (due_groups(tx, Waiting::Tasks, None, now, cursor).await?, false),
    };
    let mut done = Admitted::default();
    let keys: Vec<String> = groups.iter().map(|g| g.key.clone()).collect();
    let locked = lock_groups(tx, keys, wait).await?;
    let counts = running(tx, Waiting::Tasks, &locked).await?;
    let now = now.max(clock());
    // How many waiting tasks each group needs to look at: what fits under
    // `queue`, every one (within bounds) under the cancel strategies.
    let mut looks = Vec::new();
    for group in groups.iter().filter(|g| locked.contains(&g.key)) {
        let busy = counts.get(&group.key).copied().unwrap_or(0);
        let strategy = ConcurrencyStrategy::parse(&group.strategy).unwrap_or_default();
        let look = match strategy {
            ConcurrencyStrategy::Queue => (group.limit.unwrap_or(1) as usize).saturating_sub(busy),
            _ => WAITING_PER_GROUP,
        };
        looks.push((group, strategy, busy, look));
    }
    let last = looks.last().map(|(g, ..)| g.key.clone());
    let wanted: Vec<(&str, usize)> = looks
        .iter()
        .filter(|(.., look)| *look > 0)
        .map(|(g, .., look)| (g.key.as_str(), *look))
        .collect();
    let mut waiting = oldest(tx, &wanted, now).await?;
    let mut start = Vec::new();
    for (group, strategy, busy, _) in looks {
        let mine = waiting.remove(&group.key).unwrap_or_default();
        if !mine.is_empty() {
            start.extend(settle_group(tx, group, strategy, busy, mine, now, &mut done).await?);
        }
    }
    done.started += start_tasks(tx, start, now).await?;
    Ok((done, last))
}

/// The limit and strategy of a group, as its newest task has them.
async fn group_of(tx: &WriteTxn, key: &str) -> Result<DueGroup> {
    let mut sql = Sql::new(tx.backend());
    sql.push("SELECT flow_limit, flow_strategy FROM task WHERE flow_key = ")
        .bind(key.to_owned())
        .push(" ORDER BY created_at DESC, id DESC LIMIT 1");
    let row = tx.conn().query_one_raw(sql.build()).await?;
    let (limit, strategy): (Option<i32>, Option<String>) = match row {
        Some(row) => (row.try_get("", "flow_limit")?, row.try_get("", "flow_strategy")?),
        None => (None, None),
    };
    Ok(DueGroup {
        key: key.to_owned(),
        limit: limit.and_then(|l| u32::try_from(l).ok()),
        strategy: strategy.unwrap_or_else(|| "queue".to_owned()),
    })
}

/// Apply a group's strategy to its `waiting` tasks (oldest first): cancel
/// what must go, and return the tasks to start.
async fn settle_group(
    tx: &mut WriteTxn,
    group: &DueGroup,
    strategy: ConcurrencyStrategy,
    busy: usize,
    waiting: Vec<Uuid>,
    now: DateTime<Utc>,
    done: &mut Admitted,
) -> Result<Vec<Uuid>> {
    let decision = admit(strategy, group.limit.unwrap_or(1), busy, waiting.len());
    let (start, cancel): (&[Uuid], &[Uuid]) = match strategy {
        ConcurrencyStrategy::CancelInProgress => {
            let (lose, win) = waiting.split_at(decision.cancel_waiting);
            (win, lose)
        }
        _ => waiting.split_at(decision.start),
    };
    let reason = |what: &str| {
        format!(
            "concurrency group {} is at its limit of {} ({}: {what})",
            group.key,
            group.limit.unwrap_or(1),
            group.strategy
        )
    };
    for &id in cancel {
        let c = cancel_task(tx, id, Some(reason("cancelled while waiting")), now).await?;
        done.interrupted.extend(c.interrupted_steps);
    }
    if decision.cancel_running > 0 {
        for id in oldest_running(tx, &group.key, decision.cancel_running).await? {
            let why = reason("cancelled to make room for a newer task");
            let c = cancel_task(tx, id, Some(why), now).await?;
            done.interrupted.extend(c.interrupted_steps);
        }
    }
    Ok(start.to_vec())
}

/// The oldest due waiting tasks of each group, as many as `wanted` says, in
/// one statement.
async fn oldest(
    tx: &WriteTxn,
    wanted: &[(&str, usize)],
    now: DateTime<Utc>,
) -> Result<HashMap<String, Vec<Uuid>>> {
    let mut found: HashMap<String, Vec<Uuid>> = HashMap::new();
    if wanted.is_empty() {
        return Ok(found);
    }
    let mut sql = Sql::new(tx.backend());
    for (i, (key, look)) in wanted.iter().enumerate() {
        if i > 0 {
            sql.push(" UNION ALL ");
        }
        sql.push("SELECT * FROM (SELECT flow_key, id, queued_at FROM task WHERE flow_key = ")
            .bind((*key).to_owned())
            .push(" AND queued_at IS NOT NULL AND queued_at <= ")
            .bind(now)
            .push(&format!(" ORDER BY queued_at, id LIMIT {look}) AS q{i}"));
    }
    let mut rows: Vec<(String, DateTime<Utc>, Uuid)> = Vec::new();
    for row in tx.conn().query_all_raw(sql.build()).await? {
        rows.push((
            row.try_get("", "flow_key")?,
            row.try_get("", "queued_at")?,
            row.try_get("", "id")?,
        ));
    }
    // A compound select promises no order across its parts: oldest first here.
    rows.sort();
    for (key, _, id) in rows {
        found.entry(key).or_default().push(id);
    }
    Ok(found)
}

async fn oldest_running(tx: &WriteTxn, key: &str, n: usize) -> Result<Vec<Uuid>> {
    let mut sql = Sql::new(tx.backend());
    sql.push("SELECT id FROM task WHERE flow_key = ")
        .bind(key.to_owned())
        .push(&format!(
            " AND status = 'IN_PROGRESS' ORDER BY created_at, id LIMIT {n}"
        ));
    let mut ids = Vec::new();
    for row in tx.conn().query_all_raw(sql.build()).await? {
        ids.push(row.try_get("", "id")?);
    }
    Ok(ids)
}

/// Start admitted tasks: IN_PROGRESS, and their first steps released (to
/// ENQUEUED, or to their own group's gate). Returns how many started.
async fn start_tasks(tx: &mut WriteTxn, ids: Vec<Uuid>, now: DateTime<Utc>) -> Result<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    let started = move_tasks(
        tx,
        TaskMove {
            to: TaskStatus::InProgress,
            from: &[TaskStatus::Pending, TaskStatus::Scheduled],
            filter: Condition::all().add(any_of(tx.backend(), task::Column::Id, ids)),
            set: vec![],
            reason: Some("admitted by its concurrency group".to_owned()),
        },
        now,
    )
    .await?;
    let task_ids: Vec<Uuid> = started.iter().map(|t| t.id).collect();
    let (gated, free) = first_steps(tx, &task_ids).await?;
    hold_at_gate(tx, gated, now).await?;
    if !free.is_empty() {
        move_steps(
            tx,
            StepMove {
                via: None,
                to: StepStatus::Enqueued,
                from: &[StepStatus::Pending],
                filter: Condition::all().add(any_of(tx.backend(), workflow_step::Column::Id, free)),
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
    Ok(started.len())
}

/// The PENDING steps of `task_ids` whose parents are all satisfied, split
/// into those with a group of their own and the rest.
async fn first_steps(tx: &WriteTxn, task_ids: &[Uuid]) -> Result<(Vec<Uuid>, Vec<Uuid>)> {
    if task_ids.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut sql = Sql::new(tx.backend());
    sql.push("SELECT s.id AS id, s.flow_key AS flow_key FROM workflow_step s WHERE s.task_id IN (")
        .bind_list(task_ids.iter().copied())
        .push(
            ") AND s.status = 'PENDING' AND NOT EXISTS (SELECT 1 FROM step_edge e \
             JOIN workflow_step p ON p.id = e.from_step_id WHERE e.to_step_id = s.id \
             AND p.status NOT IN ('COMPLETE', 'SKIPPED', 'RESOLVED_MANUALLY'))",
        );
    let (mut gated, mut free) = (Vec::new(), Vec::new());
    for row in tx.conn().query_all_raw(sql.build()).await? {
        let id: Uuid = row.try_get("", "id")?;
        let key: Option<String> = row.try_get("", "flow_key")?;
        if key.is_some() {
            gated.push(id);
        } else {
            free.push(id);
        }
    }
    Ok((gated, free))
}

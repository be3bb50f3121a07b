//! Step gates: a step of a concurrency group whose parents are satisfied
//! waits with `gate_at` set (PENDING on its first attempt, WAITING_FOR_RETRY
//! between attempts, ENQUEUED after an operator's retry) and is claimed only
//! here, when its group has a free slot: a group never has more than its
//! limit of steps IN_PROGRESS, on any number of replicas.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait};
use uuid::Uuid;

use super::claims::{Claim, lease_columns, start_tasks};
use super::error::{Error, Result};
use super::groups::{LockedClock, Waiting, due_groups, lock_groups, push_step_filter, running, share};
use super::handler_limits::{HandlerLimits, admit_handler_limits};
use super::ids::any_of;
use super::rates::{Picked, admit_rates};
use super::sql::Sql;
use super::transition::{StepMove, move_steps};
use super::txn::WriteTxn;
use crate::domain::StepStatus;
use crate::domain::rate::Throttled;
use crate::entities::workflow_step;

/// Claim up to `claim.limit` gated steps whose groups have free slots,
/// sharing the starts between groups in turn from after `cursor` (which moves
/// on to the last group served), and whose handlers are under their
/// `handlers` limits. Starts are stamped with `clock` read once the groups
/// are locked, never before the end of a run that freed a slot.
pub async fn claim_gated(
    tx: &mut WriteTxn,
    claim: Claim<'_>,
    handlers: &HandlerLimits,
    now: DateTime<Utc>,
    clock: LockedClock<'_>,
    cursor: &mut String,
) -> Result<Gated> {
    if claim.limit == 0 {
        return Ok(Gated::default());
    }
    let groups = due_groups(tx, Waiting::Steps, Some(claim.filter), now, cursor).await?;
    if groups.is_empty() {
        return Ok(Gated::default());
    }
    // Groups of rate-limited steps without a concurrency limit need no lock:
    // their rate keys are locked when the steps are picked.
    let keys: Vec<String> = groups
        .iter()
        .filter(|g| g.limit.is_some())
        .map(|g| g.key.clone())
        .collect();
    let locked = lock_groups(tx, keys, false).await?;
    let counts = running(tx, Waiting::Steps, &locked).await?;
    let now = now.max(clock());
    let budget = usize::try_from(claim.limit).unwrap_or(usize::MAX);
    let open: Vec<(&String, usize)> = groups
        .iter()
        .filter_map(|g| match g.limit {
            None => Some((&g.key, budget)),
            Some(limit) if locked.contains(&g.key) => {
                let busy = counts.get(&g.key).copied().unwrap_or(0);
                Some((&g.key, (limit as usize).saturating_sub(busy)))
            }
            Some(_) => None,
        })
        .collect();
    let free: Vec<usize> = open.iter().map(|(_, f)| *f).collect();
    let takes = share(&free, budget);
    let wanted: Vec<(&String, usize)> = open
        .iter()
        .zip(&takes)
        .filter(|(_, take)| **take > 0)
        .map(|((key, _), take)| (*key, *take))
        .collect();
    if let Some((last, _)) = wanted.last() {
        cursor.clone_from(last);
    }
    let picked = pick(tx, &wanted, claim, now).await?;
    let (picked, now) = admit_handler_limits(tx, picked, claim.owner, handlers, now, clock).await?;
    let pass = admit_rates(tx, picked, now, clock).await?;
    let claimed = claim_picked(tx, pass.start, &claim, pass.now).await?;
    Ok(Gated {
        claimed,
        throttled: pass.throttled,
    })
}

/// What a gate pass did.
#[derive(Debug, Default)]
pub struct Gated {
    /// The steps it claimed.
    pub claimed: Vec<workflow_step::Model>,
    /// Steps it sent back to wait for a rate limit.
    pub throttled: Vec<Throttled>,
}

/// The oldest due steps of each group, as many as `wanted` says.
async fn pick(
    tx: &WriteTxn,
    wanted: &[(&String, usize)],
    claim: Claim<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<Picked>> {
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(tx.backend());
    for (i, (key, take)) in wanted.iter().enumerate() {
        if i > 0 {
            sql.push(" UNION ALL ");
        }
        sql.push("SELECT * FROM (SELECT id, task_id, name, handler, status, rate_limits FROM workflow_step WHERE flow_key = ")
            .bind((*key).clone())
            .push(" AND gate_at IS NOT NULL AND gate_at <= ")
            .bind(now);
        push_step_filter(&mut sql, claim.filter, "");
        // Steps sent back together by a rate limit share a gate time: the
        // oldest of them goes first.
        sql.push(&format!(
            " ORDER BY gate_at, created_at, id LIMIT {take}) AS q{i}"
        ));
    }
    let mut picked = Vec::new();
    for row in tx.conn().query_all_raw(sql.build()).await? {
        let rates: Option<serde_json::Value> = row.try_get("", "rate_limits")?;
        let rates = match rates {
            Some(json) => serde_json::from_value(json).map_err(|e| Error::corrupt(e.to_string()))?,
            None => Vec::new(),
        };
        picked.push(Picked {
            id: row.try_get("", "id")?,
            task_id: row.try_get("", "task_id")?,
            name: row.try_get("", "name")?,
            handler: row.try_get("", "handler")?,
            status: row.try_get("", "status")?,
            rates,
        });
    }
    Ok(picked)
}

/// Claim the picked steps from whatever waiting status each is in.
async fn claim_picked(
    tx: &mut WriteTxn,
    picked: Vec<(Uuid, String)>,
    claim: &Claim<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<workflow_step::Model>> {
    let mut by_status: HashMap<String, Vec<Uuid>> = HashMap::new();
    for (id, status) in picked {
        by_status.entry(status).or_default().push(id);
    }
    let token = Uuid::new_v4();
    let mut claimed = Vec::new();
    for (status, ids) in by_status {
        let (from, via): (&'static [StepStatus], Option<StepStatus>) = match status.as_str() {
            "PENDING" => (&[StepStatus::Pending], Some(StepStatus::Enqueued)),
            "ENQUEUED" => (&[StepStatus::Enqueued], None),
            "WAITING_FOR_RETRY" => (&[StepStatus::WaitingForRetry], None),
            // Moved on since it was picked (e.g. cancelled): nothing to claim.
            _ => continue,
        };
        // move_steps clears gate_at for every step it starts.
        let set = lease_columns(claim, token, now);
        claimed.extend(
            move_steps(
                tx,
                StepMove {
                    via,
                    to: StepStatus::InProgress,
                    from,
                    filter: Condition::all().add(any_of(tx.backend(), workflow_step::Column::Id, ids)),
                    set,
                    reason: None,
                    failure: None,
                },
                now,
            )
            .await?,
        );
    }
    start_tasks(tx, &claimed, now).await?;
    Ok(claimed)
}

/// Put steps at their group's gate from `at` (they stay in their status).
pub(crate) async fn hold_at_gate(tx: &WriteTxn, ids: Vec<Uuid>, at: DateTime<Utc>) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    use sea_orm::{EntityTrait, QueryFilter};
    workflow_step::Entity::update_many()
        .col_expr(workflow_step::Column::GateAt, Expr::value(at))
        .filter(any_of(tx.backend(), workflow_step::Column::Id, ids))
        .filter(workflow_step::Column::Status.is_in(["PENDING", "ENQUEUED", "WAITING_FOR_RETRY"]))
        .exec(tx.conn())
        .await?;
    Ok(())
}

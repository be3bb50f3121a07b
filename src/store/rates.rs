//! Rate limits at the gate: of the steps a gate pass picked, those whose rate
//! keys have a place in their window start; the others stay at the gate until
//! the first place frees (no attempt used, no lease taken). Each start is
//! logged in `rate_start` until its window ends; on PostgreSQL each key is
//! serialized by an advisory lock, so replicas never both take its last place.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::error::Result;
use super::groups::{LockedClock, lock_groups};
use super::ids::any_of;
use super::sql::Sql;
use super::tasks::RATE_GATE_PREFIX;
use super::txn::WriteTxn;
use crate::domain::rate::{RateKey, Throttled, Window, admit};
use crate::entities::workflow_step;

/// Lock names of rate keys, apart from those of concurrency groups.
const LOCK_PREFIX: &str = "rate|";

/// A step a gate pass picked.
#[derive(Debug, Clone)]
pub(crate) struct Picked {
    pub id: Uuid,
    pub task_id: Uuid,
    pub name: String,
    pub handler: String,
    pub status: String,
    /// The rate keys its starts count against (none: it starts).
    pub rates: Vec<RateKey>,
}

/// What a pass over rate limits decided.
pub(crate) struct RatePass {
    /// The steps that start: (id, status).
    pub start: Vec<(Uuid, String)>,
    /// Steps sent back to wait for their rate limit.
    pub throttled: Vec<Throttled>,
    /// The time to stamp the starts with (read again after the key locks).
    pub now: DateTime<Utc>,
}

/// Decide which picked steps start under their rate limits and log their
/// starts; send the others back to their gate until a place frees.
pub(crate) async fn admit_rates(
    tx: &WriteTxn,
    picked: Vec<Picked>,
    now: DateTime<Utc>,
    clock: LockedClock<'_>,
) -> Result<RatePass> {
    if picked.iter().all(|p| p.rates.is_empty()) {
        let start = picked.into_iter().map(|p| (p.id, p.status)).collect();
        return Ok(RatePass {
            start,
            throttled: Vec::new(),
            now,
        });
    }
    let keys: HashSet<&str> = picked
        .iter()
        .flat_map(|p| p.rates.iter().map(|r| r.key.as_str()))
        .collect();
    let locks: Vec<String> = keys.iter().map(|k| format!("{LOCK_PREFIX}{k}")).collect();
    let locked: HashSet<String> = lock_groups(tx, locks, false)
        .await?
        .into_iter()
        .filter_map(|l| l.strip_prefix(LOCK_PREFIX).map(str::to_owned))
        .collect();
    // A step with a key another replica holds is left for a later pass.
    let picked: Vec<Picked> = picked
        .into_iter()
        .filter(|p| p.rates.iter().all(|r| locked.contains(&r.key)))
        .collect();
    let now = now.max(clock());
    let windows = windows(tx, &locked, now).await?;
    let rates: Vec<Vec<RateKey>> = picked.iter().map(|p| p.rates.clone()).collect();
    let admitted = admit(&rates, &windows, now);
    let mut start = Vec::new();
    let mut log = Vec::new();
    let mut throttled: HashMap<DateTime<Utc>, Vec<Uuid>> = HashMap::new();
    let mut sent_back = Vec::new();
    for (step, verdict) in picked.into_iter().zip(admitted.runs) {
        match verdict {
            Ok(()) => {
                for rate in &step.rates {
                    let per = Duration::milliseconds(i64::try_from(rate.per_ms).unwrap_or(i64::MAX));
                    log.push((rate.key.clone(), now + per));
                }
                start.push((step.id, step.status));
            }
            Err(until) => {
                throttled.entry(until).or_default().push(step.id);
                sent_back.push(Throttled {
                    step_id: step.id,
                    task_id: step.task_id,
                    step_name: step.name,
                    handler: step.handler,
                    keys: step.rates.into_iter().map(|r| r.key).collect(),
                    until,
                });
            }
        }
    }
    record_starts(tx, log).await?;
    for (at, ids) in throttled {
        hold_until(tx, GateFilter::Steps(&ids), at).await?;
    }
    // Steps served under a full key wait with it: they are not picked again
    // (and sent back one pass at a time) before it has a place.
    for (key, at) in &admitted.full {
        hold_until(tx, GateFilter::Gate(&format!("{RATE_GATE_PREFIX}{key}")), *at).await?;
    }
    Ok(RatePass {
        start,
        throttled: sent_back,
        now,
    })
}

/// The log of each key now: starts inside their window, and the first to leave.
async fn windows(
    tx: &WriteTxn,
    keys: &HashSet<String>,
    now: DateTime<Utc>,
) -> Result<HashMap<String, Window>> {
    let mut found = HashMap::new();
    if keys.is_empty() {
        return Ok(found);
    }
    // Starts whose window has ended count for nothing: forget them.
    let mut prune = Sql::new(tx.backend());
    prune
        .push("DELETE FROM rate_start WHERE expires_at <= ")
        .bind(now);
    tx.conn().execute_raw(prune.build()).await?;
    let mut sql = Sql::new(tx.backend());
    sql.push(
        "SELECT rate_key, COUNT(*) AS n, MIN(expires_at) AS first_free FROM rate_start WHERE rate_key IN (",
    )
    .bind_list(keys.iter().cloned())
    .push(") GROUP BY rate_key");
    for row in tx.conn().query_all_raw(sql.build()).await? {
        let key: String = row.try_get("", "rate_key")?;
        let held: i64 = row.try_get("", "n")?;
        let first_free: Option<DateTime<Utc>> = row.try_get("", "first_free")?;
        found.insert(
            key,
            Window {
                held: usize::try_from(held).unwrap_or(usize::MAX),
                first_free,
            },
        );
    }
    Ok(found)
}

async fn record_starts(tx: &WriteTxn, log: Vec<(String, DateTime<Utc>)>) -> Result<()> {
    // Two values a row; well within every backend's limit of bound values.
    for chunk in log.chunks(1_000) {
        let mut sql = Sql::new(tx.backend());
        sql.push("INSERT INTO rate_start (rate_key, expires_at) VALUES ");
        for (i, (key, expires)) in chunk.iter().enumerate() {
            sql.push(if i == 0 { "(" } else { ", (" })
                .bind(key.clone())
                .push(", ")
                .bind(*expires)
                .push(")");
        }
        tx.conn().execute_raw(sql.build()).await?;
    }
    Ok(())
}

enum GateFilter<'a> {
    Steps(&'a [Uuid]),
    Gate(&'a str),
}

/// Move the gate of waiting steps on to `at` (never back).
async fn hold_until(tx: &WriteTxn, filter: GateFilter<'_>, at: DateTime<Utc>) -> Result<()> {
    let column = workflow_step::Column::GateAt;
    let which = match filter {
        GateFilter::Steps([]) => return Ok(()),
        GateFilter::Steps(ids) => any_of(tx.backend(), workflow_step::Column::Id, ids.iter().copied()),
        GateFilter::Gate(key) => workflow_step::Column::FlowKey.eq(key),
    };
    workflow_step::Entity::update_many()
        .col_expr(column, Expr::value(at))
        .filter(which)
        .filter(column.is_not_null())
        .filter(column.lt(at))
        .exec(tx.conn())
        .await?;
    Ok(())
}

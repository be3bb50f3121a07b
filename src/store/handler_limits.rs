//! Handler concurrency limits at the gate: of the steps a gate pass picked,
//! those of a limited handler start only while it runs fewer steps than its
//! limits allow, counted over every replica and over the claimer's own
//! leases. The others stay at the gate, as they were, for a later pass. On
//! PostgreSQL each limited handler is serialized by an advisory lock, so
//! replicas never both take its last slot.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use super::error::Result;
use super::groups::{LockedClock, lock_groups};
use super::rates::Picked;
use super::sql::Sql;
use super::txn::WriteTxn;
use crate::domain::handler_limit::{HandlerConcurrency, Running, admit_handlers};

/// Lock names of handlers, apart from those of groups and rate keys.
const LOCK_PREFIX: &str = "handler|";

/// The limits of each handler, by name.
pub type HandlerLimits = HashMap<String, HandlerConcurrency>;

/// Keep the picked steps whose handlers have a free slot under `owner`'s
/// claim, with the time to stamp their starts (read again once the running
/// steps are counted, so no start is stamped before the end of a run whose
/// slot it takes).
pub(crate) async fn admit_handler_limits(
    tx: &WriteTxn,
    picked: Vec<Picked>,
    owner: &str,
    limits: &HandlerLimits,
    now: DateTime<Utc>,
    clock: LockedClock<'_>,
) -> Result<(Vec<Picked>, DateTime<Utc>)> {
    let mut limited: Vec<String> = picked
        .iter()
        .filter(|p| limits.get(&p.handler).is_some_and(HandlerConcurrency::is_limited))
        .map(|p| p.handler.clone())
        .collect();
    if limited.is_empty() {
        return Ok((picked, now));
    }
    limited.sort();
    limited.dedup();
    let locks = limited.iter().map(|h| format!("{LOCK_PREFIX}{h}")).collect();
    let locked: Vec<String> = lock_groups(tx, locks, false)
        .await?
        .into_iter()
        .filter_map(|l| l.strip_prefix(LOCK_PREFIX).map(str::to_owned))
        .collect();
    let running = running_by_handler(tx, &locked, owner).await?;
    // A step of a handler another replica holds is left for a later pass.
    let picked: Vec<Picked> = picked
        .into_iter()
        .filter(|p| !limited.contains(&p.handler) || locked.contains(&p.handler))
        .collect();
    let handlers: Vec<&str> = picked.iter().map(|p| p.handler.as_str()).collect();
    let admitted = admit_handlers(&handlers, limits, &running);
    let kept = picked
        .into_iter()
        .zip(admitted)
        .filter_map(|(p, ok)| ok.then_some(p))
        .collect();
    Ok((kept, now.max(clock())))
}

/// Steps of each handler running now, everywhere and under `owner`. Only
/// leased rows are looked at (a small partial index).
async fn running_by_handler(
    tx: &WriteTxn,
    handlers: &[String],
    owner: &str,
) -> Result<HashMap<String, Running>> {
    let mut found = HashMap::new();
    if handlers.is_empty() {
        return Ok(found);
    }
    let mut sql = Sql::new(tx.backend());
    sql.push("SELECT handler, COUNT(*) AS n, SUM(CASE WHEN lease_owner = ")
        .bind(owner.to_owned())
        .push(" THEN 1 ELSE 0 END) AS mine FROM workflow_step WHERE lease_owner IS NOT NULL AND status = 'IN_PROGRESS' AND handler IN (")
        .bind_list(handlers.iter().cloned())
        .push(") GROUP BY handler");
    for row in tx.conn().query_all_raw(sql.build()).await? {
        let handler: String = row.try_get("", "handler")?;
        let everywhere: i64 = row.try_get("", "n")?;
        let here: i64 = row.try_get("", "mine")?;
        found.insert(
            handler,
            Running {
                everywhere: usize::try_from(everywhere).unwrap_or(usize::MAX),
                here: usize::try_from(here).unwrap_or(usize::MAX),
            },
        );
    }
    Ok(found)
}

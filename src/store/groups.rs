//! What step gates and task admission share: finding the concurrency groups
//! with work waiting, locking them, and counting what runs in them.
//!
//! Groups with waiting work are found by a skip scan of a partial index (a
//! recursive query that jumps from one key to the next), so a group with
//! 10,000 waiting runs costs one probe, like a group with one. Scans resume
//! after the last group served (round-robin); on PostgreSQL each group is
//! serialized by a transaction-scoped advisory lock, so two replicas never
//! both admit into the same free slot.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend};
use sha2::{Digest, Sha256};

use super::claims::ClaimFilter;
use super::error::Result;
use super::sql::Sql;
use super::txn::WriteTxn;

/// The time, read again once a pass holds its groups' locks: a start is then
/// never stamped before the end (committed meanwhile) of the run whose slot it
/// takes, and the audit shows the limit kept.
pub type LockedClock<'a> = &'a (dyn Fn() -> DateTime<Utc> + Send + Sync);

/// Most groups one pass looks at.
pub(crate) const GROUPS_PER_PASS: u64 = 256;

/// Where waiting runs of a kind are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Waiting {
    /// Steps at a gate (`workflow_step.gate_at`).
    Steps,
    /// Tasks in a queue (`task.queued_at`).
    Tasks,
}

impl Waiting {
    fn table(self) -> &'static str {
        match self {
            Waiting::Steps => "workflow_step",
            Waiting::Tasks => "task",
        }
    }

    fn since(self) -> &'static str {
        match self {
            Waiting::Steps => "gate_at",
            Waiting::Tasks => "queued_at",
        }
    }
}

/// A group with waiting runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DueGroup {
    /// Its key.
    pub key: String,
    /// Runs at once (as the oldest waiting run was created with); none for
    /// the gate of steps with rate limits only.
    pub limit: Option<u32>,
    /// The strategy of task groups (`queue` for steps).
    pub strategy: String,
}

/// Append the claimer's filter on steps: the engine takes its own steps (of
/// one task only, with `task create --wait`), a worker the external steps of
/// its handlers.
pub(crate) fn push_step_filter(sql: &mut Sql, filter: ClaimFilter<'_>, column_prefix: &str) {
    match filter {
        ClaimFilter::Engine { task } => {
            sql.push(&format!(" AND {column_prefix}external = ")).bind(false);
            if let Some(task_id) = task {
                sql.push(&format!(" AND {column_prefix}task_id = ")).bind(task_id);
            }
        }
        ClaimFilter::External { handlers } => {
            sql.push(&format!(" AND {column_prefix}external = ")).bind(true);
            sql.push(&format!(" AND {column_prefix}handler IN ("))
                .bind_list(handlers.iter().cloned())
                .push(")");
        }
    }
}

fn push_due(sql: &mut Sql, waiting: Waiting, filter: Option<ClaimFilter<'_>>, now: DateTime<Utc>) {
    let since = waiting.since();
    sql.push(&format!(" {since} IS NOT NULL AND {since} <= "))
        .bind(now);
    if let Some(filter) = filter {
        push_step_filter(sql, filter, "");
    }
}

/// Up to `limit` groups with runs due at `now`, in key order after `after`.
async fn groups_after(
    tx: &WriteTxn,
    waiting: Waiting,
    filter: Option<ClaimFilter<'_>>,
    now: DateTime<Utc>,
    after: &str,
    limit: u64,
) -> Result<Vec<DueGroup>> {
    let table = waiting.table();
    let since = waiting.since();
    let mut sql = Sql::new(tx.backend());
    sql.push(&format!(
        "WITH RECURSIVE k(key, n) AS (SELECT (SELECT CAST(MIN(flow_key) AS TEXT) FROM {table} WHERE"
    ));
    push_due(&mut sql, waiting, filter, now);
    sql.push(" AND flow_key > ").bind(after.to_owned());
    sql.push(&format!(
        "), 1 UNION ALL SELECT (SELECT CAST(MIN(flow_key) AS TEXT) FROM {table} WHERE"
    ));
    push_due(&mut sql, waiting, filter, now);
    sql.push(" AND flow_key > k.key), n + 1 FROM k WHERE k.key IS NOT NULL AND k.n < ")
        .bind(i64::try_from(limit).unwrap_or(i64::MAX));
    let strategy = match waiting {
        Waiting::Steps => "'queue'".to_owned(),
        Waiting::Tasks => format!(
            "(SELECT flow_strategy FROM {table} WHERE flow_key = k.key AND {since} IS NOT NULL LIMIT 1)"
        ),
    };
    sql.push(&format!(
        ") SELECT k.key AS key, (SELECT flow_limit FROM {table} WHERE flow_key = k.key AND {since} IS NOT NULL LIMIT 1) AS flow_limit, {strategy} AS flow_strategy FROM k WHERE k.key IS NOT NULL"
    ));
    let rows = tx.conn().query_all_raw(sql.build()).await?;
    let mut groups = Vec::with_capacity(rows.len());
    for row in rows {
        let key: String = row.try_get("", "key")?;
        let limit: Option<i32> = row.try_get("", "flow_limit")?;
        let strategy: Option<String> = row.try_get("", "flow_strategy")?;
        groups.push(DueGroup {
            key,
            limit: limit.and_then(|l| u32::try_from(l).ok()),
            strategy: strategy.unwrap_or_else(|| "queue".to_owned()),
        });
    }
    Ok(groups)
}

/// Groups with runs due at `now`, starting after `cursor` and wrapping round
/// to the first groups: every group gets its turn however many there are.
pub(crate) async fn due_groups(
    tx: &WriteTxn,
    waiting: Waiting,
    filter: Option<ClaimFilter<'_>>,
    now: DateTime<Utc>,
    cursor: &str,
) -> Result<Vec<DueGroup>> {
    let mut groups = groups_after(tx, waiting, filter, now, cursor, GROUPS_PER_PASS).await?;
    let found = groups.len() as u64;
    if !cursor.is_empty() && found < GROUPS_PER_PASS {
        let wrapped = groups_after(tx, waiting, filter, now, "", GROUPS_PER_PASS - found).await?;
        groups.extend(wrapped.into_iter().filter(|g| g.key.as_str() <= cursor));
    }
    Ok(groups)
}

/// A stable 64-bit lock id for a group (the same on every replica).
fn lock_id(key: &str) -> i64 {
    let digest = Sha256::digest(key.as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

/// Lock the groups for the rest of the transaction and return those locked.
/// With `wait`, wait for each (in a fixed order, so lockers never deadlock
/// each other); without, skip groups another transaction holds. SQLite's one
/// writer needs no lock.
pub(crate) async fn lock_groups(tx: &WriteTxn, keys: Vec<String>, wait: bool) -> Result<Vec<String>> {
    if tx.backend() != DbBackend::Postgres || keys.is_empty() {
        return Ok(keys);
    }
    let mut ids: Vec<(i64, String)> = keys.into_iter().map(|k| (lock_id(&k), k)).collect();
    ids.sort();
    if wait {
        for (id, _) in &ids {
            let statement = sea_orm::Statement::from_string(
                DbBackend::Postgres,
                format!("SELECT pg_advisory_xact_lock({id})"),
            );
            tx.conn().execute_raw(statement).await?;
        }
        return Ok(ids.into_iter().map(|(_, k)| k).collect());
    }
    let values: Vec<String> = ids.iter().map(|(id, _)| format!("({id}::bigint)")).collect();
    let statement = sea_orm::Statement::from_string(
        DbBackend::Postgres,
        format!(
            "SELECT v.id AS id, pg_try_advisory_xact_lock(v.id) AS ok FROM (VALUES {}) AS v(id)",
            values.join(", ")
        ),
    );
    let mut locked = std::collections::HashSet::new();
    for row in tx.conn().query_all_raw(statement).await? {
        let (id, ok): (i64, bool) = (row.try_get("", "id")?, row.try_get("", "ok")?);
        if ok {
            locked.insert(id);
        }
    }
    Ok(ids
        .into_iter()
        .filter(|(id, _)| locked.contains(id))
        .map(|(_, k)| k)
        .collect())
}

/// How many runs of each group run now (IN_PROGRESS).
pub(crate) async fn running(
    tx: &WriteTxn,
    waiting: Waiting,
    keys: &[String],
) -> Result<std::collections::HashMap<String, usize>> {
    let mut counts = std::collections::HashMap::new();
    if keys.is_empty() {
        return Ok(counts);
    }
    let mut sql = Sql::new(tx.backend());
    sql.push(&format!(
        "SELECT flow_key AS key, COUNT(*) AS n FROM {} WHERE flow_key IN (",
        waiting.table()
    ))
    .bind_list(keys.iter().cloned())
    .push(") AND status = 'IN_PROGRESS' GROUP BY flow_key");
    for row in tx.conn().query_all_raw(sql.build()).await? {
        let key: String = row.try_get("", "key")?;
        let n: i64 = row.try_get("", "n")?;
        counts.insert(key, usize::try_from(n).unwrap_or(0));
    }
    Ok(counts)
}

/// Share `budget` starts among groups with `free[i]` free slots, one at a
/// time in turn, so one group cannot take every start of a pass.
pub(crate) fn share(free: &[usize], budget: usize) -> Vec<usize> {
    let mut taken = vec![0; free.len()];
    let mut left = budget;
    while left > 0 {
        let mut gave = false;
        for (i, f) in free.iter().enumerate() {
            if left > 0 && taken[i] < *f {
                taken[i] += 1;
                left -= 1;
                gave = true;
            }
        }
        if !gave {
            break;
        }
    }
    taken
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_are_shared_in_turn_between_groups() {
        assert_eq!(share(&[2, 2, 1], 3), vec![1, 1, 1]);
        assert_eq!(share(&[5, 1], 4), vec![3, 1]);
        assert_eq!(share(&[0, 3], 10), vec![0, 3]);
        assert_eq!(share(&[], 3), Vec::<usize>::new());
    }

    #[test]
    fn lock_ids_are_stable_and_spread() {
        assert_eq!(lock_id("payments/charge:c1"), lock_id("payments/charge:c1"));
        assert_ne!(lock_id("payments/charge:c1"), lock_id("payments/charge:c2"));
    }
}

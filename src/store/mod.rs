//! Storage through SeaORM: the queries the engine and services need, each named
//! by intent, over SQLite or PostgreSQL. Every status change goes through
//! [`transition`], in the same transaction as its audit row.

mod admission;
mod attempts;
mod claims;
mod connect;
mod durations;
mod error;
mod gates;
mod groups;
mod handler_limits;
mod ids;
mod inbound;
mod lineage;
mod listing;
mod loads;
mod maps;
mod operator;
mod overview;
mod queries;
mod rates;
mod readiness;
mod schedules;
mod sql;
mod stats;
mod tasks;
mod templates;
mod transition;
mod txn;
mod waits;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

pub use admission::{AdmitScope, Admitted, admit_tasks};
pub use attempts::{AttemptOutcome, AttemptReport, Recorded, ReportResult, program_outcome, record_attempts};
pub use claims::{Claim, ClaimFilter, ExpiredLease, claim_steps, expired_leases, heartbeat, renew_leases};
pub use connect::{ConnectSettings, backend_of};
pub use durations::{ObservedStep, recent_step_durations};
pub use error::{Error, Result};
pub use gates::{Gated, claim_gated};
pub use groups::LockedClock;
pub use handler_limits::HandlerLimits;
pub use inbound::{MAX_EVENTS_PAGE, NewEvent, StoredEvent, recent_events, record_event};
pub use lineage::{CHILD_WAIT, children_of, children_to_start, refuse_child};
pub use listing::{MAX_SEARCH_CHARS, Page, TaskPage, TaskQuery, count_tasks, list_tasks};
pub use loads::{
    EdgeEnd, edges_of_steps, edges_of_tasks, handlers_with_claimable_work, steps_by_ids, steps_of_tasks,
    task_transitions_of, tasks_by_ids,
};
pub use operator::{Cancelled, cancel_task, resolve_step, retry_step, retry_task};
pub use overview::{
    BucketCount, LeaseHolder, lease_holders, oldest_ready_step, steps_waiting, tasks_by_bucket,
};
pub use queries::{
    DispatchInputs, Progress, StepCountsByTask, TaskInputs, count_tasks_by_status, dispatch_inputs,
    find_step, find_task, find_task_by_idempotency_key, finished_window, progress, step_counts, step_errors,
    step_results, step_transitions, steps_of_task, task_transitions,
};
pub use readiness::{Promotion, lock_tasks, promote_children, reconcile_tasks};
pub use schedules::{
    advance, delete_schedule, delete_undeclared_schedules, find_schedule, lease_due, list_schedules,
    recent_fires, record_fire, running_tasks, save_schedule, set_paused,
};
pub use stats::{QueueDepths, queue_depths, tasks_by_status, template_count};
pub(crate) use tasks::HANDLER_GATE_PREFIX;
pub use tasks::{FlowGroup, Lineage, NewTask, StepGate, create_task};
pub use templates::{
    Registration, StoredTemplate, TemplateHeader, list_namespaces, register_template, template_definitions,
    template_headers,
};
pub use txn::{WriteTxn, storage_time};
pub use waits::{Decision, Woken, decide_approval, wake_due};

/// Connections to the database (cheap to clone).
#[derive(Clone, Debug)]
pub struct Store {
    write: DatabaseConnection,
    read: DatabaseConnection,
    backend: DbBackend,
    /// The reader is the writer (`sqlite::memory:`, PostgreSQL).
    shared: bool,
    /// What every write transaction is tuned with.
    tuning: Tuning,
}

/// Settings every write transaction carries.
#[derive(Clone, Copy, Debug)]
pub struct Tuning {
    /// Waiting this long makes a claimable step one priority level more urgent.
    pub ageing: std::time::Duration,
    /// A wait for an event that starts this long after a matching event
    /// arrived still receives it.
    pub event_lookback: std::time::Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            ageing: crate::domain::priority::DEFAULT_AGEING,
            event_lookback: std::time::Duration::from_secs(300),
        }
    }
}

impl Store {
    /// Open the pools for `settings.url` (creating a SQLite file's folder).
    pub async fn connect(settings: &ConnectSettings) -> Result<Self> {
        let pools = connect::open(settings).await?;
        Ok(Self {
            write: pools.write,
            read: pools.read,
            backend: pools.backend,
            shared: pools.shared,
            tuning: Tuning::default(),
        })
    }

    /// Claims count a step waiting `ageing` as one priority level more urgent
    /// (zero: claims ignore priority and take the oldest first; a very long
    /// ageing makes priority strict).
    pub fn with_priority_ageing(mut self, ageing: std::time::Duration) -> Self {
        self.tuning.ageing = ageing;
        self
    }

    /// A wait for an event that starts up to `lookback` after a matching
    /// event arrived still receives it.
    pub fn with_event_lookback(mut self, lookback: std::time::Duration) -> Self {
        self.tuning.event_lookback = lookback;
        self
    }

    /// Apply pending migrations.
    pub async fn migrate(&self) -> Result<()> {
        connect::migrate(&self.write).await
    }

    /// Names of migrations not yet applied (empty when current).
    pub async fn pending_migrations(&self) -> Result<Vec<String>> {
        connect::pending_migrations(&self.read).await
    }

    /// Call `observer` after every statement (metrics, slow-query logs, tests).
    pub fn observe_statements<F>(&mut self, observer: F)
    where
        F: Fn(&sea_orm::metric::Info<'_>) + Send + Sync + 'static,
    {
        let observer = std::sync::Arc::new(observer);
        let for_reads = std::sync::Arc::clone(&observer);
        self.write.set_metric_callback(move |info| observer(info));
        self.read.set_metric_callback(move |info| for_reads(info));
    }

    /// SQLite or PostgreSQL.
    pub fn backend(&self) -> DbBackend {
        self.backend
    }

    /// Connection for reads.
    pub fn reader(&self) -> &DatabaseConnection {
        &self.read
    }

    /// Connection for single-statement writes outside a transaction.
    pub fn writer(&self) -> &DatabaseConnection {
        &self.write
    }

    /// Start a write transaction.
    pub async fn begin(&self) -> Result<WriteTxn> {
        WriteTxn::begin(&self.write, self.backend, self.tuning).await
    }

    /// A trivial round trip (`SELECT 1`) on the reader.
    pub async fn ping(&self) -> Result<()> {
        self.read
            .execute_raw(Statement::from_string(self.backend, "SELECT 1"))
            .await?;
        Ok(())
    }

    /// Bring the tables to the state a maintained database keeps them in:
    /// `VACUUM ANALYZE` on PostgreSQL (dead row versions cleared and planner
    /// statistics fresh, what autovacuum does on its own schedule), `ANALYZE`
    /// on SQLite (whose VACUUM would rewrite the whole file).
    pub async fn analyze(&self) -> Result<()> {
        let statement = match self.backend {
            DbBackend::Postgres => "VACUUM ANALYZE",
            _ => "ANALYZE",
        };
        self.write.execute_unprepared(statement).await?;
        Ok(())
    }

    /// Refresh planner statistics (`ANALYZE`), as autovacuum does on its own
    /// schedule; without it PostgreSQL plans the engine's id lookups for tables
    /// it believes empty, and they turn into full scans as the tables grow.
    pub async fn refresh_statistics(&self) -> Result<()> {
        self.write.execute_unprepared("ANALYZE").await?;
        Ok(())
    }

    /// Whether PostgreSQL's autovacuum is off (always `false` on SQLite, whose
    /// planner needs no statistics for the engine's lookups).
    pub async fn autovacuum_off(&self) -> Result<bool> {
        if self.backend != DbBackend::Postgres {
            return Ok(false);
        }
        let sql = "SELECT (current_setting('autovacuum') = 'off')::int::bigint AS n";
        Ok(self.count(sql).await? == 1)
    }

    /// Bytes the database takes on disk (PostgreSQL: the whole database;
    /// SQLite: the main file's pages).
    pub async fn size_bytes(&self) -> Result<u64> {
        let sql = match self.backend {
            DbBackend::Postgres => "SELECT pg_database_size(current_database())::bigint AS n",
            _ => "SELECT page_count * page_size AS n FROM pragma_page_count(), pragma_page_size()",
        };
        self.count(sql).await
    }

    /// Client connections open to this database: PostgreSQL's own count from
    /// `pg_stat_activity` (every process's, this one's included); `None` on
    /// SQLite, which has no server.
    pub async fn server_connections(&self) -> Result<Option<u64>> {
        if self.backend != DbBackend::Postgres {
            return Ok(None);
        }
        let sql = "SELECT count(*)::bigint AS n FROM pg_stat_activity WHERE datname = current_database()";
        self.count(sql).await.map(Some)
    }

    /// The non-negative integer column `n` of a one-row query on the reader.
    async fn count(&self, sql: &str) -> Result<u64> {
        let row = self
            .read
            .query_one_raw(Statement::from_string(self.backend, sql))
            .await?;
        let n: i64 = match row {
            Some(row) => row.try_get("", "n")?,
            None => 0,
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Close the pools (waits for checked-out connections).
    pub async fn close(self) -> Result<()> {
        if !self.shared {
            self.read.close().await?;
        }
        self.write.close().await?;
        Ok(())
    }
}

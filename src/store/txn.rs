//! A write transaction that carries its audit rows and change records.
//! Transition rows are flushed in one multi-row insert just before commit, and
//! the change records come back only after the commit succeeded.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, DatabaseConnection, DatabaseTransaction, DbBackend, EntityTrait, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};
use uuid::Uuid;

use super::error::{Error, Result};
use crate::domain::change::{Change, StepChange, TaskChange};
use crate::domain::priority::ageing_micros;
use crate::domain::{StepStatus, TaskStatus};
use crate::entities::{step_transition, task_transition};

/// Most bound parameters in one statement; under SQLite's 32,766 and PostgreSQL's 65,535.
const MAX_PARAMS: usize = 30_000;

/// Insert models in as few statements as the parameter limit allows.
pub(crate) async fn insert_all<A>(
    conn: &impl sea_orm::ConnectionTrait,
    models: Vec<A>,
    columns: usize,
) -> Result<()>
where
    A: sea_orm::ActiveModelTrait + Send,
{
    let per_statement = (MAX_PARAMS / columns.max(1)).max(1);
    let mut models = models.into_iter().peekable();
    while models.peek().is_some() {
        let chunk: Vec<A> = models.by_ref().take(per_statement).collect();
        A::Entity::insert_many(chunk).exec_without_returning(conn).await?;
    }
    Ok(())
}

/// An open write transaction plus the transitions it has made so far.
pub struct WriteTxn {
    txn: DatabaseTransaction,
    backend: DbBackend,
    tuning: super::Tuning,
    step_rows: Vec<step_transition::ActiveModel>,
    task_rows: Vec<task_transition::ActiveModel>,
    changes: Vec<Change>,
}

impl WriteTxn {
    pub(super) async fn begin(
        conn: &DatabaseConnection,
        backend: DbBackend,
        tuning: super::Tuning,
    ) -> Result<Self> {
        let options = TransactionOptions {
            // Take the write lock up front: a deferred transaction that reads first
            // can fail with SQLITE_BUSY_SNAPSHOT instead of waiting.
            sqlite_transaction_mode: (backend == DbBackend::Sqlite)
                .then_some(SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        let txn = conn.begin_with_options(options).await?;
        Ok(Self {
            txn,
            backend,
            tuning,
            step_rows: Vec::new(),
            task_rows: Vec::new(),
            changes: Vec::new(),
        })
    }

    /// The connection to run statements on.
    pub fn conn(&self) -> &DatabaseTransaction {
        &self.txn
    }

    /// The backend (some statements differ, e.g. row locks).
    pub fn backend(&self) -> DbBackend {
        self.backend
    }

    /// How long a claimable step waits to count as one priority level more
    /// urgent (see [`crate::domain::priority`]).
    pub fn ageing(&self) -> Duration {
        self.tuning.ageing
    }

    /// How long before a wait for an event starts a matching event may have
    /// arrived and still be received.
    pub fn event_lookback(&self) -> Duration {
        self.tuning.event_lookback
    }

    /// The SQL that sets a step's claim rank for a step claimable from `ready_at`,
    /// from its own priority column.
    pub(crate) fn rank_expr(&self, ready_at: DateTime<Utc>) -> sea_orm::sea_query::SimpleExpr {
        use sea_orm::sea_query::{Expr, ExprTrait};
        Expr::value(ready_at.timestamp_micros()).sub(
            Expr::col(crate::entities::workflow_step::Column::Priority)
                .mul(ageing_micros(self.tuning.ageing)),
        )
    }

    /// Record a step transition (checked against the state machine).
    pub(crate) fn record_step(&mut self, change: StepChange) -> Result<()> {
        StepStatus::check_transition(change.from, change.to).map_err(|source| Error::InvalidTransition {
            entity: "step",
            id: change.step_id.to_string(),
            source,
        })?;
        self.step_rows.push(step_transition::ActiveModel {
            id: Set(Uuid::now_v7()),
            step_id: Set(change.step_id),
            task_id: Set(change.task_id),
            sequence: Set(change.sequence),
            from_status: Set(change.from.map(|s| s.as_str().to_owned())),
            to_status: Set(change.to.as_str().to_owned()),
            attempt: Set(change.attempt),
            reason: Set(change.reason.clone()),
            metadata: Set(None),
            created_at: Set(change.at),
        });
        self.changes.push(Change::Step(change));
        Ok(())
    }

    /// Record a task transition (checked against the state machine).
    pub(crate) fn record_task(&mut self, change: TaskChange) -> Result<()> {
        TaskStatus::check_transition(change.from, change.to).map_err(|source| Error::InvalidTransition {
            entity: "task",
            id: change.task_id.to_string(),
            source,
        })?;
        self.task_rows.push(task_transition::ActiveModel {
            id: Set(Uuid::now_v7()),
            task_id: Set(change.task_id),
            sequence: Set(change.sequence),
            from_status: Set(change.from.map(|s| s.as_str().to_owned())),
            to_status: Set(change.to.as_str().to_owned()),
            reason: Set(change.reason.clone()),
            metadata: Set(None),
            created_at: Set(change.at),
        });
        self.changes.push(Change::Task(change));
        Ok(())
    }

    /// Changes recorded so far (not yet committed).
    pub fn pending_changes(&self) -> &[Change] {
        &self.changes
    }

    /// Write the audit rows, commit, and hand back what changed.
    pub async fn commit(mut self) -> Result<Vec<Change>> {
        let task_rows = std::mem::take(&mut self.task_rows);
        let step_rows = std::mem::take(&mut self.step_rows);
        insert_all(&self.txn, task_rows, 8).await?;
        insert_all(&self.txn, step_rows, 10).await?;
        self.txn.commit().await?;
        Ok(self.changes)
    }
}

/// A timestamp suitable for storage: microsecond precision, so values read back
/// from either backend compare equal to what was written.
pub fn storage_time(at: DateTime<Utc>) -> DateTime<Utc> {
    let micros = at.timestamp_micros();
    DateTime::from_timestamp_micros(micros).unwrap_or(at)
}

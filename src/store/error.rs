//! Storage errors. Database errors are classified here, once: unique violations
//! become `Conflict`, lock contention and serialization failures `Busy` (safe to
//! retry the whole transaction), pool and statement timeouts `Timeout`.

use std::ops::Deref;

use sea_orm::{DbErr, RuntimeErr};

use crate::domain::TransitionError;

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The row does not exist.
    #[error("{entity} {id} not found")]
    NotFound {
        /// Table-level name, e.g. `"task"`.
        entity: &'static str,
        /// The identifier that was looked up.
        id: String,
    },
    /// A uniqueness rule or a concurrent change refused the write.
    #[error("{message}")]
    Conflict {
        /// What collided, for people.
        message: String,
    },
    /// The state machine does not allow this change from the current state.
    #[error("{entity} {id}: {source}")]
    InvalidTransition {
        /// `"task"` or `"step"`.
        entity: &'static str,
        /// Its id.
        id: String,
        /// The broken rule.
        #[source]
        source: TransitionError,
    },
    /// The lease token does not (or no longer) match the step's current claim.
    #[error(
        "step {step_id} is no longer leased with this token (it expired, was cancelled, resolved or reclaimed)"
    )]
    LeaseLost {
        /// The step.
        step_id: String,
    },
    /// Lock contention, deadlock or serialization failure: retry the transaction.
    #[error("database busy: {0}")]
    Busy(#[source] DbErr),
    /// The database did not answer in time (or no connection was free).
    #[error("database timeout: {0}")]
    Timeout(#[source] DbErr),
    /// Stored data that breaks an invariant (e.g. an unknown status text).
    #[error("stored data is inconsistent: {message}")]
    Corrupt {
        /// What was found.
        message: String,
    },
    /// Any other database failure.
    #[error("database error: {0}")]
    Database(#[source] DbErr),
}

/// Result of store functions.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// True for failures where running the same transaction again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Busy(_))
    }

    /// True when the database answered and refused the statement (bad data, a
    /// constraint, an inconsistency), as opposed to being unreachable or slow:
    /// running the same statement again will fail the same way.
    pub fn is_refusal(&self) -> bool {
        match self {
            Error::Busy(_) | Error::Timeout(_) => false,
            Error::Database(err) => database_code(err).is_some(),
            Error::NotFound { .. }
            | Error::Conflict { .. }
            | Error::InvalidTransition { .. }
            | Error::LeaseLost { .. }
            | Error::Corrupt { .. } => true,
        }
    }

    pub(crate) fn corrupt(message: impl Into<String>) -> Self {
        Error::Corrupt {
            message: message.into(),
        }
    }
}

impl From<TransitionError> for Error {
    fn from(source: TransitionError) -> Self {
        match source {
            TransitionError::UnknownStatus { .. } => Error::corrupt(source.to_string()),
            TransitionError::Illegal { entity, .. } => Error::InvalidTransition {
                entity,
                id: String::new(),
                source,
            },
        }
    }
}

/// SQLSTATE (PostgreSQL) or extended result code (SQLite) of a database error.
fn database_code(err: &DbErr) -> Option<String> {
    let runtime = match err {
        DbErr::Exec(r) | DbErr::Query(r) | DbErr::Conn(r) => r,
        _ => return None,
    };
    let RuntimeErr::SqlxError(sqlx_err) = runtime else {
        return None;
    };
    match sqlx_err.deref() {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
}

fn is_sqlx_timeout(err: &DbErr) -> bool {
    let runtime = match err {
        DbErr::Exec(r) | DbErr::Query(r) | DbErr::Conn(r) => r,
        _ => return false,
    };
    matches!(runtime, RuntimeErr::SqlxError(e) if matches!(e.deref(), sqlx::Error::PoolTimedOut))
}

impl From<DbErr> for Error {
    fn from(err: DbErr) -> Self {
        if matches!(err, DbErr::ConnectionAcquire(_)) || is_sqlx_timeout(&err) {
            return Error::Timeout(err);
        }
        match database_code(&err).as_deref() {
            // PostgreSQL: unique_violation; SQLite: CONSTRAINT_UNIQUE, CONSTRAINT_PRIMARYKEY
            Some("23505" | "2067" | "1555") => Error::Conflict {
                message: err.to_string(),
            },
            // PostgreSQL: serialization_failure, deadlock_detected, lock_not_available;
            // SQLite: BUSY, LOCKED, BUSY_SNAPSHOT, BUSY_RECOVERY
            Some("40001" | "40P01" | "55P03" | "5" | "6" | "517" | "261") => Error::Busy(err),
            // PostgreSQL: query_canceled (statement_timeout)
            Some("57014") => Error::Timeout(err),
            _ => Error::Database(err),
        }
    }
}

//! Errors of the application services: what callers (GraphQL, REST, CLI) map to
//! their public codes. Every store error is classified by an exhaustive match.

use crate::domain::{ContextError, TemplateError};
use crate::store;

/// A service call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An input is malformed or breaks a rule; the message names the field.
    #[error("{field}: {message}")]
    BadInput {
        /// The input field (e.g. `bypassSteps`).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A template failed to parse or validate.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// A context failed its schema.
    #[error(transparent)]
    Context(ContextError),
    /// An input is larger than allowed.
    #[error("{what} is {size} bytes, more than the limit of {limit} bytes")]
    PayloadTooLarge {
        /// Which input.
        what: &'static str,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The thing does not exist.
    #[error("{entity} {id} not found")]
    NotFound {
        /// What was looked up.
        entity: &'static str,
        /// Its identifier.
        id: String,
    },
    /// The request collides with existing state (e.g. a different template
    /// under the same version, an idempotency key used for another template).
    #[error("{message}")]
    Conflict {
        /// What collided.
        message: String,
    },
    /// The state machine does not allow this action now.
    #[error("{entity} {id}: {message}")]
    InvalidTransition {
        /// `task` or `step`.
        entity: &'static str,
        /// Its id.
        id: String,
        /// Which transition was refused.
        message: String,
    },
    /// The lease token no longer holds the step.
    #[error(
        "step {step_id}: the lease is no longer held with this token (expired, cancelled, resolved or reclaimed)"
    )]
    LeaseLost {
        /// The step.
        step_id: String,
    },
    /// The database is busy or unreachable; retrying later may succeed.
    #[error("storage unavailable: {0}")]
    Unavailable(#[source] store::Error),
    /// A fault on the server's side.
    #[error("internal error: {0}")]
    Internal(#[source] store::Error),
    /// Shared state outside the database (Redis) is unreachable; retrying
    /// later may succeed.
    #[error("{0}")]
    SharedUnavailable(String),
    /// An exporter plugin failed to render the metrics.
    #[error("exporter {exporter}: {message}")]
    ExportFailed {
        /// The exporter's name.
        exporter: String,
        /// What it said.
        message: String,
    },
}

/// Result of service calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether the request itself was at fault (retrying it unchanged fails
    /// again), rather than the server or its storage.
    pub fn is_client_error(&self) -> bool {
        !matches!(
            self,
            Error::Unavailable(_)
                | Error::Internal(_)
                | Error::SharedUnavailable(_)
                | Error::ExportFailed { .. }
        )
    }

    pub(crate) fn bad_input(field: &str, message: impl Into<String>) -> Self {
        Error::BadInput {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

impl From<ContextError> for Error {
    fn from(err: ContextError) -> Self {
        match err {
            ContextError::TooLarge { size, limit } => Error::PayloadTooLarge {
                what: "context",
                size,
                limit,
            },
            other => Error::Context(other),
        }
    }
}

impl From<store::Error> for Error {
    fn from(err: store::Error) -> Self {
        match err {
            store::Error::NotFound { entity, id } => Error::NotFound { entity, id },
            store::Error::Conflict { message } => Error::Conflict { message },
            store::Error::InvalidTransition { entity, id, source } => Error::InvalidTransition {
                entity,
                id,
                message: source.to_string(),
            },
            store::Error::LeaseLost { step_id } => Error::LeaseLost { step_id },
            store::Error::Busy(_) | store::Error::Timeout(_) => Error::Unavailable(err),
            store::Error::Corrupt { .. } | store::Error::Database(_) => Error::Internal(err),
        }
    }
}

//! Step handlers: the trait library users implement, the namespaced registry,
//! and the built-ins (noop, echo, sleep, fail_times, http).

mod builtin;
mod registry;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use crate::registry::RegistryError;
pub use builtin::http::parse_retry_after;
pub use registry::{HandlerEntry, HandlerInfo, HandlerKey, HandlerKind, HandlerRegistry};

/// Everything a handler gets for one attempt.
#[derive(Debug, Clone)]
pub struct StepContext {
    /// The task.
    pub task_id: Uuid,
    /// The step.
    pub step_id: Uuid,
    /// The step's name in its template.
    pub step_name: String,
    /// The task's namespace.
    pub namespace: String,
    /// Attempt number, from 1.
    pub attempt: u32,
    /// `task id:step name:attempt`: make side effects idempotent with it.
    pub idempotency_key: String,
    /// The task's context (shared between the task's steps).
    pub context: Arc<Value>,
    /// The step's `config` from the template.
    pub config: Value,
    /// Results of the parents, by step name (null for a parent without results).
    pub parent_results: Map<String, Value>,
    /// For an instance of a map: its index and item.
    pub map_item: Option<(u32, Value)>,
    /// Cancelled when the step is cancelled, resolved, times out or its lease is lost:
    /// long-running handlers should stop early.
    pub cancel: CancellationToken,
}

/// A failed attempt, as a handler reports it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct HandlerError {
    /// What went wrong.
    pub message: String,
    /// Whether another attempt may succeed.
    pub retryable: bool,
    /// How long to wait before the next attempt, if the failing side said so.
    pub retry_after: Option<Duration>,
}

impl HandlerError {
    /// A failure another attempt may fix.
    pub fn retryable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
            retry_after: None,
        }
    }

    /// A failure no retry will fix.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
            retry_after: None,
        }
    }

    /// Ask for this wait before the next attempt (wins over the computed backoff).
    pub fn with_retry_after(mut self, wait: Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }
}

/// A unit of work a step can be bound to.
#[async_trait::async_trait]
pub trait StepHandler: Send + Sync + 'static {
    /// Run one attempt; the returned JSON becomes the step's results.
    async fn handle(&self, ctx: StepContext) -> Result<Value, HandlerError>;

    /// Check a step's `config` at template registration; the message names the problem.
    fn validate_config(&self, _config: &Value) -> Result<(), String> {
        Ok(())
    }
}

//! Pure types and rules (no I/O): templates, state machines, readiness, retry policy, graphs.

pub mod analysis;
pub mod attempt;
pub mod backoff;
pub mod change;
pub mod concurrency;
pub mod context;
pub mod dag;
pub mod error;
pub mod expr;
pub mod handler_limit;
pub mod inbound;
pub mod kind;
pub mod median;
pub mod overview;
pub mod priority;
pub mod rate;
pub mod readiness;
pub mod redact;
pub mod schedule;
pub mod state;
pub mod template;
pub mod waiting;

pub use error::{ContextError, TemplateError, TemplateProblem, TransitionError};
pub use state::{StepStatus, TaskStatus};

/// Lower-case hexadecimal, two digits a byte (digests, ETags, key secrets).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

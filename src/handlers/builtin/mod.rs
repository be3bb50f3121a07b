//! Handlers shipped with Tasker.

pub(super) mod http;
mod simple;

use std::sync::Arc;

use super::StepHandler;

/// Every built-in handler with its name.
pub(super) fn all() -> Vec<(&'static str, Arc<dyn StepHandler>)> {
    vec![
        ("noop", Arc::new(simple::Noop)),
        ("echo", Arc::new(simple::Echo)),
        ("sleep", Arc::new(simple::Sleep)),
        ("fail_times", Arc::new(simple::FailTimes)),
        ("http", Arc::new(http::Http::new())),
    ]
}

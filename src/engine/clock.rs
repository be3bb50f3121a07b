//! Time as the engine sees it: injectable so tests can drive it.

use chrono::{DateTime, Utc};

use crate::store::storage_time;

/// A source of "now".
pub trait Clock: Send + Sync + 'static {
    /// The current time, at storage precision (microseconds).
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        storage_time(Utc::now())
    }
}

//! What replicas share through Redis: today, events. Without Redis every
//! replica runs in local mode and sees only its own events.

pub mod metrics;
mod relay;

pub use relay::{RELAY, RelayStatus, start_relay};

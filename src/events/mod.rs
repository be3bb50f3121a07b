//! Lifecycle events: the catalog of names and the in-process bus. Every committed
//! state change becomes exactly one event, published after commit.

mod bus;
mod catalog;

pub use bus::EventBus;
pub use catalog::{Event, EventName};

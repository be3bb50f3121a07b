//! Lifecycle events: the catalog of names, the in-process bus and the events
//! a committed batch implies. Every committed state change becomes exactly one
//! event, published after commit.

mod bus;
mod catalog;
mod event;
mod subscriber;
mod watch;
mod workflow;

pub use bus::EventBus;
pub use catalog::{EventName, first_unknown, name_matches, selected};
pub use event::{Event, WireEvent};
pub use subscriber::{Delivery, Subscriber, SubscriberEntry, SubscriberStats, Subscribers};
pub use watch::{TaskWatch, Watcher};

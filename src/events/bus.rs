//! In-process publish/subscribe over a bounded broadcast channel. Publishing
//! never blocks: a subscriber that falls behind is told how many events it
//! missed (`RecvError::Lagged`) instead of slowing the engine down.

use std::sync::Arc;

use tokio::sync::broadcast;

use super::{Event, workflow};
use crate::domain::change::Change;

/// The event bus (cheap to clone).
#[derive(Clone, Debug)]
pub struct EventBus {
    sender: broadcast::Sender<Arc<Event>>,
}

impl EventBus {
    /// A bus whose subscribers may each fall `capacity` events behind.
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Self { sender }
    }

    /// Publish the events of committed changes, in order.
    pub fn publish_changes(&self, changes: Vec<Change>) {
        if !self.has_subscribers() {
            return;
        }
        workflow::events_for(changes, |event| self.publish(event));
    }

    /// Publish one event.
    pub fn publish(&self, event: Event) {
        // An error only means nobody is listening right now.
        let _ = self.sender.send(Arc::new(event));
    }

    /// Whether anyone listens (lets publishers skip building an event).
    pub fn has_subscribers(&self) -> bool {
        self.sender.receiver_count() > 0
    }

    /// Subscribers listening now.
    pub fn subscriber_count(&self) -> usize {
        self.sender.receiver_count()
    }

    /// Receive every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.sender.subscribe()
    }
}

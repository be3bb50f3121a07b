//! Change notification per task, for many watchers at once.
//!
//! A `taskUpdated` subscriber used to read the whole bus and drop every event
//! not about its task, so each event woke every subscriber: with 1,000 of them
//! the wake-ups, not the database, bounded delivery. Here one dispatcher reads
//! the bus and wakes only the watchers of the event's task, through a `watch`
//! channel that also coalesces bursts (a watcher that was busy sees one change).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use uuid::Uuid;

use super::EventBus;

/// Watchers by task. Cheap to clone; the dispatcher starts with the first watcher.
#[derive(Clone)]
pub struct TaskWatch {
    shared: Arc<Shared>,
}

struct Shared {
    bus: EventBus,
    tasks: Mutex<HashMap<Uuid, Entry>>,
    dispatcher: OnceLock<()>,
}

struct Entry {
    changes: watch::Sender<u64>,
    watchers: usize,
}

impl Shared {
    fn tasks(&self) -> MutexGuard<'_, HashMap<Uuid, Entry>> {
        // A panic elsewhere cannot leave the map inconsistent: every update is
        // one insert, increment or removal.
        self.tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl TaskWatch {
    /// Watch tasks through the events of `bus`.
    pub fn new(bus: EventBus) -> Self {
        Self {
            shared: Arc::new(Shared {
                bus,
                tasks: Mutex::new(HashMap::new()),
                dispatcher: OnceLock::new(),
            }),
        }
    }

    /// Be told about every event of `task` published from now on. Must be
    /// called within a Tokio runtime (the first call starts the dispatcher).
    pub fn watch(&self, task: Uuid) -> Watcher {
        // Subscribed before this returns: nothing published after it is missed.
        self.shared.dispatcher.get_or_init(|| {
            tokio::spawn(dispatch(Arc::clone(&self.shared), self.shared.bus.subscribe()));
        });
        let mut tasks = self.shared.tasks();
        let entry = tasks.entry(task).or_insert_with(|| Entry {
            changes: watch::channel(0).0,
            watchers: 0,
        });
        entry.watchers += 1;
        Watcher {
            task,
            changes: entry.changes.subscribe(),
            shared: Arc::clone(&self.shared),
        }
    }

    /// Tasks watched now.
    pub fn watched_tasks(&self) -> usize {
        self.shared.tasks().len()
    }
}

async fn dispatch(shared: Arc<Shared>, mut events: tokio::sync::broadcast::Receiver<Arc<super::Event>>) {
    loop {
        match events.recv().await {
            Ok(event) => {
                let Some(task) = event.task_id else { continue };
                if let Some(entry) = shared.tasks().get(&task) {
                    entry.changes.send_modify(|n| *n = n.wrapping_add(1));
                }
            }
            // Missed events may have been about any task: every watcher looks.
            Err(RecvError::Lagged(_)) => {
                for entry in shared.tasks().values() {
                    entry.changes.send_modify(|n| *n = n.wrapping_add(1));
                }
            }
            Err(RecvError::Closed) => {
                // Dropping the senders ends every watcher.
                shared.tasks().clear();
                return;
            }
        }
    }
}

/// Told about changes of one task; stops watching when dropped.
pub struct Watcher {
    task: Uuid,
    changes: watch::Receiver<u64>,
    shared: Arc<Shared>,
}

impl Watcher {
    /// Wait for the task's next event (or burst of events); `false` once no
    /// more can come (the bus closed).
    pub async fn changed(&mut self) -> bool {
        self.changes.changed().await.is_ok()
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let mut tasks = self.shared.tasks();
        if let Some(entry) = tasks.get_mut(&self.task) {
            entry.watchers -= 1;
            if entry.watchers == 0 {
                tasks.remove(&self.task);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::events::{Event, EventName};

    fn event_of(task: Uuid) -> Event {
        let mut event = Event::new(EventName::TaskCompleted, chrono::Utc::now());
        event.task_id = Some(task);
        event
    }

    #[tokio::test]
    async fn a_watcher_hears_its_task_only_and_bursts_coalesce() {
        let bus = EventBus::new(16);
        let watch = TaskWatch::new(bus.clone());
        let (mine, other) = (Uuid::new_v4(), Uuid::new_v4());
        let mut watcher = watch.watch(mine);
        bus.publish(event_of(other));
        assert!(
            tokio::time::timeout(Duration::from_millis(50), watcher.changed())
                .await
                .is_err(),
            "another task's event does not wake it"
        );
        bus.publish(event_of(mine));
        bus.publish(event_of(mine));
        assert!(
            tokio::time::timeout(Duration::from_secs(1), watcher.changed())
                .await
                .unwrap_or(false)
        );
        assert!(
            tokio::time::timeout(Duration::from_millis(50), watcher.changed())
                .await
                .is_err(),
            "two events in a burst wake it once"
        );
    }

    #[tokio::test]
    async fn dropping_the_last_watcher_of_a_task_forgets_it() {
        let watch = TaskWatch::new(EventBus::new(16));
        let task = Uuid::new_v4();
        let (a, b) = (watch.watch(task), watch.watch(task));
        assert_eq!(watch.watched_tasks(), 1);
        drop(a);
        assert_eq!(watch.watched_tasks(), 1);
        drop(b);
        assert_eq!(watch.watched_tasks(), 0);
    }

    #[tokio::test]
    async fn a_lagging_dispatcher_wakes_every_watcher() {
        let bus = EventBus::new(1);
        let watch = TaskWatch::new(bus.clone());
        let mut watcher = watch.watch(Uuid::new_v4());
        // Three events into a queue of one before the dispatcher runs: it lags.
        for _ in 0..3 {
            bus.publish(event_of(Uuid::new_v4()));
        }
        assert!(
            tokio::time::timeout(Duration::from_secs(1), watcher.changed())
                .await
                .unwrap_or(false)
        );
    }
}

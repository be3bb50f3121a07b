//! Keeps the metrics current: a subscriber to every event. Step changes carry
//! no namespace: it comes from the task's own events, else from the database,
//! once per task.

use std::sync::Arc;

use tokio::sync::Mutex;

use crate::domain::change::Change;
use crate::events::{Event, Subscriber};
use crate::registry::RegistryError;
use crate::service::{TaskInfo, TaskInfoCache, Tasker};

/// Tasks whose namespace the feed keeps.
const TASKS_REMEMBERED: usize = 100_000;

/// The subscriber's name in the registry.
pub const NAME: &str = "metrics";

struct Feed {
    tasks: Mutex<TaskInfoCache>,
}

#[async_trait::async_trait]
impl Subscriber for Feed {
    async fn handle(&self, event: Arc<Event>) {
        // Relayed from another replica: counted there.
        if event.origin.is_some() {
            return;
        }
        let mut tasks = self.tasks.lock().await;
        let namespace = match &event.change {
            Some(Change::Task(t)) => {
                let info = TaskInfo {
                    namespace: t.namespace.clone(),
                    correlation_id: t.correlation_id.clone(),
                };
                tasks.remember(t.task_id, info);
                None
            }
            // Deleted, or the database is down: counted under "unknown".
            Some(Change::Step(s)) => Some(match tasks.get(s.task_id).await {
                Ok(Some(info)) => info.namespace,
                _ => "unknown".to_owned(),
            }),
            None => None,
        };
        let metrics = tasks.tasker().metrics();
        metrics.record_event(event.name.as_str(), event.change.as_ref(), namespace.as_deref());
    }
}

/// Count every event from now on, with a queue of `queue` events (events
/// missed beyond it are counted as dropped).
pub fn follow(tasker: &Tasker, queue: usize) -> Result<(), RegistryError> {
    let feed = Feed {
        tasks: Mutex::new(TaskInfoCache::new(tasker.clone(), TASKS_REMEMBERED)),
    };
    tasker
        .subscribers()
        .subscribe_with_queue(NAME, &["*"], Arc::new(feed), true, queue)
}

//! Keeps the metrics current from the event bus. Step changes carry no
//! namespace: it comes from the task's own events, else from the database,
//! once per task.

use crate::domain::change::Change;
use crate::service::{TaskInfo, TaskInfoCache, Tasker};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

/// Tasks whose namespace the feed keeps.
const TASKS_REMEMBERED: usize = 100_000;

/// Count every event until `cancel`; events missed by falling behind are
/// counted as dropped.
pub async fn follow(tasker: Tasker, cancel: CancellationToken) {
    let metrics = tasker.metrics().clone();
    let mut rx = tasker.events().subscribe();
    let mut tasks = TaskInfoCache::new(tasker, TASKS_REMEMBERED);
    loop {
        let received = tokio::select! {
            () = cancel.cancelled() => return,
            received = rx.recv() => received,
        };
        match received {
            // Relayed from another replica: counted there.
            Ok(event) if event.origin.is_some() => {}
            Ok(event) => {
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
                metrics.record_event(event.name.as_str(), event.change.as_ref(), namespace.as_deref());
            }
            Err(RecvError::Lagged(missed)) => metrics.events_dropped(missed),
            Err(RecvError::Closed) => return,
        }
    }
}

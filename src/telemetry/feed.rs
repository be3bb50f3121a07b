//! Keeps the metrics current from the event bus. Step changes carry no
//! namespace: it comes from the task's own events, else from the database,
//! once per task.

use std::collections::HashMap;

use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::domain::change::Change;
use crate::service::Tasker;

/// Namespaces remembered at most; the map starts over beyond it.
const KNOWN_TASKS: usize = 100_000;

struct Namespaces {
    known: HashMap<Uuid, String>,
}

impl Namespaces {
    fn remember(&mut self, task_id: Uuid, namespace: &str) {
        if self.known.len() >= KNOWN_TASKS {
            self.known.clear();
        }
        self.known.entry(task_id).or_insert_with(|| namespace.to_owned());
    }

    async fn of(&mut self, tasker: &Tasker, task_id: Uuid) -> String {
        if let Some(known) = self.known.get(&task_id) {
            return known.clone();
        }
        match tasker.task(task_id).await {
            Ok(Some(task)) => {
                self.remember(task_id, &task.namespace);
                task.namespace
            }
            // Deleted, or the database is down: counted, under "unknown".
            _ => "unknown".to_owned(),
        }
    }
}

/// Count every event until `cancel`; events missed by falling behind are
/// counted as dropped.
pub async fn follow(tasker: Tasker, cancel: CancellationToken) {
    let metrics = tasker.metrics().clone();
    let mut rx = tasker.events().subscribe();
    let mut namespaces = Namespaces {
        known: HashMap::new(),
    };
    loop {
        let received = tokio::select! {
            () = cancel.cancelled() => return,
            received = rx.recv() => received,
        };
        match received {
            Ok(event) => {
                let namespace = match &event.change {
                    Change::Task(t) => {
                        namespaces.remember(t.task_id, &t.namespace);
                        None
                    }
                    Change::Step(s) => Some(namespaces.of(&tasker, s.task_id).await),
                };
                metrics.record_change(event.name.as_str(), &event.change, namespace.as_deref());
            }
            Err(RecvError::Lagged(missed)) => metrics.events_dropped(missed),
            Err(RecvError::Closed) => return,
        }
    }
}

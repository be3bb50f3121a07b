//! Namespace and correlation id per task, as event consumers need them:
//! filled from task events where they pass by, else read once per task.

use std::sync::Arc;

// Looked up once per event by the telemetry subscriber: hashbrown's hasher,
// not SipHash.
use hashbrown::HashMap;
use uuid::Uuid;

use super::{Result, Tasker};

/// What event consumers want to know about an event's task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskInfo {
    /// The template's namespace.
    pub namespace: String,
    /// The correlation id of the request that created the task.
    pub correlation_id: Option<String>,
    /// W3C `traceparent` of the span that created the task.
    pub trace_parent: Option<String>,
}

/// A bounded cache of [`TaskInfo`]; it starts over when full.
pub struct TaskInfoCache {
    tasker: Tasker,
    capacity: usize,
    known: HashMap<Uuid, Arc<TaskInfo>>,
    reads_on: Option<tokio::runtime::Handle>,
}

impl TaskInfoCache {
    /// An empty cache holding at most `capacity` tasks.
    pub fn new(tasker: Tasker, capacity: usize) -> Self {
        Self {
            tasker,
            capacity,
            known: HashMap::new(),
            reads_on: None,
        }
    }

    /// Read the database on `runtime`: the cache's owner runs on another one
    /// (the telemetry thread's), whose I/O driver the pool's connections
    /// should not depend on.
    pub fn reading_on(mut self, runtime: tokio::runtime::Handle) -> Self {
        self.reads_on = Some(runtime);
        self
    }

    /// The services behind the cache.
    pub fn tasker(&self) -> &Tasker {
        &self.tasker
    }

    /// Keep what an event said about a task.
    pub fn remember(&mut self, task_id: Uuid, info: Arc<TaskInfo>) {
        if self.known.len() >= self.capacity {
            self.known.clear();
        }
        self.known.insert(task_id, info);
    }

    /// The task's info if it is known already (no database read).
    pub fn known(&self, task_id: Uuid) -> Option<Arc<TaskInfo>> {
        self.known.get(&task_id).map(Arc::clone)
    }

    /// The task's info, read from the database when not known (`None` if the
    /// task does not exist).
    pub async fn get(&mut self, task_id: Uuid) -> Result<Option<Arc<TaskInfo>>> {
        if let Some(found) = self.known(task_id) {
            return Ok(Some(found));
        }
        let tasker = self.tasker.clone();
        let read = async move { tasker.task(task_id).await };
        let task = match &self.reads_on {
            // Fails only when that runtime is shutting down: nothing to tell then.
            Some(runtime) => runtime.spawn(read).await.unwrap_or(Ok(None))?,
            None => read.await?,
        };
        let Some(task) = task else {
            return Ok(None);
        };
        let info = Arc::new(TaskInfo {
            namespace: task.namespace,
            correlation_id: task.correlation_id,
            trace_parent: task.trace_parent,
        });
        self.remember(task_id, Arc::clone(&info));
        Ok(Some(info))
    }
}

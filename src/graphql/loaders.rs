//! DataLoaders: every nested field is loaded in batches, so a query costs a
//! constant number of statements however many objects it returns. Created per
//! request (or websocket connection) and without a cache, so a long-lived
//! subscription never sees stale rows; batching still merges the keys that one
//! level of a query asks for.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use serde_json::Value;
use uuid::Uuid;

use crate::service::{self, StepView, TaskView, Tasker, TransitionView};
use crate::store::EdgeEnd;

type LoadResult<V> = Result<HashMap<Uuid, V>, Arc<service::Error>>;

fn group<V>(pairs: impl IntoIterator<Item = (Uuid, V)>) -> HashMap<Uuid, Vec<V>> {
    let mut grouped: HashMap<Uuid, Vec<V>> = HashMap::new();
    for (key, value) in pairs {
        grouped.entry(key).or_default().push(value);
    }
    grouped
}

/// Loads tasks by id.
pub struct TaskById(pub Tasker);
/// Loads steps by id.
pub struct StepById(pub Tasker);
/// Loads the steps of a task.
pub struct StepsOfTask(pub Tasker);
/// Loads a step's transitions.
pub struct StepTransitions(pub Tasker);
/// Loads a task's transitions.
pub struct TaskTransitions(pub Tasker);
/// Loads a step's results.
pub struct StepResults(pub Tasker);
/// Loads a step's parent ids.
pub struct ParentIds(pub Tasker);
/// Loads a step's child ids.
pub struct ChildIds(pub Tasker);
/// Loads a task's `(parent, child)` edges.
pub struct TaskEdges(pub Tasker);

impl Loader<Uuid> for TaskById {
    type Value = TaskView;
    type Error = Arc<service::Error>;
    async fn load(&self, keys: &[Uuid]) -> LoadResult<TaskView> {
        Ok(self
            .0
            .tasks_by_ids(keys)
            .await?
            .into_iter()
            .map(|t| (t.id, t))
            .collect())
    }
}

impl Loader<Uuid> for StepById {
    type Value = StepView;
    type Error = Arc<service::Error>;
    async fn load(&self, keys: &[Uuid]) -> LoadResult<StepView> {
        Ok(self
            .0
            .steps_by_ids(keys)
            .await?
            .into_iter()
            .map(|s| (s.id, s))
            .collect())
    }
}

impl Loader<Uuid> for StepsOfTask {
    type Value = Vec<StepView>;
    type Error = Arc<service::Error>;
    async fn load(&self, keys: &[Uuid]) -> LoadResult<Vec<StepView>> {
        Ok(group(
            self.0
                .steps_of_tasks(keys)
                .await?
                .into_iter()
                .map(|s| (s.task_id, s)),
        ))
    }
}

impl Loader<Uuid> for StepTransitions {
    type Value = Vec<TransitionView>;
    type Error = Arc<service::Error>;
    async fn load(&self, keys: &[Uuid]) -> LoadResult<Vec<TransitionView>> {
        Ok(group(self.0.step_transitions(keys).await?))
    }
}

impl Loader<Uuid> for TaskTransitions {
    type Value = Vec<TransitionView>;
    type Error = Arc<service::Error>;
    async fn load(&self, keys: &[Uuid]) -> LoadResult<Vec<TransitionView>> {
        Ok(group(self.0.task_transitions_of(keys).await?))
    }
}

impl Loader<Uuid> for StepResults {
    type Value = Value;
    type Error = Arc<service::Error>;
    async fn load(&self, keys: &[Uuid]) -> LoadResult<Value> {
        Ok(self.0.step_results(keys).await?)
    }
}

impl Loader<Uuid> for ParentIds {
    type Value = Vec<Uuid>;
    type Error = Arc<service::Error>;
    async fn load(&self, keys: &[Uuid]) -> LoadResult<Vec<Uuid>> {
        let edges = self.0.step_edges(keys, EdgeEnd::Parents).await?;
        Ok(group(edges.into_iter().map(|(parent, child)| (child, parent))))
    }
}

impl Loader<Uuid> for ChildIds {
    type Value = Vec<Uuid>;
    type Error = Arc<service::Error>;
    async fn load(&self, keys: &[Uuid]) -> LoadResult<Vec<Uuid>> {
        Ok(group(self.0.step_edges(keys, EdgeEnd::Children).await?))
    }
}

impl Loader<Uuid> for TaskEdges {
    type Value = Vec<(Uuid, Uuid)>;
    type Error = Arc<service::Error>;
    async fn load(&self, keys: &[Uuid]) -> LoadResult<Vec<(Uuid, Uuid)>> {
        let edges = self.0.task_edges(keys).await?;
        Ok(group(
            edges
                .into_iter()
                .map(|(task, parent, child)| (task, (parent, child))),
        ))
    }
}

/// Every loader of one request.
pub struct Loaders {
    /// Tasks by id.
    pub task: DataLoader<TaskById>,
    /// Steps by id.
    pub step: DataLoader<StepById>,
    /// Steps of a task.
    pub steps_of_task: DataLoader<StepsOfTask>,
    /// Transitions of a step.
    pub step_transitions: DataLoader<StepTransitions>,
    /// Transitions of a task.
    pub task_transitions: DataLoader<TaskTransitions>,
    /// Results of a step.
    pub step_results: DataLoader<StepResults>,
    /// Parent ids of a step.
    pub parents: DataLoader<ParentIds>,
    /// Child ids of a step.
    pub children: DataLoader<ChildIds>,
    /// Edges of a task.
    pub task_edges: DataLoader<TaskEdges>,
}

impl Loaders {
    /// Fresh loaders over `tasker`.
    pub fn new(tasker: &Tasker) -> Self {
        let t = || tasker.clone();
        Self {
            task: DataLoader::new(TaskById(t()), tokio::spawn),
            step: DataLoader::new(StepById(t()), tokio::spawn),
            steps_of_task: DataLoader::new(StepsOfTask(t()), tokio::spawn),
            step_transitions: DataLoader::new(StepTransitions(t()), tokio::spawn),
            task_transitions: DataLoader::new(TaskTransitions(t()), tokio::spawn),
            step_results: DataLoader::new(StepResults(t()), tokio::spawn),
            parents: DataLoader::new(ParentIds(t()), tokio::spawn),
            children: DataLoader::new(ChildIds(t()), tokio::spawn),
            task_edges: DataLoader::new(TaskEdges(t()), tokio::spawn),
        }
    }
}

//! Batched reads for the API layer: each takes a list of ids and costs one
//! statement, so nested GraphQL queries cost a constant number of them.

use std::collections::HashMap;

use serde_json::Value;
use uuid::Uuid;

use super::views::{StepView, TaskView, TransitionView};
use super::{Result, Tasker};
use crate::store::{self, EdgeEnd, Page, TaskQuery};

/// The most tasks one page of a listing holds, on every front end.
pub const MAX_PAGE_SIZE: u32 = 500;

/// A page of tasks.
#[derive(Debug, Clone)]
pub struct TaskList {
    /// Newest first.
    pub tasks: Vec<TaskView>,
    /// Older tasks follow.
    pub has_next: bool,
    /// Newer tasks precede.
    pub has_previous: bool,
}

impl Tasker {
    /// A page of the tasks matching `query`.
    pub async fn list_tasks(&self, query: &TaskQuery, page: Page) -> Result<TaskList> {
        let found = store::list_tasks(self.store.reader(), query, page).await?;
        Ok(TaskList {
            tasks: found
                .tasks
                .into_iter()
                .map(TaskView::try_from)
                .collect::<Result<_>>()?,
            has_next: found.has_next,
            has_previous: found.has_previous,
        })
    }

    /// How many tasks match `query`.
    pub async fn count_tasks(&self, query: &TaskQuery) -> Result<u64> {
        Ok(store::count_tasks(self.store.reader(), query).await?)
    }

    /// Tasks by id (missing ids are absent).
    pub async fn tasks_by_ids(&self, ids: &[Uuid]) -> Result<Vec<TaskView>> {
        store::tasks_by_ids(self.store.reader(), ids)
            .await?
            .into_iter()
            .map(TaskView::try_from)
            .collect()
    }

    /// Steps by id (missing ids are absent).
    pub async fn steps_by_ids(&self, ids: &[Uuid]) -> Result<Vec<StepView>> {
        store::steps_by_ids(self.store.reader(), ids)
            .await?
            .into_iter()
            .map(StepView::try_from)
            .collect()
    }

    /// Steps of these tasks in template order.
    pub async fn steps_of_tasks(&self, task_ids: &[Uuid]) -> Result<Vec<StepView>> {
        store::steps_of_tasks(self.store.reader(), task_ids)
            .await?
            .into_iter()
            .map(StepView::try_from)
            .collect()
    }

    /// Transitions of these tasks, oldest first per task.
    pub async fn task_transitions_of(&self, task_ids: &[Uuid]) -> Result<Vec<(Uuid, TransitionView)>> {
        let rows = store::task_transitions_of(self.store.reader(), task_ids).await?;
        Ok(rows.into_iter().map(|r| (r.task_id, r.into())).collect())
    }

    /// Results of these steps (only steps that have some).
    pub async fn step_results(&self, step_ids: &[Uuid]) -> Result<HashMap<Uuid, Value>> {
        Ok(store::step_results(self.store.reader(), step_ids).await?)
    }

    /// `(parent, child)` edges touching these steps on one end.
    pub async fn step_edges(&self, step_ids: &[Uuid], end: EdgeEnd) -> Result<Vec<(Uuid, Uuid)>> {
        Ok(store::edges_of_steps(self.store.reader(), step_ids, end).await?)
    }

    /// `(task, parent, child)` edges of these tasks.
    pub async fn task_edges(&self, task_ids: &[Uuid]) -> Result<Vec<(Uuid, Uuid, Uuid)>> {
        Ok(store::edges_of_tasks(self.store.reader(), task_ids).await?)
    }

    /// Of `handlers`, those with external work claimable now.
    pub async fn handlers_with_work(&self, handlers: &[String]) -> Result<Vec<String>> {
        Ok(store::handlers_with_claimable_work(self.store.reader(), handlers, self.clock.now()).await?)
    }

    /// Work waiting and running now.
    pub async fn queue_depths(&self) -> Result<store::QueueDepths> {
        Ok(store::queue_depths(self.store.reader(), self.clock.now()).await?)
    }

    /// Tasks per status.
    pub async fn tasks_by_status(&self) -> Result<std::collections::BTreeMap<String, u64>> {
        Ok(store::tasks_by_status(self.store.reader()).await?)
    }

    /// Registered templates (all versions).
    pub async fn template_count(&self) -> Result<u64> {
        Ok(store::template_count(self.store.reader()).await?)
    }
}

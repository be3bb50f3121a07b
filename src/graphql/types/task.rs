//! `Task`, its connection and filter.

use async_graphql::connection::CursorType;
use async_graphql::{Context, ID, InputObject, Json, Object};
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::enums::{ExecutionStatusKind, TaskStatusKind};
use super::graph::DependencyGraph;
use super::step::{Step, Transition};
use super::tasker;
use crate::auth::permission::TASK_READ;
use crate::domain::readiness::{StepCounts, execution_status, is_claimable};
use crate::graphql::error::GqlResult;
use crate::graphql::groups::TaskGroup;
use crate::graphql::guard::require;
use crate::service::TaskView;
use crate::store::TaskQuery;
use std::sync::Arc;

/// A run of a task template.
pub struct Task {
    view: TaskView,
    group: Arc<TaskGroup>,
}

impl Task {
    /// A task on its own.
    pub fn one(view: TaskView) -> Self {
        let group = TaskGroup::of(std::slice::from_ref(&view));
        Self { view, group }
    }

    /// Tasks listed together (their relations load together).
    pub fn list(views: Vec<TaskView>) -> Vec<Self> {
        let group = TaskGroup::of(&views);
        views
            .into_iter()
            .map(|view| Self {
                view,
                group: Arc::clone(&group),
            })
            .collect()
    }

    /// A task that belongs to an existing group.
    pub fn in_group(view: TaskView, group: Arc<TaskGroup>) -> Self {
        Self { view, group }
    }

    /// Its id.
    pub fn uuid(&self) -> Uuid {
        self.view.id
    }
}

/// A run of a task template with a JSON context.
#[Object]
impl Task {
    /// Id (a time-ordered UUID v7).
    async fn id(&self) -> ID {
        ID(self.view.id.to_string())
    }

    /// Template namespace.
    async fn namespace(&self) -> &str {
        &self.view.namespace
    }

    /// Template name.
    async fn name(&self) -> &str {
        &self.view.name
    }

    /// Template version the task was created from.
    async fn version(&self) -> &str {
        &self.view.version
    }

    /// Current status.
    async fn status(&self) -> TaskStatusKind {
        self.view.status.into()
    }

    /// Where the task stands, derived from its steps.
    async fn execution_status(&self, ctx: &Context<'_>) -> GqlResult<ExecutionStatusKind> {
        let (steps, _) = self.group.steps(ctx, self.view.id).await?;
        let now = Utc::now();
        let counts: StepCounts = steps.iter().map(|s| s.status).collect();
        let claimable = steps
            .iter()
            .filter(|s| is_claimable(s.status, s.next_attempt_at, now))
            .count();
        Ok(execution_status(&counts, u32::try_from(claimable).unwrap_or(u32::MAX)).into())
    }

    /// The JSON context the task was created with.
    async fn context(&self) -> Json<&Value> {
        Json(&self.view.context)
    }

    /// Who asked for the task.
    async fn initiator(&self) -> Option<&str> {
        self.view.initiator.as_deref()
    }

    /// Which system asked for the task.
    async fn source_system(&self) -> Option<&str> {
        self.view.source_system.as_deref()
    }

    /// Why the task was created.
    async fn reason(&self) -> Option<&str> {
        self.view.reason.as_deref()
    }

    /// Labels.
    async fn tags(&self) -> &[String] {
        &self.view.tags
    }

    /// The key that made creation idempotent.
    async fn idempotency_key(&self) -> Option<&str> {
        self.view.idempotency_key.as_deref()
    }

    /// Correlation id of the request that created the task.
    async fn correlation_id(&self) -> Option<&str> {
        self.view.correlation_id.as_deref()
    }

    /// Id of the trace holding the task's creation and every step attempt
    /// (null when spans were not exported).
    async fn trace_id(&self) -> Option<String> {
        self.view
            .trace_parent
            .as_deref()
            .and_then(crate::telemetry::traces::trace_id)
    }

    /// Created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.view.created_at
    }

    /// Last change.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.view.updated_at
    }

    /// When the task reached COMPLETE, ERROR, CANCELLED or RESOLVED_MANUALLY.
    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.view.completed_at
    }

    /// 1 (least urgent) to 4 (most urgent): claims take more urgent steps
    /// first, then older ones.
    async fn priority(&self) -> i32 {
        i32::from(self.view.priority.get())
    }

    /// No step starts before this time (delayed start), when one was asked for.
    async fn run_at(&self) -> Option<DateTime<Utc>> {
        self.view.run_at
    }

    /// The concurrency group the task belongs to (its template's
    /// `concurrency`: template and key value), if any.
    async fn concurrency_group(&self) -> Option<&str> {
        self.view.group.as_ref().map(|(key, _)| key.as_str())
    }

    /// Why the task has not started, when it waits for more than a free
    /// handler slot (e.g. its scheduled start); null otherwise.
    async fn queue_reason(&self) -> Option<String> {
        self.view.queue_reason(Utc::now())
    }

    /// For a child task: the task whose `task` step started it (null for a
    /// root, or when the caller may not read it).
    async fn parent(&self, ctx: &Context<'_>) -> GqlResult<Option<Task>> {
        let Some(id) = self.view.parent_task_id else {
            return Ok(None);
        };
        let parent = tasker(ctx)?.task(id).await?;
        Ok(parent
            .filter(|t| require(ctx, TASK_READ, Some(&t.namespace)).is_ok())
            .map(Task::one))
    }

    /// For a child task: the step that started it.
    async fn parent_step_id(&self) -> Option<ID> {
        self.view.parent_step_id.map(|id| ID(id.to_string()))
    }

    /// The first task of its tree (its own id for a task no step started).
    async fn root_task_id(&self) -> ID {
        ID(self.view.root_task_id.to_string())
    }

    /// Tasks its `task` steps started, oldest first (those the caller may read).
    async fn children(&self, ctx: &Context<'_>) -> GqlResult<Vec<Task>> {
        let children = tasker(ctx)?.child_tasks(self.view.id).await?;
        Ok(children
            .into_iter()
            .filter(|t| require(ctx, TASK_READ, Some(&t.namespace)).is_ok())
            .map(Task::one)
            .collect())
    }

    /// Steps in template order.
    async fn steps(&self, ctx: &Context<'_>) -> GqlResult<Vec<Step>> {
        let (steps, group) = self.group.steps(ctx, self.view.id).await?;
        Ok(steps
            .into_iter()
            .map(|s| Step::in_group(s, Arc::clone(&group)))
            .collect())
    }

    /// Every status change of the task, oldest first.
    async fn transitions(&self, ctx: &Context<'_>) -> GqlResult<Vec<Transition>> {
        let rows = self.group.transitions(ctx, self.view.id).await?;
        Ok(rows.into_iter().map(Transition).collect())
    }

    /// The task's step graph with each step's status.
    async fn dependency_graph(&self, ctx: &Context<'_>) -> GqlResult<DependencyGraph> {
        DependencyGraph::of_task(ctx, &self.group, &self.view).await
    }
}

/// Filters for `tasks`; all given conditions must hold.
#[derive(InputObject, Default, Debug)]
pub struct TaskFilter {
    /// Template namespace.
    pub namespace: Option<String>,
    /// Template name.
    pub name: Option<String>,
    /// Template version.
    pub version: Option<String>,
    /// Any of these statuses.
    pub status: Option<Vec<TaskStatusKind>>,
    /// Every one of these tags.
    pub tags: Option<Vec<String>>,
    /// Created at or after.
    pub created_after: Option<DateTime<Utc>>,
    /// Created before.
    pub created_before: Option<DateTime<Utc>>,
    /// A task id, a correlation id, or part of the initiator
    /// (case-insensitive; at most 256 characters).
    pub search: Option<String>,
}

impl From<TaskFilter> for TaskQuery {
    fn from(f: TaskFilter) -> Self {
        TaskQuery {
            namespace: f.namespace,
            name: f.name,
            version: f.version,
            statuses: f.status.unwrap_or_default().into_iter().map(Into::into).collect(),
            tags: f.tags.unwrap_or_default(),
            created_after: f.created_after,
            created_before: f.created_before,
            search: f.search,
            within_namespaces: None,
        }
    }
}

/// Connection-level fields of `tasks`.
pub struct TaskTotals {
    pub(crate) query: TaskQuery,
}

#[Object]
impl TaskTotals {
    /// How many tasks match the filter (all pages).
    async fn total_count(&self, ctx: &Context<'_>) -> GqlResult<u64> {
        Ok(tasker(ctx)?.count_tasks(&self.query).await?)
    }
}

/// An opaque position in a task list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskCursor(pub Uuid);

impl CursorType for TaskCursor {
    type Error = String;

    fn decode_cursor(s: &str) -> Result<Self, Self::Error> {
        s.strip_prefix("task:")
            .and_then(|hex| Uuid::try_parse(hex).ok())
            .map(TaskCursor)
            .ok_or_else(|| format!("{s:?} is not a task cursor"))
    }

    fn encode_cursor(&self) -> String {
        format!("task:{}", self.0.simple())
    }
}

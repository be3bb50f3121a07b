//! `Step`, its error and transitions.

use async_graphql::{Context, ID, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use serde_json::Value;

use std::sync::Arc;

use super::enums::{StepKindGql, StepStatusKind, WaitingForKind};
use super::task::Task;
use crate::graphql::error::{GqlResult, internal};
use crate::graphql::groups::StepGroup;
use crate::service::{StepView, TransitionView};

/// A step of a task.
pub struct Step {
    view: StepView,
    group: Arc<StepGroup>,
}

impl Step {
    /// A step on its own.
    pub fn one(view: StepView) -> Self {
        let group = StepGroup::of(std::slice::from_ref(&view));
        Self { view, group }
    }

    /// A step that belongs to an existing group.
    pub fn in_group(view: StepView, group: Arc<StepGroup>) -> Self {
        Self { view, group }
    }

    fn all_in(views: Vec<StepView>, group: &Arc<StepGroup>) -> Vec<Self> {
        views
            .into_iter()
            .map(|v| Self::in_group(v, Arc::clone(group)))
            .collect()
    }
}

/// A step of a task: one node of its DAG, with its attempts.
#[Object]
impl Step {
    /// Id (a time-ordered UUID v7).
    async fn id(&self) -> ID {
        ID(self.view.id.to_string())
    }

    /// The task the step belongs to.
    async fn task(&self, ctx: &Context<'_>) -> GqlResult<Task> {
        let found = self.group.task(ctx, self.view.task_id).await?;
        found
            .map(|(task, group)| Task::in_group(task, group))
            .ok_or_else(|| internal(&format!("step {} has no task", self.view.id)).into())
    }

    /// Name within its task.
    async fn name(&self) -> &str {
        &self.view.name
    }

    /// Handler name (`tasker:sleep`, `tasker:approval` for the kinds the
    /// engine runs itself).
    async fn handler(&self) -> &str {
        &self.view.handler
    }

    /// What the step does: call its handler, sleep, or wait for approval.
    async fn kind(&self) -> StepKindGql {
        self.view.kind.into()
    }

    /// The child tasks a `task` step started, one per attempt, oldest first
    /// (those the caller may read).
    async fn child_tasks(&self, ctx: &Context<'_>) -> GqlResult<Vec<Task>> {
        if self.view.kind != crate::domain::kind::StepKind::Task {
            return Ok(Vec::new());
        }
        let children = crate::graphql::types::tasker(ctx)?
            .step_child_tasks(self.view.id)
            .await?;
        Ok(children
            .into_iter()
            .filter(|t| {
                crate::graphql::guard::require(ctx, crate::auth::permission::TASK_READ, Some(&t.namespace))
                    .is_ok()
            })
            .map(Task::one)
            .collect())
    }

    /// For an instance of a map: its position in the map's list.
    async fn map_index(&self) -> Option<u32> {
        self.view.map.as_ref().map(|(_, index, _)| *index)
    }

    /// For an instance of a map: its item.
    async fn map_item(&self) -> Option<Json<&Value>> {
        self.view.map.as_ref().map(|(_, _, item)| Json(item))
    }

    /// For an instance of a map: the map step it belongs to.
    async fn map_step_id(&self) -> Option<ID> {
        self.view
            .map
            .as_ref()
            .map(|(parent, _, _)| ID(parent.to_string()))
    }

    /// Its `when` condition (CEL over `context` and `parents`), if it has one:
    /// when false the step is SKIPPED.
    async fn condition(&self) -> Option<&str> {
        self.view.condition.as_deref()
    }

    /// Run by an external worker (claimSteps) rather than the engine.
    async fn external(&self) -> bool {
        self.view.external
    }

    /// Current status.
    async fn status(&self) -> StepStatusKind {
        self.view.status.into()
    }

    /// Attempts started so far (they count from 1 and never reset).
    async fn attempts(&self) -> u32 {
        self.view.attempts
    }

    /// Attempts the retry policy allows per budget (retryStep grants a new budget).
    async fn max_attempts(&self) -> u32 {
        self.view.max_attempts
    }

    /// Whether failures may be retried.
    async fn retryable(&self) -> bool {
        self.view.retryable
    }

    /// May be bypassed at task creation.
    async fn skippable(&self) -> bool {
        self.view.skippable
    }

    /// The step's config from its template.
    async fn config(&self) -> Json<&Value> {
        Json(&self.view.config)
    }

    /// Results of the successful attempt (or of a manual resolution).
    async fn results(&self, ctx: &Context<'_>) -> GqlResult<Option<Json<Value>>> {
        Ok(self.group.results(ctx, self.view.id).await?.map(Json))
    }

    /// The latest failure; cleared when the step completes.
    async fn error(&self) -> Option<StepErrorInfo> {
        self.view.error.as_ref().map(|e| StepErrorInfo {
            message: e.message.clone(),
            kind: e.kind.as_str().to_owned(),
            retryable: e.retryable,
        })
    }

    /// When the step may next be claimed (ENQUEUED or WAITING_FOR_RETRY), or
    /// when its wait ends (WAITING: a sleep's end, an approval's timeout).
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        self.view.next_attempt_at
    }

    /// What holds the step back although its parents are satisfied (null
    /// when nothing does; a retry's backoff shows in nextAttemptAt).
    async fn waiting_for(&self) -> Option<WaitingForKind> {
        self.view.waiting_for(Utc::now()).map(Into::into)
    }

    /// The rate-limit keys the step's starts count against (its own
    /// `rate_limit` and its handler's), empty when it has none.
    async fn rate_limit_keys(&self) -> &[String] {
        &self.view.rate_keys
    }

    /// Parent steps.
    async fn depends_on(&self, ctx: &Context<'_>) -> GqlResult<Vec<Step>> {
        let (parents, group) = self.group.parents(ctx, self.view.id).await?;
        Ok(Self::all_in(parents, &group))
    }

    /// Child steps.
    async fn dependents(&self, ctx: &Context<'_>) -> GqlResult<Vec<Step>> {
        let (children, group) = self.group.children(ctx, self.view.id).await?;
        Ok(Self::all_in(children, &group))
    }

    /// Every status change of the step, oldest first.
    async fn transitions(&self, ctx: &Context<'_>) -> GqlResult<Vec<Transition>> {
        let rows = self.group.transitions(ctx, self.view.id).await?;
        Ok(rows.into_iter().map(Transition).collect())
    }

    /// Start of the latest attempt.
    async fn started_at(&self) -> Option<DateTime<Utc>> {
        self.view.started_at
    }

    /// When the step completed, failed for good, was skipped, cancelled or resolved.
    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.view.completed_at
    }

    /// Duration of the latest attempt, once it ended.
    async fn duration_ms(&self) -> Option<i64> {
        self.view.duration_ms()
    }
}

/// Why the latest attempt failed.
#[derive(SimpleObject)]
#[graphql(name = "StepError")]
pub struct StepErrorInfo {
    /// What went wrong.
    pub message: String,
    /// `handler`, `timeout`, `lease_expired`, `unknown_handler`, `panic`,
    /// `result_too_large`, `worker`, `dispatch` or `shutdown`.
    pub kind: String,
    /// Whether another attempt may help.
    pub retryable: bool,
}

/// One audited status change.
pub struct Transition(pub TransitionView);

/// One audited status change of a task or step.
#[Object]
impl Transition {
    /// Status before (null at creation).
    async fn from(&self) -> Option<&str> {
        self.0.from.as_deref()
    }

    /// Status after.
    async fn to(&self) -> &str {
        &self.0.to
    }

    /// When.
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }

    /// Attempt number (steps; 0 before the first claim).
    async fn attempt(&self) -> Option<i32> {
        self.0.attempt
    }

    /// Why, when known.
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }

    /// Position in the entity's history, from 1.
    async fn sequence(&self) -> i32 {
        self.0.sequence
    }
}

//! The mutation root: templates, tasks, operator actions and the
//! external-worker protocol.

use async_graphql::{Context, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::RequestInfo;
use super::error::{GqlResult, bad_input};
use super::guard::{require, require_on_step, require_on_task, require_somewhere};
use super::types::{Handler, Step, Task, parse_id, tasker};
use crate::auth::permission::{
    STEP_CLAIM, STEP_RESOLVE, STEP_RETRY, TASK_CANCEL, TASK_CREATE, TASK_RETRY, TEMPLATE_REGISTER,
};
use crate::domain::template::DEFAULT_NAMESPACE;
use crate::service::{ClaimRequest, ClaimedStep as ClaimedView, CreateTask, FailureReport};

/// Input of `createTask`.
#[derive(InputObject)]
pub struct CreateTaskInput {
    /// Template namespace (default `default`).
    pub namespace: Option<String>,
    /// Template name (required unless the deprecated `namedTaskName` is given).
    pub name: Option<String>,
    /// Synonym of `name` from the original Tasker API.
    #[graphql(deprecation = "use name")]
    pub named_task_name: Option<String>,
    /// Template version (default: the highest registered).
    pub version: Option<String>,
    /// The task's JSON context (checked against the template's context_schema).
    pub context: Json<Value>,
    /// Who asks.
    pub initiator: Option<String>,
    /// Which system asks.
    pub source_system: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// Labels for filtering.
    pub tags: Option<Vec<String>>,
    /// Skippable steps to bypass.
    pub bypass_steps: Option<Vec<String>>,
    /// The same key returns the same task (created: false).
    pub idempotency_key: Option<String>,
    /// 1 (least urgent) to 4 (most urgent); default: the template's `priority`, else 2.
    /// Claims take more urgent steps first, then older ones; a step that has
    /// waited `engine.priority_ageing_seconds` counts as one level more urgent.
    pub priority: Option<i32>,
    /// Start no step before this time (RFC 3339); the task is SCHEDULED until
    /// then and can be cancelled. A time in the past starts at once.
    pub run_at: Option<DateTime<Utc>>,
    /// Start no step before this many seconds from now (instead of `runAt`).
    pub delay_seconds: Option<i32>,
}

/// Output of `createTask`.
#[derive(SimpleObject)]
pub struct CreateTaskPayload {
    /// The task.
    pub task: Task,
    /// False when the idempotency key matched an existing task.
    pub created: bool,
}

/// Input of `claimSteps`.
#[derive(InputObject)]
pub struct ClaimStepsInput {
    /// Who claims; becomes the lease owner.
    pub worker_id: String,
    /// Handler names this worker serves.
    pub handlers: Vec<String>,
    /// Most steps to claim (1–100).
    #[graphql(default = 1)]
    pub limit: i32,
    /// Lease length in seconds (1–3600); heartbeat before it runs out.
    #[graphql(default = 30)]
    pub lease_seconds: i32,
}

/// A step claimed by a worker, with everything needed to run it.
#[derive(SimpleObject)]
pub struct ClaimedStep {
    /// The step.
    pub step: Step,
    /// Present it to heartbeatStep, completeStep or failStep.
    pub lease_token: String,
    /// When the lease lapses without a heartbeat.
    pub lease_expires_at: DateTime<Utc>,
    /// Attempt number, from 1.
    pub attempt: u32,
    /// `task id:step name:attempt`: make side effects idempotent with it.
    pub idempotency_key: String,
    /// The task's context.
    pub context: Json<Value>,
    /// Results of the parent steps, by step name.
    pub parent_results: Json<Value>,
    /// The step's config.
    pub config: Json<Value>,
    /// W3C `traceparent` of the task's trace (null when spans are not
    /// exported): start the worker's span as its child to join the trace.
    pub traceparent: Option<String>,
}

impl From<ClaimedView> for ClaimedStep {
    fn from(c: ClaimedView) -> Self {
        ClaimedStep {
            lease_token: c.lease_token.to_string(),
            lease_expires_at: c.lease_expires_at,
            attempt: c.attempt,
            idempotency_key: c.idempotency_key,
            context: Json(c.context),
            parent_results: Json(Value::Object(c.parent_results)),
            config: Json(c.step.config.clone()),
            traceparent: c.traceparent,
            step: Step::one(c.step),
        }
    }
}

fn non_negative(value: i32, field: &str) -> GqlResult<u32> {
    u32::try_from(value).map_err(|_| bad_input(field, "must not be negative").into())
}

fn token(value: &str) -> GqlResult<Uuid> {
    value
        .parse()
        .map_err(|_| bad_input("leaseToken", "is not a lease token").into())
}

/// Changes: templates, tasks, operator actions, worker protocol.
#[derive(Default)]
pub struct CoreMutation;

/// Changes: templates, tasks, operator actions and the external-worker protocol.
#[Object]
impl CoreMutation {
    /// Register a task template (YAML or JSON). Identical content is a no-op;
    /// different content under the same version needs `replace: true`.
    async fn register_task_template(
        &self,
        ctx: &Context<'_>,
        yaml: String,
        #[graphql(default = false)] replace: bool,
    ) -> GqlResult<Handler> {
        // A template that does not parse is refused below, naming its problems,
        // to anyone who may register somewhere.
        match crate::domain::template::parse_template(&yaml) {
            Ok(template) => require(ctx, TEMPLATE_REGISTER, Some(&template.namespace))?,
            Err(_) => drop(require_somewhere(ctx, TEMPLATE_REGISTER)?),
        }
        let (stored, _) = tasker(ctx)?.register_template(&yaml, replace).await?;
        Ok(Handler::one(stored))
    }

    /// Create a task from a template.
    async fn create_task(&self, ctx: &Context<'_>, input: CreateTaskInput) -> GqlResult<CreateTaskPayload> {
        let name = match (input.name, input.named_task_name) {
            (Some(name), None) | (None, Some(name)) => name,
            (Some(name), Some(other)) if name == other => name,
            (Some(_), Some(_)) => {
                return Err(bad_input("namedTaskName", "differs from name; give only name").into());
            }
            (None, None) => return Err(bad_input("name", "is required").into()),
        };
        let namespace = input.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE);
        require(ctx, TASK_CREATE, Some(namespace))?;
        let created = tasker(ctx)?
            .create_task(CreateTask {
                namespace: input.namespace,
                name,
                version: input.version,
                context: input.context.0,
                initiator: input.initiator,
                source_system: input.source_system,
                reason: input.reason,
                tags: input.tags.unwrap_or_default(),
                bypass_steps: input.bypass_steps.unwrap_or_default(),
                idempotency_key: input.idempotency_key,
                correlation_id: ctx.data_opt::<RequestInfo>().map(|r| r.correlation_id.clone()),
                priority: input.priority.map(i64::from),
                run_at: input.run_at,
                delay_seconds: input.delay_seconds.map(i64::from),
                lineage: None,
            })
            .await?;
        Ok(CreateTaskPayload {
            task: Task::one(created.task),
            created: created.created,
        })
    }

    /// Cancel a task: no new step starts and running handlers are told to stop.
    async fn cancel_task(&self, ctx: &Context<'_>, id: ID, reason: Option<String>) -> GqlResult<Task> {
        let id = parse_id(&id, "id")?;
        require_on_task(ctx, TASK_CANCEL, id).await?;
        Ok(Task::one(tasker(ctx)?.cancel_task(id, reason).await?))
    }

    /// Give every failed step of a failed task a fresh budget of attempts.
    async fn retry_task(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Task> {
        let id = parse_id(&id, "id")?;
        require_on_task(ctx, TASK_RETRY, id).await?;
        Ok(Task::one(tasker(ctx)?.retry_task(id).await?))
    }

    /// Give a failed step a fresh budget of attempts.
    async fn retry_step(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Step> {
        let id = parse_id(&id, "id")?;
        require_on_step(ctx, STEP_RETRY, id).await?;
        Ok(Step::one(tasker(ctx)?.retry_step(id).await?))
    }

    /// Resolve a step by hand; its children may then run and receive `results`.
    async fn resolve_step_manually(
        &self,
        ctx: &Context<'_>,
        id: ID,
        results: Option<Json<Value>>,
        reason: Option<String>,
    ) -> GqlResult<Step> {
        let id = parse_id(&id, "id")?;
        require_on_step(ctx, STEP_RESOLVE, id).await?;
        let step = tasker(ctx)?
            .resolve_step(id, results.map(|r| r.0), reason)
            .await?;
        Ok(Step::one(step))
    }

    /// Claim ready external steps of your handlers under a lease.
    async fn claim_steps(&self, ctx: &Context<'_>, input: ClaimStepsInput) -> GqlResult<Vec<ClaimedStep>> {
        // Claims span namespaces, so only an unscoped grant covers them.
        require(ctx, STEP_CLAIM, None)?;
        let request = ClaimRequest {
            worker_id: input.worker_id,
            handlers: input.handlers,
            limit: non_negative(input.limit, "limit")?,
            lease_seconds: non_negative(input.lease_seconds, "leaseSeconds")?,
        };
        Ok(tasker(ctx)?
            .claim_steps(request)
            .await?
            .into_iter()
            .map(ClaimedStep::from)
            .collect())
    }

    /// Extend a lease; returns the new expiry.
    async fn heartbeat_step(
        &self,
        ctx: &Context<'_>,
        step_id: ID,
        lease_token: String,
        extend_seconds: Option<i32>,
    ) -> GqlResult<DateTime<Utc>> {
        let extend = extend_seconds
            .map(|s| non_negative(s, "extendSeconds"))
            .transpose()?;
        let id = parse_id(&step_id, "stepId")?;
        require_on_step(ctx, STEP_CLAIM, id).await?;
        Ok(tasker(ctx)?
            .heartbeat_step(id, token(&lease_token)?, extend)
            .await?)
    }

    /// Complete a claimed step with its results.
    async fn complete_step(
        &self,
        ctx: &Context<'_>,
        step_id: ID,
        lease_token: String,
        results: Option<Json<Value>>,
    ) -> GqlResult<Step> {
        let id = parse_id(&step_id, "stepId")?;
        require_on_step(ctx, STEP_CLAIM, id).await?;
        let step = tasker(ctx)?
            .complete_step(id, token(&lease_token)?, results.map(|r| r.0))
            .await?;
        Ok(Step::one(step))
    }

    /// Fail a claimed step; the retry policy decides what happens next.
    async fn fail_step(
        &self,
        ctx: &Context<'_>,
        step_id: ID,
        lease_token: String,
        error: String,
        #[graphql(default = true)] retryable: bool,
        retry_after_seconds: Option<i32>,
    ) -> GqlResult<Step> {
        let failure = FailureReport {
            message: error,
            retryable,
            retry_after_seconds: retry_after_seconds
                .map(|s| non_negative(s, "retryAfterSeconds"))
                .transpose()?,
        };
        let id = parse_id(&step_id, "stepId")?;
        require_on_step(ctx, STEP_CLAIM, id).await?;
        let step = tasker(ctx)?.fail_step(id, token(&lease_token)?, failure).await?;
        Ok(Step::one(step))
    }
}

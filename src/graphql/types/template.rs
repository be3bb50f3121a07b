//! Namespaces, task templates (`Handler`), step templates and step handlers.

use std::sync::Arc;

use async_graphql::{Context, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::enums::HandlerKindGql;
use super::graph::DependencyGraph;
use super::tasker;
use crate::domain::rate::RateLimitSpec;
use crate::domain::template::{ConcurrencySpec, StepTemplate};
use crate::graphql::error::GqlResult;
use crate::graphql::groups::TemplateGroup;
use crate::store::StoredTemplate;

/// A namespace of task templates.
#[derive(SimpleObject)]
pub struct Namespace {
    /// Name.
    pub name: String,
    /// Registered templates (all versions).
    pub task_template_count: u64,
}

/// A task template (one version): what tasks are created from.
pub struct Handler {
    stored: StoredTemplate,
    group: Arc<TemplateGroup>,
}

impl Handler {
    /// One template, alone in its group.
    pub fn one(stored: StoredTemplate) -> Self {
        let group = TemplateGroup::of([&*stored.template]);
        Self { stored, group }
    }

    /// Templates listed together.
    pub fn list(found: Vec<StoredTemplate>) -> Vec<Self> {
        let group = TemplateGroup::of(found.iter().map(|t| &*t.template));
        found
            .into_iter()
            .map(|stored| Self {
                stored,
                group: Arc::clone(&group),
            })
            .collect()
    }
}

/// A task template (one version): what tasks are created from.
#[Object]
impl Handler {
    /// Namespace.
    async fn namespace(&self) -> &str {
        &self.stored.template.namespace
    }

    /// Name within the namespace.
    async fn name(&self) -> &str {
        &self.stored.template.name
    }

    /// Semantic version.
    async fn version(&self) -> String {
        self.stored.template.version.to_string()
    }

    /// `namespace/name@version`.
    async fn full_name(&self) -> String {
        self.stored.template.full_name()
    }

    /// Free text for people.
    async fn description(&self) -> Option<&str> {
        self.stored.template.description.as_deref()
    }

    /// True when every step's handler resolves here (built-in, registered Rust
    /// handler, or external).
    async fn available(&self, ctx: &Context<'_>) -> GqlResult<bool> {
        let handlers = tasker(ctx)?.handlers();
        let t = &self.stored.template;
        Ok(t.steps
            .iter()
            .all(|s| s.external || handlers.resolve(&t.namespace, &s.handler).is_some()))
    }

    /// JSON Schema task contexts must satisfy.
    async fn context_schema(&self) -> Option<Json<&Value>> {
        self.stored.template.context_schema.as_ref().map(Json)
    }

    /// Priority of its tasks unless createTask names one (null: 2).
    async fn priority(&self) -> Option<i32> {
        self.stored.template.priority.map(|p| i32::from(p.get()))
    }

    /// At most `limit` of its tasks of one key run at once.
    async fn concurrency(&self) -> Option<ConcurrencyLimit> {
        self.stored
            .template
            .concurrency
            .as_ref()
            .map(ConcurrencyLimit::of)
    }

    /// The steps in declaration order.
    async fn step_templates(&self) -> Vec<StepTemplateInfo<'_>> {
        self.stored.template.steps.iter().map(StepTemplateInfo).collect()
    }

    /// The template as stored (normalized: defaults filled in), in YAML.
    async fn source(&self) -> GqlResult<String> {
        serde_yaml::to_string(&*self.stored.template)
            .map_err(|e| async_graphql::Error::new(format!("template cannot be shown as YAML: {e}")).into())
    }

    /// The step graph.
    async fn dependency_graph(&self, ctx: &Context<'_>) -> GqlResult<DependencyGraph> {
        let t = &self.stored.template;
        let observed = self.group.observed(ctx, &t.namespace, &t.name).await?;
        Ok(DependencyGraph(
            tasker(ctx)?.template_graph(&self.stored, &observed)?,
        ))
    }

    /// Last registration (or replacement).
    async fn updated_at(&self) -> DateTime<Utc> {
        self.stored.updated_at
    }
}

/// One step of a template.
pub struct StepTemplateInfo<'a>(pub &'a StepTemplate);

/// One step of a task template.
#[Object(name = "StepTemplate")]
impl StepTemplateInfo<'_> {
    /// Name, unique within the template.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Handler name.
    async fn handler(&self) -> &str {
        &self.0.handler
    }

    /// Run by external workers.
    async fn external(&self) -> bool {
        self.0.external
    }

    /// Parent step names.
    async fn depends_on(&self) -> &[String] {
        &self.0.depends_on
    }

    /// Whether failures may be retried.
    async fn retryable(&self) -> bool {
        self.0.retryable
    }

    /// Attempts per budget (the template's, else the server default).
    async fn max_attempts(&self, ctx: &Context<'_>) -> GqlResult<u32> {
        let defaults = &tasker(ctx)?.settings().retry_defaults;
        Ok(self.0.retry.resolve(defaults, self.0.retryable).max_attempts)
    }

    /// May be bypassed at task creation.
    async fn skippable(&self) -> bool {
        self.0.skippable
    }

    /// Per-attempt timeout (null: the server default).
    async fn timeout_ms(&self) -> Option<u64> {
        self.0.timeout_ms
    }

    /// Handed to the handler.
    async fn config(&self) -> Json<&Value> {
        Json(&self.0.config)
    }

    /// At most `limit` runs of this step of one key (across tasks) at once.
    async fn concurrency(&self) -> Option<ConcurrencyLimit> {
        self.0.concurrency.as_ref().map(ConcurrencyLimit::of)
    }

    /// At most `limit` starts of this step of one key (across tasks) in any
    /// window of `per`.
    async fn rate_limit(&self) -> Option<RateLimit> {
        self.0.rate_limit.as_ref().map(RateLimit::of)
    }

    /// What the step does: call its handler, sleep, or wait for approval.
    async fn kind(&self) -> super::enums::StepKindGql {
        self.0.program.kind().into()
    }

    /// Its `when` condition (CEL over `context` and `parents`), if any.
    async fn condition(&self) -> Option<&str> {
        self.0.program.when.as_deref()
    }

    /// The sleep's length in milliseconds, for a sleep of fixed length.
    async fn sleep_ms(&self) -> Option<u64> {
        self.0.program.sleep.as_ref().and_then(|s| s.ms)
    }

    /// The expression giving the sleep's end, for a sleep until a time.
    async fn sleep_until(&self) -> Option<&str> {
        self.0.program.sleep.as_ref().and_then(|s| s.until.as_deref())
    }

    /// How long an approval waits for a decision (null: for ever, or not an
    /// approval).
    async fn approval_timeout_ms(&self) -> Option<u64> {
        self.0.program.approval.as_ref().and_then(|a| a.timeout_ms)
    }
}

/// A rate limit of a step or handler.
#[derive(SimpleObject)]
pub struct RateLimit {
    /// CEL expression over `context` naming the key (null: one key).
    pub key: Option<String>,
    /// Starts of one key allowed in any window.
    pub limit: u32,
    /// The window, as written (`1s`, `30s`, `1m`, `1h`).
    pub per: String,
}

impl RateLimit {
    pub(crate) fn of(spec: &RateLimitSpec) -> Self {
        Self {
            key: spec.key.clone(),
            limit: spec.limit,
            per: spec.per.to_string(),
        }
    }
}

/// A concurrency limit of a template or step.
#[derive(SimpleObject)]
pub struct ConcurrencyLimit {
    /// CEL expression over `context` naming the group (null: one group).
    pub key: Option<String>,
    /// Runs of one group at once.
    pub limit: u32,
    /// What a run finding its group full does: `queue`, `cancel_in_progress`
    /// or `cancel_newest`.
    pub strategy: String,
}

impl ConcurrencyLimit {
    fn of(spec: &ConcurrencySpec) -> Self {
        Self {
            key: spec.key.clone(),
            limit: spec.limit,
            strategy: spec.strategy.as_str().to_owned(),
        }
    }
}

/// A step handler known to this server.
#[derive(SimpleObject)]
pub struct StepHandlerInfo {
    /// Name steps refer to.
    pub name: String,
    /// Set for handlers registered for one namespace only.
    pub namespace: Option<String>,
    /// Origin.
    pub kind: HandlerKindGql,
    /// Its rate limit from the configuration (`handlers.<name>.rate_limit`),
    /// shared by every step that uses it.
    pub rate_limit: Option<RateLimit>,
    /// Most of its steps running at once on all replicas together
    /// (`handlers.<name>.max_concurrency`).
    pub max_concurrency: Option<u32>,
    /// Most of its steps running at once on one replica or under one worker
    /// id (`handlers.<name>.max_concurrency_per_replica`).
    pub max_concurrency_per_replica: Option<u32>,
}

//! The query root.

use std::collections::BTreeSet;

use async_graphql::connection::{Connection, CursorType, Edge, EmptyFields};
use async_graphql::{Context, ID, Object};

use super::error::{GqlResult, bad_input};
use super::guard::{require, require_somewhere};
use super::types::{
    DependencyGraph, EventDescription, Handler, HandlerKindGql, MetricsCacheStatus, MetricsExport,
    MetricsFormat, MetricsScopeGql, Namespace, RateLimit, RegistryGql, RegistryMatch, Step, StepHandlerInfo,
    Task, TaskCursor, TaskFilter, TaskTotals, loaders, parse_id, tasker,
};
use crate::auth::Scope;
use crate::auth::permission::{
    EVENT_READ, HANDLER_READ, METRICS_READ, REGISTRY_READ, TASK_READ, TEMPLATE_READ,
};
use crate::events::{EventName, selected};
use crate::handlers::HandlerKind;
use crate::store::{MAX_SEARCH_CHARS, Page, TaskQuery};

/// Largest page `tasks` returns.
pub const MAX_PAGE: i32 = crate::service::MAX_PAGE_SIZE as i32;
/// Page size when neither `first` nor `last` is given.
pub const DEFAULT_PAGE: i32 = 20;

/// Read access to templates, tasks and steps.
#[derive(Default)]
pub struct CoreQuery;

type TaskConnection = Connection<TaskCursor, Task, TaskTotals, EmptyFields>;

fn page_size(value: Option<i32>, field: &str) -> GqlResult<Option<u64>> {
    match value {
        None => Ok(None),
        Some(n) if (0..=MAX_PAGE).contains(&n) => Ok(Some(n as u64)),
        Some(n) => Err(bad_input(field, format!("must be between 0 and {MAX_PAGE}, got {n}")).into()),
    }
}

fn cursor(value: Option<String>, field: &str) -> GqlResult<Option<uuid::Uuid>> {
    value
        .map(|c| {
            TaskCursor::decode_cursor(&c)
                .map(|c| c.0)
                .map_err(|e| bad_input(field, e).into())
        })
        .transpose()
}

/// Read access to namespaces, templates, handlers, tasks and steps.
#[Object]
impl CoreQuery {
    /// Every namespace with its number of templates.
    async fn namespaces(&self, ctx: &Context<'_>) -> GqlResult<Vec<Namespace>> {
        let scope = require_somewhere(ctx, TEMPLATE_READ)?;
        let found = tasker(ctx)?.list_namespaces().await?;
        Ok(found
            .into_iter()
            .filter(|(name, _)| scope.contains(name))
            .map(|(name, task_template_count)| Namespace {
                name,
                task_template_count,
            })
            .collect())
    }

    /// Task templates (every version), optionally of one namespace.
    async fn handlers(&self, ctx: &Context<'_>, namespace: Option<String>) -> GqlResult<Vec<Handler>> {
        let scope = require_somewhere(ctx, TEMPLATE_READ)?;
        let mut found = tasker(ctx)?.list_templates(namespace.as_deref()).await?;
        found.retain(|t| scope.contains(&t.template.namespace));
        Ok(Handler::list(found))
    }

    /// One task template; without a version, the highest semver.
    async fn handler(
        &self,
        ctx: &Context<'_>,
        namespace: String,
        name: String,
        version: Option<String>,
    ) -> GqlResult<Option<Handler>> {
        require(ctx, TEMPLATE_READ, Some(&namespace))?;
        Ok(tasker(ctx)?
            .find_template(&namespace, &name, version.as_deref())
            .await?
            .map(Handler::one))
    }

    /// Step handlers: built-in and registered Rust handlers, and the external
    /// handler names templates use.
    async fn step_handlers(&self, ctx: &Context<'_>) -> GqlResult<Vec<StepHandlerInfo>> {
        let scope = require_somewhere(ctx, HANDLER_READ)?;
        let tasker = tasker(ctx)?;
        let mut found: Vec<StepHandlerInfo> = tasker
            .handlers()
            .list()
            .into_iter()
            .map(|h| StepHandlerInfo {
                name: h.name,
                namespace: h.namespace,
                kind: match h.kind {
                    HandlerKind::Builtin => HandlerKindGql::Builtin,
                    HandlerKind::Rust => HandlerKindGql::Rust,
                },
                rate_limit: None,
                max_concurrency: None,
                max_concurrency_per_replica: None,
            })
            .collect();
        let external: BTreeSet<(String, String)> = tasker
            .list_templates(None)
            .await?
            .into_iter()
            .flat_map(|t| {
                let ns = &t.template.namespace;
                t.template
                    .steps
                    .iter()
                    .filter(|s| s.external)
                    .map(|s| (ns.clone(), s.handler.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        found.extend(external.into_iter().map(|(namespace, name)| StepHandlerInfo {
            name,
            namespace: Some(namespace),
            kind: HandlerKindGql::External,
            rate_limit: None,
            max_concurrency: None,
            max_concurrency_per_replica: None,
        }));
        found.retain(|h| h.namespace.as_deref().is_none_or(|ns| scope.contains(ns)));
        let settings = tasker.settings();
        for handler in &mut found {
            handler.rate_limit = settings.handler_rates.get(&handler.name).map(RateLimit::of);
            let limits = settings
                .handler_concurrency
                .get(&handler.name)
                .copied()
                .unwrap_or_default();
            handler.max_concurrency = limits.cluster;
            handler.max_concurrency_per_replica = limits.per_replica;
        }
        Ok(found)
    }

    /// One task (null when unknown).
    async fn task(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Task>> {
        require_somewhere(ctx, TASK_READ)?;
        let id = parse_id(&id, "id")?;
        let task = loaders(ctx)?.task.load_one(id).await?;
        if let Some(task) = &task {
            require(ctx, TASK_READ, Some(&task.namespace))?;
        }
        Ok(task.map(Task::one))
    }

    /// Tasks, newest first, with cursor pagination (`first`/`after` or
    /// `last`/`before`, at most 500 per page).
    #[graphql(complexity = "first.or(last).unwrap_or(DEFAULT_PAGE).max(1) as usize * child_complexity")]
    async fn tasks(
        &self,
        ctx: &Context<'_>,
        filter: Option<TaskFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<TaskConnection> {
        let (first, last) = (page_size(first, "first")?, page_size(last, "last")?);
        let (after, before) = (cursor(after, "after")?, cursor(before, "before")?);
        let page = match (first, last) {
            (Some(_), Some(_)) => return Err(bad_input("last", "give either first or last, not both").into()),
            (None, Some(last)) => Page::Backward { last, before },
            (first, None) => {
                if before.is_some() {
                    return Err(bad_input("before", "use before with last").into());
                }
                Page::Forward {
                    first: first.unwrap_or(DEFAULT_PAGE as u64),
                    after,
                }
            }
        };
        let mut query: TaskQuery = filter.unwrap_or_default().into();
        if query
            .search
            .as_ref()
            .is_some_and(|t| t.chars().count() > MAX_SEARCH_CHARS)
        {
            return Err(bad_input("filter.search", format!("at most {MAX_SEARCH_CHARS} characters")).into());
        }
        if let Scope::Namespaces(allowed) = require_somewhere(ctx, TASK_READ)? {
            query.within_namespaces = Some(allowed);
        }
        let found = tasker(ctx)?.list_tasks(&query, page).await?;
        let mut connection =
            Connection::with_additional_fields(found.has_previous, found.has_next, TaskTotals { query });
        connection.edges.extend(
            Task::list(found.tasks)
                .into_iter()
                .map(|t| Edge::new(TaskCursor(t.uuid()), t)),
        );
        Ok(connection)
    }

    /// One step (null when unknown).
    async fn step(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Step>> {
        require_somewhere(ctx, TASK_READ)?;
        let id = parse_id(&id, "id")?;
        let loaders = loaders(ctx)?;
        let Some(step) = loaders.step.load_one(id).await? else {
            return Ok(None);
        };
        if let Some(task) = loaders.task.load_one(step.task_id).await? {
            require(ctx, TASK_READ, Some(&task.namespace))?;
        }
        Ok(Some(Step::one(step)))
    }

    /// A task's step graph with statuses (null when the task is unknown).
    async fn dependency_graph(&self, ctx: &Context<'_>, task_id: ID) -> GqlResult<Option<DependencyGraph>> {
        require_somewhere(ctx, TASK_READ)?;
        let id = parse_id(&task_id, "taskId")?;
        let Some(task) = loaders(ctx)?.task.load_one(id).await? else {
            return Ok(None);
        };
        require(ctx, TASK_READ, Some(&task.namespace))?;
        let group = crate::graphql::groups::TaskGroup::of(std::slice::from_ref(&task));
        Ok(Some(DependencyGraph::of_task(ctx, &group, &task).await?))
    }

    /// Every event Tasker publishes, with what it means and its payload's
    /// keys; `names` filters by catalog names or prefixes ending in `*`.
    async fn event_catalog(
        &self,
        ctx: &Context<'_>,
        names: Option<Vec<String>>,
    ) -> GqlResult<Vec<EventDescription>> {
        require_somewhere(ctx, EVENT_READ)?;
        let patterns = names.unwrap_or_default();
        Ok(EventName::ALL
            .iter()
            .filter(|e| selected(&patterns, e.as_str()))
            .map(|e| EventDescription::from(*e))
            .collect())
    }

    /// The metrics, this replica's (`LOCAL`) or every replica's added up
    /// (`CLUSTER`, through the metrics cache), rendered in `format`, or by the
    /// exporter plugin called `exporter` when given.
    async fn metrics(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "MetricsScopeGql::Local")] scope: MetricsScopeGql,
        #[graphql(default_with = "MetricsFormat::Prometheus")] format: MetricsFormat,
        exporter: Option<String>,
    ) -> GqlResult<MetricsExport> {
        require(ctx, METRICS_READ, None)?;
        let exporter = exporter.unwrap_or_else(|| format.exporter().to_owned());
        if exporter.len() > 128 {
            return Err(bad_input("exporter", "at most 128 characters").into());
        }
        let (content_type, body) = tasker(ctx)?.export_metrics(scope.into(), &exporter).await?;
        Ok(MetricsExport {
            scope,
            exporter,
            content_type: content_type.to_owned(),
            body,
        })
    }

    /// How this replica shares its metrics with the others: the strategy, what
    /// Redis offers, how syncing goes.
    async fn metrics_cache(&self, ctx: &Context<'_>) -> GqlResult<MetricsCacheStatus> {
        require(ctx, METRICS_READ, None)?;
        Ok(tasker(ctx)?.metrics_cache().status().into())
    }

    /// This replica's registries (handlers, event subscribers, exporters)
    /// with their counters and health.
    async fn registries(&self, ctx: &Context<'_>) -> GqlResult<Vec<RegistryGql>> {
        require(ctx, REGISTRY_READ, None)?;
        Ok(tasker(ctx)?.registries().into_iter().map(Into::into).collect())
    }

    /// Entries of every registry whose name matches `query`: `*` matches any
    /// run of characters, a query without `*` matches names containing it;
    /// case-insensitive.
    async fn search_registries(&self, ctx: &Context<'_>, query: String) -> GqlResult<Vec<RegistryMatch>> {
        require(ctx, REGISTRY_READ, None)?;
        if query.len() > 256 {
            return Err(bad_input("query", "at most 256 characters").into());
        }
        let found = tasker(ctx)?.search_registries(&query);
        Ok(found.into_iter().map(Into::into).collect())
    }
}

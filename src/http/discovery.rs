//! REST handler discovery: `GET /handlers`, `/handlers/{namespace}`,
//! `/handlers/{namespace}/{name}`; `?include_dependencies=true` adds each
//! template's analysed dependency graph. Errors are `{code, message}`.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::rest::{Answer, Params, Problem};
use crate::auth::Access;
use crate::auth::permission::HANDLER_READ;
use crate::domain::analysis::GraphAnalysis;
use crate::service::Tasker;
use crate::store::StoredTemplate;

/// Query parameters of the listing routes.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListingParams {
    /// Add each template's dependency graph.
    #[serde(default)]
    include_dependencies: bool,
}

/// Query parameters of `/handlers/{namespace}/{name}`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HandlerParams {
    /// Add the template's dependency graph.
    #[serde(default)]
    include_dependencies: bool,
    /// This version instead of the highest.
    #[serde(default, deserialize_with = "super::rest::empty_as_none")]
    version: Option<String>,
}

/// A step of a template.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepDescription {
    /// Name, unique within the template.
    name: String,
    /// The handler that runs it.
    handler: String,
    /// Run by an external worker.
    external: bool,
    /// The steps it waits for.
    depends_on: Vec<String>,
    /// Whether failures are retried.
    retryable: bool,
    /// Attempts allowed (the template's or the configured default).
    max_attempts: u32,
    /// Whether it may be bypassed.
    skippable: bool,
    /// Per-attempt timeout.
    timeout_ms: Option<u64>,
    /// Its handler's configuration.
    #[schema(value_type = Object)]
    config: Value,
}

/// A registered template (a "task handler"), as discovery describes it.
#[derive(Debug, Serialize, ToSchema)]
pub struct HandlerDescription {
    /// Namespace.
    namespace: String,
    /// Name.
    name: String,
    /// Version (semver).
    version: String,
    /// `namespace/name@version`.
    full_name: String,
    /// What it does.
    description: Option<String>,
    /// Every step's handler is registered here (or external).
    available: bool,
    /// The JSON Schema its tasks' context must satisfy.
    #[schema(value_type = Option<Object>)]
    context_schema: Option<Value>,
    /// Its steps, in declaration order.
    step_templates: Vec<StepDescription>,
    /// Levels, critical path and estimates, with `include_dependencies=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    dependency_graph: Option<GraphAnalysis>,
}

/// The templates of one namespace, or of all.
#[derive(Debug, Serialize, ToSchema)]
pub struct HandlerListing {
    /// The namespace, for `/handlers/{namespace}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
    /// The templates.
    handlers: Vec<HandlerDescription>,
}

/// A template as discovery describes it.
pub(super) fn describe(
    tasker: &Tasker,
    t: &StoredTemplate,
    dependency_graph: Option<GraphAnalysis>,
) -> HandlerDescription {
    let template = &t.template;
    let defaults = &tasker.settings().retry_defaults;
    let handlers = tasker.handlers();
    HandlerDescription {
        namespace: template.namespace.clone(),
        name: template.name.clone(),
        version: template.version.to_string(),
        full_name: template.full_name(),
        description: template.description.clone(),
        available: template
            .steps
            .iter()
            .all(|s| s.external || handlers.resolve(&template.namespace, &s.handler).is_some()),
        context_schema: template.context_schema.clone(),
        step_templates: template
            .steps
            .iter()
            .map(|s| StepDescription {
                name: s.name.clone(),
                handler: s.handler.clone(),
                external: s.external,
                depends_on: s.depends_on.clone(),
                retryable: s.retryable,
                max_attempts: s.retry.resolve(defaults, s.retryable).max_attempts,
                skippable: s.skippable,
                timeout_ms: s.timeout_ms,
                config: s.config.clone(),
            })
            .collect(),
        dependency_graph,
    }
}

/// Each template described, with its graph when asked (observed estimates
/// of all of them read in one statement).
async fn describe_all(
    tasker: &Tasker,
    templates: &[StoredTemplate],
    graph: bool,
) -> Answer<Vec<HandlerDescription>> {
    let mut graphs = if graph {
        tasker
            .template_graphs(templates)
            .await?
            .into_iter()
            .map(Some)
            .collect()
    } else {
        vec![None; templates.len()]
    };
    Ok(templates
        .iter()
        .zip(graphs.drain(..))
        .map(|(t, g)| describe(tasker, t, g))
        .collect())
}

/// The templates of every namespace the caller may read.
#[utoipa::path(get, path = "/handlers", operation_id = "listHandlers", tag = "handlers", params(ListingParams),
    responses(
        (status = 200, description = "Every readable template", body = HandlerListing),
        (status = 400, description = "A parameter is malformed", body = Problem),
        (status = 401, description = "No valid credentials", body = Problem),
        (status = 403, description = "Lacks `tasker.handler:read` everywhere", body = Problem),
        (status = 503, description = "Storage unavailable; retry", body = Problem),
    ))]
pub async fn all(
    State(state): State<AppState>,
    access: Access,
    Params(params): Params<ListingParams>,
) -> Answer<Json<HandlerListing>> {
    let scope = access.scope_somewhere(HANDLER_READ)?;
    let mut templates = state.tasker.list_templates(None).await?;
    templates.retain(|t| scope.contains(&t.template.namespace));
    let handlers = describe_all(&state.tasker, &templates, params.include_dependencies).await?;
    Ok(Json(HandlerListing {
        namespace: None,
        handlers,
    }))
}

/// The templates of one namespace.
#[utoipa::path(get, path = "/handlers/{namespace}", operation_id = "listNamespaceHandlers", tag = "handlers",
    params(("namespace" = String, Path, description = "The namespace"), ListingParams),
    responses(
        (status = 200, description = "The namespace's templates", body = HandlerListing),
        (status = 400, description = "A parameter is malformed", body = Problem),
        (status = 401, description = "No valid credentials", body = Problem),
        (status = 403, description = "Lacks `tasker.handler:read` in the namespace", body = Problem),
        (status = 404, description = "No such namespace", body = Problem),
        (status = 503, description = "Storage unavailable; retry", body = Problem),
    ))]
pub async fn in_namespace(
    State(state): State<AppState>,
    access: Access,
    Path(namespace): Path<String>,
    Params(params): Params<ListingParams>,
) -> Answer<Json<HandlerListing>> {
    access.require(HANDLER_READ, Some(&namespace))?;
    let namespaces = state.tasker.list_namespaces().await?;
    if !namespaces.iter().any(|(name, _)| name == &namespace) {
        return Err(Problem::not_found(format!("namespace {namespace} not found")));
    }
    let templates = state.tasker.list_templates(Some(&namespace)).await?;
    let handlers = describe_all(&state.tasker, &templates, params.include_dependencies).await?;
    Ok(Json(HandlerListing {
        namespace: Some(namespace),
        handlers,
    }))
}

/// One template (the highest version unless `version` says otherwise).
#[utoipa::path(get, path = "/handlers/{namespace}/{name}", operation_id = "getHandler", tag = "handlers",
    params(
        ("namespace" = String, Path, description = "The namespace"),
        ("name" = String, Path, description = "The template's name"),
        HandlerParams,
    ),
    responses(
        (status = 200, description = "The template", body = HandlerDescription),
        (status = 400, description = "A parameter is malformed", body = Problem),
        (status = 401, description = "No valid credentials", body = Problem),
        (status = 403, description = "Lacks `tasker.handler:read` in the namespace", body = Problem),
        (status = 404, description = "No such template (or version)", body = Problem),
        (status = 503, description = "Storage unavailable; retry", body = Problem),
    ))]
pub async fn one(
    State(state): State<AppState>,
    access: Access,
    Path((namespace, name)): Path<(String, String)>,
    Params(params): Params<HandlerParams>,
) -> Answer<Json<HandlerDescription>> {
    access.require(HANDLER_READ, Some(&namespace))?;
    let found = state
        .tasker
        .find_template(&namespace, &name, params.version.as_deref())
        .await?;
    let Some(template) = found else {
        let version = params.version.map(|v| format!("@{v}")).unwrap_or_default();
        return Err(Problem::not_found(format!(
            "handler {namespace}/{name}{version} not found"
        )));
    };
    let mut described = describe_all(
        &state.tasker,
        std::slice::from_ref(&template),
        params.include_dependencies,
    )
    .await?;
    described
        .pop()
        .map(Json)
        .ok_or_else(|| Problem::not_found(format!("handler {namespace}/{name} not found")))
}

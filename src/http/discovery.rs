//! REST handler discovery: `GET /handlers`, `/handlers/{namespace}`,
//! `/handlers/{namespace}/{name}`; `?include_dependencies=true` adds each
//! template's analysed dependency graph. Errors are `{code, message}`.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::AppState;
use super::auth::refusal;
use crate::auth::Access;
use crate::auth::permission::HANDLER_READ;
use crate::domain::analysis::GraphAnalysis;
use crate::service::{self, Tasker};
use crate::store::StoredTemplate;

/// Query parameters of the discovery routes.
#[derive(Debug, Deserialize)]
pub struct Params {
    /// Add each template's dependency graph.
    #[serde(default)]
    include_dependencies: bool,
    /// With `/handlers/{namespace}/{name}`: this version instead of the highest.
    version: Option<String>,
}

#[derive(Serialize)]
struct StepJson<'a> {
    name: &'a str,
    handler: &'a str,
    external: bool,
    depends_on: &'a [String],
    retryable: bool,
    max_attempts: u32,
    skippable: bool,
    timeout_ms: Option<u64>,
    config: &'a Value,
}

#[derive(Serialize)]
struct HandlerJson<'a> {
    namespace: &'a str,
    name: &'a str,
    version: String,
    full_name: String,
    description: Option<&'a str>,
    available: bool,
    context_schema: Option<&'a Value>,
    step_templates: Vec<StepJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dependency_graph: Option<GraphAnalysis>,
}

#[derive(Serialize)]
struct ListingJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'a str>,
    handlers: Vec<HandlerJson<'a>>,
}

/// A discovery failure, answered as `{code, message}` with its status.
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn not_found(message: String) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"code": self.code, "message": self.message})),
        )
            .into_response()
    }
}

impl From<service::Error> for ApiError {
    fn from(err: service::Error) -> Self {
        match err {
            service::Error::NotFound { .. } => Self::not_found(err.to_string()),
            service::Error::Unavailable(_) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                "storage is busy or unreachable; retry later",
            ),
            other => {
                let reference = uuid::Uuid::new_v4().simple().to_string();
                tracing::error!(reference = %reference, error = %other, "internal error in handler discovery");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "INTERNAL",
                    format!("internal error (reference {reference})"),
                )
            }
        }
    }
}

fn params(query: Result<Query<Params>, QueryRejection>) -> Result<Params, ApiError> {
    query
        .map(|Query(p)| p)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "BAD_USER_INPUT", e.body_text()))
}

fn describe<'a>(
    tasker: &Tasker,
    t: &'a StoredTemplate,
    dependency_graph: Option<GraphAnalysis>,
) -> HandlerJson<'a> {
    let template = &t.template;
    let defaults = &tasker.settings().retry_defaults;
    let handlers = tasker.handlers();
    HandlerJson {
        namespace: &template.namespace,
        name: &template.name,
        version: template.version.to_string(),
        full_name: template.full_name(),
        description: template.description.as_deref(),
        available: template
            .steps
            .iter()
            .all(|s| s.external || handlers.resolve(&template.namespace, &s.handler).is_some()),
        context_schema: template.context_schema.as_ref(),
        step_templates: template
            .steps
            .iter()
            .map(|s| StepJson {
                name: &s.name,
                handler: &s.handler,
                external: s.external,
                depends_on: &s.depends_on,
                retryable: s.retryable,
                max_attempts: s.retry.resolve(defaults, s.retryable).max_attempts,
                skippable: s.skippable,
                timeout_ms: s.timeout_ms,
                config: &s.config,
            })
            .collect(),
        dependency_graph,
    }
}

/// Each template described, with its graph when asked (observed estimates
/// of all of them read in one statement).
async fn describe_all<'a>(
    tasker: &Tasker,
    templates: &'a [StoredTemplate],
    graph: bool,
) -> Result<Vec<HandlerJson<'a>>, ApiError> {
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

/// `GET /handlers`: the templates of every namespace the caller may read.
pub async fn all(
    State(state): State<AppState>,
    access: Access,
    query: Result<Query<Params>, QueryRejection>,
) -> Result<Response, ApiError> {
    let scope = match access.scope_somewhere(HANDLER_READ) {
        Ok(scope) => scope,
        Err(denied) => return Ok(refusal(&denied)),
    };
    let params = params(query)?;
    let mut templates = state.tasker.list_templates(None).await?;
    templates.retain(|t| scope.contains(&t.template.namespace));
    let handlers = describe_all(&state.tasker, &templates, params.include_dependencies).await?;
    Ok(Json(ListingJson {
        namespace: None,
        handlers,
    })
    .into_response())
}

/// `GET /handlers/{namespace}`
pub async fn in_namespace(
    State(state): State<AppState>,
    access: Access,
    Path(namespace): Path<String>,
    query: Result<Query<Params>, QueryRejection>,
) -> Result<Response, ApiError> {
    if let Err(denied) = access.require(HANDLER_READ, Some(&namespace)) {
        return Ok(refusal(&denied));
    }
    let params = params(query)?;
    let namespaces = state.tasker.list_namespaces().await?;
    if !namespaces.iter().any(|(name, _)| name == &namespace) {
        return Err(ApiError::not_found(format!("namespace {namespace} not found")));
    }
    let templates = state.tasker.list_templates(Some(&namespace)).await?;
    let handlers = describe_all(&state.tasker, &templates, params.include_dependencies).await?;
    Ok(Json(ListingJson {
        namespace: Some(&namespace),
        handlers,
    })
    .into_response())
}

/// `GET /handlers/{namespace}/{name}` (highest version unless `?version=`).
pub async fn one(
    State(state): State<AppState>,
    access: Access,
    Path((namespace, name)): Path<(String, String)>,
    query: Result<Query<Params>, QueryRejection>,
) -> Result<Response, ApiError> {
    if let Err(denied) = access.require(HANDLER_READ, Some(&namespace)) {
        return Ok(refusal(&denied));
    }
    let params = params(query)?;
    let found = state
        .tasker
        .find_template(&namespace, &name, params.version.as_deref())
        .await?;
    let Some(template) = found else {
        let version = params.version.map(|v| format!("@{v}")).unwrap_or_default();
        return Err(ApiError::not_found(format!(
            "handler {namespace}/{name}{version} not found"
        )));
    };
    let mut described = describe_all(
        &state.tasker,
        std::slice::from_ref(&template),
        params.include_dependencies,
    )
    .await?;
    Ok(Json(described.pop()).into_response())
}

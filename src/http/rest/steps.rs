//! `/steps/{id}`: read one step, retry it, resolve it by hand.

use axum::Json;
use axum::extract::{Path, State};

use super::body::{OptionalBody, parse_id};
use super::guard::{on_step, on_task};
use super::model::{Resolve, Step};
use super::problem::{Answer, Problem};
use crate::auth::Access;
use crate::auth::permission::{STEP_RESOLVE, STEP_RETRY, TASK_READ};
use crate::http::AppState;
use crate::service::{StepView, Tasker};

/// A step as JSON with its results.
async fn step_json(tasker: &Tasker, step: StepView) -> Answer<Step> {
    let results = tasker.step_results(&[step.id]).await?.remove(&step.id);
    Ok(Step::of(step, results))
}

/// One step.
#[utoipa::path(get, path = "/steps/{id}", operation_id = "getStep", tag = "steps",
    params(("id" = uuid::Uuid, Path, description = "The step's id")),
    responses(
        (status = 200, description = "The step", body = Step),
        (status = 400, description = "Malformed id", body = Problem),
        (status = 401, description = "No valid credentials", body = Problem),
        (status = 403, description = "Lacks `tasker.task:read` in its task's namespace", body = Problem),
        (status = 404, description = "No such step", body = Problem),
        (status = 503, description = "Storage unavailable; retry", body = Problem),
    ))]
pub async fn get(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<String>,
) -> Answer<Json<Step>> {
    let id = parse_id(&id, "id")?;
    // Refused before the lookup, so ids reveal nothing; the step is read once.
    access.scope_somewhere(TASK_READ)?;
    let step = state
        .tasker
        .step(id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("step {id} not found")))?;
    on_task(&state.tasker, &access, TASK_READ, step.task_id).await?;
    Ok(Json(step_json(&state.tasker, step).await?))
}

/// Give a failed step a fresh budget of attempts.
#[utoipa::path(post, path = "/steps/{id}/retry", operation_id = "retryStep", tag = "steps",
    params(("id" = uuid::Uuid, Path, description = "The step's id")),
    responses(
        (status = 200, description = "The step, waiting to run again", body = Step),
        (status = 400, description = "Malformed id", body = Problem),
        (status = 401, description = "No valid credentials", body = Problem),
        (status = 403, description = "Lacks `tasker.step:retry` in its task's namespace", body = Problem),
        (status = 404, description = "No such step", body = Problem),
        (status = 409, description = "The step is not in ERROR (INVALID_TRANSITION)", body = Problem),
        (status = 503, description = "Storage unavailable; retry", body = Problem),
    ))]
pub async fn retry(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<String>,
) -> Answer<Json<Step>> {
    let id = parse_id(&id, "id")?;
    on_step(&state.tasker, &access, STEP_RETRY, id).await?;
    let step = state.tasker.retry_step(id).await?;
    Ok(Json(step_json(&state.tasker, step).await?))
}

/// Resolve a step by hand; its children may then run.
#[utoipa::path(post, path = "/steps/{id}/resolve", operation_id = "resolveStep", tag = "steps",
    params(("id" = uuid::Uuid, Path, description = "The step's id")),
    request_body(content = Option<Resolve>, description = "Optional"),
    responses(
        (status = 200, description = "The step, RESOLVED_MANUALLY", body = Step),
        (status = 400, description = "Malformed id or body", body = Problem),
        (status = 401, description = "No valid credentials", body = Problem),
        (status = 403, description = "Lacks `tasker.step:resolve` in its task's namespace", body = Problem),
        (status = 404, description = "No such step", body = Problem),
        (status = 409, description = "The step has finished (INVALID_TRANSITION)", body = Problem),
        (status = 413, description = "Results too large", body = Problem),
        (status = 415, description = "Not `application/json`", body = Problem),
        (status = 422, description = "Wrong shape", body = Problem),
        (status = 503, description = "Storage unavailable; retry", body = Problem),
    ))]
pub async fn resolve(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<String>,
    OptionalBody(body): OptionalBody<Resolve>,
) -> Answer<Json<Step>> {
    let id = parse_id(&id, "id")?;
    on_step(&state.tasker, &access, STEP_RESOLVE, id).await?;
    let step = state.tasker.resolve_step(id, body.results, body.reason).await?;
    Ok(Json(step_json(&state.tasker, step).await?))
}

//! `/tasks`: create (idempotent with `Idempotency-Key`), list with filters
//! and cursor pages, read one, cancel, retry, and a task's steps.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::body::{JsonBody, OptionalBody, Params, parse_id};
use super::guard::on_task;
use super::model::{Cancel, CreateTask, Step, StepList, Task, TaskFilter, TaskPage, TaskParams};
use super::problem::{Answer, Problem};
use crate::auth::permission::{TASK_CANCEL, TASK_CREATE, TASK_READ, TASK_RETRY};
use crate::auth::{Access, Scope};
use crate::domain::TaskStatus;
use crate::domain::template::DEFAULT_NAMESPACE;
use crate::http::AppState;
use crate::http::correlation::CorrelationId;
use crate::service::{self, MAX_KEY_CHARS, MAX_PAGE_SIZE, TaskView, Tasker};
use crate::store::{MAX_SEARCH_CHARS, Page, TaskQuery};

/// The header that makes creation idempotent.
const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Tasks per page unless `limit` says otherwise.
const DEFAULT_LIMIT: u32 = 50;

/// Tasks as JSON, each with its dependency graph when asked (three
/// statements for the whole page).
async fn tasks_json(tasker: &Tasker, tasks: Vec<TaskView>, graphs: bool) -> Answer<Vec<Task>> {
    let mut graphs = if graphs {
        tasker.task_graphs(&tasks).await?.into_iter().map(Some).collect()
    } else {
        vec![None; tasks.len()]
    };
    Ok(tasks
        .into_iter()
        .zip(graphs.drain(..))
        .map(|(t, graph)| Task {
            dependency_graph: graph,
            ..Task::of(t)
        })
        .collect())
}

/// Task `id` if the caller may read it: refused without the permission
/// anywhere (before the lookup, so ids reveal nothing), 404 when unknown,
/// refused outside the caller's namespaces.
async fn readable_task(tasker: &Tasker, access: &Access, id: uuid::Uuid) -> Answer<TaskView> {
    access.scope_somewhere(TASK_READ)?;
    let task = tasker
        .task(id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("task {id} not found")))?;
    access.require(TASK_READ, Some(&task.namespace))?;
    Ok(task)
}

/// Create a task from a template.
#[utoipa::path(post, path = "/tasks", operation_id = "createTask", tag = "tasks", request_body = CreateTask,
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 256,
        description = "Makes creation idempotent: the same key returns the task it created (200)")),
    responses(
        (status = 201, description = "Created", body = Task,
            headers(("Location" = String, description = "The new task's URL"))),
        (status = 200, description = "An earlier request with this idempotency key created it", body = Task,
            headers(("Idempotent-Replayed" = String, description = "`true`"))),
        (status = 400, description = "Not JSON", body = Problem),
        (status = 401, description = "No valid credentials", body = Problem),
        (status = 403, description = "Lacks `tasker.task:create` in the namespace", body = Problem),
        (status = 404, description = "No such template", body = Problem),
        (status = 409, description = "The idempotency key belongs to another template", body = Problem),
        (status = 413, description = "Body or context too large", body = Problem),
        (status = 415, description = "Not `application/json`", body = Problem),
        (status = 422, description = "Wrong shape, or the context fails the template's schema", body = Problem),
        (status = 503, description = "Storage unavailable; retry", body = Problem),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Extension(correlation): Extension<CorrelationId>,
    access: Access,
    headers: HeaderMap,
    JsonBody(input): JsonBody<CreateTask>,
) -> Answer<Response> {
    let namespace = input.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE);
    access.require(TASK_CREATE, Some(namespace))?;
    let idempotency_key = match headers.get(IDEMPOTENCY_KEY).map(HeaderValue::to_str) {
        Some(Ok(key)) if !key.is_empty() && key.len() <= MAX_KEY_CHARS => Some(key.to_owned()),
        Some(Ok(_)) => {
            return Err(Problem::bad_input(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Idempotency-Key",
                format!("must be 1 to {MAX_KEY_CHARS} characters"),
            ));
        }
        Some(Err(_)) => {
            return Err(Problem::bad_input(
                StatusCode::BAD_REQUEST,
                "Idempotency-Key",
                "is not visible ASCII",
            ));
        }
        None => None,
    };
    let created = state
        .tasker
        .create_task(service::CreateTask {
            namespace: input.namespace,
            name: input.name,
            version: input.version,
            context: input.context,
            initiator: input.initiator,
            source_system: input.source_system,
            reason: input.reason,
            tags: input.tags,
            bypass_steps: input.bypass_steps,
            idempotency_key,
            correlation_id: Some(correlation.0),
            priority: input.priority,
            run_at: input.run_at,
            delay_seconds: input.delay_seconds,
            lineage: None,
        })
        .await?;
    let location = format!("/tasks/{}", created.task.id);
    let task = Json(Task::of(created.task));
    Ok(if created.created {
        let mut response = (StatusCode::CREATED, task).into_response();
        if let Ok(value) = HeaderValue::from_str(&location) {
            response.headers_mut().insert(header::LOCATION, value);
        }
        response
    } else {
        let mut response = (StatusCode::OK, task).into_response();
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
        response
    })
}

/// Tasks the caller may read, newest first, a page at a time.
#[utoipa::path(get, path = "/tasks", operation_id = "listTasks", tag = "tasks", params(TaskFilter),
    responses(
        (status = 200, description = "A page; `next` (and `Link: rel=\"next\"`) when more follow", body = TaskPage,
            headers(("Link" = String, description = "`</tasks?…&after=…>; rel=\"next\"`"))),
        (status = 400, description = "A parameter is malformed", body = Problem),
        (status = 401, description = "No valid credentials", body = Problem),
        (status = 403, description = "Lacks `tasker.task:read` everywhere", body = Problem),
        (status = 503, description = "Storage unavailable; retry", body = Problem),
    ))]
pub async fn list(
    State(state): State<AppState>,
    access: Access,
    uri: Uri,
    Params(filter): Params<TaskFilter>,
) -> Answer<Response> {
    let scope = access.scope_somewhere(TASK_READ)?;
    let limit = filter.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_PAGE_SIZE).contains(&limit) {
        return Err(Problem::bad_input(
            StatusCode::BAD_REQUEST,
            "limit",
            format!("must be 1 to {MAX_PAGE_SIZE}"),
        ));
    }
    let after = filter
        .after
        .as_deref()
        .map(|a| parse_id(a, "after"))
        .transpose()?;
    let statuses = split(filter.status.as_deref())
        .map(|s| {
            s.parse::<TaskStatus>().map_err(|_| {
                Problem::bad_input(
                    StatusCode::BAD_REQUEST,
                    "status",
                    format!("{s:?} is not a task status"),
                )
            })
        })
        .collect::<Answer<Vec<_>>>()?;
    if filter
        .search
        .as_ref()
        .is_some_and(|t| t.chars().count() > MAX_SEARCH_CHARS)
    {
        return Err(Problem::bad_input(
            StatusCode::BAD_REQUEST,
            "search",
            format!("at most {MAX_SEARCH_CHARS} characters"),
        ));
    }
    let query = TaskQuery {
        namespace: filter.namespace,
        name: filter.name,
        version: filter.version,
        statuses,
        tags: split(filter.tag.as_deref()).map(str::to_owned).collect(),
        created_after: filter.created_after,
        created_before: filter.created_before,
        search: filter.search,
        within_namespaces: match scope {
            Scope::All => None,
            Scope::Namespaces(allowed) => Some(allowed),
        },
    };
    let page = Page::Forward {
        first: u64::from(limit),
        after,
    };
    let found = state.tasker.list_tasks(&query, page).await?;
    let next = found
        .has_next
        .then(|| found.tasks.last().map(|t| t.id.to_string()))
        .flatten();
    let tasks = tasks_json(&state.tasker, found.tasks, filter.include_dependencies).await?;
    let mut response = Json(TaskPage {
        tasks,
        next: next.clone(),
    })
    .into_response();
    if let Some(next) = next {
        let link = format!(
            "<{}>; rel=\"next\"",
            next_url(uri.query().unwrap_or_default(), &next)
        );
        if let Ok(value) = HeaderValue::from_str(&link) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    Ok(response)
}

/// Comma-separated values, blanks dropped.
fn split(text: Option<&str>) -> impl Iterator<Item = &str> {
    text.into_iter()
        .flat_map(|t| t.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// This request's path and query with `after` replaced.
fn next_url(query: &str, after: &str) -> String {
    let kept: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k != "after")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut out = form_urlencoded::Serializer::new(String::new());
    out.extend_pairs(kept);
    out.append_pair("after", after);
    format!("/tasks?{}", out.finish())
}

/// One task.
#[utoipa::path(get, path = "/tasks/{id}", operation_id = "getTask", tag = "tasks",
    params(("id" = uuid::Uuid, Path, description = "The task's id"), TaskParams),
    responses(
        (status = 200, description = "The task", body = Task),
        (status = 400, description = "A parameter is malformed", body = Problem),
        (status = 401, description = "No valid credentials", body = Problem),
        (status = 403, description = "Lacks `tasker.task:read` in its namespace", body = Problem),
        (status = 404, description = "No such task", body = Problem),
        (status = 503, description = "Storage unavailable; retry", body = Problem),
    ))]
pub async fn get(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<String>,
    Params(params): Params<TaskParams>,
) -> Answer<Json<Task>> {
    let id = parse_id(&id, "id")?;
    let task = readable_task(&state.tasker, &access, id).await?;
    let mut tasks = tasks_json(&state.tasker, vec![task], params.include_dependencies).await?;
    tasks
        .pop()
        .map(Json)
        .ok_or_else(|| Problem::not_found(format!("task {id} not found")))
}

/// Cancel a task: no new step starts and running handlers are told to stop.
#[utoipa::path(post, path = "/tasks/{id}/cancel", operation_id = "cancelTask", tag = "tasks",
    params(("id" = uuid::Uuid, Path, description = "The task's id")),
    request_body(content = Option<Cancel>, description = "Optional"),
    responses(
        (status = 200, description = "The task, CANCELLED", body = Task),
        (status = 400, description = "Malformed id or body", body = Problem),
        (status = 401, description = "No valid credentials", body = Problem),
        (status = 403, description = "Lacks `tasker.task:cancel` in its namespace", body = Problem),
        (status = 404, description = "No such task", body = Problem),
        (status = 409, description = "The task has finished (INVALID_TRANSITION)", body = Problem),
        (status = 415, description = "Not `application/json`", body = Problem),
        (status = 422, description = "Wrong shape", body = Problem),
        (status = 503, description = "Storage unavailable; retry", body = Problem),
    ))]
pub async fn cancel(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<String>,
    OptionalBody(body): OptionalBody<Cancel>,
) -> Answer<Json<Task>> {
    let id = parse_id(&id, "id")?;
    on_task(&state.tasker, &access, TASK_CANCEL, id).await?;
    Ok(Json(Task::of(state.tasker.cancel_task(id, body.reason).await?)))
}

/// Give every failed step of a failed task a fresh budget of attempts.
#[utoipa::path(post, path = "/tasks/{id}/retry", operation_id = "retryTask", tag = "tasks",
    params(("id" = uuid::Uuid, Path, description = "The task's id")),
    responses(
        (status = 200, description = "The task, running again", body = Task),
        (status = 400, description = "Malformed id", body = Problem),
        (status = 401, description = "No valid credentials", body = Problem),
        (status = 403, description = "Lacks `tasker.task:retry` in its namespace", body = Problem),
        (status = 404, description = "No such task", body = Problem),
        (status = 409, description = "The task is not in ERROR (INVALID_TRANSITION)", body = Problem),
        (status = 503, description = "Storage unavailable; retry", body = Problem),
    ))]
pub async fn retry(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<String>,
) -> Answer<Json<Task>> {
    let id = parse_id(&id, "id")?;
    on_task(&state.tasker, &access, TASK_RETRY, id).await?;
    Ok(Json(Task::of(state.tasker.retry_task(id).await?)))
}

/// A task's steps, in template order, with their results.
#[utoipa::path(get, path = "/tasks/{id}/steps", operation_id = "listTaskSteps", tag = "tasks",
    params(("id" = uuid::Uuid, Path, description = "The task's id")),
    responses(
        (status = 200, description = "The steps", body = StepList),
        (status = 400, description = "Malformed id", body = Problem),
        (status = 401, description = "No valid credentials", body = Problem),
        (status = 403, description = "Lacks `tasker.task:read` in its namespace", body = Problem),
        (status = 404, description = "No such task", body = Problem),
        (status = 503, description = "Storage unavailable; retry", body = Problem),
    ))]
pub async fn steps(
    State(state): State<AppState>,
    access: Access,
    Path(id): Path<String>,
) -> Answer<Json<StepList>> {
    let id = parse_id(&id, "id")?;
    readable_task(&state.tasker, &access, id).await?;
    let steps = state.tasker.steps_of_tasks(&[id]).await?;
    let ids: Vec<uuid::Uuid> = steps.iter().map(|s| s.id).collect();
    let mut results = state.tasker.step_results(&ids).await?;
    Ok(Json(StepList {
        steps: steps
            .into_iter()
            .map(|s| {
                let result = results.remove(&s.id);
                Step::of(s, result)
            })
            .collect(),
    }))
}

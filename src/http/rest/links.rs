//! OpenAPI links: which answer feeds which operation (a created task's id to
//! reading, cancelling and retrying it, a step's id to its routes, a
//! registered template to its discovery route). Clients and schemathesis's
//! stateful phase follow them from one call to the next.

use utoipa::openapi::OpenApi;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::HttpMethod;

/// (path, method, status, link name, target operation, [(parameter, runtime expression)]).
type LinkSpec = (
    &'static str,
    HttpMethod,
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const TASK_ID: &[(&str, &str)] = &[("id", "$response.body#/id")];
const FIRST_STEP: &[(&str, &str)] = &[("id", "$response.body#/steps/0/id")];
const HANDLER: &[(&str, &str)] = &[
    ("namespace", "$response.body#/namespace"),
    ("name", "$response.body#/name"),
];

const LINKS: &[LinkSpec] = &[
    ("/tasks", HttpMethod::Post, "201", "GetTask", "getTask", TASK_ID),
    (
        "/tasks",
        HttpMethod::Post,
        "201",
        "CancelTask",
        "cancelTask",
        TASK_ID,
    ),
    (
        "/tasks",
        HttpMethod::Post,
        "201",
        "RetryTask",
        "retryTask",
        TASK_ID,
    ),
    (
        "/tasks",
        HttpMethod::Post,
        "201",
        "ListTaskSteps",
        "listTaskSteps",
        TASK_ID,
    ),
    (
        "/tasks/{id}/steps",
        HttpMethod::Get,
        "200",
        "GetStep",
        "getStep",
        FIRST_STEP,
    ),
    (
        "/tasks/{id}/steps",
        HttpMethod::Get,
        "200",
        "RetryStep",
        "retryStep",
        FIRST_STEP,
    ),
    (
        "/tasks/{id}/steps",
        HttpMethod::Get,
        "200",
        "ResolveStep",
        "resolveStep",
        FIRST_STEP,
    ),
    (
        "/templates",
        HttpMethod::Post,
        "201",
        "GetHandler",
        "getHandler",
        HANDLER,
    ),
];

/// Add every link to `document` (a link whose response is missing is skipped:
/// the drift test would show it).
pub fn add(document: &mut OpenApi) {
    for (path, method, status, name, operation, parameters) in LINKS {
        let Some(item) = document.paths.paths.get_mut(*path) else {
            continue;
        };
        let operation_slot = match method {
            HttpMethod::Get => item.get.as_mut(),
            HttpMethod::Post => item.post.as_mut(),
            _ => None,
        };
        let Some(response) = operation_slot
            .and_then(|o| o.responses.responses.get_mut(*status))
            .and_then(|r| match r {
                utoipa::openapi::RefOr::T(response) => Some(response),
                utoipa::openapi::RefOr::Ref(_) => None,
            })
        else {
            continue;
        };
        let link = parameters
            .iter()
            .fold(
                LinkBuilder::new().operation_id(*operation),
                |link, (parameter, expression)| link.parameter(*parameter, *expression),
            )
            .build();
        response.links.insert((*name).to_owned(), link.into());
    }
}

/// The document as JSON. utoipa 5.5 writes a link's `operationId`,
/// `operationRef` and `requestBody` in snake_case (its `Link` lacks the
/// camelCase renaming its other types have), which OpenAPI tools ignore; the
/// keys are renamed here.
pub fn to_json(document: &OpenApi) -> serde_json::Value {
    let mut json = serde_json::to_value(document).unwrap_or_default();
    let responses = json["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(|item| item.as_object_mut())
        .flat_map(|item| item.values_mut())
        .filter_map(|operation| operation.get_mut("responses").and_then(|r| r.as_object_mut()))
        .flat_map(|responses| responses.values_mut());
    for response in responses {
        let links = response.get_mut("links").and_then(|l| l.as_object_mut());
        for link in links.into_iter().flat_map(|l| l.values_mut()) {
            let Some(link) = link.as_object_mut() else {
                continue;
            };
            for (wrong, right) in [
                ("operation_id", "operationId"),
                ("operation_ref", "operationRef"),
                ("request_body", "requestBody"),
            ] {
                if let Some(value) = link.remove(wrong) {
                    link.insert(right.to_owned(), value);
                }
            }
        }
    }
    json
}

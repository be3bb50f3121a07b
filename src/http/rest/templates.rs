//! `POST /templates`: register a template sent as YAML or JSON.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::body::{Params, RawBody, is_json, unsupported};
use super::model::RegisterParams;
use super::problem::{Answer, Problem};
use crate::auth::Access;
use crate::auth::permission::TEMPLATE_REGISTER;
use crate::domain::template::parse_template;
use crate::http::AppState;
use crate::http::discovery::{HandlerDescription, describe};
use crate::store::Registration;

/// The media types a template may come as.
const YAML: [&str; 4] = [
    "application/yaml",
    "application/x-yaml",
    "text/yaml",
    "text/x-yaml",
];

/// Register a template (YAML or JSON). The same content again changes
/// nothing; different content under a registered version needs `replace=true`.
#[utoipa::path(post, path = "/templates", operation_id = "registerTemplate", tag = "templates", params(RegisterParams),
    request_body(description = "The template document (see README, Templates)", content(
        (String = "application/yaml"),
        (Object = "application/json"),
    )),
    responses(
        (status = 201, description = "Registered", body = HandlerDescription,
            headers(("Location" = String, description = "Its `/handlers/{namespace}/{name}?version=` URL"))),
        (status = 200, description = "Already registered with this content, or replaced", body = HandlerDescription),
        (status = 400, description = "A parameter is malformed", body = Problem),
        (status = 401, description = "No valid credentials", body = Problem),
        (status = 403, description = "Lacks `tasker.template:register` in its namespace", body = Problem),
        (status = 409, description = "Different content under a registered version", body = Problem),
        (status = 413, description = "Too large", body = Problem),
        (status = 415, description = "Neither YAML nor JSON", body = Problem),
        (status = 422, description = "Malformed or invalid (cycle, unknown handler, …), naming each problem", body = Problem),
        (status = 503, description = "Storage unavailable; retry", body = Problem),
    ))]
pub async fn register(
    State(state): State<AppState>,
    access: Access,
    Params(params): Params<RegisterParams>,
    body: RawBody,
) -> Answer<Response> {
    if !(is_json(&body.media_type) || YAML.contains(&body.media_type.as_str())) {
        return Err(unsupported(
            &body.media_type,
            "application/yaml or application/json",
        ));
    }
    let text = std::str::from_utf8(&body.bytes)
        .map_err(|_| Problem::bad_input(StatusCode::BAD_REQUEST, "", "the body is not UTF-8 text"))?;
    // A template that does not parse is refused below, naming its problems,
    // to anyone who may register somewhere.
    match parse_template(text) {
        Ok(template) => access.require(TEMPLATE_REGISTER, Some(&template.namespace))?,
        Err(_) => drop(access.scope_somewhere(TEMPLATE_REGISTER)?),
    }
    let (stored, registration) = state.tasker.register_template(text, params.replace).await?;
    let t = &stored.template;
    let location = format!("/handlers/{}/{}?version={}", t.namespace, t.name, t.version);
    let description = Json(describe(&state.tasker, &stored, None));
    let mut response = match registration {
        Registration::Created => (StatusCode::CREATED, description).into_response(),
        Registration::Unchanged | Registration::Replaced => (StatusCode::OK, description).into_response(),
    };
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

//! The REST API beside GraphQL: the same services, permissions, error
//! codes and correlation ids, described by an OpenAPI 3.1 document generated
//! from these routes (checked in as `openapi.json`, served at
//! `/openapi.json`). Errors are `{code, message, field?}` with the HTTP
//! status of the code (see [`Problem`]).

mod body;
mod events;
mod guard;
mod links;
mod model;
mod problem;
mod steps;
mod tasks;
mod templates;

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, SecurityRequirement};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use body::{Params, empty_as_none};
pub use problem::{Answer, Problem};

use super::AppState;
use super::discovery;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tasker REST API",
        description = "Tasks, steps, templates and handler discovery over REST, beside the GraphQL API \
            (POST /graphql), from the same services. Errors are `{code, message, field?}`: `code` is the \
            GraphQL `extensions.code` of the same failure, the HTTP status follows it (BAD_USER_INPUT 400 or \
            422, UNAUTHENTICATED 401, FORBIDDEN 403, NOT_FOUND 404, CONFLICT/INVALID_TRANSITION 409, \
            PAYLOAD_TOO_LARGE 413, UNAVAILABLE 503, INTERNAL 500). Every response carries X-Correlation-ID.",
    ),
    tags(
        (name = "tasks", description = "Create, list, read, cancel and retry tasks"),
        (name = "steps", description = "Read, retry and resolve steps"),
        (name = "templates", description = "Register task templates"),
        (name = "handlers", description = "Discover registered templates and their dependency graphs"),
        (name = "events", description = "Receive events from outside for the steps waiting for them"),
    ),
    modifiers(&Credentials)
)]
struct ApiDoc;

/// Bearer tokens and API keys, both optional (authentication is off by
/// default; see the README).
struct Credentials;

impl Modify for Credentials {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
        openapi.security = Some(vec![
            SecurityRequirement::new("bearer", Vec::<String>::new()),
            SecurityRequirement::new("api_key", Vec::<String>::new()),
            SecurityRequirement::default(),
        ]);
    }
}

/// Every REST route with its description.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(tasks::create, tasks::list))
        .routes(routes!(tasks::get))
        .routes(routes!(tasks::cancel))
        .routes(routes!(tasks::retry))
        .routes(routes!(tasks::steps))
        .routes(routes!(steps::get))
        .routes(routes!(steps::retry))
        .routes(routes!(steps::resolve))
        .routes(routes!(templates::register))
        .routes(routes!(events::send))
        .routes(routes!(discovery::all))
        .routes(routes!(discovery::in_namespace))
        .routes(routes!(discovery::one))
}

/// The routes and their OpenAPI document (with its links), as JSON.
pub fn router_and_document() -> (axum::Router<AppState>, serde_json::Value) {
    let (router, mut document) = routes().split_for_parts();
    links::add(&mut document);
    (router, links::to_json(&document))
}

/// The OpenAPI document, as checked in at `openapi.json`.
pub fn openapi_json() -> String {
    let (_, document) = router_and_document();
    let mut text = serde_json::to_string_pretty(&document).unwrap_or_default();
    text.push('\n');
    text
}

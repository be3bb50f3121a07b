//! The HTTP front: GraphQL over HTTP and websocket, the task explorer at
//! `/`, the playground, the REST
//! API with its OpenAPI document and reference page (`/docs/`), handler
//! discovery, health endpoints, metrics, and the correlation id every response
//! carries.

mod auth;
mod correlation;
mod discovery;
mod docs;
mod embedded;
mod explorer;
mod graphql;
mod health;
mod playground;
mod rest;
mod status;

use std::time::Instant;

use axum::Router;
use axum::routing::{get, post};

pub use correlation::{CorrelationId, HEADER as CORRELATION_HEADER};
pub use rest::openapi_json;

use crate::graphql::TaskerSchema;
use crate::service::Tasker;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The services.
    pub tasker: Tasker,
    /// The GraphQL schema.
    pub schema: TaskerSchema,
    /// Largest request body accepted on `/graphql`.
    pub max_request_bytes: usize,
    /// Serve the task explorer at `/`.
    pub explorer: bool,
    /// Process start, for uptime.
    pub started: Instant,
    /// The Redis event relay, when Redis is configured.
    pub relay: Option<std::sync::Arc<crate::cluster::RelayStatus>>,
    /// Authentication and authorization (off unless configured).
    pub auth: crate::auth::Auth,
}

/// Every route.
pub fn router(state: AppState) -> Router {
    let (rest, document) = rest::router_and_document();
    let document = std::sync::Arc::new(document);
    Router::new()
        .route("/graphql", post(graphql::execute))
        .route("/graphql/ws", get(graphql::websocket))
        .merge(rest)
        .route(
            "/openapi.json",
            get(move || async move { axum::Json(document.clone()) }),
        )
        .route("/docs", get(docs::redirect))
        .route("/docs/", get(docs::index))
        .route("/docs/{*path}", get(docs::asset))
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/health/status", get(status::status))
        .route("/metrics", get(status::metrics))
        .route("/", get(explorer::index))
        .route("/assets/{*path}", get(explorer::asset))
        .route("/playground", get(playground::redirect))
        .route("/playground/", get(playground::index))
        .route("/playground/{*path}", get(playground::asset))
        .route_layer(axum::middleware::from_fn(correlation::name_after_route))
        .with_state(state)
        .layer(axum::middleware::from_fn(correlation::correlate))
}

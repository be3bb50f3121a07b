//! `/health/live` and `/health/ready`: never cached, JSON bodies.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::status::within;

/// Health answers must never be cached by a proxy.
pub(super) fn uncached(status: StatusCode, body: Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub(super) async fn live(State(state): State<AppState>) -> Response {
    uncached(
        StatusCode::OK,
        json!({"status": "ok", "uptime_seconds": state.started.elapsed().as_secs()}),
    )
}

pub(super) async fn ready(State(state): State<AppState>) -> Response {
    let store = state.tasker.store();
    let database = match within(store.ping()).await {
        Ok(()) => json!({"status": "ok"}),
        Err(message) => json!({"status": "error", "message": message}),
    };
    let migrations = if database["status"] != "ok" {
        json!({"status": "unknown"})
    } else {
        match within(store.pending_migrations()).await {
            Ok(pending) if pending.is_empty() => json!({"status": "ok"}),
            Ok(pending) => {
                json!({"status": "error", "message": "migrations pending", "pending": pending})
            }
            Err(message) => json!({"status": "error", "message": message}),
        }
    };
    let ok = database["status"] == "ok" && migrations["status"] == "ok";
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if ok { "ready" } else { "unavailable" },
        "checks": {"database": database, "migrations": migrations},
    });
    uncached(status, body)
}

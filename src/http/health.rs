//! `/health/live` and `/health/ready`: never cached, JSON bodies.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::status::DATABASE_TIMEOUT;

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
    let database = match tokio::time::timeout(DATABASE_TIMEOUT, store.ping()).await {
        Ok(Ok(())) => json!({"status": "ok"}),
        Ok(Err(err)) => json!({"status": "error", "message": err.to_string()}),
        Err(_) => {
            json!({"status": "error", "message": format!("no answer within {} ms", DATABASE_TIMEOUT.as_millis())})
        }
    };
    let migrations = if database["status"] != "ok" {
        json!({"status": "unknown"})
    } else {
        match tokio::time::timeout(DATABASE_TIMEOUT, store.pending_migrations()).await {
            Ok(Ok(pending)) if pending.is_empty() => json!({"status": "ok"}),
            Ok(Ok(pending)) => {
                json!({"status": "error", "message": "migrations pending", "pending": pending})
            }
            Ok(Err(err)) => json!({"status": "error", "message": err.to_string()}),
            Err(_) => json!({"status": "error", "message": "no answer in time"}),
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

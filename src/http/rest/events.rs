//! `POST /events/{name}`: a webhook from outside. The event's source (its
//! name up to the first `.`) must be configured under
//! `[inbound_events.sources]`; a source with a secret signs its events
//! (`X-Tasker-Signature: sha256=<hex HMAC-SHA256 of the body>`) and needs no
//! token, one without needs `tasker.event:send` as any call does.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::body::{RawBody, is_json, parse_json, unsupported};
use super::problem::{Answer, Problem};
use crate::auth::Access;
use crate::auth::permission::EVENT_SEND;
use crate::domain::inbound::{SIGNATURE_HEADER, source_of, verify_signature};
use crate::graphql::ErrorCode;
use crate::http::AppState;

/// What storing the event did.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SentEvent {
    /// The event's id (the first one's, when its key was sent before).
    pub id: uuid::Uuid,
    /// Its name.
    pub name: String,
    /// When it arrived.
    pub received_at: chrono::DateTime<chrono::Utc>,
    /// The key was sent before: nothing was delivered again.
    pub duplicate: bool,
    /// The waiting steps it completed now.
    pub delivered_step_ids: Vec<uuid::Uuid>,
}

/// Receive an event for the steps waiting for it.
#[utoipa::path(post, path = "/events/{name}", operation_id = "sendEvent", tag = "events",
    params(
        ("name" = String, Path, description = "The event's name, e.g. `stripe.payment_succeeded`; its source is the part before the first `.`"),
        ("Idempotency-Key" = Option<String>, Header, description = "Sending the same key again stores and delivers nothing"),
        ("X-Tasker-Signature" = Option<String>, Header, description = "`sha256=<hex HMAC-SHA256 of the body>` under the source's secret, when it has one"),
    ),
    request_body(content = Option<Object>, description = "The payload (JSON; empty: null)", content_type = "application/json"),
    responses(
        (status = 200, description = "Stored (or seen before), with the steps it completed", body = SentEvent),
        (status = 400, description = "The body is not JSON", body = Problem),
        (status = 401, description = "A bad or missing signature, or no valid credentials", body = Problem),
        (status = 403, description = "Lacks `tasker.event:send`", body = Problem),
        (status = 404, description = "The event's source is not configured", body = Problem),
        (status = 413, description = "Body too large", body = Problem),
        (status = 415, description = "Not `application/json`", body = Problem),
        (status = 422, description = "A bad event name, payload or key", body = Problem),
        (status = 503, description = "Storage unavailable; retry", body = Problem),
    ))]
pub async fn send(
    State(state): State<AppState>,
    access: Access,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: RawBody,
) -> Answer<Json<SentEvent>> {
    let source = source_of(&name);
    let Some(secret) = state.tasker.event_source(source) else {
        return Err(Problem::not_found(format!(
            "no event source {source:?} is configured (inbound_events.sources)"
        )));
    };
    match secret {
        Some(secret) => {
            let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
            verify_signature(secret, &body.bytes, signature).map_err(|e| {
                Problem::new(
                    StatusCode::UNAUTHORIZED,
                    ErrorCode::Unauthenticated,
                    e.to_string(),
                )
            })?;
        }
        None => access.require(EVENT_SEND, None)?,
    }
    let payload = if body.bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else if !is_json(&body.media_type) {
        return Err(unsupported(&body.media_type, "application/json"));
    } else {
        parse_json(&body.bytes)?
    };
    let key = headers
        .get("idempotency-key")
        .map(|v| v.to_str().map(str::to_owned))
        .transpose()
        .map_err(|_| {
            Problem::bad_input(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Idempotency-Key",
                "must be text",
            )
        })?;
    let sent = state.tasker.send_event(&name, payload, key).await?;
    Ok(Json(SentEvent {
        id: sent.event.id,
        name: sent.event.name,
        received_at: sent.event.received_at,
        duplicate: sent.duplicate,
        delivered_step_ids: sent.delivered,
    }))
}

//! `POST /graphql` and `GET /graphql/ws`.

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use std::time::Instant;

use async_graphql::{BatchRequest, Data, ServerError};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, State, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::correlation::CorrelationId;
use crate::auth::{Access, Auth, Credentials};
use crate::graphql::{ErrorCode, RequestInfo, prepare, request_data};

fn error_response(status: StatusCode, code: ErrorCode, message: String) -> Response {
    let mut error = ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code.as_str());
    (status, Json(async_graphql::Response::from_errors(vec![error]))).into_response()
}

/// Execute a query, mutation or batch sent as JSON.
pub async fn execute(
    State(state): State<AppState>,
    Extension(correlation): Extension<CorrelationId>,
    access: Access,
    body: Body,
) -> Response {
    // Requests refused before they reach the schema are counted here; the
    // schema's extension counts the rest.
    let started = Instant::now();
    let metrics = state.tasker.metrics().clone();
    let refused = |status, code, message| {
        metrics.graphql_request(None, false, started.elapsed());
        error_response(status, code, message)
    };
    let limit = state.max_request_bytes;
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        let message = format!("the request body is larger than {limit} bytes");
        return refused(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge, message);
    };
    let batch: BatchRequest = match serde_json::from_slice(&bytes) {
        Ok(batch) => batch,
        Err(err) => {
            let message = format!("the body is not a GraphQL request: {err}");
            return refused(StatusCode::BAD_REQUEST, ErrorCode::GraphqlParseFailed, message);
        }
    };
    if let BatchRequest::Single(request) = &batch
        && let Some(operation) = &request.operation_name
    {
        tracing::Span::current().record("graphql.operation.name", operation.as_str());
    }
    let info = RequestInfo {
        correlation_id: correlation.0,
    };
    let hide_schema = state.auth.introspection_requires_auth() && !access.authenticated();
    let with_data = |request: async_graphql::Request| {
        let request = prepare(request, &state.tasker, info.clone()).data(access.clone());
        if hide_schema {
            request.disable_introspection()
        } else {
            request
        }
    };
    let batch = match batch {
        BatchRequest::Single(request) => BatchRequest::Single(with_data(request)),
        BatchRequest::Batch(requests) => BatchRequest::Batch(requests.into_iter().map(with_data).collect()),
    };
    Json(state.schema.execute_batch(batch).await).into_response()
}

/// Subscriptions (and queries) over graphql-ws (`graphql-transport-ws`).
pub async fn websocket(
    State(state): State<AppState>,
    Extension(correlation): Extension<CorrelationId>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    let data = request_data(
        &state.tasker,
        RequestInfo {
            correlation_id: correlation.0,
        },
    );
    let auth = state.auth.clone();
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |stream| {
            GraphQLWebSocket::new(stream, state.schema, protocol)
                .with_data(data)
                .on_connection_init(move |payload| connection_access(auth, payload))
                .serve()
        })
}

/// A websocket authenticates once, in `connection_init`: `{"Authorization":
/// "Bearer …"}` (any case; `token` also works) or `{"apiKey": "…"}`. With auth
/// on, a connection without valid credentials is closed with the reason.
async fn connection_access(auth: Auth, payload: serde_json::Value) -> async_graphql::Result<Data> {
    let field = |name: &str| {
        payload.as_object().and_then(|o| {
            o.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .and_then(|(_, v)| v.as_str())
        })
    };
    let credentials = field("authorization")
        .and_then(Credentials::from_authorization)
        .or_else(|| field("token").map(|t| Credentials::Bearer(t.to_owned())))
        .or_else(|| {
            field("apiKey")
                .or_else(|| field("x-api-key"))
                .map(|k| Credentials::ApiKey(k.to_owned()))
        });
    let access = auth.identify(credentials).await;
    if let Some(denied) = access.refusal() {
        return Err(async_graphql::Error::new(format!("UNAUTHENTICATED: {denied}")));
    }
    let mut data = Data::default();
    data.insert(access);
    Ok(data)
}

//! `X-Correlation-ID`: taken from the request when it is sane, generated
//! otherwise, returned on every response and carried by the request's span.
//! The span continues the caller's trace when the request has a W3C
//! `traceparent` header.

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::{Instrument, Span, field, info_span};

use opentelemetry::trace::TraceContextExt;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::telemetry::traces;

/// The header name.
pub const HEADER: &str = "x-correlation-id";

/// The request's correlation id.
#[derive(Debug, Clone)]
pub struct CorrelationId(pub String);

fn acceptable(value: &str) -> bool {
    (1..=128).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

/// Middleware: attach a correlation id to the request, its span and the response.
pub async fn correlate(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    request.extensions_mut().insert(CorrelationId(id.clone()));
    let method = request.method().clone();
    // Named after the method until routing knows the route (`name_after_route`).
    let span = info_span!(
        "http.request",
        otel.name = %method,
        otel.kind = "server",
        otel.status_code = field::Empty,
        correlation_id = %id,
        method = %method,
        path = %request.uri().path(),
        http.route = field::Empty,
        http.response.status_code = field::Empty,
        graphql.operation.name = field::Empty,
    );
    traces::continue_request(&span, request.headers());
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}

/// Route middleware: name the request's span after its route template
/// (`GET /handlers/{namespace}`), which, unlike the path, has few values.
pub async fn name_after_route(request: Request, next: Next) -> Response {
    if let Some(route) = request.extensions().get::<MatchedPath>() {
        let span = Span::current();
        // The span has started: its name changes through the exported span.
        let name = format!("{} {}", request.method(), route.as_str());
        span.context().span().update_name(name);
        span.record("http.route", route.as_str());
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::acceptable;

    #[test]
    fn only_short_plain_ids_are_taken_from_requests() {
        assert!(acceptable("req-42_a.b:c"));
        assert!(!acceptable(""));
        assert!(!acceptable("has space"));
        assert!(!acceptable(&"x".repeat(200)));
    }
}

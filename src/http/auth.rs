//! The caller of an HTTP request, and how refusals look on REST routes:
//! `{code, message}` with 401 (and `WWW-Authenticate: Bearer`) or 403.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::json;

use super::AppState;
use super::health::uncached;
use crate::auth::{Access, Credentials, Denied};

/// The credentials of a request: `Authorization: Bearer …`, else `X-API-Key`.
pub(super) fn credentials(parts: &Parts) -> Option<Credentials> {
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    header(header::AUTHORIZATION.as_str())
        .and_then(Credentials::from_authorization)
        .or_else(|| header(API_KEY_HEADER).map(|k| Credentials::ApiKey(k.trim().to_owned())))
}

/// The header API keys come in.
const API_KEY_HEADER: &str = "x-api-key";

impl FromRequestParts<AppState> for Access {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(state.auth.identify(credentials(parts)).await)
    }
}

/// A refusal as a REST response.
pub(super) fn refusal(denied: &Denied) -> Response {
    let (status, code) = match denied {
        Denied::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
        Denied::Forbidden(_) => (StatusCode::FORBIDDEN, "FORBIDDEN"),
    };
    let mut response = uncached(status, json!({"code": code, "message": denied.to_string()}));
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

//! How REST routes fail: `{code, message}` (plus `field` for bad input),
//! the codes of GraphQL's `extensions.code` with their HTTP statuses. Every
//! service error maps through one exhaustive match.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Denied;
use crate::graphql::ErrorCode;
use crate::service;

/// A failed REST call.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// The code, as GraphQL's `extensions.code` (see docs/errors.md).
    #[schema(example = "NOT_FOUND")]
    pub code: String,
    /// What went wrong.
    pub message: String,
    /// The input at fault (a body field's path or a parameter), for `BAD_USER_INPUT`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip)]
    status: u16,
}

impl Problem {
    /// A problem with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code: code.as_str().to_owned(),
            message: message.into(),
            field: None,
            status: status.as_u16(),
        }
    }

    /// Bad input in `field`: 422 unless `status` says otherwise (400 for
    /// text that is not JSON at all).
    pub fn bad_input(status: StatusCode, field: &str, message: impl std::fmt::Display) -> Self {
        let field = (!field.is_empty()).then(|| field.to_owned());
        let message = match &field {
            Some(field) => format!("{field}: {message}"),
            None => message.to_string(),
        };
        Self {
            field,
            ..Self::new(status, ErrorCode::BadUserInput, message)
        }
    }

    /// Nothing at this id.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, message)
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status();
        let unauthenticated = status == StatusCode::UNAUTHORIZED;
        let mut response = (status, Json(self)).into_response();
        if unauthenticated {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<Denied> for Problem {
    fn from(denied: Denied) -> Self {
        match denied {
            Denied::Unauthenticated(_) => Self::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthenticated,
                denied.to_string(),
            ),
            Denied::Forbidden(_) => {
                Self::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, denied.to_string())
            }
        }
    }
}

impl From<service::Error> for Problem {
    fn from(err: service::Error) -> Self {
        use service::Error as E;
        let message = err.to_string();
        match &err {
            E::BadInput { field, message } => {
                Self::bad_input(StatusCode::UNPROCESSABLE_ENTITY, &snake_case(field), message)
            }
            E::Template(_) | E::Context(_) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::BadUserInput, message)
            }
            E::PayloadTooLarge { .. } => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge, message)
            }
            E::NotFound { .. } => Self::not_found(message),
            E::Conflict { .. } => Self::new(StatusCode::CONFLICT, ErrorCode::Conflict, message),
            E::InvalidTransition { .. } => {
                Self::new(StatusCode::CONFLICT, ErrorCode::InvalidTransition, message)
            }
            E::LeaseLost { .. } => Self::new(StatusCode::CONFLICT, ErrorCode::LeaseLost, message),
            E::Unavailable(_) => {
                tracing::warn!(error = %err, "storage unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::Unavailable,
                    "storage is busy or unreachable; retry later",
                )
            }
            E::SharedUnavailable(text) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                text.clone(),
            ),
            E::Internal(_) | E::ExportFailed { .. } => {
                let reference = uuid::Uuid::new_v4().simple().to_string();
                tracing::error!(reference = %reference, error = %err, "internal error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::Internal,
                    format!("internal error (reference {reference})"),
                )
            }
        }
    }
}

/// The services name fields as GraphQL does (`bypassSteps`); REST bodies
/// spell them `bypass_steps`.
fn snake_case(field: &str) -> String {
    let mut out = String::with_capacity(field.len() + 4);
    for c in field.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// What a route returns.
pub type Answer<T> = Result<T, Problem>;

#[cfg(test)]
mod tests {
    #[test]
    fn graphql_field_names_become_rest_ones() {
        assert_eq!(super::snake_case("bypassSteps"), "bypass_steps");
        assert_eq!(super::snake_case("idempotencyKey"), "idempotency_key");
        assert_eq!(super::snake_case("tags[2]"), "tags[2]");
    }
}

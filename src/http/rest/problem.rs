//! How REST routes fail: `{code, message}` (plus `field` for bad input),
//! the codes of GraphQL's `extensions.code` with their HTTP statuses. Service
//! errors are classified once, by [`Told`], for both front ends.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Denied;
use crate::graphql::{ErrorCode, Told};
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
        let code = match denied {
            Denied::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Denied::Forbidden(_) => ErrorCode::Forbidden,
        };
        Self::new(status_of(code), code, denied.to_string())
    }
}

impl From<service::Error> for Problem {
    fn from(err: service::Error) -> Self {
        let told = Told::of(&err);
        match &told.field {
            Some(field) => Self::bad_input(status_of(told.code), &snake_case(field), told.message),
            None => Self::new(status_of(told.code), told.code, told.message),
        }
    }
}

/// The HTTP status of a code a REST route answers with. Bad input that
/// reached a service is well-formed JSON breaking a rule, hence 422 (the
/// body and parameter parsers answer 400 themselves).
fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::BadUserInput => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Conflict | ErrorCode::InvalidTransition | ErrorCode::LeaseLost => StatusCode::CONFLICT,
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::Unavailable | ErrorCode::Lagged => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        // GraphQL request errors: no REST route answers with them.
        ErrorCode::QueryTooComplex | ErrorCode::GraphqlParseFailed | ErrorCode::GraphqlValidationFailed => {
            StatusCode::BAD_REQUEST
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

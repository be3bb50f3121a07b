//! Every GraphQL error carries `extensions.code` from one closed set. Service
//! errors map through an exhaustive match (no catch-all arm: a new variant
//! forces a decision); errors async-graphql raises itself are coded by the
//! [`ErrorCodes`] extension, which also codes and redacts anything that
//! slipped through uncoded.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest, NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{ErrorExtensions, Response, ServerError, ServerResult, ValidationResult, Variables};
use tracing::{error, warn};

use crate::service;

/// The public error codes (see docs/errors.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Malformed or rule-breaking input.
    BadUserInput,
    /// No such entity (mutations; queries return null).
    NotFound,
    /// Collides with existing state.
    Conflict,
    /// The state machine does not allow the action now.
    InvalidTransition,
    /// The lease token no longer holds the step.
    LeaseLost,
    /// No valid credentials.
    Unauthenticated,
    /// Credentials lack a permission.
    Forbidden,
    /// Too deep or too complex.
    QueryTooComplex,
    /// An input is larger than allowed.
    PayloadTooLarge,
    /// The database is busy or unreachable; retry later.
    Unavailable,
    /// A subscriber fell behind and missed events.
    Lagged,
    /// A fault on the server's side (opaque; details are in the log).
    Internal,
    /// The query text does not parse.
    GraphqlParseFailed,
    /// The query does not validate against the schema.
    GraphqlValidationFailed,
}

impl ErrorCode {
    /// The `extensions.code` text.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadUserInput => "BAD_USER_INPUT",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::InvalidTransition => "INVALID_TRANSITION",
            ErrorCode::LeaseLost => "LEASE_LOST",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::QueryTooComplex => "QUERY_TOO_COMPLEX",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::Lagged => "LAGGED",
            ErrorCode::Internal => "INTERNAL",
            ErrorCode::GraphqlParseFailed => "GRAPHQL_PARSE_FAILED",
            ErrorCode::GraphqlValidationFailed => "GRAPHQL_VALIDATION_FAILED",
        }
    }

    /// An error with this code and message.
    pub fn error(self, message: impl Into<String>) -> async_graphql::Error {
        async_graphql::Error::new(message).extend_with(|_, e| e.set("code", self.as_str()))
    }
}

/// A coded error for bad input in `field`.
pub fn bad_input(field: &str, message: impl std::fmt::Display) -> async_graphql::Error {
    ErrorCode::BadUserInput
        .error(format!("{field}: {message}"))
        .extend_with(|_, e| e.set("field", field))
}

/// Opaque to the client; the detail is logged once with the same reference.
pub fn internal(detail: &dyn std::fmt::Display) -> async_graphql::Error {
    let reference = uuid::Uuid::new_v4().simple().to_string();
    error!(reference = %reference, error = %detail, "internal error");
    ErrorCode::Internal
        .error(format!("internal error (reference {reference})"))
        .extend_with(|_, e| e.set("reference", reference.as_str()))
}

impl From<service::Error> for GqlError {
    fn from(err: service::Error) -> Self {
        use service::Error as E;
        let coded = match &err {
            E::BadInput { field, message } => bad_input(field, message),
            E::Template(_) | E::Context(_) => ErrorCode::BadUserInput.error(err.to_string()),
            E::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge.error(err.to_string()),
            E::NotFound { .. } => ErrorCode::NotFound.error(err.to_string()),
            E::Conflict { .. } => ErrorCode::Conflict.error(err.to_string()),
            E::InvalidTransition { .. } => ErrorCode::InvalidTransition.error(err.to_string()),
            E::LeaseLost { .. } => ErrorCode::LeaseLost.error(err.to_string()),
            E::Unavailable(_) => {
                warn!(error = %err, "storage unavailable");
                ErrorCode::Unavailable.error("storage is busy or unreachable; retry later")
            }
            E::SharedUnavailable(message) => ErrorCode::Unavailable.error(message.clone()),
            E::Internal(_) | E::ExportFailed { .. } => internal(&err),
        };
        GqlError(coded)
    }
}

impl From<Arc<service::Error>> for GqlError {
    fn from(err: Arc<service::Error>) -> Self {
        // Loader errors are shared between the keys of a batch.
        let err = Arc::try_unwrap(err).unwrap_or_else(|shared| {
            service::Error::Internal(crate::store::Error::Corrupt {
                message: shared.to_string(),
            })
        });
        err.into()
    }
}

/// A coded GraphQL error; resolvers return `Result<T, GqlError>` so that every
/// `?` goes through the mapping above.
#[derive(Debug, Clone)]
pub struct GqlError(pub async_graphql::Error);

impl From<GqlError> for async_graphql::Error {
    fn from(err: GqlError) -> Self {
        err.0
    }
}

impl From<async_graphql::Error> for GqlError {
    fn from(err: async_graphql::Error) -> Self {
        GqlError(err)
    }
}

/// Result of resolvers.
pub type GqlResult<T> = Result<T, GqlError>;

fn has_code(err: &ServerError) -> bool {
    err.extensions.as_ref().is_some_and(|e| e.get("code").is_some())
}

fn code(mut err: ServerError, code: ErrorCode) -> ServerError {
    if !has_code(&err) {
        err.extensions
            .get_or_insert_with(Default::default)
            .set("code", code.as_str());
    }
    err
}

fn limit_code(err: ServerError, otherwise: ErrorCode) -> ServerError {
    let limit = err.message.contains("too complex")
        || err.message.contains("nested too deep")
        || err.message.contains("recursion depth")
        || err.message.contains("directives");
    code(
        err,
        if limit {
            ErrorCode::QueryTooComplex
        } else {
            otherwise
        },
    )
}

/// The extension that codes async-graphql's own errors and redacts strays.
pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodesExtension)
    }
}

struct ErrorCodesExtension;

#[async_trait::async_trait]
impl Extension for ErrorCodesExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        response.errors = response.errors.into_iter().map(backstop).collect();
        response
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        next.run(ctx, query, variables)
            .await
            .map_err(|e| limit_code(e, ErrorCode::GraphqlParseFailed))
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|e| limit_code(e, ErrorCode::GraphqlValidationFailed))
                .collect()
        })
    }
}

/// Errors that reach the response without a code: request-level ones (no path)
/// are about the document; argument coercion failures are bad input; anything
/// else is an unexpected fault, redacted.
fn backstop(err: ServerError) -> ServerError {
    if has_code(&err) {
        return err;
    }
    if err.path.is_empty() {
        return limit_code(err, ErrorCode::GraphqlValidationFailed);
    }
    if err.message.starts_with("Failed to parse") || err.message.starts_with("Invalid value") {
        return code(err, ErrorCode::BadUserInput);
    }
    let redacted = internal(&err.message);
    ServerError {
        message: redacted.message,
        extensions: redacted.extensions,
        ..err
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_error_gets_its_code() {
        let cases: Vec<(service::Error, &str)> = vec![
            (
                service::Error::BadInput {
                    field: "x".into(),
                    message: "bad".into(),
                },
                "BAD_USER_INPUT",
            ),
            (
                service::Error::NotFound {
                    entity: "task",
                    id: "1".into(),
                },
                "NOT_FOUND",
            ),
            (service::Error::Conflict { message: "c".into() }, "CONFLICT"),
            (
                service::Error::PayloadTooLarge {
                    what: "context",
                    size: 2,
                    limit: 1,
                },
                "PAYLOAD_TOO_LARGE",
            ),
            (service::Error::LeaseLost { step_id: "s".into() }, "LEASE_LOST"),
            (
                service::Error::Internal(crate::store::Error::Corrupt {
                    message: "secret detail".into(),
                }),
                "INTERNAL",
            ),
        ];
        for (err, expected) in cases {
            let gql: async_graphql::Error = GqlError::from(err).into();
            let ext = gql.extensions.expect("extensions");
            assert_eq!(ext.get("code"), Some(&async_graphql::Value::from(expected)));
            if expected == "INTERNAL" {
                assert!(!gql.message.contains("secret"), "{}", gql.message);
            }
        }
    }

    #[test]
    fn strays_are_coded_and_redacted() {
        let request_level = backstop(ServerError::new("Unknown operation named \"x\"", None));
        assert!(has_code(&request_level));
        let mut stray = ServerError::new("database password is hunter2", None);
        stray.path = vec![async_graphql::PathSegment::Field("task".into())];
        let redacted = backstop(stray);
        assert!(!redacted.message.contains("hunter2"));
        assert_eq!(
            redacted.extensions.and_then(|e| e.get("code").cloned()),
            Some(async_graphql::Value::from("INTERNAL"))
        );
    }
}

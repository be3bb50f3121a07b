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

/// Log a fault on the server's side once; the reference the caller is given.
fn log_internal(detail: &dyn std::fmt::Display) -> String {
    let reference = uuid::Uuid::new_v4().simple().to_string();
    error!(reference = %reference, error = %detail, "internal error");
    reference
}

fn internal_message(reference: &str) -> String {
    format!("internal error (reference {reference})")
}

/// Opaque to the client; the detail is logged once with the same reference.
pub fn internal(detail: &dyn std::fmt::Display) -> async_graphql::Error {
    let reference = log_internal(detail);
    ErrorCode::Internal
        .error(internal_message(&reference))
        .extend_with(|_, e| e.set("reference", reference.as_str()))
}

/// A service error as every front end (GraphQL, REST) tells it.
#[derive(Debug, Clone, PartialEq)]
pub struct Told {
    /// Its code.
    pub code: ErrorCode,
    /// The input at fault (its GraphQL name), for bad input in one field.
    pub field: Option<String>,
    /// What the caller may read (for a field, without the field's name).
    pub message: String,
    /// For a fault on the server's side: the reference logged with the detail.
    pub reference: Option<String>,
}

impl Told {
    /// Classify `err` (an exhaustive match: a new variant forces a
    /// decision), logging what the caller is not told.
    pub fn of(err: &service::Error) -> Self {
        use service::Error as E;
        let told = |code: ErrorCode, message: String| Self {
            code,
            field: None,
            message,
            reference: None,
        };
        match err {
            E::BadInput { field, message } => Self {
                field: Some(field.clone()),
                ..told(ErrorCode::BadUserInput, message.clone())
            },
            E::Template(_) | E::Context(_) => told(ErrorCode::BadUserInput, err.to_string()),
            E::PayloadTooLarge { .. } => told(ErrorCode::PayloadTooLarge, err.to_string()),
            E::NotFound { .. } => told(ErrorCode::NotFound, err.to_string()),
            E::Conflict { .. } => told(ErrorCode::Conflict, err.to_string()),
            E::InvalidTransition { .. } => told(ErrorCode::InvalidTransition, err.to_string()),
            E::LeaseLost { .. } => told(ErrorCode::LeaseLost, err.to_string()),
            E::Unavailable(_) => {
                warn!(error = %err, "storage unavailable");
                told(
                    ErrorCode::Unavailable,
                    "storage is busy or unreachable; retry later".to_owned(),
                )
            }
            E::SharedUnavailable(message) => told(ErrorCode::Unavailable, message.clone()),
            E::Internal(_) | E::ExportFailed { .. } => {
                let reference = log_internal(err);
                Self {
                    reference: Some(reference.clone()),
                    ..told(ErrorCode::Internal, internal_message(&reference))
                }
            }
        }
    }
}

impl From<service::Error> for GqlError {
    fn from(err: service::Error) -> Self {
        let told = Told::of(&err);
        let coded = match &told.field {
            Some(field) => bad_input(field, &told.message),
            None => told.code.error(told.message),
        };
        GqlError(match told.reference {
            Some(reference) => coded.extend_with(|_, e| e.set("reference", reference.as_str())),
            None => coded,
        })
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
    fn a_bad_field_is_told_apart_and_a_fault_by_its_reference_only() {
        let field = Told::of(&service::Error::BadInput {
            field: "bypassSteps".into(),
            message: "not skippable".into(),
        });
        assert_eq!(
            (field.field.as_deref(), field.message.as_str()),
            (Some("bypassSteps"), "not skippable")
        );
        let gql: async_graphql::Error = GqlError::from(service::Error::BadInput {
            field: "bypassSteps".into(),
            message: "not skippable".into(),
        })
        .into();
        assert_eq!(gql.message, "bypassSteps: not skippable");
        let fault = Told::of(&service::Error::Internal(crate::store::Error::Corrupt {
            message: "secret detail".into(),
        }));
        let reference = fault.reference.expect("a reference");
        assert_eq!(fault.message, format!("internal error (reference {reference})"));
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

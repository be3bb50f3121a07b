//! A typed client for a running Tasker server: the operations in
//! `clients/operations/` over HTTP (`POST /graphql`) and subscriptions over
//! graphql-ws (`/graphql/ws`). The `tasker task`, `tasker template register`
//! and `tasker metrics export --server` commands use it.

pub mod operations;
mod socket;

use futures::Stream;
use graphql_client::{GraphQLQuery, QueryBody};
use serde::Deserialize;

pub use socket::Subscription;

/// The server the command-line client talks to unless told otherwise.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// A failed call.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server did not answer (not running, wrong address, network).
    #[error("cannot reach {url}: {message}")]
    Unreachable {
        /// The endpoint.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The server answered with GraphQL errors; `code` is `extensions.code`.
    #[error("{code}: {message}")]
    Graphql {
        /// `extensions.code` of the first error (see docs/errors.md).
        code: String,
        /// Every error's message.
        message: String,
    },
    /// Something that is not a GraphQL answer came back.
    #[error("{url} answered {status}: {message}")]
    Protocol {
        /// The endpoint.
        url: String,
        /// The HTTP status, or `websocket`.
        status: String,
        /// What came back instead.
        message: String,
    },
}

impl ClientError {
    /// The GraphQL error code, when the server gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Graphql { code, .. } => Some(code),
            _ => None,
        }
    }
}

#[derive(Debug, Deserialize)]
struct GraphqlError {
    message: String,
    #[serde(default)]
    extensions: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Answer<T> {
    data: Option<T>,
    #[serde(default)]
    errors: Vec<GraphqlError>,
}

fn graphql_error(errors: &[GraphqlError]) -> ClientError {
    let code = errors
        .first()
        .and_then(|e| e.extensions.as_ref())
        .and_then(|x| x["code"].as_str())
        .unwrap_or("INTERNAL")
        .to_owned();
    let message = errors
        .iter()
        .map(|e| e.message.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    ClientError::Graphql { code, message }
}

/// A server's GraphQL endpoints and the credentials to send.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    /// A client for `base` (e.g. `http://127.0.0.1:8080`). A token goes out as
    /// `Authorization: Bearer …`, on the websocket in `connection_init`.
    pub fn new(base: &str, token: Option<String>) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            token: token.filter(|t| !t.is_empty()),
        }
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Run a query or mutation; its typed data.
    pub async fn run<Q: GraphQLQuery>(
        &self,
        variables: Q::Variables,
    ) -> Result<Q::ResponseData, ClientError> {
        self.send::<Q>(variables, None).await
    }

    /// Run a query or mutation as part of the caller's trace: `traceparent`
    /// is a W3C trace context header value, which the server continues.
    pub async fn run_traced<Q: GraphQLQuery>(
        &self,
        variables: Q::Variables,
        traceparent: &str,
    ) -> Result<Q::ResponseData, ClientError> {
        self.send::<Q>(variables, Some(traceparent)).await
    }

    async fn send<Q: GraphQLQuery>(
        &self,
        variables: Q::Variables,
        traceparent: Option<&str>,
    ) -> Result<Q::ResponseData, ClientError> {
        let url = format!("{}/graphql", self.base);
        let mut request = self.http.post(&url).json(&Q::build_query(variables));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(traceparent) = traceparent {
            request = request.header("traceparent", traceparent);
        }
        let response = request.send().await.map_err(|e| ClientError::Unreachable {
            url: url.clone(),
            message: e.to_string(),
        })?;
        let status = response.status();
        let text = response.text().await.map_err(|e| ClientError::Unreachable {
            url: url.clone(),
            message: e.to_string(),
        })?;
        let answer: Answer<Q::ResponseData> =
            serde_json::from_str(&text).map_err(|e| ClientError::Protocol {
                url: url.clone(),
                status: status.to_string(),
                message: format!("not a GraphQL answer ({e}): {}", clip(&text)),
            })?;
        if !answer.errors.is_empty() {
            return Err(graphql_error(&answer.errors));
        }
        answer.data.ok_or_else(|| ClientError::Protocol {
            url,
            status: status.to_string(),
            message: "an answer without data or errors".into(),
        })
    }

    /// Subscribe; a stream of typed data that ends when the server completes
    /// the subscription. A GraphQL error arrives as the stream's last item.
    pub async fn subscribe<Q: GraphQLQuery>(
        &self,
        variables: Q::Variables,
    ) -> Result<impl Stream<Item = Result<Q::ResponseData, ClientError>>, ClientError> {
        let url = format!("{}/graphql/ws", self.base.replacen("http", "ws", 1));
        let body: QueryBody<Q::Variables> = Q::build_query(variables);
        let payload = serde_json::to_value(&body).map_err(|e| ClientError::Protocol {
            url: url.clone(),
            status: "-".into(),
            message: format!("cannot encode the request: {e}"),
        })?;
        let subscription = Subscription::open(&url, self.token.as_deref(), payload).await?;
        Ok(subscription.into_stream::<Q::ResponseData>())
    }
}

/// The start of a long answer, for error messages.
fn clip(text: &str) -> &str {
    match text.char_indices().nth(200) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

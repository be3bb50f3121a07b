//! What can go wrong talking to Prometheus or the trace backend.

use std::time::Duration;

/// A failed call to a telemetry backend.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// Nothing answered (wrong URL, not running, network).
    #[error("cannot reach {url}: {message}")]
    Unreachable {
        /// The URL asked.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// An answer other than success.
    #[error("{url} answered {status}: {message}")]
    Status {
        /// The URL asked.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The start of the body, or the backend's error text.
        message: String,
    },
    /// A success that is not what the API documents.
    #[error("{url}: unexpected answer: {message}")]
    Invalid {
        /// The URL asked.
        url: String,
        /// What did not fit.
        message: String,
    },
}

/// A client for the backends: every call gives up after ten seconds, so a
/// backend that hangs shows as a failed check, not a hung doctor.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default()
}

/// A backend's base URL and the client that calls it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    http: reqwest::Client,
    /// The base URL, without a trailing slash.
    pub base: String,
}

impl Endpoint {
    /// `base` (e.g. `http://127.0.0.1:9090`).
    pub fn new(base: &str) -> Self {
        Self {
            http: http(),
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    /// The URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET `url`, anything that answers.
    pub async fn send(&self, url: &str) -> Result<reqwest::Response, BackendError> {
        self.http
            .get(url)
            .send()
            .await
            .map_err(|e| BackendError::Unreachable {
                url: url.to_owned(),
                message: e.to_string(),
            })
    }

    /// GET `url`; the body of a success, `None` for 404.
    pub async fn get_json(&self, url: &str) -> Result<Option<serde_json::Value>, BackendError> {
        let response = self.send(url).await?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let text = response.text().await.map_err(|e| BackendError::Unreachable {
            url: url.to_owned(),
            message: e.to_string(),
        })?;
        let body: Result<serde_json::Value, _> = serde_json::from_str(&text);
        match body {
            Ok(body) if status.is_success() => Ok(Some(body)),
            // Prometheus explains a refused query in its JSON `error`.
            Ok(body) => Err(BackendError::Status {
                url: url.to_owned(),
                status: status.as_u16(),
                message: body["error"].as_str().map_or_else(|| clip(&text), str::to_owned),
            }),
            Err(_) if !status.is_success() => Err(BackendError::Status {
                url: url.to_owned(),
                status: status.as_u16(),
                message: clip(&text),
            }),
            Err(e) => Err(BackendError::Invalid {
                url: url.to_owned(),
                message: format!("not JSON ({e}): {}", clip(&text)),
            }),
        }
    }

    /// GET `url` of an API that must be there: a 404 is an error saying
    /// `missing` (the URL is not the backend it should be).
    pub async fn require_json(&self, url: &str, missing: &str) -> Result<serde_json::Value, BackendError> {
        self.get_json(url).await?.ok_or_else(|| BackendError::Status {
            url: url.to_owned(),
            status: 404,
            message: missing.to_owned(),
        })
    }
}

fn clip(text: &str) -> String {
    text.chars().take(200).collect()
}

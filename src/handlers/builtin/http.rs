//! The `http` built-in: one HTTP request per attempt.
//!
//! 2xx → results `{status, body}` (JSON when the body parses, text otherwise);
//! 429 and 5xx → retryable, honouring `Retry-After`; other statuses → permanent;
//! connection failures and timeouts → retryable. The attempt's idempotency key
//! is sent as `Idempotency-Key` unless the config sets that header itself.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::handlers::{HandlerError, StepContext, StepHandler};

/// Largest response body kept as results.
const MAX_BODY_BYTES: usize = 1024 * 1024;
const DEFAULT_TIMEOUT_MS: u64 = 30_000;
const MAX_TIMEOUT_MS: u64 = 3_600_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpConfig {
    url: String,
    #[serde(default = "get")]
    method: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    body: Option<Value>,
    timeout_ms: Option<u64>,
}

fn get() -> String {
    "GET".to_owned()
}

struct Request {
    url: reqwest::Url,
    method: reqwest::Method,
    headers: HeaderMap,
    body: Option<Value>,
    timeout: Duration,
}

fn parse_config(config: &Value) -> Result<Request, String> {
    let c: HttpConfig = serde_json::from_value(config.clone()).map_err(|e| format!("http: config {e}"))?;
    let url = reqwest::Url::parse(&c.url).map_err(|e| format!("http: config.url {:?}: {e}", c.url))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "http: config.url must be http or https, got {}",
            url.scheme()
        ));
    }
    let method = reqwest::Method::from_bytes(c.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| format!("http: config.method {:?} is not an HTTP method", c.method))?;
    let mut headers = HeaderMap::new();
    for (name, value) in &c.headers {
        let name =
            HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("http: bad header name {name:?}"))?;
        let value = HeaderValue::from_str(value).map_err(|_| format!("http: bad value for header {name}"))?;
        headers.insert(name, value);
    }
    let timeout_ms = c.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
    if timeout_ms == 0 || timeout_ms > MAX_TIMEOUT_MS {
        return Err(format!(
            "http: config.timeout_ms must be between 1 and {MAX_TIMEOUT_MS}"
        ));
    }
    Ok(Request {
        url,
        method,
        headers,
        body: c.body,
        timeout: Duration::from_millis(timeout_ms),
    })
}

/// A `Retry-After` value (delay seconds or an HTTP date) as a wait from `now`.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// The `http` handler; one shared client (connection pool) for all steps.
pub struct Http {
    client: OnceLock<Result<reqwest::Client, String>>,
}

impl Http {
    pub(crate) fn new() -> Self {
        Self {
            client: OnceLock::new(),
        }
    }

    fn client(&self) -> Result<&reqwest::Client, HandlerError> {
        self.client
            .get_or_init(|| {
                crate::install_tls_provider();
                reqwest::Client::builder()
                    .user_agent(concat!("tasker/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| HandlerError::permanent(format!("http: cannot build a client: {e}")))
    }
}

async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, HandlerError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| HandlerError::retryable(format!("http: reading the body failed: {e}")))?
    {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(HandlerError::permanent(format!(
                "http: response body is larger than {MAX_BODY_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[async_trait::async_trait]
impl StepHandler for Http {
    async fn handle(&self, ctx: StepContext) -> Result<Value, HandlerError> {
        let request = parse_config(&ctx.config).map_err(HandlerError::permanent)?;
        let mut headers = request.headers;
        if !headers.contains_key("idempotency-key")
            && let Ok(key) = HeaderValue::from_str(&ctx.idempotency_key)
        {
            headers.insert("idempotency-key", key);
        }
        let mut builder = self
            .client()?
            .request(request.method, request.url.clone())
            .headers(headers)
            .timeout(request.timeout);
        if let Some(body) = &request.body {
            builder = builder.json(body);
        }
        let response = tokio::select! {
            r = builder.send() => r.map_err(|e| HandlerError::retryable(format!("http: request to {} failed: {e}", request.url)))?,
            () = ctx.cancel.cancelled() => return Err(HandlerError::retryable("http: request interrupted")),
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Utc::now()));
        if status.is_success() {
            let bytes = read_capped(response).await?;
            let body = serde_json::from_slice::<Value>(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
            return Ok(json!({"status": status.as_u16(), "body": body}));
        }
        let message = format!("http: {} answered {status}", request.url);
        if status.as_u16() == 429 || status.is_server_error() {
            let err = HandlerError::retryable(message);
            Err(match retry_after {
                Some(wait) => err.with_retry_after(wait),
                None => err,
            })
        } else {
            Err(HandlerError::permanent(message))
        }
    }

    fn validate_config(&self, config: &Value) -> Result<(), String> {
        parse_config(config).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
            .expect("date")
            .with_timezone(&Utc);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Mon, 23 Nov 2026 10:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Mon, 23 Nov 2026 09:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn config_is_checked_at_registration() {
        let http = Http::new();
        assert!(
            http.validate_config(&json!({"url": "https://example.com/x", "method": "post"}))
                .is_ok()
        );
        for bad in [
            json!({}),
            json!({"url": "not a url"}),
            json!({"url": "ftp://x/y"}),
            json!({"url": "http://x", "method": "GE T"}),
            json!({"url": "http://x", "timeout_ms": 0}),
            json!({"url": "http://x", "verb": "GET"}),
        ] {
            assert!(http.validate_config(&bad).is_err(), "{bad}");
        }
    }
}

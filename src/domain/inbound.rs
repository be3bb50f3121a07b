//! Events from outside (`sendEvent`, `POST /events/{name}`) that steps wait
//! for: what a valid event name is, which configured source an event comes
//! from, how a webhook's HMAC-SHA256 signature is checked, and whether an
//! event is a waiting step's.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::expr::{ExprError, Expression};
use super::kind::{MATCH_VARIABLES, WaitForSpec};

/// Longest event name.
pub const MAX_EVENT_NAME_CHARS: usize = 200;
/// The header a signed webhook carries: `sha256=<hex of HMAC-SHA256(secret, body)>`.
pub const SIGNATURE_HEADER: &str = "x-tasker-signature";

/// Why `name` is not a valid event name, if it is not.
pub fn event_name_problem(name: &str) -> Option<String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/');
    if name.starts_with(super::kind::ENGINE_HANDLER_PREFIX) {
        Some(format!(
            "event names starting with {:?} are the engine's",
            super::kind::ENGINE_HANDLER_PREFIX
        ))
    } else if name.is_empty() || name.chars().count() > MAX_EVENT_NAME_CHARS {
        Some(format!(
            "an event name has 1 to {MAX_EVENT_NAME_CHARS} characters"
        ))
    } else if !name.chars().all(ok_char) {
        Some(format!(
            "event name {name:?} may only use letters, digits, '_', '-', '.', ':' and '/'"
        ))
    } else {
        None
    }
}

/// The source an event comes from: its name up to the first `.` (`stripe`
/// for `stripe.payment_succeeded`), or the whole name without one.
pub fn source_of(name: &str) -> &str {
    name.split_once('.').map_or(name, |(source, _)| source)
}

/// Why a webhook's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The header is missing.
    #[error("the {SIGNATURE_HEADER} header is missing: this event source signs its events")]
    Missing,
    /// The header is not `sha256=<hex>`.
    #[error("the {SIGNATURE_HEADER} header must be sha256=<hex digest>")]
    Malformed,
    /// The digest does not match the body.
    #[error("the signature does not match the body")]
    Mismatch,
}

/// Check `header` against the HMAC-SHA256 of `body` under `secret`, in
/// constant time.
pub fn verify_signature(secret: &str, body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?.trim();
    let hex = header.strip_prefix("sha256=").ok_or(SignatureError::Malformed)?;
    let digest = decode_hex(hex).ok_or(SignatureError::Malformed)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| SignatureError::Mismatch)?;
    mac.update(body);
    mac.verify_slice(&digest).map_err(|_| SignatureError::Mismatch)
}

/// The signature header value for `body` under `secret` (for senders and tests).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        // HMAC takes keys of any length.
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", super::hex(&mac.finalize().into_bytes()))
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect()
}

/// Whether the event with `payload` is the one a step of `spec` in a task
/// with `context` waits for.
pub fn event_matches(spec: &WaitForSpec, context: &Value, payload: &Value) -> Result<bool, ExprError> {
    match &spec.matches {
        None => Ok(true),
        Some(source) => Expression::parse(source, MATCH_VARIABLES)?
            .evaluate_bool(&[("context", context), ("event", payload)]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_and_sources() {
        assert_eq!(event_name_problem("stripe.payment_succeeded"), None);
        assert!(event_name_problem("").is_some());
        assert!(event_name_problem("has space").is_some());
        assert!(event_name_problem("tasker:task").is_some());
        assert!(event_name_problem(&"x".repeat(201)).is_some());
        assert_eq!(source_of("stripe.payment_succeeded"), "stripe");
        assert_eq!(source_of("github.push.main"), "github");
        assert_eq!(source_of("deploy"), "deploy");
    }

    #[test]
    fn signatures_are_checked_against_the_body() {
        let body = br#"{"id": 7}"#;
        let good = sign("s3cret", body);
        assert!(good.starts_with("sha256=") && good.len() == 7 + 64);
        assert_eq!(verify_signature("s3cret", body, Some(&good)), Ok(()));
        assert_eq!(
            verify_signature("other", body, Some(&good)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature("s3cret", b"{}", Some(&good)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature("s3cret", body, None),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_signature("s3cret", body, Some("md5=abc")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature("s3cret", body, Some("sha256=zz")),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn events_match_by_their_expression() {
        let spec = WaitForSpec {
            event: "payments.paid".into(),
            matches: Some("event.order == context.order".into()),
            timeout_ms: None,
        };
        let context = json!({"order": "o-1"});
        assert_eq!(event_matches(&spec, &context, &json!({"order": "o-1"})), Ok(true));
        assert_eq!(
            event_matches(&spec, &context, &json!({"order": "o-2"})),
            Ok(false)
        );
        assert!(event_matches(&spec, &context, &json!({})).is_err());
        let any = WaitForSpec {
            matches: None,
            ..spec
        };
        assert_eq!(event_matches(&any, &context, &json!(null)), Ok(true));
    }
}

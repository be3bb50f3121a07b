//! Request bodies and query strings for REST routes: size-limited, JSON
//! only where JSON is expected, and every refusal names the field at fault
//! (its path, e.g. `tags[2]`) — 400 for text that is not JSON, 422 for
//! JSON of the wrong shape (wrong type, missing or unknown field).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use super::problem::Problem;
use crate::graphql::ErrorCode;
use crate::http::AppState;

/// A JSON body of type `T`; an empty body is `T::default()` when `T` allows
/// it (see [`OptionalBody`]).
pub struct JsonBody<T>(pub T);

/// A JSON body that may be left out entirely.
pub struct OptionalBody<T>(pub T);

/// A raw body within the size limit, with its media type.
pub struct RawBody {
    /// The `Content-Type` without parameters, lower-cased.
    pub media_type: String,
    /// The bytes.
    pub bytes: Bytes,
}

/// Query parameters of type `T`.
pub struct Params<T>(pub T);

impl FromRequest<AppState> for RawBody {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Problem> {
        let media_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let limit = state.max_request_bytes;
        let bytes = axum::body::to_bytes(request.into_body(), limit)
            .await
            .map_err(|_| {
                Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    ErrorCode::PayloadTooLarge,
                    format!("the request body is larger than {limit} bytes"),
                )
            })?;
        Ok(Self { media_type, bytes })
    }
}

impl RawBody {
    fn json<T: DeserializeOwned>(&self) -> Result<T, Problem> {
        if !is_json(&self.media_type) {
            return Err(unsupported(&self.media_type, "application/json"));
        }
        parse_json(&self.bytes)
    }
}

/// `application/json` or any `+json` type.
pub fn is_json(media_type: &str) -> bool {
    media_type == "application/json" || media_type.ends_with("+json")
}

/// 415 for a body of a media type the route does not take.
pub fn unsupported(media_type: &str, wanted: &str) -> Problem {
    let given = if media_type.is_empty() { "none" } else { media_type };
    Problem::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorCode::BadUserInput,
        format!("Content-Type {given} is not accepted here; send {wanted}"),
    )
}

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Problem> {
        RawBody::from_request(request, state).await?.json().map(JsonBody)
    }
}

impl<T: DeserializeOwned + Default> FromRequest<AppState> for OptionalBody<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Problem> {
        let raw = RawBody::from_request(request, state).await?;
        if raw.bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        // `null` is "no body" too.
        raw.json::<Option<T>>()
            .map(|body| OptionalBody(body.unwrap_or_default()))
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        parse_query(parts.uri.query().unwrap_or_default()).map(Params)
    }
}

/// The field an error is about: the path serde reached, or the field a
/// root-level message names (`missing field `name``).
fn field_of(path: &str, message: &str) -> String {
    let named = message
        .split_once("field `")
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(name, _)| name);
    match (path, named) {
        ("." | "", Some(name)) => name.to_owned(),
        ("." | "", None) => String::new(),
        (path, Some(name)) if message.starts_with("missing field") => format!("{path}.{name}"),
        (path, _) => path.to_owned(),
    }
}

/// Parse JSON, naming the field at fault.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let not_json = |e: serde_json::Error| {
        Problem::bad_input(
            StatusCode::BAD_REQUEST,
            "",
            format!("the body is not valid JSON: {e}"),
        )
    };
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return not_json(inner);
        }
        let message = strip_position(&inner.to_string());
        Problem::bad_input(
            StatusCode::UNPROCESSABLE_ENTITY,
            &field_of(&path, &message),
            message,
        )
    })?;
    // Trailing text after the document is malformed JSON too.
    deserializer.end().map_err(not_json)?;
    Ok(value)
}

/// Parse a query string, naming the parameter at fault.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, Problem> {
    let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        Problem::bad_input(StatusCode::BAD_REQUEST, &field_of(&path, &message), message)
    })
}

/// serde_json ends messages with ` at line L column C`: not the field's name.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// For optional query parameters: `?after=` (empty) is no `after` at all.
pub fn empty_as_none<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let value: Option<String> = serde::Deserialize::deserialize(deserializer)?;
    Ok(value.filter(|v| !v.is_empty()))
}

/// A path id that must be a UUID.
pub fn parse_id(text: &str, field: &str) -> Result<uuid::Uuid, Problem> {
    text.parse()
        .map_err(|_| Problem::bad_input(StatusCode::BAD_REQUEST, field, format!("{text:?} is not a UUID")))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, Default, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Input {
        name: String,
        #[serde(default)]
        tags: Vec<String>,
        #[serde(default)]
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize, Default, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        limit: u32,
    }

    fn refusal(body: &str) -> (u16, String, Option<String>) {
        let p = parse_json::<Input>(body.as_bytes()).expect_err("refused");
        (p.status().as_u16(), p.code.clone(), p.field)
    }

    #[test]
    fn each_refusal_names_its_field_and_status() {
        let ok: Input = parse_json(br#"{"name": "a", "tags": ["x"]}"#).expect("parses");
        assert_eq!(ok.tags, ["x"]);
        assert_eq!(refusal("{\"name\": "), (400, "BAD_USER_INPUT".into(), None));
        assert_eq!(refusal(r#"{"name": "a"} {}"#).0, 400, "trailing text");
        assert_eq!(refusal("{}"), (422, "BAD_USER_INPUT".into(), Some("name".into())));
        assert_eq!(refusal(r#"{"name": 7}"#).2.as_deref(), Some("name"));
        assert_eq!(
            refusal(r#"{"name": "a", "tags": ["x", 3]}"#).2.as_deref(),
            Some("tags[1]")
        );
        assert_eq!(
            refusal(r#"{"name": "a", "colour": 1}"#).2.as_deref(),
            Some("colour")
        );
        assert_eq!(
            refusal(r#"{"name": "a", "inner": {}}"#).2.as_deref(),
            Some("inner.limit")
        );
        assert_eq!(
            refusal(r#"{"name": "a", "inner": {"limit": -1}}"#).2.as_deref(),
            Some("inner.limit")
        );
        let message = parse_json::<Input>(br#"{"name": 7}"#)
            .expect_err("refused")
            .message;
        assert!(
            message.starts_with("name: invalid type: integer `7`"),
            "{message}"
        );
        assert!(!message.contains("line"), "{message}");
    }

    #[test]
    fn query_strings_name_the_parameter() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Q {
            #[serde(default)]
            limit: Option<u32>,
        }
        assert_eq!(parse_query::<Q>("limit=5").expect("parses").limit, Some(5));
        let bad = parse_query::<Q>("limit=many").expect_err("refused");
        assert_eq!(
            (bad.status().as_u16(), bad.field.as_deref()),
            (400, Some("limit"))
        );
        let unknown = parse_query::<Q>("colour=red").expect_err("refused");
        assert_eq!(unknown.field.as_deref(), Some("colour"));
        assert_eq!(
            parse_id("nope", "id").expect_err("refused").field.as_deref(),
            Some("id")
        );
    }
}

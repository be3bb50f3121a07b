//! Sensitive values kept out of logs and events: any object key that contains
//! a filtered word (case-insensitive, `-` and `_` alike) has its value
//! replaced, at any depth, including inside JSON held in a string.

use regex::Regex;
use serde_json::Value;

/// What a filtered value becomes.
pub const FILTERED: &str = "[FILTERED]";

/// Keys whose values never reach logs or events (matched case-insensitively,
/// as whole keys or as parts of them: `db_password`, `X-Api-Key`).
pub const DEFAULT_FILTERED_KEYS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "authorization",
    "api_key",
    "apikey",
    "api-key",
    "private_key",
    "credential",
    "cookie",
    "session",
    "ssn",
    "credit_card",
    "card_number",
    "cvv",
];

/// Filters values by key.
#[derive(Debug, Clone)]
pub struct Redactor {
    words: Vec<String>,
    /// Any of the words in an ASCII key (`-` and `_` alike, any case).
    keys: Option<Regex>,
    /// `word = value` / `word: value` pairs in free text (messages, URLs).
    pairs: Option<Regex>,
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor::new(DEFAULT_FILTERED_KEYS)
    }
}

fn normalize(key: &str) -> String {
    key.to_lowercase().replace('-', "_")
}

impl Redactor {
    /// A redactor for these words (e.g. `password`, `api_key`).
    pub fn new<S: AsRef<str>>(words: &[S]) -> Self {
        let words: Vec<String> = words
            .iter()
            .map(|w| normalize(w.as_ref()))
            .filter(|w| !w.is_empty())
            .collect();
        let alternatives: Vec<String> = words
            .iter()
            .map(|w| regex::escape(w).replace('_', "[_-]"))
            .collect();
        let regex = |pattern: String| {
            (!alternatives.is_empty())
                .then(|| Regex::new(&pattern).ok())
                .flatten()
        };
        let any_word = alternatives.join("|");
        let keys = regex(format!("(?i)(?:{any_word})"));
        let pairs = regex(format!(
            r#"(?i)([\w-]*(?:{any_word})[\w-]*["']?\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s&,;"'}}]+)"#
        ));
        Self { words, keys, pairs }
    }

    /// `text` with `word=value` and `word: value` pairs filtered.
    pub fn redact_text<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        match &self.pairs {
            // Every pair has a `:` or `=`: most text (names, ids, statuses)
            // has neither and need not go through the regex.
            Some(pairs) if text.contains([':', '=']) => pairs.replace_all(text, format!("${{1}}{FILTERED}")),
            _ => std::borrow::Cow::Borrowed(text),
        }
    }

    /// True when values under `key` are filtered.
    pub fn is_sensitive(&self, key: &str) -> bool {
        if !key.is_ascii() {
            let key = normalize(key);
            return self.words.iter().any(|w| key.contains(w.as_str()));
        }
        // One search for all the words, without a lower-cased copy of every
        // key of every logged payload.
        self.keys.as_ref().is_some_and(|keys| keys.is_match(key))
    }

    /// `value` with every sensitive entry replaced by [`FILTERED`].
    pub fn redact(&self, value: &Value) -> Value {
        let mut copy = value.clone();
        self.redact_in_place(&mut copy);
        copy
    }

    /// Replace every sensitive entry of `value` by [`FILTERED`].
    pub fn redact_in_place(&self, value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map.iter_mut() {
                    if self.is_sensitive(key) {
                        *inner = Value::String(FILTERED.to_owned());
                    } else {
                        self.redact_in_place(inner);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_in_place(v)),
            Value::String(text) => {
                // JSON carried as text (a request body, a serialized context)
                // stays JSON; other text loses its `key=value` secrets.
                if text.trim_start().starts_with('{')
                    && let Ok(mut parsed @ Value::Object(_)) = serde_json::from_str::<Value>(text)
                {
                    let before = parsed.clone();
                    self.redact_in_place(&mut parsed);
                    if parsed != before {
                        *text = parsed.to_string();
                    }
                    return;
                }
                if let std::borrow::Cow::Owned(filtered) = self.redact_text(text) {
                    *text = filtered;
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn redactor() -> Redactor {
        Redactor::new(&["password", "secret", "token", "authorization", "api_key"])
    }

    #[test]
    fn nested_keys_are_filtered_whatever_their_case() {
        let input = json!({
            "user": {"name": "ada", "Password": "hunter2", "profile": {"API-KEY": "k", "db_password": "p"}},
            "headers": [{"Authorization": "Bearer x"}, {"accept": "json"}],
            "refresh_token": {"value": "t"},
            "count": 3,
        });
        let out = redactor().redact(&input);
        assert_eq!(out["user"]["name"], "ada");
        assert_eq!(out["user"]["Password"], FILTERED);
        assert_eq!(out["user"]["profile"]["API-KEY"], FILTERED);
        assert_eq!(out["user"]["profile"]["db_password"], FILTERED);
        assert_eq!(out["headers"][0]["Authorization"], FILTERED);
        assert_eq!(out["headers"][1]["accept"], "json");
        assert_eq!(out["refresh_token"], FILTERED);
        assert_eq!(out["count"], 3);
    }

    #[test]
    fn json_inside_strings_is_filtered_and_other_text_left_alone() {
        let input = json!({"body": "{\"secret\": \"s\", \"id\": 1}", "note": "{not json", "plain": "secret"});
        let out = redactor().redact(&input);
        let body: Value = serde_json::from_str(out["body"].as_str().expect("text")).expect("json");
        assert_eq!(body, json!({"secret": FILTERED, "id": 1}));
        assert_eq!(out["note"], "{not json");
        assert_eq!(out["plain"], "secret", "values are not keys");
    }

    #[test]
    fn pairs_in_free_text_are_filtered() {
        let r = redactor();
        assert_eq!(
            r.redact_text("GET https://x.test/a?api-key=abc123&page=2 failed"),
            "GET https://x.test/a?api-key=[FILTERED]&page=2 failed"
        );
        assert_eq!(
            r.redact_text("handler: upstream said {\"access_token\": \"t0k\", \"n\": 1}"),
            "handler: upstream said {\"access_token\": [FILTERED], \"n\": 1}"
        );
        assert_eq!(
            r.redact_text("Password: hunter2, user: ada"),
            "Password: [FILTERED], user: ada"
        );
        assert_eq!(r.redact_text("no secrets here"), "no secrets here");
        let reason = json!({"reason": "worker: token=abc"});
        assert_eq!(r.redact(&reason)["reason"], "worker: token=[FILTERED]");
    }

    #[test]
    fn keys_match_in_any_case_and_script() {
        let r = redactor();
        for key in ["X-Api-Key", "DB_PASSWORD", "refreshToken", "Ключ-Token", "secret"] {
            assert!(r.is_sensitive(key), "{key}");
        }
        for key in ["api", "pass_word", "tok", "Ключ", ""] {
            assert!(!r.is_sensitive(key), "{key}");
        }
        assert!(Redactor::new(&["contraseña"]).is_sensitive("Mi_Contraseña"));
    }

    #[test]
    fn an_empty_list_filters_nothing() {
        let input = json!({"password": "p"});
        assert_eq!(Redactor::new::<&str>(&[]).redact(&input), input);
    }
}

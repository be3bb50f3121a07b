//! Rate limits: at most `limit` starts of one key in any window of `per`.
//! A start holds one of the key's `limit` places until `per` after it (a
//! sliding-window log), so no window of that length ever holds more starts.
//! This module holds the rules: what a valid limit and period are, how a key
//! is named, and which of the runs waiting for keys may start now; the store
//! keeps the log and applies them under a lock on each key.

use std::collections::HashMap;
use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use uuid::Uuid;

use super::concurrency::{KEY_VARIABLES, keyed_limit_problems};
use super::expr::{ExprError, Expression};

/// Most starts a key may allow in one window.
pub const MAX_LIMIT: u32 = 100_000;
/// Longest window, in milliseconds (one day).
pub const MAX_PERIOD_MS: u64 = 86_400_000;

/// A rate limit as written in a template step or for a handler in config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSpec {
    /// A CEL expression over `context` whose value names the key (e.g.
    /// `context.account`); without one, every start shares one key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Starts allowed in any one window.
    pub limit: u32,
    /// The window: a whole number of seconds, minutes or hours (`1s`, `30s`, `1m`, `1h`).
    pub per: Period,
}

/// A window length written as a whole number and a unit: `s`, `m` or `h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    amount: u64,
    unit: char,
}

impl Period {
    /// The period spelled `text`, or why it is not one.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad =
            || format!("{text:?} is not a period: write a whole number and s, m or h (1s, 30s, 1m, 1h)");
        let unit = text.chars().last().ok_or_else(bad)?;
        let factor = Self::unit_ms(unit).ok_or_else(bad)?;
        let amount: u64 = text[..text.len() - 1].parse().map_err(|_| bad())?;
        let period = Self { amount, unit };
        match amount.checked_mul(factor) {
            Some(ms) if ms > 0 && ms <= MAX_PERIOD_MS => Ok(period),
            _ => Err(format!("{text:?} must be between 1s and 24h")),
        }
    }

    fn unit_ms(unit: char) -> Option<u64> {
        match unit {
            's' => Some(1_000),
            'm' => Some(60_000),
            'h' => Some(3_600_000),
            _ => None,
        }
    }

    /// Its length in milliseconds.
    pub fn millis(self) -> u64 {
        self.amount * Self::unit_ms(self.unit).unwrap_or(1_000)
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.amount, self.unit)
    }
}

impl Serialize for Period {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Period::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Problems with a limit written at `at`: a limit out of range or a key that
/// is not a valid expression (periods are checked as they are read).
pub fn problems(spec: &RateLimitSpec, at: &str) -> Vec<(String, String)> {
    keyed_limit_problems(spec.key.as_deref(), spec.limit, MAX_LIMIT, at)
}

/// One key a run's starts count against, as stored with the run.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RateKey {
    /// Scope (template and step, or handler) and, with a key, `:` and its value.
    pub key: String,
    /// Starts allowed in one window.
    pub limit: u32,
    /// The window, in milliseconds.
    pub per_ms: u64,
}

/// The key a run of `scope` counts against under `spec` for `context`.
pub fn rate_key(scope: &str, spec: &RateLimitSpec, context: &Value) -> Result<RateKey, ExprError> {
    let key = match &spec.key {
        None => scope.to_owned(),
        Some(source) => {
            let value = Expression::parse(source, KEY_VARIABLES)?.evaluate_key(&[("context", context)])?;
            format!("{scope}:{value}")
        }
    };
    Ok(RateKey {
        key,
        limit: spec.limit,
        per_ms: spec.per.millis(),
    })
}

/// What the log of one key holds now: places taken and when the first frees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Starts still inside their window.
    pub held: usize,
    /// When the earliest of them leaves it.
    pub first_free: Option<DateTime<Utc>>,
}

/// Of the runs a pass looked at, which start and when the others may.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Admitted {
    /// One entry per run: it starts, or waits until the time given.
    pub runs: Vec<Result<(), DateTime<Utc>>>,
    /// The keys left without a place, with when their first place frees.
    pub full: HashMap<String, DateTime<Utc>>,
}

/// Whether each waiting run (in the order they should start) may start now,
/// and when a refused one should be looked at again. A run starts only when
/// every key it counts against has a place left; it then takes one of each.
/// A key with no entry in `windows` holds no starts.
pub fn admit(runs: &[Vec<RateKey>], windows: &HashMap<String, Window>, now: DateTime<Utc>) -> Admitted {
    let mut taken: HashMap<&str, usize> = HashMap::new();
    let mut full = HashMap::new();
    let free_at = |k: &RateKey, taken: &HashMap<&str, usize>| {
        let window = windows.get(&k.key).copied().unwrap_or(Window {
            held: 0,
            first_free: None,
        });
        let used = window.held + taken.get(k.key.as_str()).copied().unwrap_or(0);
        // Full: a place frees when the earliest start leaves its window, or
        // (when every start is from this pass) a whole window from now.
        (used >= k.limit as usize).then(|| {
            let per = Duration::milliseconds(i64::try_from(k.per_ms).unwrap_or(i64::MAX));
            window.first_free.unwrap_or(now + per).max(now)
        })
    };
    let runs = runs
        .iter()
        .map(|keys| {
            let mut retry: Option<DateTime<Utc>> = None;
            for k in keys {
                if let Some(at) = free_at(k, &taken) {
                    full.insert(k.key.clone(), at);
                    retry = Some(retry.map_or(at, |r| r.max(at)));
                }
            }
            match retry {
                Some(at) => Err(at),
                None => {
                    for k in keys {
                        *taken.entry(k.key.as_str()).or_default() += 1;
                        if let Some(at) = free_at(k, &taken) {
                            full.insert(k.key.clone(), at);
                        }
                    }
                    Ok(())
                }
            }
        })
        .collect();
    Admitted { runs, full }
}

/// A step sent back to wait for a rate limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttled {
    /// The step.
    pub step_id: Uuid,
    /// Its task.
    pub task_id: Uuid,
    /// Its name.
    pub step_name: String,
    /// Its handler.
    pub handler: String,
    /// The keys it counts against.
    pub keys: Vec<String>,
    /// When it is looked at again (its first place frees).
    pub until: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_800_000_000_000 + ms).expect("a time")
    }

    fn key(name: &str, limit: u32, per_ms: u64) -> RateKey {
        RateKey {
            key: name.to_owned(),
            limit,
            per_ms,
        }
    }

    #[test]
    fn periods_are_whole_seconds_minutes_or_hours_up_to_a_day() {
        assert_eq!(Period::parse("1s").map(Period::millis), Ok(1_000));
        assert_eq!(Period::parse("30s").map(Period::millis), Ok(30_000));
        assert_eq!(Period::parse("1m").map(Period::millis), Ok(60_000));
        assert_eq!(Period::parse("24h").map(Period::millis), Ok(86_400_000));
        for bad in [
            "",
            "s",
            "1",
            "1d",
            "-1s",
            "0s",
            "25h",
            "1.5m",
            "99999999999999999999h",
        ] {
            assert!(Period::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Period::parse("15m").map(|p| p.to_string()), Ok("15m".to_owned()));
        let spec: RateLimitSpec = serde_json::from_value(json!({"limit": 5, "per": "1m"})).expect("spec");
        assert_eq!(spec.per.millis(), 60_000);
        assert!(serde_json::from_value::<RateLimitSpec>(json!({"limit": 5, "per": "1w"})).is_err());
    }

    #[test]
    fn limits_and_keys_are_checked() {
        let spec = |key: Option<&str>, limit| RateLimitSpec {
            key: key.map(str::to_owned),
            limit,
            per: Period::parse("1s").expect("period"),
        };
        assert!(problems(&spec(Some("context.account"), 10), "rate_limit").is_empty());
        assert_eq!(problems(&spec(None, 0), "rate_limit")[0].0, "rate_limit.limit");
        assert_eq!(problems(&spec(Some("input.x"), 1), "r")[0].0, "r.key");
        let keyed = spec(Some("context.account"), 3);
        assert_eq!(
            rate_key("billing/charge/call", &keyed, &json!({"account": "a1"})).map(|k| k.key),
            Ok("billing/charge/call:a1".to_owned())
        );
        assert!(rate_key("s", &keyed, &json!({})).is_err());
    }

    #[test]
    fn runs_start_while_every_key_has_a_place() {
        let runs = vec![vec![key("a", 2, 1_000)]; 3];
        let mut windows = HashMap::new();
        windows.insert(
            "a".to_owned(),
            Window {
                held: 1,
                first_free: Some(at(400)),
            },
        );
        let admitted = admit(&runs, &windows, at(0));
        assert_eq!(admitted.runs, vec![Ok(()), Err(at(400)), Err(at(400))]);
        assert_eq!(admitted.full.get("a"), Some(&at(400)));
        // With no starts held, the limit counts this pass's own starts.
        let fresh = admit(&runs, &HashMap::new(), at(0));
        assert_eq!(fresh.runs, vec![Ok(()), Ok(()), Err(at(1_000))]);
        // A key filled exactly by this pass is full too.
        let two = admit(&runs[..2], &HashMap::new(), at(0));
        assert_eq!(two.runs, vec![Ok(()), Ok(())]);
        assert_eq!(two.full.get("a"), Some(&at(1_000)));
        assert!(admit(&runs[..1], &HashMap::new(), at(0)).full.is_empty());
    }

    #[test]
    fn a_run_of_two_keys_waits_for_the_later_and_takes_neither_when_refused() {
        let both = vec![key("step", 10, 1_000), key("handler", 1, 60_000)];
        let step_only = vec![key("step", 1, 1_000)];
        let mut windows = HashMap::new();
        windows.insert(
            "handler".to_owned(),
            Window {
                held: 1,
                first_free: Some(at(30_000)),
            },
        );
        windows.insert(
            "step".to_owned(),
            Window {
                held: 0,
                first_free: None,
            },
        );
        // The refused run took no place of "step", so the next one starts.
        let admitted = admit(&[both, step_only], &windows, at(0));
        assert_eq!(admitted.runs, vec![Err(at(30_000)), Ok(())]);
        assert_eq!(admitted.full.get("handler"), Some(&at(30_000)));
        assert_eq!(admitted.full.get("step"), Some(&at(1_000)));
    }
}

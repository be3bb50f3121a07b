//! Retry policy: how many attempts a step gets and how long to wait between them.
//! Pure: randomness for jitter comes in as a sample in `[0, 1)`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::TemplateProblem;

/// How the delay grows between attempts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Backoff {
    /// `base_ms * multiplier^(attempt-1)`.
    Exponential {
        /// Delay after the first failed attempt.
        base_ms: u64,
        /// Growth factor per attempt (≥ 1).
        multiplier: f64,
    },
    /// An explicit schedule indexed by attempt; the last entry repeats.
    Schedule {
        /// Delay after attempt 1, 2, …
        delays_ms: Vec<u64>,
    },
}

/// The resolved retry policy stored on every workflow step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Attempts allowed before the step fails for good (≥ 1).
    pub max_attempts: u32,
    /// When false, any failure is permanent.
    pub retryable: bool,
    /// Delay growth.
    pub backoff: Backoff,
    /// Upper bound for any delay, including a handler's `Retry-After`.
    pub max_backoff_ms: u64,
    /// Spread delays randomly over `[delay/2, delay]` (equal jitter).
    pub jitter: bool,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureDecision {
    /// Wait this long, then run a new attempt.
    Retry(Duration),
    /// Fail the step for good.
    GiveUp,
}

impl RetryPolicy {
    /// Delay after the failed attempt number `failed_attempt` (1-based).
    /// A handler's `retry_after` wins over the computed delay; both are capped by
    /// `max_backoff_ms`. Jitter never applies to `retry_after`.
    pub fn delay_after(
        &self,
        failed_attempt: u32,
        retry_after: Option<Duration>,
        jitter_sample: f64,
    ) -> Duration {
        let cap = Duration::from_millis(self.max_backoff_ms);
        if let Some(requested) = retry_after {
            return requested.min(cap);
        }
        let index = failed_attempt.max(1) - 1;
        let raw_ms = match &self.backoff {
            Backoff::Exponential { base_ms, multiplier } => {
                let exponent = i32::try_from(index).unwrap_or(i32::MAX);
                *base_ms as f64 * multiplier.powi(exponent)
            }
            Backoff::Schedule { delays_ms } => {
                let at = (index as usize).min(delays_ms.len().saturating_sub(1));
                delays_ms.get(at).copied().unwrap_or(0) as f64
            }
        };
        let capped_ms = raw_ms.min(self.max_backoff_ms as f64).max(0.0);
        let ms = if self.jitter {
            let sample = jitter_sample.clamp(0.0, 1.0);
            capped_ms / 2.0 + sample * capped_ms / 2.0
        } else {
            capped_ms
        };
        Duration::from_micros((ms * 1000.0) as u64)
    }

    /// Decide after attempt `attempts` failed, given the step may run up to
    /// `attempt_limit` attempts in all (the limit grows when an operator retries).
    pub fn decide(
        &self,
        attempts: u32,
        attempt_limit: u32,
        failure_retryable: bool,
        retry_after: Option<Duration>,
        jitter_sample: f64,
    ) -> FailureDecision {
        if !self.retryable || !failure_retryable || attempts >= attempt_limit {
            FailureDecision::GiveUp
        } else {
            FailureDecision::Retry(self.delay_after(attempts, retry_after, jitter_sample))
        }
    }
}

/// Server-wide defaults a template's `retry` block overrides field by field.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryDefaults {
    /// Attempts when a step says nothing.
    pub max_attempts: u32,
    /// Delay growth when a step says nothing.
    pub backoff: Backoff,
    /// Cap when a step says nothing.
    pub max_backoff_ms: u64,
    /// Jitter when a step says nothing.
    pub jitter: bool,
}

impl Default for RetryDefaults {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            backoff: Backoff::Exponential {
                base_ms: 1_000,
                multiplier: 2.0,
            },
            max_backoff_ms: 300_000,
            jitter: true,
        }
    }
}

/// A step's `retry:` block as written in a template: every field optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    /// Attempts in all (≥ 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// Delay after the first failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_ms: Option<u64>,
    /// Cap for every delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_backoff_ms: Option<u64>,
    /// Growth factor per attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiplier: Option<f64>,
    /// Equal jitter on or off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<bool>,
    /// Explicit delays indexed by attempt (instead of backoff_ms/multiplier).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_schedule_ms: Option<Vec<u64>>,
}

/// Largest attempt budget a template may ask for.
pub const MAX_ATTEMPTS_LIMIT: u32 = 1_000;

impl RetrySpec {
    /// Problems with this block, each located under `path`.
    pub fn problems(&self, path: &str) -> Vec<TemplateProblem> {
        let mut problems = Vec::new();
        let mut push = |field: &str, message: String| {
            problems.push(TemplateProblem {
                path: format!("{path}.{field}"),
                message,
            });
        };
        if let Some(n) = self.max_attempts
            && !(1..=MAX_ATTEMPTS_LIMIT).contains(&n)
        {
            push(
                "max_attempts",
                format!("must be between 1 and {MAX_ATTEMPTS_LIMIT}, got {n}"),
            );
        }
        if let (Some(base), Some(max)) = (self.backoff_ms, self.max_backoff_ms)
            && base > max
        {
            push(
                "backoff_ms",
                format!("{base} is larger than max_backoff_ms {max}"),
            );
        }
        if let Some(m) = self.multiplier
            && !(m.is_finite() && (1.0..=100.0).contains(&m))
        {
            push(
                "multiplier",
                format!("must be a number between 1.0 and 100.0, got {m}"),
            );
        }
        if let Some(schedule) = &self.backoff_schedule_ms {
            if schedule.is_empty() {
                push("backoff_schedule_ms", "must list at least one delay".to_owned());
            }
            if self.backoff_ms.is_some() || self.multiplier.is_some() {
                push(
                    "backoff_schedule_ms",
                    "set either backoff_schedule_ms or backoff_ms/multiplier, not both".to_owned(),
                );
            }
            if let (Some(max), Some(big)) = (self.max_backoff_ms, schedule.iter().max())
                && *big > max
            {
                push(
                    "backoff_schedule_ms",
                    format!("delay {big} is larger than max_backoff_ms {max}"),
                );
            }
        }
        problems
    }

    /// Fill the gaps from the server defaults.
    pub fn resolve(&self, defaults: &RetryDefaults, retryable: bool) -> RetryPolicy {
        let backoff = match (&self.backoff_schedule_ms, &defaults.backoff) {
            (Some(schedule), _) => Backoff::Schedule {
                delays_ms: schedule.clone(),
            },
            (None, Backoff::Exponential { base_ms, multiplier }) => Backoff::Exponential {
                base_ms: self.backoff_ms.unwrap_or(*base_ms),
                multiplier: self.multiplier.unwrap_or(*multiplier),
            },
            (None, Backoff::Schedule { delays_ms }) => match (self.backoff_ms, self.multiplier) {
                (None, None) => Backoff::Schedule {
                    delays_ms: delays_ms.clone(),
                },
                (base, multiplier) => Backoff::Exponential {
                    base_ms: base.unwrap_or(1_000),
                    multiplier: multiplier.unwrap_or(2.0),
                },
            },
        };
        RetryPolicy {
            max_attempts: self.max_attempts.unwrap_or(defaults.max_attempts).max(1),
            retryable,
            backoff,
            max_backoff_ms: self.max_backoff_ms.unwrap_or(defaults.max_backoff_ms),
            jitter: self.jitter.unwrap_or(defaults.jitter),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn exponential(base_ms: u64, multiplier: f64, max: u64, jitter: bool) -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            retryable: true,
            backoff: Backoff::Exponential { base_ms, multiplier },
            max_backoff_ms: max,
            jitter,
        }
    }

    #[test]
    fn exponential_delay_doubles_and_is_capped() {
        let p = exponential(200, 2.0, 1_000, false);
        let ms: Vec<u128> = (1..=5).map(|a| p.delay_after(a, None, 0.0).as_millis()).collect();
        assert_eq!(ms, vec![200, 400, 800, 1_000, 1_000]);
    }

    #[test]
    fn schedule_is_indexed_by_attempt_and_repeats_its_last_entry() {
        let p = RetryPolicy {
            backoff: Backoff::Schedule {
                delays_ms: vec![10, 20, 40],
            },
            ..exponential(0, 1.0, 1_000, false)
        };
        let ms: Vec<u128> = (1..=5).map(|a| p.delay_after(a, None, 0.5).as_millis()).collect();
        assert_eq!(ms, vec![10, 20, 40, 40, 40]);
    }

    #[test]
    fn retry_after_wins_over_the_computed_delay_but_not_over_the_cap() {
        let p = exponential(200, 2.0, 5_000, true);
        assert_eq!(
            p.delay_after(1, Some(Duration::from_secs(3)), 0.0),
            Duration::from_secs(3)
        );
        assert_eq!(
            p.delay_after(1, Some(Duration::from_secs(60)), 0.0),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn decide_gives_up_on_permanent_errors_and_exhausted_budgets() {
        let p = exponential(100, 2.0, 1_000, false);
        assert_eq!(p.decide(1, 3, false, None, 0.0), FailureDecision::GiveUp);
        assert_eq!(p.decide(3, 3, true, None, 0.0), FailureDecision::GiveUp);
        assert_eq!(
            p.decide(2, 3, true, None, 0.0),
            FailureDecision::Retry(Duration::from_millis(200))
        );
        let not_retryable = RetryPolicy {
            retryable: false,
            ..p
        };
        assert_eq!(
            not_retryable.decide(1, 3, true, None, 0.0),
            FailureDecision::GiveUp
        );
    }

    #[test]
    fn spec_resolves_over_defaults_field_by_field() {
        let spec = RetrySpec {
            max_attempts: Some(5),
            backoff_ms: Some(50),
            ..RetrySpec::default()
        };
        let p = spec.resolve(&RetryDefaults::default(), true);
        assert_eq!(p.max_attempts, 5);
        assert_eq!(
            p.backoff,
            Backoff::Exponential {
                base_ms: 50,
                multiplier: 2.0
            }
        );
        assert_eq!(p.max_backoff_ms, 300_000);
        let scheduled = RetrySpec {
            backoff_schedule_ms: Some(vec![1, 2]),
            ..RetrySpec::default()
        };
        assert_eq!(
            scheduled.resolve(&RetryDefaults::default(), true).backoff,
            Backoff::Schedule {
                delays_ms: vec![1, 2]
            }
        );
    }

    #[test]
    fn bad_specs_are_reported_with_their_field() {
        let spec = RetrySpec {
            max_attempts: Some(0),
            backoff_ms: Some(10_000),
            max_backoff_ms: Some(1_000),
            multiplier: Some(0.5),
            ..RetrySpec::default()
        };
        let paths: Vec<String> = spec
            .problems("steps[0].retry")
            .into_iter()
            .map(|p| p.path)
            .collect();
        assert_eq!(
            paths,
            vec![
                "steps[0].retry.max_attempts",
                "steps[0].retry.backoff_ms",
                "steps[0].retry.multiplier"
            ]
        );
        let both = RetrySpec {
            backoff_schedule_ms: Some(vec![]),
            multiplier: Some(2.0),
            ..RetrySpec::default()
        };
        assert_eq!(both.problems("r").len(), 2);
    }

    proptest! {
        #[test]
        fn delay_never_exceeds_the_cap_and_jitter_keeps_at_least_half(
            base in 0u64..100_000,
            multiplier in 1.0f64..10.0,
            max in 0u64..1_000_000,
            attempt in 1u32..200,
            sample in 0.0f64..1.0,
        ) {
            let plain = exponential(base, multiplier, max, false).delay_after(attempt, None, sample);
            let jittered = exponential(base, multiplier, max, true).delay_after(attempt, None, sample);
            prop_assert!(plain <= Duration::from_millis(max));
            prop_assert!(jittered <= plain);
            prop_assert!(jittered.as_micros() * 2 + 2 >= plain.as_micros());
        }
    }
}

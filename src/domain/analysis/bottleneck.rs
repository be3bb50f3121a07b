//! Which steps hold a workflow up, how badly, and why, in words an operator
//! can act on.

use chrono::{DateTime, Utc};

use super::config::AnalysisConfig;
use super::{Criticality, StepRuntime};
use crate::domain::StepStatus;

/// What the scoring needs to know about one troubled step's surroundings.
pub(super) struct Surroundings {
    /// Steps downstream of it.
    pub downstream: usize,
    /// Of those, steps that have not started.
    pub blocked: usize,
    /// Steps on the longest chain below it.
    pub chain_below: usize,
}

/// Whether a step is trouble worth scoring: failed, waiting for a retry, or
/// running after failures or for too long.
pub(super) fn is_trouble(step: &StepRuntime, config: &AnalysisConfig, now: DateTime<Utc>) -> bool {
    match step.status {
        StepStatus::Error | StepStatus::WaitingForRetry => true,
        StepStatus::InProgress => step.attempts > 1 || running_too_long(step, config, now),
        _ => false,
    }
}

fn running_for_ms(step: &StepRuntime, now: DateTime<Utc>) -> u64 {
    step.started_at
        .map_or(0, |s| u64::try_from((now - s).num_milliseconds()).unwrap_or(0))
}

fn running_too_long(step: &StepRuntime, config: &AnalysisConfig, now: DateTime<Utc>) -> bool {
    step.status == StepStatus::InProgress
        && running_for_ms(step, now) > config.penalty_calculation.long_running_ms
}

/// The impact score of one troubled step.
pub(super) fn score(
    step: &StepRuntime,
    around: &Surroundings,
    config: &AnalysisConfig,
    now: DateTime<Utc>,
) -> f64 {
    let i = &config.impact_scoring;
    let p = &config.penalty_calculation;
    let mut total = i.downstream_weight * around.downstream as f64
        + i.blocked_weight * around.blocked as f64
        + i.path_length_weight * around.chain_below as f64
        + i.retry_penalty * f64::from(step.attempts.saturating_sub(1));
    if step.status == StepStatus::Error {
        total += i.error_penalty;
        if !step.retryable {
            total += p.non_retryable;
        }
        if step.attempts >= step.max_attempts {
            total += p.exhausted_retries;
        }
    }
    if running_too_long(step, config, now) {
        total += p.long_running;
    }
    total * config.state_severity.get(&step.status).copied().unwrap_or(0.0)
}

/// The level a score falls in.
pub fn criticality(score: f64, config: &AnalysisConfig) -> Criticality {
    let t = &config.severity_thresholds;
    if score >= t.critical {
        Criticality::Critical
    } else if score >= t.high {
        Criticality::High
    } else if score >= t.medium {
        Criticality::Medium
    } else {
        Criticality::Low
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// One sentence on what is wrong and what it holds up.
pub(super) fn reason(
    step: &StepRuntime,
    around: &Surroundings,
    config: &AnalysisConfig,
    now: DateTime<Utc>,
) -> String {
    let what = match step.status {
        StepStatus::Error => {
            let mut text = format!(
                "failed for good after {}",
                plural(step.attempts as usize, "attempt", "attempts")
            );
            if !step.retryable {
                text.push_str(" (the error is not retryable)");
            }
            if let Some(message) = &step.error {
                let short: String = message.chars().take(200).collect();
                text.push_str(&format!("; last error: {short}"));
            }
            text
        }
        StepStatus::WaitingForRetry => {
            let when = step
                .next_attempt_at
                .map(|at| format!(", next attempt at {}", at.format("%H:%M:%S UTC")))
                .unwrap_or_default();
            format!("attempt {} of {} failed{when}", step.attempts, step.max_attempts)
        }
        _ if running_too_long(step, config, now) => format!(
            "running for {} s, longer than the {} s considered normal",
            running_for_ms(step, now) / 1000,
            config.penalty_calculation.long_running_ms / 1000
        ),
        _ => format!(
            "on attempt {} of {} after earlier failures",
            step.attempts, step.max_attempts
        ),
    };
    let held = if around.downstream == 0 {
        "nothing downstream waits on it".to_owned()
    } else if step.status == StepStatus::Error {
        format!(
            "{} cannot start",
            plural(around.blocked, "downstream step", "downstream steps")
        )
    } else {
        format!(
            "{} wait on it",
            plural(around.downstream, "downstream step", "downstream steps")
        )
    };
    format!("{what}; {held}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime(status: StepStatus, attempts: u32) -> StepRuntime {
        StepRuntime {
            status,
            attempts,
            max_attempts: 3,
            retryable: true,
            started_at: None,
            completed_at: None,
            next_attempt_at: None,
            error: Some("boom".into()),
        }
    }

    #[test]
    fn a_failed_root_blocking_five_steps_scores_by_the_formula() {
        let config = AnalysisConfig::default();
        let around = Surroundings {
            downstream: 5,
            blocked: 5,
            chain_below: 3,
        };
        let step = runtime(StepStatus::Error, 3);
        // (5·5 + 15·5 + 10·3 + 10·2 retries + 30 error + 20 exhausted) × 2.0
        assert_eq!(score(&step, &around, &config, Utc::now()), 400.0);
        assert_eq!(criticality(400.0, &config), Criticality::Critical);
        let text = reason(&step, &around, &config, Utc::now());
        assert!(
            text.contains("after 3 attempts")
                && text.contains("boom")
                && text.contains("5 downstream steps cannot start"),
            "{text}"
        );
    }

    #[test]
    fn thresholds_split_scores_into_levels() {
        let config = AnalysisConfig::default();
        let levels: Vec<Criticality> = [0.0, 19.9, 20.0, 50.0, 100.0]
            .iter()
            .map(|s| criticality(*s, &config))
            .collect();
        use Criticality as C;
        assert_eq!(levels, vec![C::Low, C::Low, C::Medium, C::High, C::Critical]);
    }

    #[test]
    fn only_real_trouble_is_scored() {
        let config = AnalysisConfig::default();
        let now = Utc::now();
        assert!(is_trouble(&runtime(StepStatus::WaitingForRetry, 1), &config, now));
        assert!(!is_trouble(&runtime(StepStatus::InProgress, 1), &config, now));
        assert!(is_trouble(&runtime(StepStatus::InProgress, 2), &config, now));
        let mut long = runtime(StepStatus::InProgress, 1);
        long.started_at = Some(now - chrono::Duration::minutes(10));
        assert!(is_trouble(&long, &config, now));
        assert!(!is_trouble(&runtime(StepStatus::Cancelled, 1), &config, now));
    }
}

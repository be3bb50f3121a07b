//! Knobs of the dependency-graph analysis (`[dependency_graph]` in the
//! configuration). Defaults follow the original Tasker's scoring.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::StepStatus;

/// How a troubled step's impact is scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImpactScoring {
    /// Per step downstream of the troubled step.
    pub downstream_weight: f64,
    /// Per downstream step that has not started because of it.
    pub blocked_weight: f64,
    /// Per step on the longest chain below it.
    pub path_length_weight: f64,
    /// Added when the step is in ERROR.
    pub error_penalty: f64,
    /// Added per attempt beyond the first.
    pub retry_penalty: f64,
}

impl Default for ImpactScoring {
    fn default() -> Self {
        Self {
            downstream_weight: 5.0,
            blocked_weight: 15.0,
            path_length_weight: 10.0,
            error_penalty: 30.0,
            retry_penalty: 10.0,
        }
    }
}

/// Extra penalties for particular kinds of trouble.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PenaltyCalculation {
    /// A failed step that will not be retried (a permanent error).
    pub non_retryable: f64,
    /// A failed step that used every attempt it had.
    pub exhausted_retries: f64,
    /// A running step older than `long_running_ms`.
    pub long_running: f64,
    /// When a running step counts as long-running.
    pub long_running_ms: u64,
}

impl Default for PenaltyCalculation {
    fn default() -> Self {
        Self {
            non_retryable: 10.0,
            exhausted_retries: 20.0,
            long_running: 15.0,
            long_running_ms: 300_000,
        }
    }
}

/// Score from which each criticality level starts (LOW below `medium`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SeverityThresholds {
    /// MEDIUM from here.
    pub medium: f64,
    /// HIGH from here.
    pub high: f64,
    /// CRITICAL from here.
    pub critical: f64,
}

impl Default for SeverityThresholds {
    fn default() -> Self {
        Self {
            medium: 20.0,
            high: 50.0,
            critical: 100.0,
        }
    }
}

/// How long steps are expected to take, for critical paths.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DurationEstimates {
    /// Estimate for handlers without their own.
    pub default_ms: u64,
    /// Estimates per handler name.
    pub handlers: BTreeMap<String, u64>,
    /// Once a template has run, the p50 of its last N successful runs of a step
    /// replaces the configured estimate (0 turns observation off).
    pub observed_runs: u32,
}

impl Default for DurationEstimates {
    fn default() -> Self {
        let handlers = [("noop", 1), ("echo", 1)]
            .into_iter()
            .map(|(h, ms)| (h.to_owned(), ms))
            .collect();
        Self {
            default_ms: 30_000,
            handlers,
            observed_runs: 20,
        }
    }
}

/// The whole `[dependency_graph]` block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalysisConfig {
    /// Weights of the impact score.
    pub impact_scoring: ImpactScoring,
    /// Multiplier of a troubled step's score by its status (missing statuses: 0).
    pub state_severity: BTreeMap<StepStatus, f64>,
    /// Extra penalties.
    pub penalty_calculation: PenaltyCalculation,
    /// Score → LOW / MEDIUM / HIGH / CRITICAL.
    pub severity_thresholds: SeverityThresholds,
    /// Step duration estimates.
    pub duration_estimates: DurationEstimates,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        let state_severity = [
            (StepStatus::Error, 2.0),
            (StepStatus::WaitingForRetry, 1.2),
            (StepStatus::InProgress, 1.0),
        ]
        .into_iter()
        .collect();
        Self {
            impact_scoring: ImpactScoring::default(),
            state_severity,
            penalty_calculation: PenaltyCalculation::default(),
            severity_thresholds: SeverityThresholds::default(),
            duration_estimates: DurationEstimates::default(),
        }
    }
}

impl AnalysisConfig {
    /// Every problem, as `(key under dependency_graph, message)`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        let mut check = |key: &str, value: f64| {
            if !(value.is_finite() && value >= 0.0) {
                problems.push((key.to_owned(), format!("must be a number ≥ 0, got {value}")));
            }
        };
        let i = &self.impact_scoring;
        check("impact_scoring.downstream_weight", i.downstream_weight);
        check("impact_scoring.blocked_weight", i.blocked_weight);
        check("impact_scoring.path_length_weight", i.path_length_weight);
        check("impact_scoring.error_penalty", i.error_penalty);
        check("impact_scoring.retry_penalty", i.retry_penalty);
        let p = &self.penalty_calculation;
        check("penalty_calculation.non_retryable", p.non_retryable);
        check("penalty_calculation.exhausted_retries", p.exhausted_retries);
        check("penalty_calculation.long_running", p.long_running);
        for (status, value) in &self.state_severity {
            check(&format!("state_severity.{status}"), *value);
        }
        let t = &self.severity_thresholds;
        check("severity_thresholds.medium", t.medium);
        check("severity_thresholds.high", t.high);
        check("severity_thresholds.critical", t.critical);
        if !(t.medium < t.high && t.high < t.critical) {
            problems.push((
                "severity_thresholds".to_owned(),
                format!(
                    "must rise: medium {} < high {} < critical {}",
                    t.medium, t.high, t.critical
                ),
            ));
        }
        if self.duration_estimates.default_ms == 0 {
            problems.push((
                "duration_estimates.default_ms".to_owned(),
                "must be at least 1".to_owned(),
            ));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        assert!(AnalysisConfig::default().problems().is_empty());
        let mut c = AnalysisConfig::default();
        c.impact_scoring.blocked_weight = -1.0;
        c.severity_thresholds.high = 5.0;
        c.state_severity.insert(StepStatus::Error, f64::NAN);
        let keys: Vec<String> = c.problems().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            vec![
                "impact_scoring.blocked_weight",
                "state_severity.ERROR",
                "severity_thresholds"
            ]
        );
    }

    #[test]
    fn state_severity_reads_status_names() {
        let c: AnalysisConfig =
            serde_json::from_value(serde_json::json!({"state_severity": {"ERROR": 3.0}})).expect("parses");
        assert_eq!(c.state_severity.get(&StepStatus::Error), Some(&3.0));
        assert!(
            serde_json::from_value::<AnalysisConfig>(serde_json::json!({"state_severity": {"BROKEN": 1}}))
                .is_err()
        );
    }
}

//! What the services are configured with: input limits, retry defaults,
//! analysis, event routing and handler limits.

use std::collections::HashMap;

use crate::config::{Config, LimitsConfig};
use crate::domain::backoff::{Backoff, RetryDefaults};
use crate::domain::redact::Redactor;
use crate::domain::template::TemplateLimits;
use crate::telemetry::router::Router;

/// Size limits on inputs.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest task context (serialized JSON bytes).
    pub max_context_bytes: usize,
    /// Largest template document.
    pub max_template_bytes: usize,
    /// Largest step results (from a worker or a manual resolution).
    pub max_result_bytes: usize,
    /// Template size and timeout limits.
    pub template: TemplateLimits,
}

impl Limits {
    /// The limits of `[limits]`.
    pub fn from_config(config: &LimitsConfig) -> Self {
        Self {
            max_context_bytes: config.max_context_bytes,
            max_template_bytes: config.max_template_bytes,
            max_result_bytes: config.max_result_bytes,
            template: TemplateLimits {
                max_steps: config.max_steps_per_template,
                ..TemplateLimits::default()
            },
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::from_config(&LimitsConfig::default())
    }
}

/// Service settings.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Input limits.
    pub limits: Limits,
    /// Dependency-graph analysis.
    pub analysis: crate::domain::analysis::AnalysisConfig,
    /// Retry defaults templates override per step.
    pub retry_defaults: RetryDefaults,
    /// Queue of each typed event subscriber (0: the default, 1,024).
    pub subscriber_queue: usize,
    /// Keeps sensitive values out of logs and published payloads.
    pub redactor: crate::domain::redact::Redactor,
    /// Which events become metrics, log lines and spans.
    pub router: crate::telemetry::router::Router,
    /// Rate limits of handlers (`handlers.<name>.rate_limit`), by handler name.
    pub handler_rates: HashMap<String, crate::domain::rate::RateLimitSpec>,
    /// Concurrency limits of handlers (`handlers.<name>.max_concurrency` and
    /// `max_concurrency_per_replica`), by handler name.
    pub handler_concurrency: crate::store::HandlerLimits,
    /// Sources `POST /events/{name}` accepts, with the secret their events
    /// are signed with (none: a token is needed instead).
    pub event_sources: HashMap<String, Option<String>>,
}

impl Settings {
    /// The settings `config` gives.
    pub fn from_config(config: &Config) -> Self {
        let b = &config.backoff;
        let ms = |s: f64| (s * 1000.0).round() as u64;
        let backoff = if b.default_backoff_seconds.is_empty() {
            Backoff::Exponential {
                base_ms: ms(b.base_seconds),
                multiplier: b.multiplier,
            }
        } else {
            Backoff::Schedule {
                delays_ms: b.default_backoff_seconds.iter().map(|s| ms(*s)).collect(),
            }
        };
        let o = &config.observability;
        Self {
            analysis: config.dependency_graph.clone(),
            limits: Limits::from_config(&config.limits),
            retry_defaults: RetryDefaults {
                max_attempts: b.max_attempts,
                backoff,
                max_backoff_ms: ms(b.max_backoff_seconds),
                jitter: b.jitter,
            },
            subscriber_queue: o.subscriber_queue,
            redactor: Redactor::new(&o.filtered_keys),
            router: Router::new(&o.routes, o.event_sampling_rate, &o.filtered_events),
            handler_rates: config
                .handlers
                .iter()
                .filter_map(|(name, h)| h.rate_limit.clone().map(|spec| (name.clone(), spec)))
                .collect(),
            handler_concurrency: config.handler_concurrency(),
            event_sources: config
                .inbound_events
                .sources
                .iter()
                .map(|(name, s)| (name.clone(), Some(s.secret.clone()).filter(|s| !s.is_empty())))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_values_reach_the_settings() {
        let mut config = Config::default();
        config.backoff.default_backoff_seconds = vec![1.0, 2.5];
        config.limits.max_steps_per_template = 9;
        config.handlers.insert(
            "http".into(),
            crate::config::HandlerConfig {
                max_concurrency: Some(3),
                ..Default::default()
            },
        );
        let settings = Settings::from_config(&config);
        assert_eq!(
            settings.retry_defaults.backoff,
            Backoff::Schedule {
                delays_ms: vec![1_000, 2_500]
            }
        );
        assert_eq!(settings.limits.template.max_steps, 9);
        assert_eq!(settings.handler_concurrency["http"].cluster, Some(3));
        assert!(settings.handler_rates.is_empty());
    }
}

//! One typed configuration: defaults < `tasker.toml` (or `--config FILE`) <
//! `TASKER_SECTION__KEY` environment variables < `DATABASE_URL` < command-line
//! flags. Validated at start; every error names its key.
//!
//! Configuration is the bottom of the layers besides the domain: it knows
//! nothing of the engine, the store or the front ends. Each layer builds its
//! own settings from its section (`engine::Options::from_config`,
//! `service::Settings::from_config`, …), and the checks that need a layer's
//! knowledge are `app::check_config`'s.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

mod auth;
mod observability;
mod sections;

pub use auth::{ApiKeyConfig, AuthConfig};
pub use observability::{
    DEFAULT_FILTERED_KEYS, METRICS_CACHE_STRATEGIES, MetricsCacheConfig, ObservabilityConfig, RedisConfig,
    TracingConfig, default_routes,
};

pub use sections::{
    BackoffConfig, DEFAULT_TEMPLATE_DIR, DatabaseConfig, EngineConfig, EventSourceConfig, EventsConfig,
    ExplorerConfig, GraphqlConfig, HandlerConfig, InboundEventsConfig, LimitsConfig, LogConfig, ServerConfig,
    TemplatesConfig,
};

use crate::domain::analysis::AnalysisConfig;
use crate::domain::handler_limit::HandlerConcurrency;

/// Longest priority ageing: beyond a year priority is strict in practice.
const MAX_PRIORITY_AGEING_SECONDS: u64 = 365 * 86_400;

/// Config file read when `--config` is not given and it exists.
pub const DEFAULT_FILE: &str = "tasker.toml";

/// A configuration problem.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A source could not be read or a value has the wrong type (figment names the key).
    #[error("configuration: {0}")]
    Load(Box<figment::Error>),
    /// A value is out of range or inconsistent.
    #[error("configuration key {key}: {message}")]
    Invalid {
        /// Dotted key, e.g. `engine.max_concurrency`.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// Everything configurable.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// HTTP server.
    pub server: ServerConfig,
    /// Database.
    pub database: DatabaseConfig,
    /// Template directories loaded at start.
    pub templates: TemplatesConfig,
    /// The engine.
    pub engine: EngineConfig,
    /// Retry defaults for steps.
    pub backoff: BackoffConfig,
    /// Input limits.
    pub limits: LimitsConfig,
    /// Logging.
    pub log: LogConfig,
    /// Event bus.
    pub events: EventsConfig,
    /// GraphQL endpoint.
    pub graphql: GraphqlConfig,
    /// Dependency-graph analysis (scores, thresholds, duration estimates).
    pub dependency_graph: AnalysisConfig,
    /// Filtering, sampling and the performance monitor.
    pub observability: ObservabilityConfig,
    /// Redis (fan-out of events across replicas).
    pub redis: RedisConfig,
    /// Spans exported over OTLP.
    pub tracing: TracingConfig,
    /// Metrics shared between replicas.
    pub metrics_cache: MetricsCacheConfig,
    /// Authentication and authorization.
    pub auth: AuthConfig,
    /// Limits of individual handlers, by handler name (`[handlers.http]`).
    pub handlers: BTreeMap<String, HandlerConfig>,
    /// Events from outside that steps wait for.
    pub inbound_events: InboundEventsConfig,
    /// The task explorer (web UI).
    pub explorer: ExplorerConfig,
}

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        message: message.into(),
    }
}

impl Config {
    /// Read defaults, the file, the environment; `file` must exist when given.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) if !path.exists() => {
                return Err(invalid("--config", format!("{} does not exist", path.display())));
            }
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None => figment = figment.merge(Toml::file(DEFAULT_FILE)),
        }
        figment = figment
            // Every setting sits in a section (`TASKER_SECTION__KEY`); names
            // without `__` belong to the clients and the test suite
            // (TASKER_SERVER, TASKER_TOKEN, TASKER_TEST_*), not to the service.
            .merge(
                Env::prefixed("TASKER_")
                    .filter(|k| k.as_str().contains("__"))
                    .split("__"),
            )
            .merge(Env::raw().only(&["DATABASE_URL"]).map(|_| "database.url".into()));
        figment.extract().map_err(|e| ConfigError::Load(Box::new(e)))
    }

    /// Check ranges and consistency (the checks a layer knows of are
    /// `app::check_config`'s, which runs these first).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.server
            .listen
            .parse::<SocketAddr>()
            .map_err(|e| invalid("server.listen", format!("{:?}: {e}", self.server.listen)))?;
        let positive = [
            ("database.max_connections", self.database.max_connections as u64),
            ("engine.max_concurrency", self.engine.max_concurrency as u64),
            ("engine.claim_batch_size", self.engine.claim_batch_size as u64),
            ("engine.max_batch", self.engine.max_batch as u64),
            ("engine.poll_interval_ms", self.engine.poll_interval_ms),
            ("engine.lease_seconds", self.engine.lease_seconds),
            (
                "engine.default_step_timeout_seconds",
                self.engine.default_step_timeout_seconds,
            ),
            ("backoff.max_attempts", u64::from(self.backoff.max_attempts)),
            ("limits.max_context_bytes", self.limits.max_context_bytes as u64),
            ("limits.max_template_bytes", self.limits.max_template_bytes as u64),
            ("limits.max_result_bytes", self.limits.max_result_bytes as u64),
            (
                "limits.max_steps_per_template",
                self.limits.max_steps_per_template as u64,
            ),
            ("events.channel_capacity", self.events.channel_capacity as u64),
            ("graphql.max_depth", self.graphql.max_depth as u64),
            ("graphql.max_complexity", self.graphql.max_complexity as u64),
            ("graphql.max_request_bytes", self.graphql.max_request_bytes as u64),
            ("observability.slow_step_ms", self.observability.slow_step_ms),
            ("observability.slow_query_ms", self.observability.slow_query_ms),
            (
                "observability.memory_spike_bytes",
                self.observability.memory_spike_bytes,
            ),
            (
                "observability.memory_sample_seconds",
                self.observability.memory_sample_seconds,
            ),
            (
                "observability.subscriber_queue",
                self.observability.subscriber_queue as u64,
            ),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        let b = &self.backoff;
        let seconds_ok = |s: f64| s.is_finite() && s >= 0.0;
        if !seconds_ok(b.base_seconds) {
            return Err(invalid("backoff.base_seconds", "must be a number ≥ 0"));
        }
        if !(b.multiplier.is_finite() && (1.0..=100.0).contains(&b.multiplier)) {
            return Err(invalid("backoff.multiplier", "must be between 1.0 and 100.0"));
        }
        if !seconds_ok(b.max_backoff_seconds) || b.max_backoff_seconds < b.base_seconds {
            return Err(invalid(
                "backoff.max_backoff_seconds",
                "must be ≥ backoff.base_seconds",
            ));
        }
        if b.default_backoff_seconds
            .iter()
            .any(|s| !seconds_ok(*s) || *s > b.max_backoff_seconds)
        {
            return Err(invalid(
                "backoff.default_backoff_seconds",
                "every delay must be between 0 and max_backoff_seconds",
            ));
        }
        if self.engine.priority_ageing_seconds > MAX_PRIORITY_AGEING_SECONDS {
            return Err(invalid(
                "engine.priority_ageing_seconds",
                format!("must be at most {MAX_PRIORITY_AGEING_SECONDS} (a year)"),
            ));
        }
        if !matches!(self.log.format.as_str(), "auto" | "pretty" | "json") {
            return Err(invalid(
                "log.format",
                format!("{:?} is not one of auto, pretty, json", self.log.format),
            ));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map_err(|e| invalid("log.level", e.to_string()))?;
        if let Some((key, message)) = self.dependency_graph.problems().into_iter().next() {
            return Err(invalid(&format!("dependency_graph.{key}"), message));
        }
        self.validate_observability()?;
        if self.inbound_events.lookback_seconds > 86_400 {
            return Err(invalid(
                "inbound_events.lookback_seconds",
                "must be at most 86400 (a day)",
            ));
        }
        for source in self.inbound_events.sources.keys() {
            let bad = source.is_empty()
                || source.contains('.')
                || crate::domain::inbound::event_name_problem(source).is_some();
            if bad {
                return Err(invalid(
                    &format!("inbound_events.sources.{source:?}"),
                    "a source is an event name's part before its first '.': letters, digits, '_', '-', ':' and '/'",
                ));
            }
        }
        for (name, handler) in &self.handlers {
            let at = format!("handlers.{name}");
            let mut problems = handler.concurrency().problems(&at);
            if let Some(spec) = &handler.rate_limit {
                problems.extend(crate::domain::rate::problems(spec, &format!("{at}.rate_limit")));
            }
            if let Some((key, message)) = problems.into_iter().next() {
                return Err(invalid(&key, message));
            }
        }
        Ok(())
    }

    fn validate_observability(&self) -> Result<(), ConfigError> {
        let share = |x: f64| x.is_finite() && (0.0..=1.0).contains(&x);
        let o = &self.observability;
        if !share(o.event_sampling_rate) {
            return Err(invalid(
                "observability.event_sampling_rate",
                "must be between 0 and 1",
            ));
        }
        if !share(self.tracing.sample_ratio) {
            return Err(invalid("tracing.sample_ratio", "must be between 0 and 1"));
        }
        let endpoint = self.tracing.otlp_endpoint.trim();
        if !(endpoint.is_empty()
            || reqwest::Url::parse(endpoint).is_ok_and(|u| matches!(u.scheme(), "http" | "https")))
        {
            return Err(invalid(
                "tracing.otlp_endpoint",
                "must be an http:// or https:// URL (or empty: no export)",
            ));
        }
        if o.filtered_keys.iter().any(|k| k.trim().is_empty()) {
            return Err(invalid("observability.filtered_keys", "keys must not be empty"));
        }
        if let Some(url) = self.redis.url()
            && !(url.starts_with("redis://") || url.starts_with("rediss://") || url.starts_with("unix://"))
        {
            return Err(invalid(
                "redis.url",
                "must start with redis://, rediss:// or unix:// (or be empty for local mode)",
            ));
        }
        if let Some((key, message)) = self.metrics_cache.problem(self.redis.url().is_some()) {
            return Err(invalid(key, message));
        }
        if let Some((key, message)) = self.explorer.problem() {
            return Err(invalid(key, message));
        }
        Ok(())
    }

    /// The address to listen on (validated).
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server
            .listen
            .parse()
            .map_err(|e| invalid("server.listen", format!("{e}")))
    }

    /// How long a claimable step waits to count as one priority level more urgent.
    pub fn priority_ageing(&self) -> Duration {
        Duration::from_secs(self.engine.priority_ageing_seconds)
    }

    /// The concurrency limits of the handlers that have any, by name.
    pub fn handler_concurrency(&self) -> HashMap<String, HandlerConcurrency> {
        self.handlers
            .iter()
            .map(|(name, h)| (name.clone(), h.concurrency()))
            .filter(|(_, limits)| limits.is_limited())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert!(Config::default().validate().is_ok());
    }

    #[test]
    fn observability_settings_are_checked() {
        let key_of = |change: &dyn Fn(&mut Config)| {
            let mut c = Config::default();
            change(&mut c);
            match c.validate() {
                Err(ConfigError::Invalid { key, .. }) => key,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(
            key_of(&|c| c.observability.event_sampling_rate = 1.5),
            "observability.event_sampling_rate"
        );
        assert_eq!(key_of(&|c| c.redis.url = "http://cache:6379".into()), "redis.url");
        assert_eq!(key_of(&|c| c.tracing.sample_ratio = -0.1), "tracing.sample_ratio");
        assert_eq!(
            key_of(&|c| c.tracing.otlp_endpoint = "collector:4318".into()),
            "tracing.otlp_endpoint"
        );
        assert_eq!(
            key_of(&|c| c.observability.slow_query_ms = 0),
            "observability.slow_query_ms"
        );
        let mut c = Config::default();
        c.redis.url = "redis://127.0.0.1:6379/0".into();
        c.observability.filtered_events = vec!["step.handle".into(), "workflow.*".into()];
        assert!(c.validate().is_ok());
    }

    #[test]
    fn bad_metrics_cache_settings_name_their_key() {
        type Spoil = fn(&mut Config);
        let cases: [(&str, Spoil); 6] = [
            ("metrics_cache.strategy", |c| {
                c.metrics_cache.strategy = "fast".into()
            }),
            ("metrics_cache.strategy", |c| {
                c.metrics_cache.strategy = "distributed_atomic".into();
            }),
            ("metrics_cache.sync_interval_seconds", |c| {
                c.metrics_cache.sync_interval_seconds = 0;
            }),
            ("metrics_cache.retention_window_seconds", |c| {
                c.metrics_cache.retention_window_seconds = 59;
            }),
            ("metrics_cache.instance_id", |c| {
                c.metrics_cache.instance_id = "a:b".into()
            }),
            ("metrics_cache.export_target", |c| {
                c.metrics_cache.export_target = "ftp://host/m".into();
            }),
        ];
        for (key, spoil) in cases {
            let mut c = Config::default();
            spoil(&mut c);
            let err = c.validate().expect_err(key).to_string();
            assert!(err.contains(key), "{key}: {err}");
        }
        let mut c = Config::default();
        c.redis.url = "redis://127.0.0.1:6379".into();
        c.metrics_cache.strategy = "distributed_basic".into();
        c.metrics_cache.export_target = "https://push/metrics".into();
        assert!(c.validate().is_ok());
    }

    #[test]
    fn a_trace_url_is_a_web_address_with_a_place_for_the_id() {
        let with = |url: &str| {
            let mut c = Config::default();
            c.explorer.trace_url = url.into();
            c.validate()
        };
        assert!(with("").is_ok());
        assert!(with("http://jaeger:16686/trace/{trace_id}").is_ok());
        assert!(with("https://grafana/explore?trace={trace_id}&x=1").is_ok());
        for bad in ["http://jaeger:16686/trace/", "ftp://x/{trace_id}", "{trace_id}"] {
            let err = with(bad).expect_err(bad).to_string();
            assert!(err.contains("explorer.trace_url"), "{bad}: {err}");
        }
    }

    #[test]
    fn invalid_values_name_their_key() {
        let mut c = Config::default();
        c.engine.max_concurrency = 0;
        assert!(
            c.validate()
                .expect_err("zero")
                .to_string()
                .contains("engine.max_concurrency")
        );
        let mut c = Config::default();
        c.backoff.multiplier = 0.5;
        assert!(
            c.validate()
                .expect_err("shrinking")
                .to_string()
                .contains("backoff.multiplier")
        );
        let mut c = Config::default();
        c.dependency_graph.severity_thresholds.high = 500.0;
        let err = c.validate().expect_err("thresholds out of order").to_string();
        assert!(err.contains("dependency_graph.severity_thresholds"), "{err}");
        let mut c = Config::default();
        c.dependency_graph.impact_scoring.error_penalty = f64::NAN;
        let err = c.validate().expect_err("not a number").to_string();
        assert!(
            err.contains("dependency_graph.impact_scoring.error_penalty"),
            "{err}"
        );
        let mut c = Config::default();
        c.server.listen = "localhost".into();
        assert!(
            c.validate()
                .expect_err("addr")
                .to_string()
                .contains("server.listen")
        );
    }

    #[test]
    #[allow(
        clippy::result_large_err,
        reason = "figment::Jail's closure signature is fixed"
    )]
    fn files_and_environment_override_defaults_and_typos_are_named() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "tasker.toml",
                "[engine]\nmax_concurrency = 7\n[backoff]\ndefault_backoff_seconds = [1, 2]\n",
            )?;
            jail.set_env("TASKER_ENGINE__LEASE_SECONDS", "9");
            jail.set_env("DATABASE_URL", "postgres://u@h/db");
            jail.set_env("TASKER_TEST_DATABASE_URL", "ignored");
            jail.set_env("TASKER_SERVER", "http://client.example:8080");
            jail.set_env("TASKER_TOKEN", "for the client");
            let c = Config::load(None).expect("loads");
            assert_eq!((c.engine.max_concurrency, c.engine.lease_seconds), (7, 9));
            assert_eq!(c.database.url, "postgres://u@h/db");
            assert_eq!(c.backoff.default_backoff_seconds, vec![1.0, 2.0]);
            jail.set_env("TASKER_ENGINE__MAX_CONCURENCY", "3");
            let err = Config::load(None).expect_err("typo").to_string();
            assert!(err.contains("max_concurency"), "{err}");
            Ok(())
        });
    }

    #[test]
    #[allow(
        clippy::result_large_err,
        reason = "figment::Jail's closure signature is fixed"
    )]
    fn handler_rate_limits_load_from_the_file_and_bad_ones_name_their_key() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "tasker.toml",
                "[handlers.mailer.rate_limit]\nlimit = 100\nper = \"1m\"\nkey = \"context.account\"\n",
            )?;
            let c = Config::load(None).expect("loads");
            assert!(c.validate().is_ok());
            let spec = c.handlers["mailer"].rate_limit.as_ref().expect("a rate limit");
            assert_eq!((spec.limit, spec.per.millis()), (100, 60_000));
            jail.set_env("TASKER_HANDLERS__MAILER__RATE_LIMIT__LIMIT", "0");
            let err = Config::load(None).expect("loads").validate().expect_err("zero");
            assert!(
                err.to_string().contains("handlers.mailer.rate_limit.limit"),
                "{err}"
            );
            jail.set_env("TASKER_HANDLERS__MAILER__RATE_LIMIT__PER", "1 minute");
            let err = Config::load(None).expect_err("bad period").to_string();
            assert!(err.contains("1 minute"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn handler_concurrency_limits_are_kept_and_bad_ones_name_their_key() {
        let mut c = Config::default();
        let limited = HandlerConfig {
            max_concurrency: Some(20),
            max_concurrency_per_replica: Some(4),
            ..HandlerConfig::default()
        };
        c.handlers.insert("http".into(), limited);
        c.handlers.insert("noop".into(), HandlerConfig::default());
        assert!(c.validate().is_ok());
        let limits = c.handler_concurrency();
        assert_eq!(
            (limits["http"].cluster, limits["http"].per_replica),
            (Some(20), Some(4))
        );
        assert!(
            !limits.contains_key("noop"),
            "a handler without limits is not limited"
        );
        if let Some(http) = c.handlers.get_mut("http") {
            http.max_concurrency_per_replica = Some(0);
        }
        let err = c.validate().expect_err("zero").to_string();
        assert!(err.contains("handlers.http.max_concurrency_per_replica"), "{err}");
    }
}

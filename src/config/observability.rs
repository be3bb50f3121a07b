//! `[observability]`, `[tracing]` and `[redis]`: what is logged, traced and
//! shared between replicas, and the performance monitor's thresholds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::domain::redact::DEFAULT_FILTERED_KEYS;

/// `[observability]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObservabilityConfig {
    /// Keys filtered out of logged and published payloads.
    pub filtered_keys: Vec<String>,
    /// Share of high-volume events (step.* and workflow.*) that become log
    /// lines and spans, from 0 to 1; metrics always count every event.
    pub event_sampling_rate: f64,
    /// Event names or `prefix.*` patterns never logged or traced.
    pub filtered_events: Vec<String>,
    /// An attempt longer than this publishes observability.slow_step.
    pub slow_step_ms: u64,
    /// A SQL statement longer than this publishes observability.slow_query.
    pub slow_query_ms: u64,
    /// Resident-memory growth between two samples that publishes observability.memory_spike.
    pub memory_spike_bytes: u64,
    /// How often resident memory is sampled.
    pub memory_sample_seconds: u64,
    /// Queue of each in-process subscriber (events beyond it are dropped and counted).
    pub subscriber_queue: usize,
    /// Event name or pattern → destinations (`metric`, `log`, `span`); the
    /// most specific pattern wins.
    pub routes: BTreeMap<String, Vec<String>>,
}

impl Default for ObservabilityConfig {
    fn default() -> Self {
        Self {
            filtered_keys: DEFAULT_FILTERED_KEYS.iter().map(|k| (*k).to_owned()).collect(),
            event_sampling_rate: 1.0,
            filtered_events: Vec::new(),
            slow_step_ms: 30_000,
            slow_query_ms: 500,
            memory_spike_bytes: 64 * 1024 * 1024,
            memory_sample_seconds: 10,
            subscriber_queue: 1024,
            routes: default_routes(),
        }
    }
}

/// `[redis]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// `redis://host:port/db`; empty runs in local mode (no fan-out across replicas).
    pub url: String,
    /// Prefix of every key and channel, so that deployments can share a server.
    pub key_prefix: String,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            key_prefix: "tasker".to_owned(),
        }
    }
}

impl RedisConfig {
    /// The configured URL, if any.
    pub fn url(&self) -> Option<&str> {
        Some(self.url.trim()).filter(|u| !u.is_empty())
    }
}

/// `[tracing]`: spans exported over OTLP/HTTP.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TracingConfig {
    /// Collector base URL (`http://collector:4318`; `/v1/traces` is appended).
    /// Empty: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`
    /// when set, else no export.
    pub otlp_endpoint: String,
    /// `service.name` of the exported spans (`OTEL_SERVICE_NAME` wins when set).
    pub service_name: String,
    /// Share of new traces kept, from 0 to 1; a trace started upstream keeps its
    /// upstream sampling decision.
    pub sample_ratio: f64,
}

impl Default for TracingConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: String::new(),
            service_name: "tasker".to_owned(),
            sample_ratio: 1.0,
        }
    }
}

/// `[metrics_cache]`: how replicas share one view of the metrics.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsCacheConfig {
    /// `auto` (picked from what Redis offers), `distributed_atomic`,
    /// `distributed_basic` or `local_only`.
    pub strategy: String,
    /// How often this replica sends its metrics to Redis.
    pub sync_interval_seconds: u64,
    /// How long shared metrics live in Redis after the last replica wrote them.
    pub retention_window_seconds: u64,
    /// Scheduled exports run this long before the retention window runs out.
    pub export_safety_margin_seconds: u64,
    /// This replica's name in the shared metrics; empty: `<host>-<pid>`.
    pub instance_id: String,
    /// Prefix of the metrics keys; empty: `redis.key_prefix`.
    pub key_prefix: String,
    /// Scheduled exports of the cluster's metrics go here: a file path, or an
    /// `http://`/`https://` URL they are POSTed to; empty: no scheduled export.
    pub export_target: String,
    /// The exporter scheduled exports use (`prometheus`, `json`, `csv`, or a plugin).
    pub export_exporter: String,
}

/// The metrics cache strategies, as configured.
pub const METRICS_CACHE_STRATEGIES: &[&str] =
    &["auto", "distributed_atomic", "distributed_basic", "local_only"];

impl Default for MetricsCacheConfig {
    fn default() -> Self {
        Self {
            strategy: "auto".to_owned(),
            sync_interval_seconds: 30,
            retention_window_seconds: 300,
            export_safety_margin_seconds: 60,
            instance_id: String::new(),
            key_prefix: String::new(),
            export_target: String::new(),
            export_exporter: "prometheus".to_owned(),
        }
    }
}

impl MetricsCacheConfig {
    /// Seconds between scheduled exports: the retention window less the
    /// safety margin, so data is exported before it expires.
    pub fn export_every_seconds(&self) -> u64 {
        self.retention_window_seconds
            .saturating_sub(self.export_safety_margin_seconds)
            .max(1)
    }

    /// What is wrong with it, if anything: (key, message).
    pub fn problem(&self, redis_configured: bool) -> Option<(&'static str, String)> {
        if !METRICS_CACHE_STRATEGIES.contains(&self.strategy.as_str()) {
            let message = format!(
                "{:?} is not one of {}",
                self.strategy,
                METRICS_CACHE_STRATEGIES.join(", ")
            );
            return Some(("metrics_cache.strategy", message));
        }
        if self.strategy.starts_with("distributed") && !redis_configured {
            return Some((
                "metrics_cache.strategy",
                format!("{} needs redis.url", self.strategy),
            ));
        }
        if self.sync_interval_seconds == 0 {
            return Some(("metrics_cache.sync_interval_seconds", "must be at least 1".into()));
        }
        if self.export_safety_margin_seconds == 0 {
            return Some((
                "metrics_cache.export_safety_margin_seconds",
                "must be at least 1".into(),
            ));
        }
        // Shared metrics must outlive two missed syncs, and an export must
        // have a moment to run before they lapse.
        let floor = (2 * self.sync_interval_seconds).max(self.export_safety_margin_seconds + 1);
        if self.retention_window_seconds < floor {
            return Some((
                "metrics_cache.retention_window_seconds",
                format!(
                    "must be at least {floor} (twice sync_interval_seconds, and more than export_safety_margin_seconds)"
                ),
            ));
        }
        let target = self.export_target.trim();
        if target.contains("://") && !(target.starts_with("http://") || target.starts_with("https://")) {
            return Some((
                "metrics_cache.export_target",
                "must be a file path or an http:// or https:// URL".into(),
            ));
        }
        if self.instance_id.chars().any(|c| c.is_whitespace() || c == ':') {
            return Some((
                "metrics_cache.instance_id",
                "must not contain spaces or ':'".into(),
            ));
        }
        None
    }
}

/// The routes used unless configured otherwise.
pub fn default_routes() -> BTreeMap<String, Vec<String>> {
    let all = |d: &[&str]| d.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    // No event becomes a span unless configured: the trace already holds the
    // request, the task and every attempt with its handler call, and a span
    // per task event (zero-length, repeating its log line) cost more than the
    // attempt spans themselves on the engine benchmark.
    BTreeMap::from([
        ("*".to_owned(), all(&["metric", "log"])),
        ("task.*".to_owned(), all(&["metric", "log"])),
        // Stays so when `task.*` is routed to spans: the `task` span already
        // covers the creation.
        ("task.initialize_requested".to_owned(), all(&["metric", "log"])),
        ("step.*".to_owned(), all(&["metric", "log"])),
        ("workflow.*".to_owned(), all(&["metric", "log"])),
    ])
}

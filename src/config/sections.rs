//! The configuration's sections, each with its defaults.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::domain::template::TemplateLimits;

/// `[server]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_owned(),
        }
    }
}

/// `[database]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://data/tasker.db?mode=rwc`, `sqlite::memory:` or `postgres://…`.
    pub url: String,
    /// Pool size.
    pub max_connections: u32,
    /// Seconds to wait for a connection to open.
    pub connect_timeout_seconds: u64,
    /// Seconds to wait for a free pooled connection.
    pub acquire_timeout_seconds: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://data/tasker.db?mode=rwc".to_owned(),
            max_connections: 10,
            connect_timeout_seconds: 5,
            acquire_timeout_seconds: 10,
        }
    }
}

/// `[templates]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TemplatesConfig {
    /// Directories of template files registered at start. The default
    /// (`examples/templates`) is skipped when missing; configured ones must exist.
    pub dirs: Vec<PathBuf>,
}

/// The default template directory.
pub const DEFAULT_TEMPLATE_DIR: &str = "examples/templates";

impl Default for TemplatesConfig {
    fn default() -> Self {
        Self {
            dirs: vec![PathBuf::from(DEFAULT_TEMPLATE_DIR)],
        }
    }
}

/// `[engine]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Most handlers running at once on this replica.
    pub max_concurrency: usize,
    /// Most steps claimed per statement.
    pub claim_batch_size: usize,
    /// Most outcomes recorded per transaction.
    pub max_batch: usize,
    /// Fallback poll (retry timers, expired leases, other replicas' work).
    pub poll_interval_ms: u64,
    /// Lease length; renewed every third of it.
    pub lease_seconds: u64,
    /// Timeout of steps without `timeout_ms`.
    pub default_step_timeout_seconds: u64,
    /// Time running handlers get to finish on shutdown.
    pub shutdown_grace_seconds: u64,
    /// Waiting this long makes a claimable step count as one priority level
    /// more urgent, so low-priority work is never starved (0: claims ignore
    /// priority and take the oldest first).
    pub priority_ageing_seconds: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_concurrency: 256,
            claim_batch_size: 256,
            max_batch: 512,
            poll_interval_ms: 250,
            lease_seconds: 30,
            default_step_timeout_seconds: 300,
            shutdown_grace_seconds: 30,
            priority_ageing_seconds: crate::domain::priority::DEFAULT_AGEING.as_secs(),
        }
    }
}

/// `[backoff]`: retry defaults a template's `retry:` block overrides.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackoffConfig {
    /// Explicit delays indexed by attempt (the last repeats); empty = exponential.
    pub default_backoff_seconds: Vec<f64>,
    /// Exponential: delay after the first failure.
    pub base_seconds: f64,
    /// Exponential: growth per attempt.
    pub multiplier: f64,
    /// Cap on any delay, including a handler's Retry-After.
    pub max_backoff_seconds: f64,
    /// Spread each delay over [delay/2, delay].
    pub jitter: bool,
    /// Attempts per step when a template says nothing.
    pub max_attempts: u32,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            default_backoff_seconds: Vec::new(),
            base_seconds: 1.0,
            multiplier: 2.0,
            max_backoff_seconds: 300.0,
            jitter: true,
            max_attempts: 3,
        }
    }
}

/// `[limits]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest task context (serialized bytes).
    pub max_context_bytes: usize,
    /// Largest template document.
    pub max_template_bytes: usize,
    /// Largest step results.
    pub max_result_bytes: usize,
    /// Most steps per template.
    pub max_steps_per_template: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_context_bytes: 1024 * 1024,
            max_template_bytes: 1024 * 1024,
            max_result_bytes: 1024 * 1024,
            max_steps_per_template: TemplateLimits::default().max_steps,
        }
    }
}

/// `[log]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `auto` (pretty on a terminal, JSON otherwise), `pretty` or `json`.
    pub format: String,
    /// Filter directives (`RUST_LOG` wins when set), e.g. `info,tasker=debug`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: "auto".to_owned(),
            level: "info".to_owned(),
        }
    }
}

/// `[events]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// How far a subscriber may fall behind before it is told it lagged.
    pub channel_capacity: usize,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            channel_capacity: 10_000,
        }
    }
}

/// `[graphql]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GraphqlConfig {
    /// Deepest selection set allowed.
    pub max_depth: usize,
    /// Highest query complexity allowed (each field 1; `tasks` pages multiply).
    pub max_complexity: usize,
    /// Answer introspection (`__schema`, `__type`) queries.
    pub introspection: bool,
    /// Largest request body on `/graphql`; larger ones get PAYLOAD_TOO_LARGE.
    pub max_request_bytes: usize,
}

impl Default for GraphqlConfig {
    fn default() -> Self {
        Self {
            max_depth: 15,
            max_complexity: 20_000,
            introspection: true,
            max_request_bytes: 4 * 1024 * 1024,
        }
    }
}

/// `[explorer]`: the task explorer, the web UI at `/`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExplorerConfig {
    /// Serve the explorer at `/` (off: `/` answers 404).
    pub enabled: bool,
    /// Link from a task to its trace in a trace viewer, with `{trace_id}`
    /// where the id goes (e.g. `http://jaeger:16686/trace/{trace_id}`);
    /// empty: trace ids are shown without a link.
    pub trace_url: String,
}

impl Default for ExplorerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            trace_url: String::new(),
        }
    }
}

impl ExplorerConfig {
    /// What is wrong with the settings, if anything.
    pub fn problem(&self) -> Option<(&'static str, &'static str)> {
        let url = self.trace_url.trim();
        if url.is_empty() {
            return None;
        }
        let web = reqwest::Url::parse(&url.replace("{trace_id}", "0"))
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
        if !web || !url.contains("{trace_id}") {
            return Some((
                "explorer.trace_url",
                "must be an http:// or https:// URL holding {trace_id} (or empty: no link)",
            ));
        }
        None
    }
}

/// `[handlers.<name>]`: limits on one handler, whatever template uses it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HandlerConfig {
    /// At most `limit` starts of the handler's steps (of one key, when a key
    /// expression over the context is given) in any window of `per`, across
    /// every replica sharing the database.
    pub rate_limit: Option<crate::domain::rate::RateLimitSpec>,
    /// Most of the handler's steps running at once on all replicas together.
    pub max_concurrency: Option<u32>,
    /// Most of the handler's steps running at once on one replica (or under
    /// one external worker id).
    pub max_concurrency_per_replica: Option<u32>,
}

impl HandlerConfig {
    /// Its concurrency limits.
    pub fn concurrency(&self) -> crate::domain::handler_limit::HandlerConcurrency {
        crate::domain::handler_limit::HandlerConcurrency {
            cluster: self.max_concurrency,
            per_replica: self.max_concurrency_per_replica,
        }
    }
}

/// `[inbound_events]`: events from outside (`sendEvent`, `POST /events/{name}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InboundEventsConfig {
    /// A wait for an event that starts up to this long after a matching event
    /// arrived still receives it.
    pub lookback_seconds: u64,
    /// The sources `POST /events/{name}` accepts, by the event name's part
    /// before its first `.` (`[inbound_events.sources.stripe]`).
    pub sources: BTreeMap<String, EventSourceConfig>,
}

impl Default for InboundEventsConfig {
    fn default() -> Self {
        Self {
            lookback_seconds: 300,
            sources: BTreeMap::new(),
        }
    }
}

/// `[inbound_events.sources.<source>]`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventSourceConfig {
    /// When set, a webhook of this source must carry `X-Tasker-Signature:
    /// sha256=<hex HMAC-SHA256 of the body under this secret>` (and needs no
    /// token); when empty, it needs a token with `tasker.event:send` as any
    /// call does while auth is on.
    pub secret: String,
}

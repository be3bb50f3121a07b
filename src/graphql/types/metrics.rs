//! The metrics over GraphQL: this replica's or the cluster's, rendered by an
//! exporter.

use async_graphql::{Enum, SimpleObject};

use crate::service::MetricsScope;

/// Whose metrics.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(name = "MetricsScope")]
pub enum MetricsScopeGql {
    /// This replica's, process metrics included.
    Local,
    /// Every replica's, added up through the metrics cache (Redis).
    Cluster,
}

impl From<MetricsScopeGql> for MetricsScope {
    fn from(scope: MetricsScopeGql) -> Self {
        match scope {
            MetricsScopeGql::Local => MetricsScope::Local,
            MetricsScopeGql::Cluster => MetricsScope::Cluster,
        }
    }
}

/// The built-in exporters.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum MetricsFormat {
    /// OpenMetrics text, as `GET /metrics` serves it.
    Prometheus,
    /// `{"families": [{name, type, help, samples: [{name, labels, value}]}]}`.
    Json,
    /// `family,type,sample,labels,value`, labels as a JSON object.
    Csv,
}

impl MetricsFormat {
    /// The exporter's name in the registry.
    pub fn exporter(self) -> &'static str {
        match self {
            MetricsFormat::Prometheus => "prometheus",
            MetricsFormat::Json => "json",
            MetricsFormat::Csv => "csv",
        }
    }
}

/// Rendered metrics.
#[derive(SimpleObject)]
pub struct MetricsExport {
    /// Whose metrics.
    pub scope: MetricsScopeGql,
    /// The exporter that rendered them.
    pub exporter: String,
    /// The media type of `body`.
    pub content_type: String,
    /// The rendered metrics.
    pub body: String,
}

/// How this replica shares its metrics (the metrics cache).
#[derive(SimpleObject)]
pub struct MetricsCacheStatus {
    /// As configured: `auto` or a strategy.
    pub configured: String,
    /// Chosen from what Redis offered at start: `distributed_atomic`,
    /// `distributed_basic` or `local_only`.
    pub chosen: String,
    /// In use now (`local_only` while Redis is unreachable).
    pub active: String,
    /// This replica's name in the shared metrics.
    pub instance_id: String,
    /// Redis answered the last probe.
    pub reachable: bool,
    /// Redis runs server-side scripts (atomic multi-key increments).
    pub atomic_increments: bool,
    /// Redis takes `SET NX PX` locks.
    pub locks: bool,
    /// Redis keys expire.
    pub ttl: bool,
    /// Syncs that reached Redis.
    pub syncs: u64,
    /// Syncs that failed.
    pub failures: u64,
    /// The last failure.
    pub last_error: Option<String>,
}

impl From<crate::cluster::metrics::CacheStatus> for MetricsCacheStatus {
    fn from(s: crate::cluster::metrics::CacheStatus) -> Self {
        Self {
            configured: s.configured,
            chosen: s.chosen.as_str().to_owned(),
            active: s.active.as_str().to_owned(),
            instance_id: s.instance_id,
            reachable: s.capabilities.reachable,
            atomic_increments: s.capabilities.atomic_increments,
            locks: s.capabilities.locks,
            ttl: s.capabilities.ttl,
            syncs: s.syncs,
            failures: s.failures,
            last_error: s.last_error,
        }
    }
}

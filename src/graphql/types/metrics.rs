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

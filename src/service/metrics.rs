//! The metrics as users read them: this replica's or the cluster's, rendered
//! by an exporter plugin.

use super::{Error, Result, Tasker};
use crate::cluster::metrics::MetricsCache;
use crate::telemetry::series::Snapshot;

/// Whose metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsScope {
    /// This replica's, process metrics included.
    Local,
    /// Every replica's, added up through the metrics cache.
    Cluster,
}

impl Tasker {
    /// Share metrics through `cache` (the service starts one at boot).
    pub fn with_metrics_cache(mut self, cache: MetricsCache) -> Self {
        self.metrics_cache = cache;
        self
    }

    /// The metrics cache.
    pub fn metrics_cache(&self) -> &MetricsCache {
        &self.metrics_cache
    }

    /// The metrics of `scope`.
    pub async fn metrics_snapshot(&self, scope: MetricsScope) -> Result<Snapshot> {
        match scope {
            MetricsScope::Local => Ok(Snapshot::parse(&self.metrics.encode())),
            MetricsScope::Cluster => self.metrics_cache.cluster().await.map_err(|err| {
                Error::SharedUnavailable(format!("the cluster's metrics are unavailable: {err}"))
            }),
        }
    }

    /// The metrics of `scope` rendered by the exporter called `exporter`:
    /// its content type and the text.
    pub async fn export_metrics(
        &self,
        scope: MetricsScope,
        exporter: &str,
    ) -> Result<(&'static str, String)> {
        let Some(_) = self.exporters.registry().get(&exporter.to_owned()) else {
            return Err(Error::NotFound {
                entity: "exporter",
                id: exporter.to_owned(),
            });
        };
        let snapshot = self.metrics_snapshot(scope).await?;
        match self.exporters.export(exporter, &snapshot) {
            Some(Ok(rendered)) => Ok(rendered),
            Some(Err(message)) => Err(Error::ExportFailed {
                exporter: exporter.to_owned(),
                message,
            }),
            // Unregistered in between.
            None => Err(Error::NotFound {
                entity: "exporter",
                id: exporter.to_owned(),
            }),
        }
    }
}

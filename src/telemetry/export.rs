//! Exporter plugins: something that renders the metrics registry in a format
//! (the built-in one is Prometheus/OpenMetrics text), held in the generic
//! registry so that deployments can add or replace their own.

use std::sync::Arc;

use super::Metrics;
use crate::events::EventName;
use crate::registry::{Registered, Registry, RegistryError, RegistryEvents};

/// Renders the metrics in one format.
pub trait Exporter: Send + Sync + 'static {
    /// The HTTP content type of what `export` returns.
    fn content_type(&self) -> &'static str;

    /// The metrics, rendered.
    fn export(&self, metrics: &Metrics) -> Result<String, String>;
}

/// A registered exporter.
#[derive(Clone)]
pub struct ExporterEntry(pub Arc<dyn Exporter>);

impl Registered for ExporterEntry {
    fn validate(&self) -> Result<(), String> {
        let content_type = self.0.content_type();
        if content_type.contains('/') {
            Ok(())
        } else {
            Err(format!("content type {content_type:?} is not a media type"))
        }
    }
}

/// OpenMetrics text, as served at `/metrics`.
struct PrometheusText;

impl Exporter for PrometheusText {
    fn content_type(&self) -> &'static str {
        super::metrics::CONTENT_TYPE
    }

    fn export(&self, metrics: &Metrics) -> Result<String, String> {
        Ok(metrics.encode())
    }
}

const EVENTS: RegistryEvents = RegistryEvents {
    registered: EventName::PluginRegistered,
    unregistered: EventName::PluginUnregistered,
    refused: EventName::PluginValidationFailed,
};

/// The exporter registry (cheap to clone).
#[derive(Clone)]
pub struct Exporters {
    registry: Registry<String, ExporterEntry>,
}

impl Exporters {
    /// The built-in exporters (`prometheus`).
    pub fn with_builtins() -> Self {
        let registry = Registry::new("exporters", EVENTS);
        let _ = registry.register(
            "prometheus".to_owned(),
            ExporterEntry(Arc::new(PrometheusText)),
            true,
        );
        Self { registry }
    }

    /// The registry behind (stats, health, search, events).
    pub fn registry(&self) -> &Registry<String, ExporterEntry> {
        &self.registry
    }

    /// Add (or with `replace`, swap) an exporter.
    pub fn register(
        &self,
        name: &str,
        exporter: Arc<dyn Exporter>,
        replace: bool,
    ) -> Result<(), RegistryError> {
        self.registry
            .register(name.to_owned(), ExporterEntry(exporter), replace)
            .map(|_| ())
    }

    /// Render the metrics with the exporter called `name`.
    pub fn export(&self, name: &str, metrics: &Metrics) -> Option<Result<(&'static str, String), String>> {
        let ExporterEntry(exporter) = self.registry.get(&name.to_owned())?;
        Some(
            exporter
                .export(metrics)
                .map(|body| (exporter.content_type(), body)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Bad;

    impl Exporter for Bad {
        fn content_type(&self) -> &'static str {
            "text"
        }
        fn export(&self, _: &Metrics) -> Result<String, String> {
            Ok(String::new())
        }
    }

    #[test]
    fn the_builtin_renders_openmetrics_and_bad_plugins_are_refused() {
        let exporters = Exporters::with_builtins();
        let metrics = Metrics::new();
        let (content_type, body) = exporters
            .export("prometheus", &metrics)
            .expect("registered")
            .expect("renders");
        assert!(content_type.starts_with("application/openmetrics-text"));
        assert!(body.ends_with("# EOF\n"), "{body}");
        assert!(matches!(
            exporters.register("bad", Arc::new(Bad), false),
            Err(RegistryError::Invalid { .. })
        ));
        assert!(exporters.export("bad", &metrics).is_none());
    }
}

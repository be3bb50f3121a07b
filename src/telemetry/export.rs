//! Exporter plugins: something that renders a snapshot of the metrics (this
//! replica's or the cluster's) in a format, held in the generic registry so
//! that deployments can add or replace their own. Built in: `prometheus`
//! (OpenMetrics text), `json` and `csv`.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::series::{Snapshot, name_and_labels};
use crate::events::EventName;
use crate::registry::{Registered, Registry, RegistryError, RegistryEvents};

/// Renders the metrics in one format.
pub trait Exporter: Send + Sync + 'static {
    /// The HTTP content type of what `export` returns.
    fn content_type(&self) -> &'static str;

    /// The metrics, rendered.
    fn export(&self, metrics: &Snapshot) -> Result<String, String>;
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

    fn export(&self, metrics: &Snapshot) -> Result<String, String> {
        Ok(metrics.render())
    }
}

fn labels_object(labels: Vec<(String, String)>) -> Map<String, Value> {
    labels.into_iter().map(|(k, v)| (k, Value::String(v))).collect()
}

/// JSON numbers cannot be infinite or NaN: those become strings, as
/// OpenMetrics writes them.
fn number(value: f64) -> Value {
    serde_json::Number::from_f64(value).map_or_else(
        || {
            Value::String(
                if value.is_nan() {
                    "NaN"
                } else if value > 0.0 {
                    "+Inf"
                } else {
                    "-Inf"
                }
                .into(),
            )
        },
        Value::Number,
    )
}

/// `{"families": [{"name", "type", "help", "samples": [{"name", "labels", "value"}]}]}`.
struct JsonExport;

impl Exporter for JsonExport {
    fn content_type(&self) -> &'static str {
        "application/json"
    }

    fn export(&self, metrics: &Snapshot) -> Result<String, String> {
        let families: Vec<Value> = metrics
            .families
            .iter()
            .map(|(name, family)| {
                let samples: Vec<Value> = metrics
                    .series
                    .iter()
                    .filter(|(_, point)| &point.family == name)
                    .map(|(key, point)| {
                        let (sample, labels) = name_and_labels(key);
                        json!({"name": sample, "labels": labels_object(labels), "value": number(point.value)})
                    })
                    .collect();
                json!({"name": name, "type": family.kind, "help": family.help, "samples": samples})
            })
            .filter(|family| family["samples"].as_array().is_some_and(|s| !s.is_empty()))
            .collect();
        serde_json::to_string_pretty(&json!({ "families": families })).map_err(|e| e.to_string())
    }
}

/// One row per sample: `family,type,sample,labels,value`, labels as a JSON
/// object (unambiguous whatever the label values hold).
struct CsvExport;

impl Exporter for CsvExport {
    fn content_type(&self) -> &'static str {
        "text/csv; charset=utf-8"
    }

    fn export(&self, metrics: &Snapshot) -> Result<String, String> {
        let mut out = csv::Writer::from_writer(Vec::new());
        let failed = |e: csv::Error| e.to_string();
        out.write_record(["family", "type", "sample", "labels", "value"])
            .map_err(failed)?;
        for (key, point) in &metrics.series {
            let kind = metrics
                .families
                .get(&point.family)
                .map_or("gauge", |f| f.kind.as_str());
            let (sample, labels) = name_and_labels(key);
            let labels = Value::Object(labels_object(labels)).to_string();
            let value = match number(point.value) {
                Value::String(text) => text,
                other => other.to_string(),
            };
            out.write_record([
                point.family.as_str(),
                kind,
                sample,
                labels.as_str(),
                value.as_str(),
            ])
            .map_err(failed)?;
        }
        let bytes = out.into_inner().map_err(|e| e.to_string())?;
        String::from_utf8(bytes).map_err(|e| e.to_string())
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
    /// The built-in exporters: `prometheus`, `json`, `csv`.
    pub fn with_builtins() -> Self {
        let registry = Registry::new("exporters", EVENTS);
        let builtins: [(&str, Arc<dyn Exporter>); 3] = [
            ("prometheus", Arc::new(PrometheusText)),
            ("json", Arc::new(JsonExport)),
            ("csv", Arc::new(CsvExport)),
        ];
        for (name, exporter) in builtins {
            let _ = registry.register(name.to_owned(), ExporterEntry(exporter), true);
        }
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
    pub fn export(&self, name: &str, metrics: &Snapshot) -> Option<Result<(&'static str, String), String>> {
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
        fn export(&self, _: &Snapshot) -> Result<String, String> {
            Ok(String::new())
        }
    }

    const TEXT: &str = r#"# HELP tasker_tasks Tasks by status.
# TYPE tasker_tasks counter
tasker_tasks_total{namespace="pay, \"eu\"",status="complete"} 3
# TYPE tasker_steps_ready gauge
tasker_steps_ready 7
# TYPE tasker_claim_latency_seconds histogram
tasker_claim_latency_seconds_bucket{le="+Inf"} 2
tasker_claim_latency_seconds_sum 0.25
tasker_claim_latency_seconds_count 2
# EOF
"#;

    fn export(name: &str) -> (&'static str, String) {
        Exporters::with_builtins()
            .export(name, &Snapshot::parse(TEXT))
            .expect("registered")
            .expect("renders")
    }

    #[test]
    fn prometheus_output_parses_back() {
        let (content_type, body) = export("prometheus");
        assert!(content_type.starts_with("application/openmetrics-text"));
        let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).expect("parses");
        let ready = scrape
            .samples
            .iter()
            .find(|s| s.metric == "tasker_steps_ready")
            .expect("the gauge");
        assert!(matches!(ready.value, prometheus_parse::Value::Gauge(v) if v == 7.0));
        let latency = scrape
            .samples
            .iter()
            .find(|s| s.metric == "tasker_claim_latency_seconds")
            .expect("the histogram");
        assert!(
            matches!(&latency.value, prometheus_parse::Value::Histogram(b) if b.last().is_some_and(|b| b.count == 2.0))
        );
        // prometheus-parse splits label values at commas, quoted or not; the
        // label with one comes back whole through a parser that follows the
        // format's quoting.
        assert_eq!(Snapshot::parse(&body), Snapshot::parse(TEXT));
    }

    #[test]
    fn json_output_parses_back() {
        let (content_type, body) = export("json");
        assert_eq!(content_type, "application/json");
        let doc: Value = serde_json::from_str(&body).expect("JSON");
        let families = doc["families"].as_array().expect("families");
        assert_eq!(families.len(), 3);
        let tasks = families
            .iter()
            .find(|f| f["name"] == "tasker_tasks")
            .expect("tasks");
        assert_eq!(tasks["type"], "counter");
        assert_eq!(tasks["help"], "Tasks by status.");
        assert_eq!(
            tasks["samples"][0],
            json!({"name": "tasker_tasks_total", "labels": {"namespace": "pay, \"eu\"", "status": "complete"}, "value": 3.0})
        );
    }

    #[test]
    fn csv_output_parses_back() {
        let (content_type, body) = export("csv");
        assert!(content_type.starts_with("text/csv"));
        let mut reader = csv::Reader::from_reader(body.as_bytes());
        let headers = reader.headers().expect("a header").clone();
        assert_eq!(
            headers.iter().collect::<Vec<_>>(),
            ["family", "type", "sample", "labels", "value"]
        );
        let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("a row")).collect();
        assert_eq!(rows.len(), 5);
        let tasks = rows
            .iter()
            .find(|r| &r[2] == "tasker_tasks_total")
            .expect("tasks");
        assert_eq!(&tasks[0], "tasker_tasks");
        assert_eq!(&tasks[1], "counter");
        let labels: Value = serde_json::from_str(&tasks[3]).expect("labels as JSON");
        assert_eq!(labels["namespace"], "pay, \"eu\"");
        assert_eq!(tasks[4].parse::<f64>().ok(), Some(3.0));
    }

    #[test]
    fn bad_plugins_are_refused_and_replacing_a_builtin_works() {
        let exporters = Exporters::with_builtins();
        assert!(matches!(
            exporters.register("bad", Arc::new(Bad), false),
            Err(RegistryError::Invalid { .. })
        ));
        assert!(exporters.export("bad", &Snapshot::default()).is_none());
        assert!(
            exporters
                .register("json", Arc::new(PrometheusText), false)
                .is_err()
        );
        exporters
            .register("json", Arc::new(PrometheusText), true)
            .expect("replaced");
        let (content_type, _) = exporters
            .export("json", &Snapshot::default())
            .expect("registered")
            .expect("renders");
        assert!(content_type.starts_with("application/openmetrics-text"));
    }
}

//! Traces: the spans of requests, tasks, step attempts and handler calls,
//! exported over OTLP/HTTP when a collector is configured, and the W3C trace
//! context that ties them together. A task stores the context of the span that
//! created it, so its step attempts — run later, on any replica, after any
//! restart — hang beneath it in the same trace.

use std::collections::HashMap;

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider};
use tracing::{Level, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{FilterExt, LevelFilter, filter_fn};
use tracing_subscriber::{Layer, Registry};

use super::Gate;
use crate::config::TracingConfig;

/// Spans that become trace spans. The others (engine turns, which run every
/// poll whether or not there is work) stay in the logs.
/// Step attempts and their handler calls are exported too, built apart (see
/// `attempt_spans`).
pub const EXPORTED_SPANS: &[&str] = &["http.request", "task", "tasker.event"];

/// The OTLP exporter could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the OTLP trace exporter: {0}")]
pub struct TraceSetupError(String);

/// The collector spans go to: the configured URL, or the standard OTLP
/// environment variables, which the exporter reads itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `tracing.otlp_endpoint` with `/v1/traces`.
    Configured(String),
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`.
    Environment,
}

/// Where spans go, if anywhere. `env` reads an environment variable.
pub fn target(config: &TracingConfig, env: impl Fn(&str) -> Option<String>) -> Option<Target> {
    let set = |name: &str| env(name).is_some_and(|v| !v.trim().is_empty());
    let disabled = env("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
        || env("OTEL_TRACES_EXPORTER").is_some_and(|v| v.trim().eq_ignore_ascii_case("none"));
    let base = config.otlp_endpoint.trim().trim_end_matches('/');
    if disabled {
        None
    } else if !base.is_empty() {
        let url = if base.ends_with("/v1/traces") {
            base.to_owned()
        } else {
            format!("{base}/v1/traces")
        };
        Some(Target::Configured(url))
    } else if set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") || set("OTEL_EXPORTER_OTLP_ENDPOINT") {
        Some(Target::Environment)
    } else {
        None
    }
}

/// The trace pipeline: a batch processor on its own thread posting protobuf
/// to the collector. Export failures are logged by the SDK, never fatal.
pub struct TraceExport {
    provider: SdkTracerProvider,
}

impl TraceExport {
    /// Build the exporter. Call it outside the async runtime or in
    /// `spawn_blocking`: the HTTP client is a blocking one.
    pub fn new(config: &TracingConfig, target: &Target) -> Result<Self, TraceSetupError> {
        crate::install_tls_provider();
        let builder = SpanExporter::builder().with_http();
        let builder = match target {
            Target::Configured(url) => builder.with_endpoint(url.clone()),
            Target::Environment => builder,
        };
        let exporter = builder.build().map_err(|e| TraceSetupError(e.to_string()))?;
        let mut resource = Resource::builder().with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ));
        if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
            resource = resource.with_service_name(config.service_name.clone());
        }
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                config.sample_ratio,
            ))))
            .with_resource(resource.build())
            .build();
        Ok(Self { provider })
    }

    /// The layer feeding the exported spans (and warnings inside them, as span
    /// events) while `gate` is open.
    pub fn layer(&self, gate: Gate) -> Box<dyn Layer<Registry> + Send + Sync> {
        // Every exported span is an INFO span.
        let exported = filter_fn(|meta| {
            if meta.is_span() {
                EXPORTED_SPANS.contains(&meta.name())
            } else {
                *meta.level() <= Level::WARN
            }
        })
        .with_max_level_hint(LevelFilter::INFO);
        tracing_opentelemetry::layer()
            .with_tracer(self.tracer())
            .with_location(false)
            .with_threads(false)
            .with_tracked_inactivity(false)
            .with_target(false)
            // Nothing here reads OpenTelemetry's current context (parents come
            // from the span tree), so entering a span need not install it.
            .with_context_activation(false)
            .with_filter(exported.and(gate))
            .boxed()
    }

    /// The tracer spans are built with.
    pub(super) fn tracer(&self) -> SdkTracer {
        self.provider.tracer("tasker")
    }

    /// Export what is buffered and stop. Blocks: call it outside the runtime
    /// or in `spawn_blocking`.
    pub fn shutdown(self) {
        super::attempt_spans::flush();
        if let Err(err) = self.provider.shutdown() {
            eprintln!("trace export did not shut down cleanly: {err}");
        }
    }
}

/// The span's W3C `traceparent`, when the span is exported.
pub fn traceparent(span: &Span) -> Option<String> {
    let cx = span.context();
    if !cx.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    carrier.remove("traceparent")
}

/// A valid W3C trace context, parsed once per task and the parent of every
/// span that hangs under it (each attempt's, built from its context).
#[derive(Clone, Debug)]
pub struct Parent(opentelemetry::Context);

impl Parent {
    /// A stored `traceparent`, when it is well formed.
    pub fn parse(traceparent: &str) -> Option<Self> {
        let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
        Self::extract(&carrier)
    }

    fn extract(carrier: &dyn Extractor) -> Option<Self> {
        let cx = TraceContextPropagator::new().extract(carrier);
        cx.span().span_context().is_valid().then_some(Self(cx))
    }

    /// The context to start a child span in.
    pub fn into_context(self) -> opentelemetry::Context {
        self.0
    }

    /// Make `span` (not yet entered) its child.
    pub fn adopt(&self, span: &Span) {
        // Fails only when no exporting layer is installed: nothing to link then.
        let _ = span.set_parent(self.0.clone());
    }
}

/// The trace id inside a `traceparent` (32 hex digits), when it is well formed.
pub fn trace_id(traceparent: &str) -> Option<String> {
    Parent::parse(traceparent).map(|p| p.0.span().span_context().trace_id().to_string())
}

/// Make `span` (not yet entered) a child of a stored `traceparent`. A
/// malformed value, or nothing exporting spans, leaves it as it was.
pub fn continue_trace(span: &Span, traceparent: &str) {
    if let Some(parent) = Parent::parse(traceparent) {
        parent.adopt(span);
    }
}

/// Make `span` (not yet entered) a child of the request's `traceparent` header.
pub fn continue_request(span: &Span, headers: &axum::http::HeaderMap) {
    if let Some(parent) = Parent::extract(&opentelemetry_http::HeaderExtractor(headers)) {
        parent.adopt(span);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn spans_go_where_configured_else_where_the_environment_says() {
        let mut config = TracingConfig::default();
        assert_eq!(target(&config, env(&[])), None);
        let from_env = env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")]);
        assert_eq!(target(&config, from_env), Some(Target::Environment));
        config.otlp_endpoint = "http://collector:4318/".into();
        assert_eq!(
            target(&config, env(&[])),
            Some(Target::Configured("http://collector:4318/v1/traces".into()))
        );
        config.otlp_endpoint = "http://collector:4318/v1/traces".into();
        assert_eq!(
            target(&config, env(&[])),
            Some(Target::Configured("http://collector:4318/v1/traces".into()))
        );
        assert_eq!(target(&config, env(&[("OTEL_SDK_DISABLED", "true")])), None);
        assert_eq!(target(&config, env(&[("OTEL_TRACES_EXPORTER", "none")])), None);
    }

    #[test]
    fn trace_ids_come_out_of_well_formed_traceparents_only() {
        let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            trace_id(parent).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(trace_id("00-nothex-00f067aa0ba902b7-01"), None);
        assert_eq!(
            trace_id("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            None
        );
    }

    #[test]
    fn without_an_exporting_layer_spans_have_no_traceparent() {
        let span = tracing::info_span!("task");
        assert_eq!(traceparent(&span), None);
        continue_trace(&span, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    }
}

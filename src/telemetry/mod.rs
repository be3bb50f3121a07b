//! Logs: `tracing` to stdout, pretty on a terminal and JSON lines otherwise;
//! traces exported over OTLP; and the Prometheus metrics.

pub mod attempt_spans;
pub mod background;
mod export;
mod feed;
mod histogram;
mod json_lines;
pub mod metrics;
pub mod monitor;
mod process;
pub mod router;
pub mod series;
mod span_fields;
pub mod traces;

pub use export::{Exporter, ExporterEntry, Exporters};
pub use feed::{NAME as FEED, follow};
pub use histogram::AtomicHistogram;
pub use metrics::Metrics;
pub use traces::{TraceExport, TraceSetupError};

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::Metadata;
use tracing::subscriber::Interest;
use tracing_subscriber::filter::{FilterExt, LevelFilter};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Filter, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::LogConfig;

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogTarget {
    /// The service: stdout.
    Stdout,
    /// Command-line tools, whose stdout carries their output: stderr.
    Stderr,
    /// Formatted, then dropped (what logging costs, without the terminal).
    Discard,
}

/// A switch for log lines and exported spans at run time, so that one process
/// can measure itself with observability off and on.
///
/// Every subscriber carries one, open unless told otherwise, because it also
/// keeps each callsite's interest at "sometimes". With per-layer filters,
/// tracing-subscriber hands a span the filter decisions of the previous
/// `enabled` query on the thread whenever the callsite was cached as "always";
/// after an `enabled!` check or a `log` crate query (sqlx makes one per
/// statement) that decision belongs to another callsite, and spans vanished
/// from the trace layer. "Sometimes" makes every span ask afresh.
#[derive(Debug, Clone)]
pub struct Gate(Arc<AtomicBool>);

impl Gate {
    /// A gate, open or closed.
    pub fn new(open: bool) -> Self {
        Self(Arc::new(AtomicBool::new(open)))
    }

    /// Open or close it.
    pub fn set(&self, open: bool) {
        self.0.store(open, Ordering::Relaxed);
    }

    fn is_open(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

impl<S> Filter<S> for Gate {
    fn enabled(&self, _: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        self.is_open()
    }

    // Asked again at every callsite hit: the answer changes at run time.
    fn callsite_enabled(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::sometimes()
    }

    // No level is ruled out by the gate. Without a hint, the subscriber's
    // would be none, tracing's global maximum level TRACE, and every disabled
    // debug or trace callsite (sea-orm's and hyper's, on every statement and
    // request) would ask the filters instead of failing one comparison.
    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::TRACE)
    }
}

/// The layer that writes log lines (JSON or pretty) while `gate` is open.
fn log_lines<W>(
    filter: EnvFilter,
    json: bool,
    writer: W,
    gate: Gate,
) -> Box<dyn Layer<Registry> + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let lines = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_writer(writer);
    let lines = if json {
        lines
            .with_ansi(false)
            .fmt_fields(span_fields::JsonSpanFields)
            .event_format(json_lines::JsonLines)
            .boxed()
    } else {
        lines.boxed()
    };
    lines.with_filter(filter.and(gate)).boxed()
}

/// Install the global subscriber for log lines only. `RUST_LOG` wins over
/// `log.level`. Calling it twice keeps the first subscriber (tests and
/// embedded use).
pub fn init_logging(config: &LogConfig, target: LogTarget) {
    install(config, target, None, None);
}

/// Install the global subscriber: log lines, and the spans `traces` exports,
/// both while `gate` is open (default: always). `RUST_LOG` applies to log
/// lines only. Calling it twice keeps the first subscriber.
pub fn install(config: &LogConfig, target: LogTarget, traces: Option<&TraceExport>, gate: Option<Gate>) {
    let gate = gate.unwrap_or_else(|| Gate::new(true));
    let installed = tracing_subscriber::registry()
        .with(layers(config, target, traces, Some(gate.clone())))
        .try_init();
    if let (Ok(()), Some(traces)) = (installed, traces) {
        attempt_spans::install(traces.tracer(), gate);
    }
}

/// The log filter: `RUST_LOG`, else `log.level`.
fn log_filter(config: &LogConfig) -> EnvFilter {
    EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.level))
        .unwrap_or_else(|_| EnvFilter::new("info"))
        // sqlx logs every statement at INFO.
        .add_directive("sqlx=warn".parse().unwrap_or_default())
}

/// The layers [`install`] puts on the registry.
fn layers(
    config: &LogConfig,
    target: LogTarget,
    traces: Option<&TraceExport>,
    gate: Option<Gate>,
) -> Vec<Box<dyn Layer<Registry> + Send + Sync>> {
    let filter = log_filter(config);
    let terminal = match target {
        LogTarget::Stdout => std::io::stdout().is_terminal(),
        LogTarget::Stderr => std::io::stderr().is_terminal(),
        LogTarget::Discard => false,
    };
    let json = match config.format.as_str() {
        "json" => true,
        "pretty" => false,
        _ => !terminal,
    };
    let writer = move || -> Box<dyn std::io::Write> {
        match target {
            LogTarget::Stdout => Box::new(std::io::stdout()),
            LogTarget::Stderr => Box::new(std::io::stderr()),
            LogTarget::Discard => Box::new(std::io::sink()),
        }
    };
    let gate = gate.unwrap_or_else(|| Gate::new(true));
    let lines = log_lines(filter, json, writer, gate.clone());
    let mut layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = vec![lines];
    layers.extend(traces.map(|t| t.layer(gate)));
    layers
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use serde_json::Value;
    use tracing::info_span;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The one JSON line that `emit` makes the log layer write.
    fn one_json_line(emit: impl FnOnce()) -> Value {
        serde_json::from_str(&one_line(emit)).expect("one JSON line")
    }

    /// The text of the one line that `emit` makes the JSON log layer write.
    pub(super) fn one_line(emit: impl FnOnce()) -> String {
        let captured = Captured::default();
        let writer = captured.clone();
        let lines = log_lines(
            EnvFilter::new("info"),
            true,
            move || writer.clone(),
            Gate::new(true),
        );
        let subscriber = tracing_subscriber::registry().with(vec![lines]);
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = captured.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        String::from_utf8(bytes).expect("UTF-8")
    }

    #[test]
    fn the_subscriber_tells_tracing_the_most_verbose_level_it_can_use() {
        use tracing::Subscriber as _;

        use crate::config::TracingConfig;
        use crate::telemetry::traces::Target;

        let config = LogConfig {
            format: "json".to_owned(),
            level: "info".to_owned(),
        };
        // RUST_LOG, when the test runner has it, wins over the configured level.
        let logged = log_filter(&config).max_level_hint();
        assert!(logged.is_some());
        let lines = tracing_subscriber::registry().with(layers(&config, LogTarget::Discard, None, None));
        assert_eq!(lines.max_level_hint(), logged);
        let target = Target::Configured("http://127.0.0.1:9/v1/traces".to_owned());
        let traces = TraceExport::new(&TracingConfig::default(), &target).expect("an exporter");
        let both = tracing_subscriber::registry().with(layers(
            &config,
            LogTarget::Discard,
            Some(&traces),
            Some(Gate::new(false)),
        ));
        assert_eq!(both.max_level_hint(), logged.max(Some(LevelFilter::INFO)));
        traces.shutdown();
    }

    #[test]
    fn a_line_inside_a_handler_carries_the_attempt() {
        let line = one_json_line(|| {
            let attempt = info_span!("step.attempt", task_id = "t-1", step = "fetch", attempt = 2u32);
            let _attempt = attempt.enter();
            tracing::info!("inside the handler");
        });
        assert_eq!(line["message"], "inside the handler");
        let spans = line["spans"].as_array().expect("the span list");
        assert_eq!(spans.len(), 1, "{line}");
        assert_eq!(spans[0]["name"], "step.attempt");
        assert_eq!(spans[0]["step"], "fetch");
        assert_eq!(spans[0]["attempt"], 2);
        assert_eq!(spans[0]["task_id"], "t-1");
    }

    #[test]
    fn span_fields_of_every_kind_reach_the_line_as_json() {
        let text = one_line(|| {
            let id = uuid::Uuid::nil();
            let span = info_span!(
                "request",
                text = "say \"hi\"\n\tback\\slash",
                count = 7u64,
                delta = -3i64,
                ok = true,
                ratio = 0.5f64,
                id = %id,
                later = tracing::field::Empty,
                last = tracing::field::Empty,
            );
            span.record("later", "set after");
            span.record("count", 8u64);
            span.record("last", "appended");
            let _entered = span.enter();
            tracing::info!("inside");
        });
        // Recorded twice, written once (the line's `span` and `spans` both
        // carry the fields); a field recorded later is kept.
        assert_eq!(text.matches("\"count\":").count(), 2, "{text}");
        assert_eq!(text.matches("\"later\":").count(), 2, "{text}");
        let line: Value = serde_json::from_str(&text).expect("one JSON line");
        let span = &line["spans"][0];
        assert_eq!(span["text"], "say \"hi\"\n\tback\\slash", "{line}");
        assert_eq!(span["count"], 8);
        assert_eq!(span["delta"], -3);
        assert_eq!(span["ok"], true);
        assert_eq!(span["ratio"], 0.5);
        assert_eq!(span["id"], uuid::Uuid::nil().to_string());
        assert_eq!(span["later"], "set after");
        assert_eq!(span["last"], "appended");
        assert_eq!(line["span"]["name"], "request");
    }
}

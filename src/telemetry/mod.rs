//! Logs: `tracing` to stdout, pretty on a terminal and JSON lines otherwise;
//! traces exported over OTLP; and the Prometheus metrics.

mod export;
mod feed;
pub mod metrics;
pub mod monitor;
mod process;
pub mod router;
pub mod traces;

pub use export::{Exporter, ExporterEntry, Exporters};
pub use feed::{NAME as FEED, follow};
pub use metrics::Metrics;
pub use traces::{TraceExport, TraceSetupError};

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::Metadata;
use tracing::subscriber::Interest;
use tracing_subscriber::filter::FilterExt;
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
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.level))
        .unwrap_or_else(|_| EnvFilter::new("info"))
        // sqlx logs every statement at INFO.
        .add_directive("sqlx=warn".parse().unwrap_or_default());
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
    let lines = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_writer(writer);
    let lines = if json {
        lines.json().flatten_event(true).boxed()
    } else {
        lines.boxed()
    };
    let gate = gate.unwrap_or_else(|| Gate::new(true));
    let lines = lines.with_filter(filter.and(gate.clone())).boxed();
    let mut layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = vec![lines];
    layers.extend(traces.map(|t| t.layer(gate)));
    let _ = tracing_subscriber::registry().with(layers).try_init();
}

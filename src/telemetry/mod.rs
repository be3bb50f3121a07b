//! Logs: `tracing` to stdout, pretty on a terminal and JSON lines otherwise;
//! and the Prometheus metrics.

mod export;
mod feed;
pub mod metrics;
pub mod monitor;
mod process;
pub mod router;

pub use export::{Exporter, ExporterEntry, Exporters};
pub use feed::{NAME as FEED, follow};
pub use metrics::Metrics;

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogConfig;

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogTarget {
    /// The service: stdout.
    Stdout,
    /// Command-line tools, whose stdout carries their output: stderr.
    Stderr,
}

/// Install the global subscriber. `RUST_LOG` wins over `log.level`. Calling it
/// twice keeps the first subscriber (tests and embedded use).
pub fn init_logging(config: &LogConfig, target: LogTarget) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.level))
        .unwrap_or_else(|_| EnvFilter::new("info"))
        // sqlx logs every statement at INFO.
        .add_directive("sqlx=warn".parse().unwrap_or_default());
    let terminal = match target {
        LogTarget::Stdout => std::io::stdout().is_terminal(),
        LogTarget::Stderr => std::io::stderr().is_terminal(),
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
        }
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(writer);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

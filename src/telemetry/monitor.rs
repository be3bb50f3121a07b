//! The performance monitor: SQL statements slower than a threshold and
//! resident-memory spikes become `observability.*` events (and warnings).
//! Slow attempts are caught where they run, in the engine's dispatch.

use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::process;
use crate::events::{Event, EventBus, EventName};

/// Longest statement text carried by an event.
const STATEMENT_CHARS: usize = 500;

/// Thresholds.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    /// Statements slower than this are reported.
    pub slow_query: Duration,
    /// Growth between two memory samples that is reported.
    pub memory_spike_bytes: u64,
    /// Time between memory samples.
    pub memory_sample: Duration,
}

impl Thresholds {
    /// The thresholds of `[observability]`.
    pub fn from_config(config: &crate::config::ObservabilityConfig) -> Self {
        Self {
            slow_query: Duration::from_millis(config.slow_query_ms),
            memory_spike_bytes: config.memory_spike_bytes,
            memory_sample: Duration::from_secs(config.memory_sample_seconds),
        }
    }
}

/// The event for one statement, if it was slow.
pub fn slow_query(sql: &str, took: Duration, threshold: Duration) -> Option<Event> {
    if took <= threshold {
        return None;
    }
    let statement: String = sql.chars().take(STATEMENT_CHARS).collect();
    Some(
        Event::new(EventName::ObservabilitySlowQuery, Utc::now())
            .with("statement", statement)
            .with("duration_ms", took.as_millis() as u64)
            .with("threshold_ms", threshold.as_millis() as u64),
    )
}

/// The event for a memory sample, if it grew by more than `threshold` bytes.
pub fn memory_spike(previous: u64, now: u64, threshold: u64) -> Option<Event> {
    let growth = now.saturating_sub(previous);
    (growth > threshold).then(|| {
        Event::new(EventName::ObservabilityMemorySpike, Utc::now())
            .with("rss_bytes", now)
            .with("previous_rss_bytes", previous)
            .with("growth_bytes", growth)
            .with("threshold_bytes", threshold)
    })
}

/// A statement observer for `Store::observe_statements`.
pub fn statement_observer(
    bus: EventBus,
    threshold: Duration,
) -> impl Fn(&sea_orm::metric::Info<'_>) + Send + Sync + 'static {
    move |info| {
        if let Some(event) = slow_query(&info.statement.sql, info.elapsed, threshold) {
            warn!(duration_ms = info.elapsed.as_millis() as u64, statement = %event.data["statement"], "slow SQL statement");
            bus.publish(event);
        }
    }
}

/// Sample resident memory until `cancel` (Linux; elsewhere nothing to read).
pub async fn watch_memory(bus: EventBus, thresholds: Thresholds, cancel: CancellationToken) {
    let rss = || process::resident_bytes().map(|b| b as u64);
    let Some(mut previous) = rss() else { return };
    let mut ticks = tokio::time::interval(thresholds.memory_sample);
    ticks.tick().await;
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let Some(now) = rss() else { return };
        if let Some(event) = memory_spike(previous, now, thresholds.memory_spike_bytes) {
            warn!(
                rss_bytes = now,
                previous_rss_bytes = previous,
                "resident memory spike"
            );
            bus.publish(event);
        }
        previous = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_statements_past_the_threshold_are_reported_and_clipped() {
        let limit = Duration::from_millis(100);
        assert!(slow_query("SELECT 1", Duration::from_millis(100), limit).is_none());
        let long = format!("SELECT {}", "x, ".repeat(400));
        let event = slow_query(&long, Duration::from_millis(250), limit).expect("slow");
        let payload = event.payload();
        assert_eq!(payload["duration_ms"], 250);
        assert_eq!(payload["threshold_ms"], 100);
        assert_eq!(
            payload["statement"].as_str().map(|s| s.chars().count()),
            Some(STATEMENT_CHARS)
        );
    }

    #[test]
    fn memory_growth_past_the_threshold_is_a_spike() {
        assert!(memory_spike(100, 150, 50).is_none());
        assert!(memory_spike(150, 100, 10).is_none(), "shrinking is fine");
        let spike = memory_spike(100, 300, 50).expect("spike").payload();
        assert_eq!(spike["growth_bytes"], 200);
    }

    #[tokio::test]
    async fn a_slow_statement_reaches_the_bus() {
        let bus = EventBus::new(1024);
        let mut rx = bus.subscribe();
        let mut store = crate::store::Store::connect(&crate::store::ConnectSettings {
            url: "sqlite::memory:".into(),
            max_connections: 1,
            connect_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(5),
        })
        .await
        .expect("connects");
        // Every statement is "slow" past a zero threshold.
        store.observe_statements(statement_observer(bus.clone(), Duration::ZERO));
        store.migrate().await.expect("migrates");
        let event = rx.try_recv().expect("an event");
        assert_eq!(event.name, EventName::ObservabilitySlowQuery);
        assert!(event.payload()["statement"].is_string());
    }
}

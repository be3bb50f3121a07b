//! Scheduled exports of the cluster's metrics. Time is cut into windows of
//! `retention_window − export_safety_margin`, so every window is exported
//! before the data it covers expires in Redis. Every replica asks each window;
//! the one that takes the window's lock (`SET NX PX`, lapsing if its holder
//! dies) exports and marks the window done; a failed export releases the lock
//! and is retried, by any replica, after an exponential backoff.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::MetricsCache;
use crate::config::MetricsCacheConfig;
use crate::events::{Event, EventBus, EventName};
use crate::telemetry::Exporters;

/// Where scheduled exports go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportTarget {
    /// A file, replaced atomically (written beside it, then renamed).
    File(PathBuf),
    /// An HTTP endpoint the export is POSTed to.
    Http(String),
}

impl ExportTarget {
    /// The configured target, if any.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.is_empty() {
            None
        } else if text.starts_with("http://") || text.starts_with("https://") {
            Some(ExportTarget::Http(text.to_owned()))
        } else {
            Some(ExportTarget::File(PathBuf::from(text)))
        }
    }

    fn describe(&self) -> String {
        match self {
            ExportTarget::File(path) => path.display().to_string(),
            ExportTarget::Http(url) => url.clone(),
        }
    }
}

/// When and how to export.
#[derive(Debug, Clone)]
pub struct ExportSchedule {
    /// Length of a window.
    pub every: Duration,
    /// How long a holder keeps the lock before it lapses.
    pub lock_for: Duration,
    /// The exporter's name.
    pub exporter: String,
    /// Where the export goes.
    pub target: ExportTarget,
}

impl ExportSchedule {
    /// The configured schedule; `None` without a target.
    pub fn from_config(config: &MetricsCacheConfig) -> Option<Self> {
        let every = Duration::from_secs(config.export_every_seconds());
        Some(Self {
            every,
            lock_for: every.min(Duration::from_secs(60)),
            exporter: config.export_exporter.clone(),
            target: ExportTarget::parse(&config.export_target)?,
        })
    }

    /// The window a moment (seconds since the epoch) falls in.
    pub fn window_at(&self, unix_seconds: u64) -> u64 {
        unix_seconds / self.every.as_secs().max(1)
    }
}

/// What one try at a window came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportOutcome {
    /// This replica exported it.
    Exported {
        /// Bytes written.
        bytes: usize,
    },
    /// It was exported already (by any replica).
    AlreadyExported,
    /// Another replica holds its lock.
    HeldElsewhere,
    /// The export failed (the lock was released).
    Failed(String),
}

/// The export coordinator of one replica.
#[derive(Clone)]
pub struct Exports {
    cache: MetricsCache,
    exporters: Exporters,
    events: EventBus,
    schedule: ExportSchedule,
    http: reqwest::Client,
}

impl Exports {
    /// Exports of `cache`'s cluster view, rendered by `exporters`.
    pub fn new(
        cache: MetricsCache,
        exporters: Exporters,
        events: EventBus,
        schedule: ExportSchedule,
    ) -> Self {
        Self {
            cache,
            exporters,
            events,
            schedule,
            http: reqwest::Client::new(),
        }
    }

    fn event(&self, name: EventName, window: u64) -> Event {
        Event::new(name, chrono::Utc::now())
            .with("window", window)
            .with("exporter", self.schedule.exporter.clone())
            .with("target", self.schedule.target.describe())
    }

    /// Try to export `window` (`attempt` counts the tries of this replica).
    pub async fn run_window(&self, window: u64, attempt: u32) -> ExportOutcome {
        self.events
            .publish(self.event(EventName::ExportRequested, window));
        let me = self.cache.status().instance_id;
        let store = match self.cache.shared_store().await {
            None => None,
            Some(Ok(store)) => Some(store),
            Some(Err(err)) => return self.failed(window, &me, attempt, err.to_string()),
        };
        if let Some(store) = &store {
            match store.exported(window).await {
                Ok(true) => return ExportOutcome::AlreadyExported,
                Ok(false) => {}
                Err(err) => return self.failed(window, &me, attempt, err.to_string()),
            }
            match store.lock_window(window, &me, self.schedule.lock_for).await {
                Ok(true) => {}
                Ok(false) => return ExportOutcome::HeldElsewhere,
                Err(err) => return self.failed(window, &me, attempt, err.to_string()),
            }
        }
        self.events.publish(
            self.event(EventName::ExportStarted, window)
                .with("instance_id", me.clone()),
        );
        let started = Instant::now();
        let outcome = self.export().await;
        match (outcome, &store) {
            (Ok(bytes), Some(store)) => {
                // Kept two windows: the next window's askers only need this one.
                let marked = store.mark_exported(window, &me, 2 * self.schedule.every).await;
                if let Err(err) = marked {
                    warn!(error = %err, window, "metrics export done but not recorded; another replica may repeat it");
                }
                self.completed(window, &me, bytes, started.elapsed())
            }
            (Ok(bytes), None) => self.completed(window, &me, bytes, started.elapsed()),
            (Err(message), store) => {
                if let Some(store) = store {
                    let _ = store.unlock_window(window, &me).await;
                }
                self.failed(window, &me, attempt, message)
            }
        }
    }

    fn completed(&self, window: u64, me: &str, bytes: usize, took: Duration) -> ExportOutcome {
        info!(window, bytes, target = %self.schedule.target.describe(), "metrics exported");
        self.events.publish(
            self.event(EventName::ExportCompleted, window)
                .with("instance_id", me)
                .with("bytes", bytes)
                .with("duration_ms", took.as_millis() as u64),
        );
        ExportOutcome::Exported { bytes }
    }

    fn failed(&self, window: u64, me: &str, attempt: u32, error: String) -> ExportOutcome {
        let retry = backoff(attempt);
        warn!(window, attempt, error = %error, retry_in_ms = retry.as_millis() as u64, "metrics export failed");
        self.events.publish(
            self.event(EventName::ExportFailed, window)
                .with("instance_id", me)
                .with("error", error.clone())
                .with("attempt", attempt)
                .with("retry_in_ms", retry.as_millis() as u64),
        );
        ExportOutcome::Failed(error)
    }

    /// Render the cluster's metrics and write them to the target.
    async fn export(&self) -> Result<usize, String> {
        let snapshot = self.cache.cluster().await.map_err(|e| e.to_string())?;
        let (content_type, body) = self
            .exporters
            .export(&self.schedule.exporter, &snapshot)
            .ok_or_else(|| format!("no exporter {:?}", self.schedule.exporter))??;
        let bytes = body.len();
        match &self.schedule.target {
            ExportTarget::File(path) => {
                let partial = path.with_extension("partial");
                tokio::fs::write(&partial, body)
                    .await
                    .map_err(|e| format!("writing {}: {e}", partial.display()))?;
                tokio::fs::rename(&partial, path)
                    .await
                    .map_err(|e| format!("renaming to {}: {e}", path.display()))?;
            }
            ExportTarget::Http(url) => {
                let response = self
                    .http
                    .post(url)
                    .header(reqwest::header::CONTENT_TYPE, content_type)
                    .timeout(Duration::from_secs(10))
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| format!("POST {url}: {e}"))?;
                if !response.status().is_success() {
                    return Err(format!("POST {url}: HTTP {}", response.status()));
                }
            }
        }
        Ok(bytes)
    }

    /// Export every window until `cancel`: ask at `check` intervals, retry
    /// failures with backoff.
    pub fn spawn(self, check: Duration, cancel: CancellationToken) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut done: Option<u64> = None;
            let mut attempt = 0u32;
            let mut retry_at = Instant::now();
            loop {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(check) => {}
                }
                let now = chrono::Utc::now().timestamp().max(0) as u64;
                // A window is exported once it is over.
                let Some(window) = self.schedule.window_at(now).checked_sub(1) else {
                    continue;
                };
                if done == Some(window) || Instant::now() < retry_at {
                    continue;
                }
                attempt += 1;
                match self.run_window(window, attempt).await {
                    ExportOutcome::Failed(_) => retry_at = Instant::now() + backoff(attempt),
                    ExportOutcome::HeldElsewhere => {}
                    ExportOutcome::Exported { .. } | ExportOutcome::AlreadyExported => {
                        done = Some(window);
                        attempt = 0;
                    }
                }
            }
        })
    }
}

/// 1 s, 2 s, 4 s … up to a minute.
fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.saturating_sub(1).min(6)).min(Duration::from_secs(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_windows_and_backoff() {
        assert_eq!(ExportTarget::parse(" "), None);
        assert_eq!(
            ExportTarget::parse("https://push/metrics"),
            Some(ExportTarget::Http("https://push/metrics".into()))
        );
        assert_eq!(
            ExportTarget::parse("/var/lib/tasker/metrics.prom"),
            Some(ExportTarget::File("/var/lib/tasker/metrics.prom".into()))
        );
        let config = MetricsCacheConfig {
            export_target: "/tmp/m".into(),
            ..MetricsCacheConfig::default()
        };
        let schedule = ExportSchedule::from_config(&config).expect("a schedule");
        assert_eq!(
            schedule.every,
            Duration::from_secs(240),
            "retention 300 − margin 60"
        );
        assert_eq!(schedule.window_at(239), 0);
        assert_eq!(schedule.window_at(240), 1);
        assert_eq!(
            [1, 2, 3, 7, 20].map(backoff),
            [1, 2, 4, 60, 60].map(Duration::from_secs)
        );
    }
}

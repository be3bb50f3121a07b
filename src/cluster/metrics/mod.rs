//! One view of the metrics across replicas. Each replica keeps recording into
//! its own registry (lock-free atomics on the hot path) and, every
//! `sync_interval`, sends Redis what changed:
//!
//! - `distributed_atomic`: the increments of its counters and histograms,
//!   added to cluster-wide series by a server-side script (exactly once, even
//!   when a flush is retried), plus its gauges under its instance key;
//! - `distributed_basic` (a store without scripts): its whole snapshot under
//!   its instance key, summed over the live replicas on read (a replica that
//!   stops syncing drops out after the retention window);
//! - `local_only` (no Redis): nothing is shared.
//!
//! When Redis goes away the cache runs as `local_only`; increments not yet
//! applied are kept and sent when it comes back.

mod export;
mod store;

pub use export::{ExportOutcome, ExportSchedule, ExportTarget, Exports};
pub use store::{Capabilities, StoreError};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use uuid::Uuid;

use crate::config::{MetricsCacheConfig, RedisConfig};
use crate::telemetry::Metrics;
use crate::telemetry::series::Snapshot;
use store::Store;

/// How replicas share their metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Atomic increments into cluster-wide series.
    DistributedAtomic,
    /// Per-replica snapshots, merged on read.
    DistributedBasic,
    /// Nothing shared.
    LocalOnly,
}

impl Strategy {
    /// Every strategy's name.
    pub const NAMES: &[&str] = &["distributed_atomic", "distributed_basic", "local_only"];

    /// The configuration name.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::DistributedAtomic => "distributed_atomic",
            Strategy::DistributedBasic => "distributed_basic",
            Strategy::LocalOnly => "local_only",
        }
    }

    /// The strategy `configured` (`auto` or a name) comes to with `found`.
    pub fn choose(configured: &str, found: Capabilities) -> Strategy {
        match configured {
            _ if !found.reachable => Strategy::LocalOnly,
            "local_only" => Strategy::LocalOnly,
            "distributed_basic" => Strategy::DistributedBasic,
            _ if found.atomic_increments => Strategy::DistributedAtomic,
            // Asked for atomic increments the store lacks: the next best.
            _ => Strategy::DistributedBasic,
        }
    }
}

/// The cache's state, as /health/status and GraphQL show it.
#[derive(Debug, Clone, Serialize)]
pub struct CacheStatus {
    /// As configured (`auto` or a strategy).
    pub configured: String,
    /// The strategy chosen from the capabilities found at start.
    pub chosen: Strategy,
    /// The strategy in use now (`local_only` while Redis is unreachable).
    pub active: Strategy,
    /// What Redis offered at the last probe.
    pub capabilities: Capabilities,
    /// This replica's name in the shared metrics.
    pub instance_id: String,
    /// Syncs that reached Redis.
    pub syncs: u64,
    /// Syncs that failed.
    pub failures: u64,
    /// The last failure.
    pub last_error: Option<String>,
}

/// What this replica has sent.
struct Sync {
    /// Monotonic values Redis has (applied increments).
    acked: Snapshot,
    /// The last flush number used.
    flush: u64,
    /// A flush whose outcome is unknown (sent, no answer): it is sent again,
    /// as it was, before anything newer.
    in_flight: Option<(u64, BTreeMap<String, f64>, Snapshot)>,
}

struct Inner {
    metrics: Metrics,
    client: Option<redis::Client>,
    prefix: String,
    retention: Duration,
    /// Flush numbers are per process run: a restarted replica with a fixed
    /// instance id must not look like a replay of its earlier run.
    run: String,
    store: Mutex<Option<Store>>,
    sync: Mutex<Sync>,
    status: std::sync::Mutex<CacheStatus>,
}

/// Gauges every replica reads from the one shared database (queue depths):
/// the cluster's value is the database's, which this replica's is (fresh),
/// not the sum over replicas.
const DATABASE_GAUGES: &[&str] = &["tasker_tasks_in_progress", "tasker_steps_ready"];

fn reads_the_database(series: &str) -> bool {
    let name = series.split('{').next().unwrap_or(series);
    DATABASE_GAUGES.contains(&name)
}

/// The metrics cache (cheap to clone).
#[derive(Clone)]
pub struct MetricsCache(Arc<Inner>);

/// `<host>-<pid>`.
pub fn default_instance_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "local".to_owned());
    format!("{host}-{}", std::process::id())
}

impl MetricsCache {
    /// A cache that shares nothing (no Redis).
    pub fn local_only(metrics: Metrics) -> Self {
        Self::new(metrics, None, String::new(), &MetricsCacheConfig::default())
    }

    fn new(
        metrics: Metrics,
        client: Option<redis::Client>,
        prefix: String,
        config: &MetricsCacheConfig,
    ) -> Self {
        let instance_id = Some(config.instance_id.trim())
            .filter(|i| !i.is_empty())
            .map_or_else(default_instance_id, str::to_owned);
        let status = CacheStatus {
            configured: config.strategy.clone(),
            chosen: Strategy::LocalOnly,
            active: Strategy::LocalOnly,
            capabilities: Capabilities::default(),
            instance_id,
            syncs: 0,
            failures: 0,
            last_error: None,
        };
        metrics.set_cache_strategy(Strategy::LocalOnly.as_str(), Strategy::NAMES);
        MetricsCache(Arc::new(Inner {
            metrics,
            client,
            prefix,
            retention: Duration::from_secs(config.retention_window_seconds),
            run: Uuid::new_v4().simple().to_string(),
            store: Mutex::new(None),
            sync: Mutex::new(Sync {
                acked: Snapshot::default(),
                flush: 0,
                in_flight: None,
            }),
            status: std::sync::Mutex::new(status),
        }))
    }

    /// Probe Redis (when configured) and pick the strategy. Never fails: an
    /// unreachable Redis leaves the cache `local_only` until a sync succeeds.
    pub async fn start(metrics: Metrics, config: &MetricsCacheConfig, redis: &RedisConfig) -> Self {
        let client = match (config.strategy.as_str(), redis.url()) {
            ("local_only", _) | (_, None) => None,
            (_, Some(url)) => match redis::Client::open(url) {
                Ok(client) => Some(client),
                Err(err) => {
                    warn!(error = %err, "metrics cache: bad redis.url; local only");
                    None
                }
            },
        };
        let prefix = Some(config.key_prefix.trim())
            .filter(|p| !p.is_empty())
            .unwrap_or(&redis.key_prefix)
            .to_owned();
        let cache = Self::new(metrics, client, prefix, config);
        if cache.0.client.is_some() {
            let _ = cache.store().await;
        }
        let status = cache.status();
        info!(
            configured = %status.configured,
            strategy = status.chosen.as_str(),
            reachable = status.capabilities.reachable,
            atomic_increments = status.capabilities.atomic_increments,
            locks = status.capabilities.locks,
            ttl = status.capabilities.ttl,
            instance_id = %status.instance_id,
            "metrics cache started"
        );
        cache
    }

    /// The state now.
    pub fn status(&self) -> CacheStatus {
        self.0.status.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn update(&self, change: impl FnOnce(&mut CacheStatus)) {
        let active = {
            let mut status = self.0.status.lock().unwrap_or_else(|p| p.into_inner());
            change(&mut status);
            status.active
        };
        self.0
            .metrics
            .set_cache_strategy(active.as_str(), Strategy::NAMES);
    }

    /// The connection, made (and the capabilities probed) when there is none.
    async fn store(&self) -> Result<Store, StoreError> {
        let mut held = self.0.store.lock().await;
        if let Some(store) = held.as_ref() {
            return Ok(store.clone());
        }
        let Some(client) = &self.0.client else {
            return Err(StoreError::NotConfigured);
        };
        let store = Store::connect(client, &self.0.prefix, self.0.retention).await?;
        let found = store.capabilities().await;
        let configured = self.status().configured;
        let chosen = Strategy::choose(&configured, found);
        self.update(|s| {
            s.capabilities = found;
            s.chosen = chosen;
        });
        if !found.reachable {
            return Err(StoreError::Unreachable);
        }
        *held = Some(store.clone());
        Ok(store)
    }

    /// This replica's metrics now, as it shares them: without the process
    /// metrics (memory, CPU, start time, open files), which describe one
    /// process and mean nothing added up; `/metrics` has them per replica.
    pub fn local(&self) -> Snapshot {
        let mut snapshot = Snapshot::parse(&self.0.metrics.encode());
        snapshot.retain_families(|name| !name.starts_with("process_"));
        snapshot
    }

    /// Send what changed since the last sync. On failure the cache runs as
    /// `local_only` and keeps what was not applied for the next sync.
    pub async fn sync(&self) -> Result<Strategy, StoreError> {
        if self.0.client.is_none() {
            return Ok(Strategy::LocalOnly);
        }
        let outcome = match self.store().await {
            Ok(store) => self.sync_with(&store).await,
            Err(err) => Err(err),
        };
        match outcome {
            Ok(strategy) => {
                let was = self.status().active;
                self.update(|s| {
                    s.active = strategy;
                    s.syncs += 1;
                });
                if was != strategy {
                    info!(strategy = strategy.as_str(), "metrics cache synced with redis");
                }
                Ok(strategy)
            }
            Err(err) => {
                let was = self.status().active;
                self.update(|s| {
                    s.active = Strategy::LocalOnly;
                    s.failures += 1;
                    s.last_error = Some(err.to_string());
                });
                if was != Strategy::LocalOnly {
                    warn!(error = %err, "metrics cache lost redis; local only until it is back");
                }
                // Reconnect (and probe again) next time.
                *self.0.store.lock().await = None;
                Err(err)
            }
        }
    }

    async fn sync_with(&self, store: &Store) -> Result<Strategy, StoreError> {
        let CacheStatus {
            chosen: strategy,
            instance_id: instance,
            ..
        } = self.status();
        let now = self.local();
        if strategy == Strategy::DistributedBasic {
            let values = now.series.iter().map(|(k, p)| (k.clone(), p.value)).collect();
            store.publish_instance(&instance, &values, &now.families).await?;
            return Ok(strategy);
        }
        let mut sync = self.0.sync.lock().await;
        if let Some((flush, increments, upto)) = sync.in_flight.take() {
            let retried = store.apply(&self.0.run, flush, &increments).await;
            if retried.is_err() {
                sync.in_flight = Some((flush, increments, upto));
                retried?;
            } else {
                sync.acked = upto;
            }
        }
        let increments = now.increments_since(&sync.acked);
        if !increments.is_empty() {
            sync.flush += 1;
            let flush = sync.flush;
            sync.in_flight = Some((flush, increments.clone(), now.clone()));
            store.apply(&self.0.run, flush, &increments).await?;
            sync.in_flight = None;
            sync.acked = now.clone();
        }
        drop(sync);
        store
            .publish_instance(&instance, &now.gauges(), &now.families)
            .await?;
        Ok(strategy)
    }

    /// The cluster's metrics: what Redis holds plus what this replica has not
    /// sent yet; this replica's own when Redis is not in use.
    pub async fn cluster(&self) -> Result<Snapshot, StoreError> {
        let local = self.local();
        if self.0.client.is_none() {
            return Ok(local);
        }
        let store = self.store().await?;
        let status = self.status();
        let me = status.instance_id.as_str();
        let mut view = store.families().await?;
        // Before any series goes in: a series finds its family by name.
        for (name, family) in &local.families {
            view.families
                .entry(name.clone())
                .or_insert_with(|| family.clone());
        }
        if status.chosen != Strategy::DistributedBasic {
            for (series, value) in store.counters().await? {
                view.add(&series, value);
            }
            let sync = self.0.sync.lock().await;
            // A flush in flight counts as not applied; if Redis did apply
            // it, this view counts it twice until the next sync settles it.
            for (series, value) in local.increments_since(&sync.acked) {
                view.add(&series, value);
            }
        }
        for instance in store.instances().await? {
            if instance == me {
                continue;
            }
            for (series, value) in store.instance(&instance).await? {
                if !reads_the_database(&series) {
                    view.add(&series, value);
                }
            }
        }
        let own = if status.chosen == Strategy::DistributedBasic {
            local.series.iter().map(|(k, p)| (k.clone(), p.value)).collect()
        } else {
            local.gauges()
        };
        for (series, value) in own {
            view.add(&series, value);
        }
        Ok(view)
    }

    /// Every replica sharing metrics with the Unix time of its last sync;
    /// `None` when Redis is not in use (only this replica is known).
    pub async fn replicas(&self) -> Option<Result<Vec<(String, f64)>, StoreError>> {
        self.0.client.as_ref()?;
        Some(match self.store().await {
            Ok(store) => store.instances_seen().await,
            Err(err) => Err(err),
        })
    }

    /// The shared store when Redis is in use and reachable now.
    pub(crate) async fn shared_store(&self) -> Option<Result<Store, StoreError>> {
        self.0.client.as_ref()?;
        Some(self.store().await)
    }

    /// Sync every `interval` until `cancel`, then once more.
    pub fn spawn(&self, interval: Duration, cancel: CancellationToken) -> tokio::task::JoinHandle<()> {
        let cache = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = cancel.cancelled() => break,
                    _ = ticks.tick() => {}
                }
                let _ = cache.sync().await;
            }
            let _ = cache.sync().await;
        })
    }
}

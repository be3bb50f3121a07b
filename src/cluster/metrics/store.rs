//! The shared metrics in Redis, under `{prefix}:metrics:`:
//!
//! - `counters` (hash): the cluster's monotonic series, grown by each
//!   replica's increments (`distributed_atomic`);
//! - `applied` (hash): per replica run, the last flush applied, so that a flush
//!   retried after a lost reply is not counted twice;
//! - `families` (hash): each family's type and help, for rendering;
//! - `instance:{id}` (hash): a replica's gauges (`distributed_atomic`) or its
//!   whole cumulative snapshot (`distributed_basic`);
//! - `instances` (sorted set): replicas by the time of their last sync.
//!
//! Every key expires `retention` after the last write to it.

use std::collections::BTreeMap;
use std::time::Duration;

use redis::aio::ConnectionManager;

use crate::telemetry::series::{Family, Snapshot};

/// How long one Redis operation may take before the cache counts Redis as gone.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// A Redis failure, or a timeout.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis answered with an error, or the connection failed.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// No answer within [`TIMEOUT`].
    #[error("redis did not answer within {} s", TIMEOUT.as_secs())]
    Timeout,
    /// Connected, but `PING` failed.
    #[error("redis does not answer PING")]
    Unreachable,
    /// No `redis.url` (or `metrics_cache.strategy = "local_only"`).
    #[error("no redis is configured for the metrics cache")]
    NotConfigured,
}

async fn within<T>(work: impl Future<Output = redis::RedisResult<T>>) -> Result<T, StoreError> {
    match tokio::time::timeout(TIMEOUT, work).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(StoreError::Timeout),
    }
}

/// Applies one replica's increments exactly once: a flush whose number is
/// not above the last one applied for that replica run is skipped.
const APPLY: &str = r"
local last = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if tonumber(ARGV[2]) <= last then return 0 end
local i = 4
while i <= #ARGV do
  redis.call('HINCRBYFLOAT', KEYS[1], ARGV[i], ARGV[i + 1])
  i = i + 2
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
";

/// Deletes the lock only if this holder still has it.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// What the configured Redis offers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Capabilities {
    /// It answered.
    pub reachable: bool,
    /// Server-side scripts (atomic multi-key increments).
    pub atomic_increments: bool,
    /// `SET NX PX` (locks with expiry).
    pub locks: bool,
    /// Keys expire.
    pub ttl: bool,
}

/// The shared metrics of one deployment (one key prefix).
#[derive(Clone)]
pub struct Store {
    connection: ConnectionManager,
    prefix: String,
    retention: Duration,
    apply: redis::Script,
}

impl Store {
    /// Connect (within [`TIMEOUT`]).
    pub async fn connect(
        client: &redis::Client,
        prefix: &str,
        retention: Duration,
    ) -> Result<Self, StoreError> {
        let connection = within(client.get_connection_manager()).await?;
        Ok(Self {
            connection,
            prefix: format!("{prefix}:metrics"),
            retention,
            apply: redis::Script::new(APPLY),
        })
    }

    fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }

    fn retention_seconds(&self) -> u64 {
        self.retention.as_secs().max(1)
    }

    /// Probe what the server offers (each probe on a key of its own that
    /// expires at once).
    pub async fn capabilities(&self) -> Capabilities {
        let mut c = self.connection.clone();
        let reachable = within(redis::cmd("PING").query_async::<String>(&mut c))
            .await
            .is_ok();
        if !reachable {
            return Capabilities::default();
        }
        // A key per probe, named for this process, so that probes neither see
        // each other's leftovers nor another replica's.
        let probe = |what: &str| self.key(&format!("probe:{what}:{}", std::process::id()));
        let (script_key, lock_key) = (probe("script"), probe("lock"));
        let atomic_increments = within(
            redis::Script::new("return redis.call('HINCRBYFLOAT', KEYS[1], 'x', '0.5')")
                .key(&script_key)
                .invoke_async::<f64>(&mut c),
        )
        .await
        .is_ok_and(|v| v == 0.5);
        // The lock must be taken by the first SET NX and refused by the second.
        let set_nx = || {
            redis::cmd("SET")
                .arg(&lock_key)
                .arg("1")
                .arg("NX")
                .arg("PX")
                .arg(5000)
                .to_owned()
        };
        let first = within(set_nx().query_async::<Option<String>>(&mut c)).await;
        let second = within(set_nx().query_async::<Option<String>>(&mut c)).await;
        let locks = matches!((first, second), (Ok(Some(_)), Ok(None)));
        let ttl = within(redis::cmd("PTTL").arg(&lock_key).query_async::<i64>(&mut c))
            .await
            .is_ok_and(|ms| ms > 0);
        let _ = within(
            redis::cmd("DEL")
                .arg(&script_key)
                .arg(&lock_key)
                .query_async::<i64>(&mut c),
        )
        .await;
        Capabilities {
            reachable,
            atomic_increments,
            locks,
            ttl,
        }
    }

    /// Add `increments` to the cluster's counters as flush `flush` of replica
    /// run `run`. True when applied now, false when it had been already.
    pub async fn apply(
        &self,
        run: &str,
        flush: u64,
        increments: &BTreeMap<String, f64>,
    ) -> Result<bool, StoreError> {
        let mut c = self.connection.clone();
        let mut invocation = self.apply.prepare_invoke();
        invocation
            .key(self.key("counters"))
            .key(self.key("applied"))
            .arg(run)
            .arg(flush)
            .arg(self.retention_seconds());
        for (series, value) in increments {
            invocation.arg(series).arg(value.to_string());
        }
        let applied: i64 = within(invocation.invoke_async(&mut c)).await?;
        Ok(applied == 1)
    }

    /// Replace what replica `instance` shares beside the counters (its gauges,
    /// or in `distributed_basic` its whole snapshot), with the families'
    /// descriptions, and mark it alive.
    pub async fn publish_instance(
        &self,
        instance: &str,
        values: &BTreeMap<String, f64>,
        families: &BTreeMap<String, Family>,
    ) -> Result<(), StoreError> {
        let mut c = self.connection.clone();
        let key = self.key(&format!("instance:{instance}"));
        let ttl = self.retention_seconds();
        let mut pipe = redis::pipe();
        pipe.atomic().del(&key).ignore();
        if !values.is_empty() {
            let pairs: Vec<(&String, String)> = values.iter().map(|(k, v)| (k, v.to_string())).collect();
            pipe.hset_multiple(&key, &pairs).ignore();
            pipe.expire(&key, ttl as i64).ignore();
        }
        if !families.is_empty() {
            let described: Vec<(&String, String)> =
                families.iter().map(|(k, f)| (k, f.to_stored())).collect();
            pipe.hset_multiple(self.key("families"), &described).ignore();
            pipe.expire(self.key("families"), ttl as i64).ignore();
        }
        // The cluster's counters live while any replica does, idle or not.
        pipe.expire(self.key("counters"), ttl as i64).ignore();
        pipe.expire(self.key("applied"), ttl as i64).ignore();
        let now = chrono::Utc::now().timestamp();
        pipe.zadd(self.key("instances"), instance, now).ignore();
        pipe.zrembyscore(self.key("instances"), "-inf", now - ttl as i64)
            .ignore();
        pipe.expire(self.key("instances"), ttl as i64).ignore();
        within(pipe.query_async::<()>(&mut c)).await
    }

    /// Take export window `window`'s lock for `holder`, for `ttl` (a holder
    /// that dies lets it lapse). False when another holds it.
    pub async fn lock_window(&self, window: u64, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut c = self.connection.clone();
        let taken: Option<String> = within(
            redis::cmd("SET")
                .arg(self.key(&format!("export:lock:{window}")))
                .arg(holder)
                .arg("NX")
                .arg("PX")
                .arg(ttl.as_millis().max(1) as u64)
                .query_async(&mut c),
        )
        .await?;
        Ok(taken.is_some())
    }

    /// Give the lock back (only if `holder` still has it).
    pub async fn unlock_window(&self, window: u64, holder: &str) -> Result<(), StoreError> {
        let mut c = self.connection.clone();
        let release = redis::Script::new(RELEASE);
        let mut invocation = release.prepare_invoke();
        invocation
            .key(self.key(&format!("export:lock:{window}")))
            .arg(holder);
        within(invocation.invoke_async::<i64>(&mut c)).await.map(|_| ())
    }

    /// Record that window `window` was exported (kept `keep`).
    pub async fn mark_exported(&self, window: u64, holder: &str, keep: Duration) -> Result<(), StoreError> {
        let mut c = self.connection.clone();
        within(
            redis::cmd("SET")
                .arg(self.key(&format!("export:done:{window}")))
                .arg(holder)
                .arg("PX")
                .arg(keep.as_millis().max(1) as u64)
                .query_async::<()>(&mut c),
        )
        .await
    }

    /// Whether window `window` was exported.
    pub async fn exported(&self, window: u64) -> Result<bool, StoreError> {
        let mut c = self.connection.clone();
        within(
            redis::cmd("EXISTS")
                .arg(self.key(&format!("export:done:{window}")))
                .query_async::<i64>(&mut c),
        )
        .await
        .map(|n| n > 0)
    }

    /// The replicas that synced within the retention window.
    pub async fn instances(&self) -> Result<Vec<String>, StoreError> {
        Ok(self
            .instances_seen()
            .await?
            .into_iter()
            .map(|(id, _)| id)
            .collect())
    }

    /// The replicas that synced within the retention window, each with the
    /// Unix time of its last sync.
    pub async fn instances_seen(&self) -> Result<Vec<(String, f64)>, StoreError> {
        let mut c = self.connection.clone();
        let since = chrono::Utc::now().timestamp() - self.retention_seconds() as i64;
        within(
            redis::cmd("ZRANGEBYSCORE")
                .arg(self.key("instances"))
                .arg(since)
                .arg("+inf")
                .arg("WITHSCORES")
                .query_async(&mut c),
        )
        .await
    }

    /// The cluster's counters, by sample text.
    pub async fn counters(&self) -> Result<BTreeMap<String, f64>, StoreError> {
        let mut c = self.connection.clone();
        within(
            redis::cmd("HGETALL")
                .arg(self.key("counters"))
                .query_async(&mut c),
        )
        .await
    }

    /// An empty snapshot that knows every family stored.
    pub async fn families(&self) -> Result<Snapshot, StoreError> {
        let mut c = self.connection.clone();
        let stored: BTreeMap<String, String> = within(
            redis::cmd("HGETALL")
                .arg(self.key("families"))
                .query_async(&mut c),
        )
        .await?;
        Ok(Snapshot {
            families: stored
                .into_iter()
                .map(|(name, text)| (name, Family::from_stored(&text)))
                .collect(),
            series: BTreeMap::new(),
        })
    }

    /// What replica `instance` shares beside the counters.
    pub async fn instance(&self, instance: &str) -> Result<BTreeMap<String, f64>, StoreError> {
        let mut c = self.connection.clone();
        let key = self.key(&format!("instance:{instance}"));
        within(redis::cmd("HGETALL").arg(key).query_async(&mut c)).await
    }
}

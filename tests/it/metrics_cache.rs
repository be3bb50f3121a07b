//! The metrics cache against a real Redis: replicas' metrics add up exactly,
//! concurrent flushes lose nothing, an outage degrades to local only and
//! loses no count.

use std::collections::HashMap;
use std::time::Duration;

use prometheus_parse::{Scrape, Value};
use tasker::cluster::metrics::{
    ExportOutcome, ExportSchedule, ExportTarget, Exports, MetricsCache, Strategy,
};
use tasker::config::{MetricsCacheConfig, RedisConfig};
use tasker::events::EventBus;
use tasker::telemetry::{Exporters, Metrics};

use crate::support::{TestApp, TestDb, ThrowawayRedis, free_port, redis_url, test_config};

crate::on_both_backends! {
    metrics_of_the_cluster_are_served_with_the_cache_status => served_cluster_metrics;
}

/// A replica's cache under a prefix of the test's own.
async fn replica(url: &str, prefix: &str, instance: &str, strategy: &str) -> (Metrics, MetricsCache) {
    let metrics = Metrics::new();
    let config = MetricsCacheConfig {
        strategy: strategy.to_owned(),
        instance_id: instance.to_owned(),
        ..MetricsCacheConfig::default()
    };
    let redis = RedisConfig {
        url: url.to_owned(),
        key_prefix: prefix.to_owned(),
    };
    let cache = MetricsCache::start(metrics.clone(), &config, &redis).await;
    (metrics, cache)
}

fn prefix() -> String {
    format!("test-{}", uuid::Uuid::new_v4().simple())
}

/// Series of the cluster's view (checked by a Prometheus parser), by metric
/// name and labels; histograms by their total count.
async fn cluster_values(cache: &MetricsCache) -> HashMap<String, f64> {
    let text = cache.cluster().await.expect("the cluster's metrics").render();
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("parses");
    scrape
        .samples
        .into_iter()
        .map(|s| {
            let mut labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            labels.sort();
            let value = match s.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
                Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
                Value::Summary(_) => f64::NAN,
            };
            (format!("{}{{{}}}", s.metric, labels.join(",")), value)
        })
        .collect()
}

/// Labels of a CSV export's rows for completed tasks.
const COMPLETE: &str = r#""status":"complete""#;

/// The sum of a CSV export's rows for `sample` whose labels contain `labels`.
fn csv_sum(export: &[u8], sample: &str, labels: &str) -> f64 {
    csv::Reader::from_reader(export)
        .records()
        .map(|r| r.expect("a CSV row"))
        .filter(|r| &r[2] == sample && r[3].contains(labels))
        .map(|r| r[4].parse::<f64>().expect("a number"))
        .sum()
}

async fn three_replicas_add_up(strategy: &str, expected: Strategy) {
    let Some(url) = redis_url() else { return };
    let prefix = prefix();
    let (a, cache_a) = replica(&url, &prefix, "a", strategy).await;
    let (b, cache_b) = replica(&url, &prefix, "b", strategy).await;
    let (c, cache_c) = replica(&url, &prefix, "c", strategy).await;
    assert_eq!(cache_a.status().chosen, expected);
    assert!(cache_a.status().capabilities.locks && cache_a.status().capabilities.ttl);
    a.events_dropped(5);
    a.record_event("task.completed", None, None);
    a.record_event("task.completed", None, None);
    a.claim_latency().observe(0.01);
    a.set_depths(1, 2);
    b.events_dropped(7);
    b.claim_latency().observe(0.2);
    b.claim_latency().observe(0.3);
    b.set_depths(3, 4);
    c.events_dropped(11);
    c.set_depths(5, 6);
    for cache in [&cache_a, &cache_b, &cache_c] {
        assert_eq!(cache.sync().await.expect("syncs"), expected);
    }
    // A second sync with nothing new must not add anything again.
    cache_b.sync().await.expect("syncs");
    let seen = cluster_values(&cache_c).await;
    assert!(!seen.keys().any(|k| k.starts_with("process_")), "{seen:?}");
    assert_eq!(seen["tasker_events_dropped_total{}"], 23.0, "{seen:?}");
    assert_eq!(seen["tasker_events_total{event=task.completed}"], 2.0);
    assert_eq!(seen["tasker_claim_latency_seconds_count{}"], 3.0, "{seen:?}");
    // Queue depths are read from the shared database by every replica: the
    // cluster's are the asking replica's, not a sum.
    assert_eq!(seen["tasker_tasks_in_progress{}"], 5.0, "{seen:?}");
    assert_eq!(seen["tasker_steps_ready{}"], 6.0);
    // What a replica has not synced yet shows in its own view at once.
    a.events_dropped(1);
    assert_eq!(
        cluster_values(&cache_a).await["tasker_events_dropped_total{}"],
        24.0
    );
    assert_eq!(
        cluster_values(&cache_b).await["tasker_events_dropped_total{}"],
        23.0
    );
    cache_a.sync().await.expect("syncs");
    assert_eq!(
        cluster_values(&cache_b).await["tasker_events_dropped_total{}"],
        24.0
    );
}

#[tokio::test]
async fn three_replicas_report_exact_cluster_totals_with_atomic_increments() {
    three_replicas_add_up("auto", Strategy::DistributedAtomic).await;
}

#[tokio::test]
async fn three_replicas_report_exact_cluster_totals_with_merged_snapshots() {
    three_replicas_add_up("distributed_basic", Strategy::DistributedBasic).await;
}

#[tokio::test]
async fn concurrent_flushes_lose_no_increment() {
    let Some(url) = redis_url() else { return };
    let prefix = prefix();
    let mut replicas = Vec::new();
    for i in 0..10 {
        replicas.push(replica(&url, &prefix, &format!("r{i}"), "auto").await);
    }
    let mut running = Vec::new();
    for (metrics, cache) in &replicas {
        let (metrics, cache) = (metrics.clone(), cache.clone());
        running.push(tokio::spawn(async move {
            for i in 0..10_000 {
                metrics.events_dropped(1);
                if i % 500 == 0 {
                    cache.sync().await.expect("syncs");
                }
            }
            cache.sync().await.expect("syncs");
        }));
    }
    for task in running {
        task.await.expect("increments");
    }
    let seen = cluster_values(&replicas[0].1).await;
    assert_eq!(seen["tasker_events_dropped_total{}"], 100_000.0);
}

#[tokio::test]
async fn losing_redis_degrades_to_local_only_and_loses_no_count() {
    if redis_url().is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("a directory");
    let port = free_port();
    let mut server = ThrowawayRedis::start_durable_on(port, dir.path());
    let url = format!("redis://127.0.0.1:{port}");
    let (metrics, cache) = replica(&url, "outage", "only", "auto").await;
    metrics.events_dropped(3);
    assert_eq!(cache.sync().await.expect("syncs"), Strategy::DistributedAtomic);
    server.stop();
    metrics.events_dropped(4);
    assert!(cache.sync().await.is_err());
    let status = cache.status();
    assert_eq!(status.active, Strategy::LocalOnly, "{status:?}");
    assert!(status.last_error.is_some());
    metrics.events_dropped(5);
    assert!(cache.sync().await.is_err(), "still down");
    let _back = ThrowawayRedis::start_durable_on(port, dir.path());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while cache.sync().await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "{:?}", cache.status());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(cache.status().active, Strategy::DistributedAtomic);
    let seen = cluster_values(&cache).await;
    assert_eq!(seen["tasker_events_dropped_total{}"], 12.0, "{seen:?}");
}

async fn served_cluster_metrics(db: &TestDb) {
    let mut config = test_config(db);
    let shared = redis_url();
    let key_prefix = prefix();
    if let Some(url) = &shared {
        config.redis.url = url.clone();
        config.redis.key_prefix = key_prefix.clone();
        config.metrics_cache.sync_interval_seconds = 1;
    }
    let app = TestApp::spawn(config).await;
    app.tasker
        .register_template("name: hello\nsteps:\n  - {name: only, handler: noop}\n", false)
        .await
        .expect("registers");
    let id = app.create_task("hello", serde_json::json!({})).await;
    app.wait_complete(&id).await;
    let (status, health) = app.get_json("/health/status").await;
    assert_eq!(status, 200);
    let expected = if shared.is_some() {
        "distributed_atomic"
    } else {
        "local_only"
    };
    assert_eq!(health["metrics_cache"]["chosen"], expected, "{health}");
    let status = app
        .post(
            "{ metricsCache { configured chosen active reachable atomicIncrements locks ttl } }",
            serde_json::json!({}),
        )
        .await;
    let cache = &status["data"]["metricsCache"];
    assert_eq!(cache["configured"], "auto", "{status}");
    assert_eq!(cache["chosen"], expected);
    assert_eq!(cache["reachable"], shared.is_some());
    assert_eq!(cache["atomicIncrements"], shared.is_some());
    // The metrics count events as the telemetry subscriber gets them.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let response = app.get("/metrics?scope=cluster").await;
        assert_eq!(response.status(), 200);
        let text = response.text().await.expect("a body");
        let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("parses");
        let completed: f64 = scrape
            .samples
            .iter()
            .filter(|s| s.metric == "tasker_tasks_total" && s.labels.get("status") == Some("complete"))
            .map(|s| match s.value {
                Value::Counter(v) | Value::Untyped(v) => v,
                _ => 0.0,
            })
            .sum();
        if completed == 1.0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let query = "query($f: MetricsFormat!, $e: String) { metrics(scope: CLUSTER, format: $f, exporter: $e) { scope exporter contentType body } }";
    let csv = app.post(query, serde_json::json!({"f": "CSV"})).await;
    let export = &csv["data"]["metrics"];
    assert_eq!(export["scope"], "CLUSTER", "{csv}");
    assert_eq!(export["exporter"], "csv");
    assert!(
        export["contentType"]
            .as_str()
            .is_some_and(|t| t.starts_with("text/csv"))
    );
    let body = export["body"].as_str().expect("a body");
    let completed = csv_sum(body.as_bytes(), "tasker_tasks_total", COMPLETE);
    assert_eq!(completed, 1.0, "{body}");
    let missing = app
        .post(query, serde_json::json!({"f": "JSON", "e": "nope"}))
        .await;
    assert_eq!(
        missing["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{missing}"
    );
    if let Some(url) = &shared {
        exported_by_the_command_line(&app, url, &key_prefix).await;
    }
    let (status, body) = app.get_json("/metrics?scope=everywhere").await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "BAD_USER_INPUT");
    app.stop().await;
}

fn tasker_cli(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tasker"))
        .args(args)
        .envs(env.iter().copied())
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "error")
        .output()
        .expect("tasker runs")
}

/// `tasker metrics export` reads what the replicas synced to Redis, or asks a
/// running server.
async fn exported_by_the_command_line(app: &TestApp, url: &str, key_prefix: &str) {
    let env = [
        ("TASKER_REDIS__URL", url),
        ("TASKER_REDIS__KEY_PREFIX", key_prefix),
    ];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let out = tasker_cli(&["metrics", "export", "--format", "csv"], &env);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let completed = csv_sum(&out.stdout, "tasker_tasks_total", COMPLETE);
        // The server syncs every second.
        if completed == 1.0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never synced");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let out = tasker_cli(
        &[
            "metrics", "export", "--server", &app.base, "--scope", "local", "--format", "json",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(
        doc["families"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["name"] == "process_resident_memory_bytes")),
        "the local scope has the process metrics"
    );
    let without = tasker_cli(&["metrics", "export"], &[("TASKER_REDIS__URL", "")]);
    assert!(!without.status.success());
    assert!(String::from_utf8_lossy(&without.stderr).contains("no redis.url"));
}

fn exports_to(cache: &MetricsCache, target: &std::path::Path, lock_for: Duration) -> Exports {
    let schedule = ExportSchedule {
        every: Duration::from_secs(60),
        lock_for,
        exporter: "csv".to_owned(),
        target: ExportTarget::File(target.to_owned()),
    };
    Exports::new(
        cache.clone(),
        Exporters::with_builtins(),
        EventBus::new(64),
        schedule,
    )
}

#[tokio::test]
async fn of_five_concurrent_exporters_exactly_one_exports_a_window() {
    let Some(url) = redis_url() else { return };
    let prefix = prefix();
    let dir = tempfile::tempdir().expect("a directory");
    let target = dir.path().join("metrics.csv");
    let mut exporters = Vec::new();
    for i in 0..5 {
        let (metrics, cache) = replica(&url, &prefix, &format!("x{i}"), "auto").await;
        metrics.events_dropped(i + 1);
        cache.sync().await.expect("syncs");
        exporters.push(exports_to(&cache, &target, Duration::from_secs(30)));
    }
    for window in [100, 101] {
        let tries = exporters.iter().map(|e| {
            let e = e.clone();
            tokio::spawn(async move { e.run_window(window, 1).await })
        });
        let outcomes = futures::future::join_all(tries).await;
        let exported = outcomes
            .iter()
            .filter(|o| matches!(o, Ok(ExportOutcome::Exported { .. })))
            .count();
        assert_eq!(exported, 1, "window {window}: {outcomes:?}");
        // Asked again later, the window is done.
        assert_eq!(
            exporters[4].run_window(window, 1).await,
            ExportOutcome::AlreadyExported
        );
    }
    let text = std::fs::read_to_string(&target).expect("the export");
    let dropped = csv_sum(text.as_bytes(), "tasker_events_dropped_total", "");
    assert_eq!(dropped, 15.0, "1+2+3+4+5: {text}");
}

#[tokio::test]
async fn when_the_exporting_replica_dies_another_takes_over_after_its_lock_lapses() {
    let Some(url) = redis_url() else { return };
    let prefix = prefix();
    // A push target that accepts connections and never answers: the first
    // exporter hangs inside its export, holding the lock, and is killed there.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let hang = format!("http://{}/push", silent.local_addr().expect("an address"));
    let (_, holder_cache) = replica(&url, &prefix, "holder", "auto").await;
    let bus = EventBus::new(64);
    let mut events = bus.subscribe();
    let holder = Exports::new(
        holder_cache,
        Exporters::with_builtins(),
        bus,
        ExportSchedule {
            every: Duration::from_secs(60),
            lock_for: Duration::from_millis(800),
            exporter: "prometheus".to_owned(),
            target: ExportTarget::Http(hang),
        },
    );
    let running = tokio::spawn(async move { holder.run_window(7, 1).await });
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("in time")
            .expect("open");
        if event.name == tasker::events::EventName::ExportStarted {
            break;
        }
    }
    running.abort();
    let dir = tempfile::tempdir().expect("a directory");
    let (_, cache) = replica(&url, &prefix, "successor", "auto").await;
    let successor = exports_to(&cache, &dir.path().join("m.csv"), Duration::from_secs(5));
    assert_eq!(successor.run_window(7, 1).await, ExportOutcome::HeldElsewhere);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match successor.run_window(7, 1).await {
            ExportOutcome::Exported { .. } => break,
            ExportOutcome::HeldElsewhere => {}
            other => panic!("{other:?}"),
        }
        assert!(tokio::time::Instant::now() < deadline, "the lock never lapsed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(dir.path().join("m.csv").exists());
    drop(silent);
}

#[tokio::test]
async fn idle_replicas_keep_the_cluster_counters_alive() {
    let Some(url) = redis_url() else { return };
    let prefix = prefix();
    let metrics = Metrics::new();
    let config = MetricsCacheConfig {
        instance_id: "idle".to_owned(),
        sync_interval_seconds: 1,
        retention_window_seconds: 2,
        export_safety_margin_seconds: 1,
        ..MetricsCacheConfig::default()
    };
    let redis = RedisConfig {
        url: url.clone(),
        key_prefix: prefix,
    };
    let cache = MetricsCache::start(metrics.clone(), &config, &redis).await;
    metrics.events_dropped(9);
    cache.sync().await.expect("syncs");
    // Nothing new for longer than the retention window, syncing all along.
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        cache.sync().await.expect("syncs");
    }
    let other = MetricsCache::start(Metrics::new(), &config, &redis).await;
    assert_eq!(cluster_values(&other).await["tasker_events_dropped_total{}"], 9.0);
}

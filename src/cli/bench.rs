//! `tasker bench`: engine latency and throughput on the configured database.

use std::process::ExitCode;
use std::sync::atomic::Ordering;

use clap::{Args, ValueEnum};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::app;
use crate::bench::{self, Shape, ceiling};
use crate::config::Config;
use crate::engine::EngineHandle;
use crate::handlers::HandlerRegistry;
use crate::service::Tasker;

/// One side of the --observability comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum Observed {
    /// Observability off.
    Off,
    /// Fully on.
    On,
}

#[derive(Debug, Args)]
pub(super) struct BenchArgs {
    /// Workflow shape: linear4, diamond, fanout20, mixed50 or map1000 (repeatable).
    #[arg(long = "shape", default_value = "linear4", value_name = "SHAPE")]
    pub(super) shapes: Vec<Shape>,
    /// Tasks measured one at a time (0 skips the latency run).
    #[arg(long, default_value_t = 200)]
    pub(super) latency_samples: usize,
    /// Tasks run together for throughput (0 skips the throughput run).
    #[arg(long, default_value_t = 1_000)]
    pub(super) tasks: usize,
    /// Concurrent task creators in the throughput run.
    #[arg(long, default_value_t = 8)]
    pub(super) creators: usize,
    /// Create every throughput task before the engine starts, then time only the
    /// engine draining them (engine capacity without creation competing).
    #[arg(long)]
    pub(super) preload: bool,
    /// Measure the GraphQL API over HTTP instead: createTask at concurrency
    /// 1, 16 and 64 (`--tasks` requests each), and the 100-task nested query
    /// (`--latency-samples` runs).
    #[arg(long)]
    api: bool,
    /// Measure subscription fan-out instead: `--subscribers` live
    /// taskUpdated subscriptions, one websocket each, whose tasks then finish
    /// together; delivery latency of every change.
    #[arg(long, conflicts_with_all = ["api", "graph", "observability"])]
    fanout: bool,
    /// Subscribers of the --fanout run.
    #[arg(long, default_value_t = 1_000, requires = "fanout")]
    pub(super) subscribers: usize,
    /// Measure the dependency-graph analysis instead: random DAGs of 100,
    /// 1,000 and 10,000 steps, REST discovery over 1,000 registered templates,
    /// and a task's graph over GraphQL (`--latency-samples` runs each).
    #[arg(long, conflicts_with = "api")]
    graph: bool,
    /// Measure what observability costs instead: throughput with it off and
    /// fully on (JSON logs at info, metrics, spans exported over OTLP to a
    /// local collector), alternating for `--rounds` rounds; with `--preload`,
    /// of the engine alone.
    #[arg(long, conflicts_with_all = ["api", "graph"])]
    observability: bool,
    /// Rounds of the --observability comparison.
    #[arg(long, default_value_t = 3, requires = "observability")]
    pub(super) rounds: usize,
    /// Run only one side of the --observability comparison, `off` or `on`
    /// (to profile each side alone, e.g. under `perf record`).
    #[arg(long, requires = "observability")]
    pub(super) only: Option<Observed>,
    /// Measure how the engine holds up as the database grows instead: fill it
    /// to each of these stored task counts (comma-separated), then time the
    /// engine alone draining `--tasks` more at each.
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["api", "graph", "observability", "fanout"])]
    pub(super) stored_tasks: Vec<usize>,
    /// Measure replicas instead: for each count (comma-separated), preload
    /// `--tasks` tasks and time that many `tasker serve` processes draining them.
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["api", "graph", "observability", "fanout", "stored_tasks"])]
    pub(super) replicas: Vec<usize>,
    /// Run a soak instead: create tasks at `--rate` per second for this many
    /// minutes while the engine runs, sampling memory and connections.
    #[arg(long, conflicts_with_all = ["api", "graph", "observability", "fanout", "stored_tasks", "replicas"])]
    soak_minutes: Option<f64>,
    /// Tasks per second the soak creates.
    #[arg(long, default_value_t = 200.0, requires = "soak_minutes")]
    pub(super) rate: f64,
    /// On PostgreSQL, seconds of `pgbench` (one INSERT per transaction, as many
    /// clients as wrote in the throughput run) measured after it (0 skips).
    #[arg(long, default_value_t = 5)]
    ceiling_seconds: u64,
    /// Give every task of the run a concurrency key (one of 64 groups) with
    /// this limit, to measure what concurrency groups cost.
    #[arg(long, value_name = "N")]
    pub(super) concurrency_limit: Option<u32>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub(super) json: bool,
    /// The configuration file the bench was started with, for the replicas it starts.
    #[arg(skip)]
    pub(super) config_file: Option<std::path::PathBuf>,
}

pub(super) struct Running {
    pub(super) handle: EngineHandle,
    cancel: CancellationToken,
    join: tokio::task::JoinHandle<()>,
}

pub(super) fn start_engine(tasker: &Tasker, config: &Config) -> Running {
    let engine = app::engine_for(tasker, crate::engine::Options::from_config(config));
    let handle = engine.handle();
    let cancel = CancellationToken::new();
    let join = tokio::spawn(engine.run(cancel.clone()));
    Running { handle, cancel, join }
}

/// Stop `engine`, create `tasks` tasks, start a new engine and time only its
/// draining them; returns the new engine and the services bound to it.
pub(super) async fn preloaded(
    plain: &Tasker,
    engine: Running,
    config: &Config,
    shape: Shape,
    tasks: usize,
    creators: usize,
) -> anyhow::Result<(Running, Tasker, bench::Throughput)> {
    engine.stop().await;
    let batch = bench::create_many(plain, shape, tasks, creators).await?;
    let before = bench::Usage::now();
    let start = crate::store::storage_time(chrono::Utc::now());
    let engine = start_engine(plain, config);
    let tasker = plain.clone().with_engine(engine.handle.clone());
    let run = bench::finish(&tasker, shape, batch, Some(start), Some(before)).await?;
    Ok((engine, tasker, run))
}

/// The database backend's name as the benches print it.
pub(super) fn backend_name(tasker: &Tasker) -> String {
    format!("{:?}", tasker.store().backend()).to_lowercase()
}

/// The first `--shape` (linear4 if none), services without an engine with its
/// template registered, and the backend's name.
pub(super) async fn open_with_shape(
    args: &BenchArgs,
    config: &Config,
) -> anyhow::Result<(Shape, Tasker, String)> {
    let shape = args.shapes.first().copied().unwrap_or(Shape::Linear4);
    let plain = app::open(config, HandlerRegistry::with_builtins()).await?;
    bench::prepare(&plain, shape).await?;
    let backend = backend_name(&plain);
    Ok((shape, plain, backend))
}

impl BenchArgs {
    /// Whether the run installs its own log and trace pipeline.
    pub(super) fn installs_logging(&self) -> bool {
        self.observability
    }
}

impl Running {
    pub(super) async fn stop(self) {
        self.cancel.cancel();
        let _ = self.join.await;
    }
}

pub(super) async fn run(args: BenchArgs, config: Config) -> anyhow::Result<ExitCode> {
    if args.api {
        return super::bench_api::run_api(args, config).await;
    }
    if args.fanout {
        return super::bench_api::run_fanout(args, config).await;
    }
    if !args.stored_tasks.is_empty() {
        return super::bench_scaling::stored(&args, config).await;
    }
    if !args.replicas.is_empty() {
        return super::bench_scaling::replicas(&args, config).await;
    }
    if let Some(minutes) = args.soak_minutes {
        return super::bench_soak::run(&args, minutes, config).await;
    }
    if args.graph {
        return super::bench_graph::run(args.latency_samples.max(1), args.json, config).await;
    }
    if args.observability {
        return super::bench_observability::run(&args, config).await;
    }
    let plain = app::open(&config, HandlerRegistry::with_builtins()).await?;
    let mut engine = start_engine(&plain, &config);
    let mut tasker = plain.clone().with_engine(engine.handle.clone());
    let backend = backend_name(&tasker);
    let mut reports = Vec::new();
    for shape in &args.shapes {
        bench::prepare_grouped(&tasker, *shape, args.concurrency_limit).await?;
        let latency = if args.latency_samples > 0 {
            Some(
                bench::latency(
                    &tasker,
                    *shape,
                    args.latency_samples,
                    20.min(args.latency_samples),
                )
                .await?,
            )
        } else {
            None
        };
        // Measure the steady state: a long-running database has planner statistics.
        tasker.store().analyze().await?;
        let throughput = match (args.tasks, args.preload) {
            (0, _) => None,
            (n, false) => Some(bench::throughput(&tasker, *shape, n, args.creators).await?),
            (n, true) => {
                let (restarted, with_engine, run) =
                    preloaded(&plain, engine, &config, *shape, n, args.creators).await?;
                (engine, tasker) = (restarted, with_engine);
                Some(run)
            }
        };
        let batches = engine.handle.stats().batches.load(Ordering::Relaxed);
        let ceiling = match &throughput {
            Some(t) if backend == "postgres" && args.ceiling_seconds > 0 => {
                // Writers during the run: the engine's scheduler, plus the
                // creators when they ran alongside it.
                let clients = if args.preload { 1 } else { args.creators + 1 };
                let measured = ceiling::measure(
                    tasker.store().writer(),
                    &config.database.url,
                    clients,
                    args.ceiling_seconds,
                )
                .await;
                Some(measured.map(|c| (t.steps_per_s / c.tps.max(f64::MIN_POSITIVE), c)))
            }
            _ => None,
        };
        if !args.json {
            println!("{backend} · {} ({} steps/task)", shape.name(), shape.steps());
            if let Some(bench::Latency { task: l, stage: s }) = &latency {
                println!(
                    "  latency creation→COMPLETE, {} tasks one at a time: p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms  (min {:.2}, max {:.2})",
                    l.samples, l.p50_ms, l.p95_ms, l.p99_ms, l.min_ms, l.max_ms
                );
                println!(
                    "  per stage, parent completed→child started ({} edges): p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms  (max {:.2})",
                    s.samples, s.p50_ms, s.p95_ms, s.p99_ms, s.max_ms
                );
            }
            if let Some(t) = &throughput {
                println!(
                    "  throughput{} (after ANALYZE), {} tasks from {} creators: {:.0} tasks/s  {:.0} steps/s  in {:.2} s; creation {:.0}/s (p50 {:.2} ms, p99 {:.2} ms); {} engine transactions so far",
                    if args.preload {
                        " of the engine alone (tasks created first)"
                    } else {
                        ""
                    },
                    t.tasks,
                    args.creators,
                    t.tasks_per_s,
                    t.steps_per_s,
                    t.elapsed_s,
                    t.creations_per_s,
                    t.create_latency.p50_ms,
                    t.create_latency.p99_ms,
                    batches
                );
                if let (Some(cpu), Some(rss)) = (t.cpu_ms_per_1000_steps, t.peak_rss_mb) {
                    println!("  CPU {cpu:.0} ms per 1,000 steps; peak RSS {rss:.0} MiB");
                }
            }
            match &ceiling {
                Some(Ok((ratio, c))) => println!(
                    "  PostgreSQL ceiling (pgbench, one INSERT per transaction, {} clients, {} s): {:.0} tps, {:.3} ms each; steps/s ÷ ceiling = {ratio:.2}",
                    c.clients,
                    c.seconds,
                    c.tps,
                    c.latency_ms.unwrap_or_default()
                ),
                Some(Err(err)) => println!("  PostgreSQL ceiling not measured: {err}"),
                None => {}
            }
        }
        let (ceiling, ratio, ceiling_error) = match ceiling {
            Some(Ok((ratio, c))) => (Some(c), Some(ratio), None),
            Some(Err(err)) => (None, None, Some(err.to_string())),
            None => (None, None, None),
        };
        reports.push(json!({
            "backend": backend, "shape": shape, "steps_per_task": shape.steps(),
            "latency": latency, "throughput": throughput, "engine_transactions": batches,
            "ceiling": ceiling, "steps_per_ceiling_tps": ratio, "ceiling_error": ceiling_error,
        }));
    }
    engine.stop().await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json!({"runs": reports}))?);
    }
    Ok(ExitCode::SUCCESS)
}

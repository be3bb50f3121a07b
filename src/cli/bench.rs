//! `tasker bench`: engine latency and throughput on the configured database.

use std::process::ExitCode;
use std::sync::atomic::Ordering;

use clap::Args;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::app;
use crate::bench::{self, Shape};
use crate::config::Config;
use crate::engine::EngineHandle;
use crate::handlers::HandlerRegistry;
use crate::service::Tasker;

#[derive(Debug, Args)]
pub(super) struct BenchArgs {
    /// Workflow shape: linear4, diamond, fanout20 or mixed50 (repeatable).
    #[arg(long = "shape", default_value = "linear4", value_name = "SHAPE")]
    shapes: Vec<Shape>,
    /// Tasks measured one at a time (0 skips the latency run).
    #[arg(long, default_value_t = 200)]
    latency_samples: usize,
    /// Tasks run together for throughput (0 skips the throughput run).
    #[arg(long, default_value_t = 1_000)]
    tasks: usize,
    /// Concurrent task creators in the throughput run.
    #[arg(long, default_value_t = 8)]
    creators: usize,
    /// Create every throughput task before the engine starts, then time only the
    /// engine draining them (engine capacity without creation competing).
    #[arg(long)]
    preload: bool,
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
}

struct Running {
    handle: EngineHandle,
    cancel: CancellationToken,
    join: tokio::task::JoinHandle<()>,
}

fn start_engine(tasker: &Tasker, config: &Config) -> Running {
    let engine = app::engine_for(tasker, config.engine_options());
    let handle = engine.handle();
    let cancel = CancellationToken::new();
    let join = tokio::spawn(engine.run(cancel.clone()));
    Running { handle, cancel, join }
}

impl Running {
    async fn stop(self) {
        self.cancel.cancel();
        let _ = self.join.await;
    }
}

pub(super) async fn run(args: BenchArgs, config: Config) -> anyhow::Result<ExitCode> {
    let plain = app::open(&config, HandlerRegistry::with_builtins()).await?;
    let mut engine = start_engine(&plain, &config);
    let mut tasker = plain.clone().with_engine(engine.handle.clone());
    let backend = format!("{:?}", tasker.store().backend()).to_lowercase();
    let mut reports = Vec::new();
    for shape in &args.shapes {
        bench::prepare(&tasker, *shape).await?;
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
                engine.stop().await;
                let batch = bench::create_many(&plain, *shape, n, args.creators).await?;
                let cpu_before = bench::cpu_time();
                let start = crate::store::storage_time(chrono::Utc::now());
                engine = start_engine(&plain, &config);
                tasker = plain.clone().with_engine(engine.handle.clone());
                Some(bench::finish(&tasker, *shape, batch, Some(start), cpu_before).await?)
            }
        };
        let batches = engine.handle.stats().batches.load(Ordering::Relaxed);
        if !args.json {
            println!("{backend} · {} ({} steps/task)", shape.name(), shape.steps());
            if let Some(l) = &latency {
                println!(
                    "  latency creation→COMPLETE, {} tasks one at a time: p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms  (min {:.2}, max {:.2})",
                    l.samples, l.p50_ms, l.p95_ms, l.p99_ms, l.min_ms, l.max_ms
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
        }
        reports.push(json!({
            "backend": backend, "shape": shape, "steps_per_task": shape.steps(),
            "latency": latency, "throughput": throughput, "engine_transactions": batches,
        }));
    }
    engine.stop().await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json!({"runs": reports}))?);
    }
    Ok(ExitCode::SUCCESS)
}

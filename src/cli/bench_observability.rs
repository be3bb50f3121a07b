//! `tasker bench --observability`: engine throughput with observability off
//! and fully on, alternating in one process on the configured database.
//!
//! On means: JSON log lines at info (formatted, then dropped: what they cost
//! without a terminal), every event through the telemetry subscriber
//! (metrics, routed log lines, event spans), and task, attempt and handler
//! spans exported over OTLP/HTTP to a local collector that counts and drops
//! them. Off means: no log line, no span, no telemetry subscriber.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use serde::Serialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::bench::{BenchArgs, Observed, preloaded, start_engine};
use crate::app;
use crate::bench;
use crate::config::{Config, LogConfig};
use crate::domain::median::{median, median_interval};
use crate::handlers::HandlerRegistry;
use crate::telemetry::traces::Target;
use crate::telemetry::{self, Gate, LogTarget, TraceExport, background};

/// What the local collector received.
#[derive(Default)]
struct Received {
    requests: AtomicU64,
    bytes: AtomicU64,
}

/// An OTLP/HTTP endpoint that accepts every export and keeps only counts. It
/// runs on a thread of its own, as a collector would run in a process of its
/// own, so that it does not take the engine's runtime threads.
fn collector(cancel: CancellationToken) -> anyhow::Result<(String, Arc<Received>)> {
    let received = Arc::new(Received::default());
    let counts = Arc::clone(&received);
    let routes = Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| async move {
            counts.requests.fetch_add(1, Ordering::Relaxed);
            counts.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
            // An empty ExportTraceServiceResponse: full success.
            ([("content-type", "application/x-protobuf")], Bytes::new())
        }),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let url = format!("http://{}/v1/traces", listener.local_addr()?);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::spawn(move || {
        runtime.block_on(async move {
            if let Ok(listener) = tokio::net::TcpListener::from_std(listener) {
                let _ = axum::serve(listener, routes)
                    .with_graceful_shutdown(cancel.cancelled_owned())
                    .await;
            }
        });
    });
    Ok((url, received))
}

/// One side's runs (observability off or on).
#[derive(Default)]
struct Side {
    steps_per_s: Vec<f64>,
    cpu_ms_per_1000_steps: Vec<f64>,
    telemetry_cpu_ms_per_1000_steps: Vec<f64>,
    context_switches_per_1000_steps: Vec<f64>,
    steal_percent: Vec<f64>,
    creations_per_s: Vec<f64>,
    steps_per_transaction: Vec<f64>,
}

/// One side's figures: every run's steps/s and the medians.
#[derive(Serialize)]
struct Medians {
    runs: Vec<f64>,
    steps_per_s: f64,
    cpu_ms_per_1000_steps: f64,
    telemetry_cpu_ms_per_1000_steps: f64,
    context_switches_per_1000_steps: f64,
    steal_percent: f64,
    creations_per_s: f64,
    steps_per_transaction: f64,
}

impl Side {
    fn add(&mut self, run: &bench::Throughput, transactions: u64) {
        self.steps_per_s.push(run.steps_per_s);
        self.cpu_ms_per_1000_steps.extend(run.cpu_ms_per_1000_steps);
        self.telemetry_cpu_ms_per_1000_steps
            .extend(run.telemetry_cpu_ms_per_1000_steps);
        self.context_switches_per_1000_steps
            .extend(run.context_switches_per_1000_steps);
        self.steal_percent.extend(run.steal_percent);
        self.creations_per_s.push(run.creations_per_s);
        self.steps_per_transaction
            .push(run.steps as f64 / transactions.max(1) as f64);
    }

    fn medians(self) -> Medians {
        let middle = |runs: &Vec<f64>| median(runs.clone()).unwrap_or_default();
        Medians {
            steps_per_s: middle(&self.steps_per_s),
            cpu_ms_per_1000_steps: middle(&self.cpu_ms_per_1000_steps),
            telemetry_cpu_ms_per_1000_steps: middle(&self.telemetry_cpu_ms_per_1000_steps),
            context_switches_per_1000_steps: middle(&self.context_switches_per_1000_steps),
            steal_percent: middle(&self.steal_percent),
            creations_per_s: middle(&self.creations_per_s),
            steps_per_transaction: middle(&self.steps_per_transaction),
            runs: self.steps_per_s,
        }
    }
}

/// How much slower `on` is than `off`, in percent (none without a baseline).
fn overhead_percent(off: f64, on: f64) -> Option<f64> {
    (off > 0.0).then(|| (off - on) / off * 100.0)
}

/// Run `--rounds` × (off, on) throughput runs of each shape (or one side
/// only); with `--preload`, each run's tasks are created before the engine
/// starts and only the engine draining them is timed.
pub(super) async fn run(args: &BenchArgs, config: Config) -> anyhow::Result<ExitCode> {
    let (tasks, creators, preload, as_json) = (args.tasks.max(1), args.creators, args.preload, args.json);
    let measured: &[bool] = match args.only {
        Some(Observed::Off) => &[false],
        Some(Observed::On) => &[true],
        None => &[false, true],
    };
    let stop = CancellationToken::new();
    let (url, received) = collector(stop.clone())?;
    let tracing_config = config.tracing.clone();
    // Its threads under the telemetry policy, as `serve` starts them.
    let traces = tokio::task::spawn_blocking(move || {
        background::inherited(|| TraceExport::new(&tracing_config, &Target::Configured(url)))
    })
    .await??;
    let gate = Gate::new(false);
    let log = LogConfig {
        format: "json".to_owned(),
        level: "info".to_owned(),
    };
    telemetry::install(&log, LogTarget::Discard, Some(&traces), Some(gate.clone()));

    let plain = app::open(&config, HandlerRegistry::with_builtins()).await?;
    let mut engine = start_engine(&plain, &config);
    let mut tasker = plain.clone().with_engine(engine.handle.clone());
    let backend = super::bench::backend_name(&tasker);
    let mut reports = Vec::new();
    for shape in &args.shapes {
        bench::prepare(&tasker, *shape).await?;
        let mut sides = [Side::default(), Side::default()];
        for round in 0..args.rounds.max(1) {
            // Alternate which runs first so that drift (a growing database,
            // a warming cache) does not favour one side.
            let mut order = measured.to_vec();
            if round % 2 == 1 {
                order.reverse();
            }
            for observed in order {
                gate.set(observed);
                if observed {
                    // The queue `serve` gives the feed: as deep as the bus.
                    telemetry::follow(&tasker, config.events.channel_capacity)?;
                } else {
                    // Not subscribed before the first run: nothing to undo.
                    let _ = tasker.subscribers().unsubscribe(telemetry::FEED);
                }
                // Each run starts from a maintained database: without
                // autovacuum, the dead rows and stale statistics of earlier
                // runs would slow whichever side runs later.
                tasker.store().analyze().await?;
                let (run, turns_before) = if preload {
                    let (restarted, with_engine, run) =
                        preloaded(&plain, engine, &config, *shape, tasks, creators).await?;
                    (engine, tasker) = (restarted, with_engine);
                    // The restarted engine counts its transactions from zero.
                    (run, 0)
                } else {
                    let before = engine.handle.stats().batches.load(Ordering::Relaxed);
                    (bench::throughput(&tasker, *shape, tasks, creators).await?, before)
                };
                let turns = engine.handle.stats().batches.load(Ordering::Relaxed) - turns_before;
                sides[usize::from(observed)].add(&run, turns);
            }
        }
        gate.set(false);
        let [off, on] = sides.map(|side| side.medians());
        // With --only, one side has no runs: no overhead to speak of (before,
        // `--only off` reported 100 %).
        let compared = !off.runs.is_empty() && !on.runs.is_empty();
        let overhead = compared
            .then(|| overhead_percent(off.steps_per_s, on.steps_per_s))
            .flatten();
        // Each round's pair ran back to back: their ratio cancels the drift
        // between rounds (a growing database, the disk's mood) that the two
        // medians each carry.
        let mut pairs: Vec<f64> = off
            .runs
            .iter()
            .zip(&on.runs)
            .filter_map(|(off, on)| overhead_percent(*off, *on))
            .collect();
        pairs.sort_by(f64::total_cmp);
        let paired = median(pairs.clone());
        let interval = median_interval(pairs.clone(), 0.95);
        if !as_json {
            let measured_as = if preload {
                " created first, engine alone timed"
            } else {
                ""
            };
            let title = format!(
                "{backend} · {} ({} steps/task), {tasks} tasks{measured_as}",
                shape.name(),
                shape.steps()
            );
            // Each figure for the sides that ran: both, or the one of --only.
            let both = |off_value: f64, on_value: f64, unit: &str, decimals: usize| {
                [("off", &off, off_value), ("on", &on, on_value)]
                    .iter()
                    .filter(|(_, side, _)| !side.runs.is_empty())
                    .map(|(name, _, v)| format!("{name} {v:.decimals$}{unit}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            if !compared {
                println!(
                    "{title} × {} rounds, one side only: {} steps/s (median)",
                    off.runs.len().max(on.runs.len()),
                    both(off.steps_per_s, on.steps_per_s, "", 0)
                );
            } else {
                println!(
                    "{title} × {} rounds: observability off {:.0} steps/s, on {:.0} steps/s (median); overhead {:.1}% (median of the rounds' paired overheads: {:.1}%)",
                    off.runs.len(),
                    off.steps_per_s,
                    on.steps_per_s,
                    overhead.unwrap_or_default(),
                    paired.unwrap_or_default(),
                );
                // The spread says how far the median can be trusted on this machine.
                println!("  paired overheads, sorted (%): {pairs:.1?}");
                match interval {
                    Some((low, high)) => println!(
                        "  95% confidence interval of the median paired overhead: {low:.1}% … {high:.1}%"
                    ),
                    None => println!("  (six rounds at least give a 95% confidence interval of the median)"),
                }
            }
            println!("  runs off: {:.0?}  on: {:.0?}", off.runs, on.runs);
            println!(
                "  CPU per 1,000 steps (median): {}",
                both(off.cpu_ms_per_1000_steps, on.cpu_ms_per_1000_steps, " ms", 0)
            );
            // The rest of the difference is on the engine's threads: spans
            // made and closed where the work happens, events published.
            println!(
                "    of which on the telemetry threads (subscriber, span export): {}",
                both(
                    off.telemetry_cpu_ms_per_1000_steps,
                    on.telemetry_cpu_ms_per_1000_steps,
                    " ms",
                    0
                )
            );
            println!(
                "  context switches per 1,000 steps (median): {}",
                both(
                    off.context_switches_per_1000_steps,
                    on.context_switches_per_1000_steps,
                    "",
                    0
                )
            );
            // A shared virtual machine's host takes CPU time away unevenly:
            // what a run lost to it, beside what it measured.
            println!(
                "  CPU time stolen by the hypervisor (median): {}",
                both(off.steal_percent, on.steal_percent, "%", 1)
            );
            println!(
                "  task creations/s (median): {}",
                both(off.creations_per_s, on.creations_per_s, "", 0)
            );
            println!(
                "  steps per engine transaction (median): {}",
                both(off.steps_per_transaction, on.steps_per_transaction, "", 1)
            );
        }
        reports.push(json!({
            "backend": backend, "shape": shape, "tasks": tasks, "rounds": off.runs.len().max(on.runs.len()),
            "preload": preload, "off": off, "on": on,
            "overhead_percent": overhead, "paired_overhead_percent": paired,
            "paired_overheads_percent": pairs,
            "paired_overhead_interval_95": interval.map(|(low, high)| [low, high]),
        }));
    }
    engine.stop().await;
    tokio::task::spawn_blocking(move || traces.shutdown()).await?;
    let (requests, bytes) = (
        received.requests.load(Ordering::Relaxed),
        received.bytes.load(Ordering::Relaxed),
    );
    stop.cancel();
    let dropped = tasker.metrics().events_dropped_counter().get();
    if as_json {
        let summary = json!({"runs": reports, "otlp_requests": requests, "otlp_bytes": bytes, "events_dropped": dropped});
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "  exported: {requests} OTLP requests, {:.1} MiB of spans; events dropped by slow subscribers: {dropped}",
            bytes as f64 / (1024.0 * 1024.0)
        );
    }
    Ok(ExitCode::SUCCESS)
}

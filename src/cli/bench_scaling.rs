//! `tasker bench --stored-tasks …` and `--replicas …`: how the engine holds up
//! as the database grows, and as `tasker serve` replicas are added on one
//! database.

use std::process::{Child, Command, ExitCode, Stdio};

use serde::Serialize;
use serde_json::json;

use super::bench::{BenchArgs, open_with_shape, preloaded, start_engine};
use crate::bench;
use crate::config::Config;
use crate::service::Tasker;

/// The engine alone at one database size.
#[derive(Debug, Serialize)]
struct Level {
    /// Tasks stored (all finished) when the probe batch was created.
    stored_tasks: u64,
    /// The probe: its creation (engine stopped) and the engine draining it.
    probe: bench::Throughput,
    /// Resident memory of this process after the probe, MiB.
    rss_mb: Option<f64>,
    /// Database size on disk after the probe, MiB.
    database_mb: f64,
}

async fn stored_count(tasker: &Tasker) -> anyhow::Result<u64> {
    Ok(crate::store::tasks_by_status(tasker.store().reader())
        .await?
        .values()
        .sum())
}

pub(super) async fn stored(args: &BenchArgs, config: Config) -> anyhow::Result<ExitCode> {
    let (shape, plain, backend) = open_with_shape(args, &config).await?;
    let probe_tasks = args.tasks.max(1);
    let mut engine = start_engine(&plain, &config);
    let mut levels = Vec::new();
    let mut targets = args.stored_tasks.clone();
    targets.sort_unstable();
    for target in targets {
        let have = stored_count(&plain).await?;
        let missing = usize::try_from((target as u64).saturating_sub(have))?;
        if missing > 0 {
            // Filling runs the tasks too: a stored task is a finished one.
            let with_engine = plain.clone().with_engine(engine.handle.clone());
            let fill = bench::throughput(&with_engine, shape, missing, args.creators).await?;
            if !args.json {
                println!(
                    "{backend} · filled {missing} tasks to {target}: {:.0} steps/s with {} creators",
                    fill.steps_per_s, args.creators
                );
            }
        }
        plain.store().analyze().await?;
        let stored_tasks = stored_count(&plain).await?;
        let (restarted, _, probe) =
            preloaded(&plain, engine, &config, shape, probe_tasks, args.creators).await?;
        engine = restarted;
        let level = Level {
            stored_tasks,
            rss_mb: bench::memory_mb("self", "VmRSS"),
            database_mb: plain.store().size_bytes().await? as f64 / 1_048_576.0,
            probe,
        };
        if !args.json {
            let p = &level.probe;
            println!(
                "{backend} · {} stored tasks: creating {} more {:.0}/s (p99 {:.2} ms); engine alone {:.0} steps/s; CPU {:.0} ms / 1,000 steps; RSS {:.0} MiB (peak {:.0}); database {:.0} MiB",
                level.stored_tasks,
                p.tasks,
                p.creations_per_s,
                p.create_latency.p99_ms,
                p.steps_per_s,
                p.cpu_ms_per_1000_steps.unwrap_or_default(),
                level.rss_mb.unwrap_or_default(),
                p.peak_rss_mb.unwrap_or_default(),
                level.database_mb
            );
        }
        levels.push(level);
    }
    engine.stop().await;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"backend": backend, "shape": shape, "levels": levels}))?
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `tasker serve` processes of this binary on the bench's database.
struct Replicas(Vec<Child>);

impl Replicas {
    fn start(count: usize, args: &BenchArgs, config: &Config) -> anyhow::Result<Replicas> {
        let exe = std::env::current_exe()?;
        let mut children = Vec::with_capacity(count);
        for _ in 0..count {
            let mut command = Command::new(&exe);
            if let Some(file) = &args.config_file {
                command.arg("--config").arg(file);
            }
            command
                .args([
                    "--database-url",
                    &config.database.url,
                    "serve",
                    "--listen",
                    "127.0.0.1:0",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            children.push(command.spawn()?);
        }
        Ok(Replicas(children))
    }

    /// Peak resident memory of each, MiB.
    fn peak_rss_mb(&self) -> Vec<Option<f64>> {
        self.0
            .iter()
            .map(|c| bench::memory_mb(&c.id().to_string(), "VmHWM"))
            .collect()
    }
}

impl Drop for Replicas {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Several replicas draining one preloaded batch.
#[derive(Debug, Serialize)]
struct ReplicaRun {
    replicas: usize,
    /// Replicas started → last task finished (includes their start-up).
    drain: bench::Throughput,
    /// Peak resident memory of each replica, MiB.
    replica_peak_rss_mb: Vec<Option<f64>>,
}

pub(super) async fn replicas(args: &BenchArgs, config: Config) -> anyhow::Result<ExitCode> {
    let (shape, plain, backend) = open_with_shape(args, &config).await?;
    let tasks = args.tasks.max(1);
    let mut runs = Vec::new();
    for &count in &args.replicas {
        let batch = bench::create_many(&plain, shape, tasks, args.creators).await?;
        plain.store().analyze().await?;
        let start = crate::store::storage_time(chrono::Utc::now());
        let replicas = Replicas::start(count.max(1), args, &config)?;
        let drain = bench::finish(&plain, shape, batch, Some(start), None).await?;
        let run = ReplicaRun {
            replicas: count.max(1),
            replica_peak_rss_mb: replicas.peak_rss_mb(),
            drain,
        };
        drop(replicas);
        if !args.json {
            let peaks: Vec<String> = run
                .replica_peak_rss_mb
                .iter()
                .map(|m| format!("{:.0}", m.unwrap_or_default()))
                .collect();
            println!(
                "{backend} · {} replica(s) draining {tasks} {} tasks: {:.0} steps/s ({:.0} tasks/s) in {:.2} s from their start; peak RSS per replica {} MiB",
                run.replicas,
                shape.name(),
                run.drain.steps_per_s,
                run.drain.tasks_per_s,
                run.drain.elapsed_s,
                peaks.join(" / ")
            );
        }
        runs.push(run);
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"backend": backend, "shape": shape, "runs": runs}))?
        );
    }
    Ok(ExitCode::SUCCESS)
}

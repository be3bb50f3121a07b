//! `tasker bench --soak-minutes M --rate R`: tasks created at a steady rate
//! while the engine runs, for minutes, with memory, open files and database
//! connections sampled as it goes. A leak shows as a slope.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;

use super::bench::{BenchArgs, open_with_shape, start_engine};
use crate::bench::{self, Shape};
use crate::config::Config;
use crate::service::{CreateTask, Tasker};

/// One sample of the soak.
#[derive(Debug, Clone, Serialize)]
struct Sample {
    /// Seconds since the soak started.
    at_s: f64,
    /// Resident memory of this process, MiB.
    rss_mb: Option<f64>,
    /// Open file descriptors of this process.
    open_files: Option<usize>,
    /// Connections PostgreSQL counts to this database.
    server_connections: Option<u64>,
    /// Tasks created so far.
    created: u64,
    /// Tasks of the soak finished so far.
    finished: u64,
}

/// Least-squares slope of `y` over `x` (per unit of x).
fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let var: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    if var == 0.0 {
        return None;
    }
    Some(
        points
            .iter()
            .map(|p| (p.0 - mean_x) * (p.1 - mean_y))
            .sum::<f64>()
            / var,
    )
}

async fn finished_count(tasker: &Tasker) -> anyhow::Result<u64> {
    let by_status = crate::store::tasks_by_status(tasker.store().reader()).await?;
    Ok(["COMPLETE", "ERROR", "CANCELLED", "RESOLVED_MANUALLY"]
        .iter()
        .filter_map(|s| by_status.get(*s))
        .sum())
}

/// Create tasks at `rate` per second from `creators` callers until `until`.
fn spawn_creators(
    tasker: &Tasker,
    shape: Shape,
    rate: f64,
    creators: usize,
    until: Instant,
    created: &Arc<AtomicU64>,
) -> Vec<tokio::task::JoinHandle<anyhow::Result<()>>> {
    let creators = creators.max(1);
    let period = Duration::from_secs_f64(creators as f64 / rate.max(0.001));
    (0..creators)
        .map(|c| {
            let (tasker, created) = (tasker.clone(), Arc::clone(created));
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(period);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut i = c;
                while Instant::now() < until {
                    tick.tick().await;
                    let input = CreateTask {
                        namespace: Some("bench".into()),
                        name: shape.name().into(),
                        context: json!({"soak": i}),
                        ..CreateTask::default()
                    };
                    tasker.create_task(input).await?;
                    created.fetch_add(1, Ordering::Relaxed);
                    i += creators;
                }
                Ok(())
            })
        })
        .collect()
}

pub(super) async fn run(args: &BenchArgs, minutes: f64, config: Config) -> anyhow::Result<ExitCode> {
    // A rate of 0 would leave the creators waiting for a next tick that never comes.
    anyhow::ensure!(
        minutes.is_finite() && minutes > 0.0,
        "--soak-minutes must be a positive number of minutes"
    );
    anyhow::ensure!(
        args.rate.is_finite() && args.rate > 0.0,
        "--rate must be a positive number of tasks per second"
    );
    let (shape, plain, backend) = open_with_shape(args, &config).await?;
    let engine = start_engine(&plain, &config);
    let tasker = plain.clone().with_engine(engine.handle.clone());
    let before = finished_count(&tasker).await?;
    // Stand in for autovacuum's ANALYZE where it is off, as a maintained
    // database would have it: the soak measures the service, not a planner
    // working from statistics of empty tables.
    let maintain = tasker.store().autovacuum_off().await?;
    if maintain && !args.json {
        println!("{backend} · autovacuum is off: the soak runs ANALYZE at every sample");
    }

    let started = Instant::now();
    let length = Duration::from_secs_f64(minutes.max(0.0) * 60.0);
    let every = (length / 20).clamp(Duration::from_secs(1), Duration::from_secs(30));
    let created = Arc::new(AtomicU64::new(0));
    let creators = spawn_creators(
        &tasker,
        shape,
        args.rate,
        args.creators,
        started + length,
        &created,
    );
    let mut samples = Vec::new();
    loop {
        let sample = Sample {
            at_s: started.elapsed().as_secs_f64(),
            rss_mb: bench::memory_mb("self", "VmRSS"),
            open_files: bench::open_files(),
            server_connections: tasker.store().server_connections().await?,
            created: created.load(Ordering::Relaxed),
            finished: finished_count(&tasker).await?.saturating_sub(before),
        };
        if !args.json {
            println!(
                "{backend} · soak {:>6.0} s: RSS {:>5.1} MiB  open files {:>4}  connections {:>3}  created {:>7}  finished {:>7}",
                sample.at_s,
                sample.rss_mb.unwrap_or_default(),
                sample.open_files.unwrap_or_default(),
                sample
                    .server_connections
                    .map_or("-".to_owned(), |n| n.to_string()),
                sample.created,
                sample.finished
            );
        }
        let caught_up = sample.finished >= sample.created;
        samples.push(sample);
        if started.elapsed() >= length && caught_up {
            break;
        }
        if started.elapsed() > length + Duration::from_secs(300) {
            anyhow::bail!("the engine had not caught up 5 minutes after the soak ended");
        }
        tokio::time::sleep(every).await;
        if maintain {
            tasker.store().refresh_statistics().await?;
        }
    }
    for creator in creators {
        creator.await??;
    }
    engine.stop().await;

    // The first minute (or tenth) warms caches and pools up; judge the rest.
    let warm = (length.as_secs_f64() / 10.0).min(60.0);
    let settled: Vec<&Sample> = samples.iter().filter(|s| s.at_s >= warm).collect();
    let rss_slope = slope(
        &settled
            .iter()
            .filter_map(|s| s.rss_mb.map(|m| (s.at_s / 60.0, m)))
            .collect::<Vec<_>>(),
    );
    let last = samples.last().cloned();
    let steps_per_s = last
        .as_ref()
        .map(|s| (s.finished as f64 * shape.steps() as f64) / s.at_s.max(1e-9));
    let range = |f: &dyn Fn(&Sample) -> Option<f64>| {
        let values: Vec<f64> = settled.iter().filter_map(|s| f(s)).collect();
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (!values.is_empty()).then_some((min, max))
    };
    let rss = range(&|s| s.rss_mb);
    let files = range(&|s| s.open_files.map(|n| n as f64));
    let connections = range(&|s| s.server_connections.map(|n| n as f64));
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "backend": backend, "shape": shape, "minutes": minutes, "rate": args.rate,
                "analyze_at_every_sample": maintain,
                "samples": samples, "rss_slope_mb_per_min": rss_slope, "steps_per_s": steps_per_s,
                "settled_rss_mb": rss, "settled_open_files": files, "settled_server_connections": connections,
            }))?
        );
    } else {
        let show = |r: Option<(f64, f64)>| r.map_or("-".to_owned(), |(a, b)| format!("{a:.0}–{b:.0}"));
        println!(
            "{backend} · soak of {minutes} min at {} tasks/s: {} tasks, {:.0} steps/s; after {warm:.0} s: RSS {} MiB (slope {:+.2} MiB/min), open files {}, connections {}",
            args.rate,
            last.map_or(0, |s| s.finished),
            steps_per_s.unwrap_or_default(),
            show(rss),
            rss_slope.unwrap_or_default(),
            show(files),
            show(connections)
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::slope;

    #[test]
    fn the_slope_of_a_line_is_its_gradient_and_a_flat_series_has_none() {
        let line: Vec<(f64, f64)> = (0..10).map(|x| (x as f64, 3.0 + 0.5 * x as f64)).collect();
        assert!((slope(&line).unwrap_or_default() - 0.5).abs() < 1e-9);
        assert_eq!(slope(&[(1.0, 1.0), (2.0, 1.0)]), Some(0.0));
        assert_eq!(slope(&[(1.0, 1.0)]), None);
        assert_eq!(slope(&[(1.0, 1.0), (1.0, 2.0)]), None);
    }
}

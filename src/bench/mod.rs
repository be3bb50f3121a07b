//! Benchmarks of the engine on the configured database, printed by `tasker
//! bench`: end-to-end latency of one task at a time (creation → COMPLETE) and
//! throughput of many tasks at once, for a few workflow shapes.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

pub mod api;
pub mod ceiling;
pub mod fanout;
pub mod graph;
pub mod usage;

pub use usage::{Usage, memory_mb, open_files, peak_rss_mb};

use crate::events::EventName;
use crate::service::{CreateTask, Error, Result, Tasker};
use crate::store;

/// A benchmark workflow (all steps `noop`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// a → b → c → d
    Linear4,
    /// a → (b, c) → d
    Diamond,
    /// 1 → 20 → 1
    Fanout20,
    /// 50 steps, each with one to three earlier parents (fixed pseudo-random layout).
    Mixed50,
    /// a → map over 1,000 items → c: 1,003 steps, 1,000 of them made at run time.
    Map1000,
}

/// Items of the `map1000` shape.
const MAP_ITEMS: usize = 1_000;

impl FromStr for Shape {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "linear4" => Ok(Shape::Linear4),
            "diamond" => Ok(Shape::Diamond),
            "fanout20" => Ok(Shape::Fanout20),
            "mixed50" => Ok(Shape::Mixed50),
            "map1000" => Ok(Shape::Map1000),
            other => Err(format!(
                "unknown shape {other:?}: use linear4, diamond, fanout20, mixed50 or map1000"
            )),
        }
    }
}

impl Shape {
    /// Template name in namespace `bench`.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Linear4 => "linear4",
            Shape::Diamond => "diamond",
            Shape::Fanout20 => "fanout20",
            Shape::Mixed50 => "mixed50",
            Shape::Map1000 => "map1000",
        }
    }

    fn edges(self) -> Vec<(String, Vec<String>)> {
        let s = |i: usize| format!("s{i:02}");
        match self {
            Shape::Linear4 => (0..4)
                .map(|i| (s(i), if i == 0 { vec![] } else { vec![s(i - 1)] }))
                .collect(),
            Shape::Diamond => vec![
                (s(0), vec![]),
                (s(1), vec![s(0)]),
                (s(2), vec![s(0)]),
                (s(3), vec![s(1), s(2)]),
            ],
            Shape::Fanout20 => {
                let mut steps = vec![(s(0), vec![])];
                steps.extend((1..=20).map(|i| (s(i), vec![s(0)])));
                steps.push((s(21), (1..=20).map(s).collect()));
                steps
            }
            Shape::Mixed50 => (0..50)
                .map(|i| {
                    let mut parents: Vec<usize> = if i == 0 {
                        vec![]
                    } else {
                        vec![(i * 7 + 3) % i, (i * 11 + 1) % i]
                    };
                    if i % 3 == 0 && i > 0 {
                        parents.push(i - 1);
                    }
                    parents.sort_unstable();
                    parents.dedup();
                    (s(i), parents.into_iter().map(s).collect())
                })
                .collect(),
            Shape::Map1000 => vec![(s(0), vec![]), (s(1), vec![s(0)]), (s(2), vec![s(1)])],
        }
    }

    /// Steps per task (a map's instances included).
    pub fn steps(self) -> usize {
        match self {
            Shape::Map1000 => 3 + MAP_ITEMS,
            _ => self.edges().len(),
        }
    }

    /// The template document (namespace `bench`).
    pub fn template(self) -> String {
        self.template_in("bench")
    }

    /// The template document in `namespace`.
    pub fn template_in(self, namespace: &str) -> String {
        let mut yaml = format!(
            "namespace: {namespace}\nname: {}\nversion: 1.0.0\nsteps:\n",
            self.name()
        );
        if self == Shape::Map1000 {
            let items: Vec<String> = (0..MAP_ITEMS).map(|i| i.to_string()).collect();
            yaml.push_str(&format!(
                "  - {{name: s00, handler: echo, config: {{items: [{}]}}}}\n",
                items.join(", ")
            ));
            yaml.push_str(&format!(
                "  - {{name: s01, handler: noop, depends_on: [s00], map: {{over: parents.s00.config.items, max_items: {MAP_ITEMS}}}}}\n"
            ));
            yaml.push_str("  - {name: s02, handler: noop, depends_on: [s01]}\n");
            return yaml;
        }
        for (name, parents) in self.edges() {
            yaml.push_str(&format!(
                "  - {{name: {name}, handler: noop, depends_on: [{}]}}\n",
                parents.join(", ")
            ));
        }
        yaml
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Percentiles {
    /// Samples measured.
    pub samples: usize,
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Fastest.
    pub min_ms: f64,
    /// Slowest.
    pub max_ms: f64,
}

impl Percentiles {
    fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let at = |q: f64| {
            let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
            samples.get(i).copied().map(ms).unwrap_or(0.0)
        };
        Self {
            samples: samples.len(),
            p50_ms: at(0.50),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
            min_ms: samples.first().copied().map(ms).unwrap_or(0.0),
            max_ms: samples.last().copied().map(ms).unwrap_or(0.0),
        }
    }
}

/// Throughput of a batch of tasks.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    /// Tasks run.
    pub tasks: usize,
    /// Steps run.
    pub steps: usize,
    /// First creation → last finish, from the database's own timestamps.
    pub elapsed_s: f64,
    /// Tasks per second.
    pub tasks_per_s: f64,
    /// Steps per second.
    pub steps_per_s: f64,
    /// Task creations per second during the creation phase.
    pub creations_per_s: f64,
    /// Latency of the createTask calls.
    pub create_latency: Percentiles,
    /// Process CPU time per 1,000 steps (Linux).
    pub cpu_ms_per_1000_steps: Option<f64>,
    /// Of which on the telemetry threads (Linux).
    pub telemetry_cpu_ms_per_1000_steps: Option<f64>,
    /// Context switches of the process per 1,000 steps (Linux).
    pub context_switches_per_1000_steps: Option<f64>,
    /// Share of the machine's CPU time stolen by the hypervisor during the run,
    /// in percent (Linux).
    pub steal_percent: Option<f64>,
    /// Peak resident memory of the process (Linux).
    pub peak_rss_mb: Option<f64>,
}

/// Register the shape's template.
pub async fn prepare(tasker: &Tasker, shape: Shape) -> Result<()> {
    prepare_grouped(tasker, shape, None).await
}

/// Groups the tasks of a run with `--concurrency-limit` are spread over.
pub const BENCH_GROUPS: usize = 64;

/// Register the shape's template; with `limit`, every task gets a
/// concurrency key (one of [`BENCH_GROUPS`], by its number) of that limit.
pub async fn prepare_grouped(tasker: &Tasker, shape: Shape, limit: Option<u32>) -> Result<()> {
    let mut yaml = shape.template();
    if let Some(limit) = limit {
        yaml.push_str(&format!(
            "concurrency: {{key: 'int(context.i) % {BENCH_GROUPS}', limit: {limit}}}\n"
        ));
    }
    tasker.register_template(&yaml, true).await.map(|_| ())
}

fn create_input(shape: Shape, i: usize) -> CreateTask {
    CreateTask {
        namespace: Some("bench".to_owned()),
        name: shape.name().to_owned(),
        context: json!({"i": i}),
        ..CreateTask::default()
    }
}

/// What tasks run one at a time measured.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Creation → the task's finish event.
    pub task: Percentiles,
    /// Per dependency edge: the parent's completion (as recorded by the engine)
    /// → the child's handler starting.
    pub stage: Percentiles,
}

/// When each step of the measured tasks completed and when its handler started.
#[derive(Default)]
struct StepTimes {
    completed: HashMap<Uuid, DateTime<Utc>>,
    started: HashMap<Uuid, DateTime<Utc>>,
}

impl StepTimes {
    fn see(&mut self, event: &crate::events::Event) {
        let Some(step) = event.step_id else { return };
        match event.name {
            EventName::StepCompleted => {
                self.completed.insert(step, event.at);
            }
            EventName::StepHandle => {
                self.started.insert(step, event.at);
            }
            _ => {}
        }
    }

    /// One sample per `(parent, child)` edge whose both ends were seen.
    fn stages(&self, edges: &[(Uuid, Uuid, Uuid)]) -> Vec<Duration> {
        edges
            .iter()
            .filter_map(|(_, parent, child)| {
                let (done, started) = (self.completed.get(parent)?, self.started.get(child)?);
                (*started - *done).to_std().ok()
            })
            .collect()
    }
}

/// Create one task at a time and time it from creation to its finish event,
/// and each of its stages from a parent's completion to a child's start.
pub async fn latency(tasker: &Tasker, shape: Shape, samples: usize, warmup: usize) -> Result<Latency> {
    let mut events = tasker.events().subscribe();
    let mut measured = Vec::with_capacity(samples);
    let mut times = StepTimes::default();
    let mut ids = Vec::with_capacity(samples);
    for i in 0..samples + warmup {
        let start = Instant::now();
        let id = tasker.create_task(create_input(shape, i)).await?.task.id;
        let seen = if i >= warmup { Some(&mut times) } else { None };
        wait_finish_event(tasker, &mut events, id, seen).await?;
        if i >= warmup {
            measured.push(start.elapsed());
            ids.push(id);
        }
    }
    let edges = store::edges_of_tasks(tasker.store().reader(), &ids).await?;
    Ok(Latency {
        task: Percentiles::of(measured),
        stage: Percentiles::of(times.stages(&edges)),
    })
}

async fn wait_finish_event(
    tasker: &Tasker,
    events: &mut tokio::sync::broadcast::Receiver<Arc<crate::events::Event>>,
    id: Uuid,
    mut times: Option<&mut StepTimes>,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(event))
                if event.task_id == Some(id)
                    && matches!(event.name, EventName::TaskCompleted | EventName::TaskFailed) =>
            {
                return Ok(());
            }
            Ok(Ok(event)) => {
                if let (Some(times), true) = (times.as_deref_mut(), event.task_id == Some(id)) {
                    times.see(&event);
                }
            }
            Ok(Err(RecvError::Lagged(_))) => {
                if tasker.task(id).await?.is_some_and(|t| t.status.is_finished()) {
                    return Ok(());
                }
            }
            Ok(Err(RecvError::Closed)) | Err(_) => {
                return Err(Error::Conflict {
                    message: format!("task {id} did not finish within 60 s"),
                });
            }
        }
    }
}

/// Tasks created by [`create_many`], with how long creating them took.
pub struct CreatedBatch {
    ids: Vec<Uuid>,
    latencies: Vec<Duration>,
    elapsed: Duration,
}

/// Create `tasks` tasks from `creators` concurrent callers.
pub async fn create_many(
    tasker: &Tasker,
    shape: Shape,
    tasks: usize,
    creators: usize,
) -> Result<CreatedBatch> {
    let started = Instant::now();
    let creators = creators.clamp(1, tasks.max(1));
    let mut handles = Vec::with_capacity(creators);
    for c in 0..creators {
        let tasker = tasker.clone();
        handles.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for i in (c..tasks).step_by(creators) {
                let t0 = Instant::now();
                let id = tasker.create_task(create_input(shape, i)).await?.task.id;
                out.push((id, t0.elapsed()));
            }
            Ok::<_, Error>(out)
        }));
    }
    let mut ids = Vec::with_capacity(tasks);
    let mut create_latencies = Vec::with_capacity(tasks);
    for handle in handles {
        let created = handle.await.map_err(|e| Error::Conflict {
            message: format!("creator task failed: {e}"),
        })??;
        for (id, latency) in created {
            ids.push(id);
            create_latencies.push(latency);
        }
    }
    Ok(CreatedBatch {
        ids,
        latencies: create_latencies,
        elapsed: started.elapsed(),
    })
}

/// Wait until every task of `batch` finished and measure the run. With
/// `from_engine_start`, the clock starts at that instant (tasks created before
/// the engine ran) instead of at the first task's creation; with `before`,
/// what the run cost is measured from that reading.
pub async fn finish(
    tasker: &Tasker,
    shape: Shape,
    batch: CreatedBatch,
    from_engine_start: Option<chrono::DateTime<chrono::Utc>>,
    before: Option<Usage>,
) -> Result<Throughput> {
    let CreatedBatch {
        ids,
        latencies: create_latencies,
        elapsed: creation,
    } = batch;
    let tasks = ids.len();
    let creation_s = creation.as_secs_f64();
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    // Ask again only about the tasks not yet seen finished, and not too often:
    // the figures come from the database's own timestamps, and a poll over
    // thousands of ids every few milliseconds would take the database's CPU
    // from the run it measures.
    let mut remaining = ids.clone();
    let (mut first, mut last) = (None, None);
    loop {
        let p = store::progress(tasker.store().reader(), &remaining).await?;
        first = first.into_iter().chain(p.first_created).min();
        last = last.into_iter().chain(p.last_finished).max();
        remaining = p.unfinished;
        if remaining.is_empty() {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            return Err(Error::Conflict {
                message: format!(
                    "only {} of {} tasks finished in 600 s",
                    ids.len() - remaining.len(),
                    ids.len()
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first = from_engine_start.or(first);
    let elapsed_s = match (first, last) {
        (Some(a), Some(b)) => ((b - a).num_microseconds().unwrap_or(0) as f64 / 1e6).max(1e-6),
        _ => started.elapsed().as_secs_f64(),
    };
    let steps = tasks * shape.steps();
    let spent = before.map(|b| b.until(&Usage::now())).unwrap_or_default();
    let per_1000_steps = |x: f64| x / steps.max(1) as f64 * 1000.0;
    Ok(Throughput {
        tasks,
        steps,
        elapsed_s,
        tasks_per_s: tasks as f64 / elapsed_s,
        steps_per_s: steps as f64 / elapsed_s,
        creations_per_s: tasks as f64 / creation_s.max(1e-6),
        create_latency: Percentiles::of(create_latencies),
        cpu_ms_per_1000_steps: spent.cpu_s.map(|s| per_1000_steps(s * 1000.0)),
        telemetry_cpu_ms_per_1000_steps: spent.telemetry_cpu_s.map(|s| per_1000_steps(s * 1000.0)),
        context_switches_per_1000_steps: spent.context_switches.map(|n| per_1000_steps(n as f64)),
        steal_percent: spent.steal_percent,
        peak_rss_mb: peak_rss_mb(),
    })
}

/// Create the tasks while the engine runs, then wait for all of them.
pub async fn throughput(tasker: &Tasker, shape: Shape, tasks: usize, creators: usize) -> Result<Throughput> {
    let before = Usage::now();
    let batch = create_many(tasker, shape, tasks, creators).await?;
    finish(tasker, shape, batch, None, Some(before)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::template::{parse_template, validate_template};
    use crate::handlers::HandlerRegistry;

    #[test]
    fn every_shape_is_a_valid_template_of_the_announced_size() {
        let registry = HandlerRegistry::with_builtins();
        for (shape, steps) in [
            (Shape::Linear4, 4),
            (Shape::Diamond, 4),
            (Shape::Fanout20, 22),
            (Shape::Mixed50, 50),
            (Shape::Map1000, 3),
        ] {
            let template = parse_template(&shape.template()).expect("parses");
            validate_template(&template, &registry, Default::default()).expect("valid");
            assert_eq!(template.steps.len(), steps);
            assert_eq!(shape.name().parse::<Shape>().ok(), Some(shape));
        }
    }

    #[test]
    fn a_stage_runs_from_the_parents_completion_to_the_childs_start() {
        let (task, a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let t0 = Utc::now();
        let ms = |n| t0 + chrono::Duration::milliseconds(n);
        let mut times = StepTimes::default();
        times.completed.insert(a, ms(10));
        times.started.insert(b, ms(13));
        times.completed.insert(b, ms(20));
        // c never started (cancelled, say): its edge is no sample.
        let stages = times.stages(&[(task, a, b), (task, b, c)]);
        assert_eq!(stages, vec![Duration::from_millis(3)]);
    }

    #[test]
    fn percentiles_pick_the_right_samples() {
        let p = Percentiles::of((1..=100).map(Duration::from_millis).collect());
        assert_eq!(
            (p.p50_ms.round(), p.p99_ms.round(), p.min_ms, p.max_ms),
            (51.0, 99.0, 1.0, 100.0)
        );
    }
}

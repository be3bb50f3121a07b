//! Dependency-graph analysis: levels, parallelism, the critical path, and for
//! running tasks the bottlenecks with an impact score and criticality level.
//! Pure; O(steps + edges) for templates, and for tasks that plus a bitset
//! pass whose cost grows with troubled steps / 64.

mod bottleneck;
pub mod config;
mod paths;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use bottleneck::criticality;
pub use config::AnalysisConfig;

use super::StepStatus;
use super::dag::Dag;

/// A step name, shared: an analysis repeats each name in several lists, and
/// a reference count is far cheaper than an allocation per copy.
pub type Name = Arc<str>;

/// How bad a situation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Criticality {
    /// Nothing serious.
    Low,
    /// Worth a look.
    Medium,
    /// Work is held up.
    High,
    /// The workflow cannot finish without intervention, or much waits on trouble.
    Critical,
}

/// Where a step's duration estimate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EstimateSource {
    /// The step has finished: its actual duration.
    Actual,
    /// The p50 of the template's recent successful runs.
    Observed,
    /// `duration_estimates.handlers` for the step's handler.
    Configured,
    /// `duration_estimates.default_ms`.
    Default,
}

/// What a running task knows about one step.
#[derive(Debug, Clone)]
pub struct StepRuntime {
    /// Status.
    pub status: StepStatus,
    /// Attempts so far.
    pub attempts: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Whether another attempt could help: the template allows retries and
    /// the latest failure was not permanent.
    pub retryable: bool,
    /// Start of the latest attempt.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub completed_at: Option<DateTime<Utc>>,
    /// When the next attempt may start.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The latest error message.
    pub error: Option<String>,
}

/// One step as the analysis sees it.
#[derive(Debug, Clone)]
pub struct StepInput {
    /// Expected duration of an attempt.
    pub estimate_ms: f64,
    /// Where the estimate comes from.
    pub estimate_source: EstimateSource,
    /// Runtime state (tasks only).
    pub runtime: Option<StepRuntime>,
}

/// One step in the analysis.
#[derive(Debug, Clone, Serialize)]
pub struct StepNode {
    /// Name.
    pub name: Name,
    /// Parents.
    pub depends_on: Vec<Name>,
    /// Children.
    pub dependents: Vec<Name>,
    /// Longest distance from a root (roots are 0).
    pub depth: usize,
    /// Status (tasks only).
    pub status: Option<StepStatus>,
    /// Duration used for the critical path.
    pub estimated_duration_ms: f64,
    /// Where that duration comes from.
    pub estimate_source: EstimateSource,
}

/// Steps that can run side by side (same depth).
#[derive(Debug, Clone, Serialize)]
pub struct Level {
    /// Depth.
    pub depth: usize,
    /// Step names.
    pub steps: Vec<Name>,
}

/// The chain that decides how long the workflow takes.
#[derive(Debug, Clone, Serialize)]
pub struct CriticalPath {
    /// Step names, root to leaf.
    pub steps: Vec<Name>,
    /// Total duration along the chain.
    pub estimated_duration_ms: f64,
    /// What remains of it (tasks: finished steps count 0).
    pub remaining_duration_ms: f64,
}

/// A step that holds the workflow up.
#[derive(Debug, Clone, Serialize)]
pub struct Bottleneck {
    /// The step.
    pub step_name: Name,
    /// Its level.
    pub severity: Criticality,
    /// Its impact score.
    pub score: f64,
    /// Downstream steps that have not started because of it.
    pub blocked_downstream: usize,
    /// Their names in declaration order, at most [`BLOCKED_STEPS_LISTED`].
    pub blocked_steps: Vec<Name>,
    /// What is wrong and what it holds up.
    pub reason: String,
}

/// The full analysis.
#[derive(Debug, Clone, Serialize)]
pub struct GraphAnalysis {
    /// When it was computed.
    pub analysis_timestamp: DateTime<Utc>,
    /// Every step in declaration order.
    pub steps: Vec<StepNode>,
    /// `(parent, child)` names.
    pub edges: Vec<(Name, Name)>,
    /// Steps by depth.
    pub levels: Vec<Level>,
    /// The widest level's size.
    pub max_parallelism: usize,
    /// Steps without parents.
    pub roots: Vec<Name>,
    /// Steps without children.
    pub leaves: Vec<Name>,
    /// The heaviest chain.
    pub critical_path: CriticalPath,
    /// Troubled steps, worst first.
    pub bottlenecks: Vec<Bottleneck>,
    /// Sum of the bottlenecks' scores (0 for templates and healthy tasks).
    pub impact_score: f64,
    /// The impact score's level.
    pub criticality: Criticality,
}

/// The graph has a cycle (named), so it cannot be analysed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dependency cycle: {}", .0.join(" -> "))]
pub struct CycleError(pub Vec<String>);

fn remaining_ms(input: &StepInput, now: DateTime<Utc>) -> f64 {
    let Some(rt) = &input.runtime else {
        return input.estimate_ms;
    };
    let elapsed =
        |from: Option<DateTime<Utc>>| from.map_or(0.0, |s| (now - s).num_milliseconds().max(0) as f64);
    match rt.status {
        s if s.is_terminal() => 0.0,
        StepStatus::InProgress => (input.estimate_ms - elapsed(rt.started_at)).max(0.0),
        StepStatus::WaitingForRetry => {
            let wait = rt
                .next_attempt_at
                .map_or(0.0, |at| (at - now).num_milliseconds().max(0) as f64);
            wait + input.estimate_ms
        }
        _ => input.estimate_ms,
    }
}

/// Analyse `dag` with one input per step (same order).
pub fn analyze(
    dag: &Dag,
    inputs: &[StepInput],
    config: &AnalysisConfig,
    now: DateTime<Utc>,
) -> Result<GraphAnalysis, CycleError> {
    let order = dag
        .topological_order()
        .ok_or_else(|| CycleError(dag.find_cycle().unwrap_or_default()))?;
    let depths = dag.depths(&order);
    let shared: Vec<Name> = (0..dag.len()).map(|i| Name::from(dag.name(i))).collect();
    let name = |i: usize| Arc::clone(&shared[i]);
    let names = |ids: &[usize]| -> Vec<Name> { ids.iter().map(|&i| name(i)).collect() };

    let weights: Vec<f64> = inputs.iter().map(|s| s.estimate_ms).collect();
    let (path, total) = paths::critical_path(dag, &order, &weights);
    let remaining = path.iter().map(|&i| remaining_ms(&inputs[i], now)).sum();

    let deepest = depths.iter().copied().max().map_or(0, |d| d + 1);
    let mut levels: Vec<Level> = (0..deepest)
        .map(|depth| Level {
            depth,
            steps: Vec::new(),
        })
        .collect();
    for (i, &depth) in depths.iter().enumerate() {
        levels[depth].steps.push(name(i));
    }

    let bottlenecks = bottlenecks(dag, &order, &shared, inputs, config, now);
    let impact_score: f64 = bottlenecks.iter().map(|b| b.score).sum();
    let steps = (0..dag.len())
        .map(|i| StepNode {
            name: name(i),
            depends_on: names(dag.parents(i)),
            dependents: names(dag.children(i)),
            depth: depths[i],
            status: inputs[i].runtime.as_ref().map(|r| r.status),
            estimated_duration_ms: inputs[i].estimate_ms,
            estimate_source: inputs[i].estimate_source,
        })
        .collect();
    Ok(GraphAnalysis {
        analysis_timestamp: now,
        steps,
        edges: (0..dag.len())
            .flat_map(|c| dag.parents(c).iter().map(move |&p| (name(p), name(c))))
            .collect(),
        max_parallelism: levels.iter().map(|l| l.steps.len()).max().unwrap_or(0),
        levels,
        roots: names(&dag.roots()),
        leaves: names(&dag.leaves()),
        critical_path: CriticalPath {
            steps: names(&path),
            estimated_duration_ms: total,
            remaining_duration_ms: remaining,
        },
        criticality: criticality(impact_score, config),
        impact_score,
        bottlenecks,
    })
}

/// At most this many blocked step names are listed per bottleneck (the
/// count is always exact): past that a list helps nobody and its size would
/// grow with troubled steps × steps.
pub const BLOCKED_STEPS_LISTED: usize = 100;

fn bottlenecks(
    dag: &Dag,
    order: &[usize],
    names: &[Name],
    inputs: &[StepInput],
    config: &AnalysisConfig,
    now: DateTime<Utc>,
) -> Vec<Bottleneck> {
    let troubled: Vec<(usize, &StepRuntime)> = inputs
        .iter()
        .enumerate()
        .filter_map(|(i, input)| {
            let rt = input.runtime.as_ref()?;
            bottleneck::is_trouble(rt, config, now).then_some((i, rt))
        })
        .collect();
    let sources: Vec<usize> = troubled.iter().map(|&(i, _)| i).collect();
    let mut downstream = vec![0usize; troubled.len()];
    let mut blocked: Vec<(usize, Vec<usize>)> = vec![(0, Vec::new()); troubled.len()];
    paths::downstream_of(dag, order, &sources, |k, step| {
        downstream[k] += 1;
        let pending = inputs[step]
            .runtime
            .as_ref()
            .is_some_and(|r| r.status == StepStatus::Pending);
        if pending {
            let (count, listed) = &mut blocked[k];
            *count += 1;
            if listed.len() < BLOCKED_STEPS_LISTED {
                listed.push(step);
            }
        }
    });
    let below = paths::chain_below(dag, order);
    let mut found: Vec<Bottleneck> = troubled
        .iter()
        .zip(downstream.iter().zip(&blocked))
        .filter_map(|(&(i, rt), (&downstream, (blocked, listed)))| {
            let around = bottleneck::Surroundings {
                downstream,
                blocked: *blocked,
                chain_below: below[i],
            };
            let score = bottleneck::score(rt, &around, config, now);
            (score > 0.0).then(|| Bottleneck {
                step_name: Arc::clone(&names[i]),
                severity: criticality(score, config),
                score,
                blocked_downstream: *blocked,
                blocked_steps: listed.iter().map(|&b| Arc::clone(&names[b])).collect(),
                reason: bottleneck::reason(rt, &around, config, now),
            })
        })
        .collect();
    found.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.step_name.cmp(&b.step_name))
    });
    found
}

/// The estimate for a step: observed p50, else the handler's, else the default.
pub fn estimate(handler: &str, observed_ms: Option<f64>, config: &AnalysisConfig) -> (f64, EstimateSource) {
    if let Some(ms) = observed_ms {
        return (ms, EstimateSource::Observed);
    }
    match config.duration_estimates.handlers.get(handler) {
        Some(ms) => (*ms as f64, EstimateSource::Configured),
        None => (
            config.duration_estimates.default_ms as f64,
            EstimateSource::Default,
        ),
    }
}

#[cfg(test)]
mod tests;

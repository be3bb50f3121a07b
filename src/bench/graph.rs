//! Cost of the dependency-graph analysis: the pure analysis of random DAGs
//! of growing size (as a template, and as a task part-way through with some
//! failed steps), and over HTTP the REST handler discovery and a task's graph.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{Value, json};

use super::Percentiles;
use super::api::ApiBenchError;
use crate::domain::StepStatus;
use crate::domain::analysis::{AnalysisConfig, EstimateSource, StepInput, StepRuntime, analyze};
use crate::domain::dag::Dag;

/// The analysis of one DAG size.
#[derive(Debug, Clone, Serialize)]
pub struct AnalysisCost {
    /// Steps.
    pub steps: usize,
    /// Edges.
    pub edges: usize,
    /// The template analysis (no runtime state).
    pub template: Percentiles,
    /// The task analysis: half the steps done, 1% failed, some retrying.
    pub task: Percentiles,
    /// Median task analysis time per step and edge, in nanoseconds.
    pub task_ns_per_element: f64,
}

/// A random DAG of `n` steps: each step after the first has one to three
/// parents among the 50 steps before it (a few more roots appear by chance).
pub fn random_dag(n: usize, seed: u64) -> Dag {
    let mut rng = StdRng::seed_from_u64(seed);
    let names: Vec<String> = (0..n).map(|i| format!("s{i:05}")).collect();
    let mut edges = Vec::new();
    for child in 1..n {
        if rng.random_ratio(1, 50) {
            continue;
        }
        let window = child.min(50);
        for _ in 0..rng.random_range(1..=3) {
            let parent = child - rng.random_range(1..=window);
            edges.push((parent, child));
        }
    }
    let named: Vec<(&str, &str)> = edges
        .iter()
        .map(|&(p, c)| (names[p].as_str(), names[c].as_str()))
        .collect();
    Dag::new(names.clone(), named).0
}

fn template_inputs(n: usize) -> Vec<StepInput> {
    (0..n)
        .map(|_| StepInput {
            estimate_ms: 1_000.0,
            estimate_source: EstimateSource::Default,
            runtime: None,
        })
        .collect()
}

/// Steps in declaration order: the first half done, 1% of those failed for
/// good, a band retrying or running, the rest pending.
fn task_inputs(n: usize, now: DateTime<Utc>, seed: u64) -> Vec<StepInput> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let progress = i as f64 / n as f64;
            let status = match progress {
                p if p < 0.5 && rng.random_ratio(1, 100) => StepStatus::Error,
                p if p < 0.5 => StepStatus::Complete,
                p if p < 0.52 => StepStatus::WaitingForRetry,
                p if p < 0.55 => StepStatus::InProgress,
                _ => StepStatus::Pending,
            };
            let started = now - chrono::Duration::seconds(rng.random_range(1..600));
            StepInput {
                estimate_ms: rng.random_range(10.0..5_000.0),
                estimate_source: EstimateSource::Observed,
                runtime: Some(StepRuntime {
                    status,
                    attempts: if status == StepStatus::Pending {
                        0
                    } else {
                        1 + u32::from(rng.random_ratio(1, 5))
                    },
                    max_attempts: 3,
                    retryable: true,
                    started_at: (status != StepStatus::Pending).then_some(started),
                    completed_at: status.is_terminal().then_some(now),
                    next_attempt_at: (status == StepStatus::WaitingForRetry)
                        .then(|| now + chrono::Duration::seconds(30)),
                    error: (status == StepStatus::Error).then(|| "connection refused".to_owned()),
                }),
            }
        })
        .collect()
}

fn timed(runs: usize, mut work: impl FnMut()) -> Percentiles {
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t0 = Instant::now();
        work();
        samples.push(t0.elapsed());
    }
    Percentiles::of(samples)
}

/// Analysis time for DAGs of each `(size, timed runs)`, after 3 warm-ups.
pub fn analysis_costs(sizes: &[(usize, usize)]) -> Vec<AnalysisCost> {
    let config = AnalysisConfig::default();
    let now = Utc::now();
    sizes
        .iter()
        .map(|&(n, runs)| {
            let dag = random_dag(n, 7);
            let edges: usize = (0..dag.len()).map(|i| dag.parents(i).len()).sum();
            let plain = template_inputs(n);
            let running = task_inputs(n, now, 11);
            let analyse = |inputs: &[StepInput]| {
                let found = analyze(&dag, inputs, &config, now);
                std::hint::black_box(found.is_ok());
            };
            for _ in 0..3 {
                analyse(&plain);
                analyse(&running);
            }
            let template = timed(runs, || analyse(&plain));
            let task = timed(runs, || analyse(&running));
            AnalysisCost {
                steps: n,
                edges,
                task_ns_per_element: task.p50_ms * 1e6 / (n + edges) as f64,
                template,
                task,
            }
        })
        .collect()
}

/// A template of `steps` steps (noop) in `namespace`, named `name`, shaped
/// like [`random_dag`].
pub fn template_yaml(namespace: &str, name: &str, steps: usize, seed: u64) -> String {
    let dag = random_dag(steps, seed);
    let mut yaml = format!("namespace: {namespace}\nname: {name}\nversion: 1.0.0\nsteps:\n");
    for i in 0..dag.len() {
        let parents: Vec<&str> = dag.parents(i).iter().map(|&p| dag.name(p)).collect();
        yaml.push_str(&format!(
            "  - {{name: {}, handler: noop, depends_on: [{}]}}\n",
            dag.name(i),
            parents.join(", ")
        ));
    }
    yaml
}

/// Latency of `runs` GETs of `url` (after 5 warm-ups); each answer must be 200.
pub async fn get_latency(
    client: &reqwest::Client,
    url: &str,
    runs: usize,
) -> Result<Percentiles, ApiBenchError> {
    let mut samples: Vec<Duration> = Vec::with_capacity(runs);
    for i in 0..runs + 5 {
        let t0 = Instant::now();
        let response = client.get(url).send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        if !status.is_success() {
            return Err(ApiBenchError::Graphql(format!(
                "GET {url}: {status} {}",
                String::from_utf8_lossy(&body)
            )));
        }
        if i >= 5 {
            samples.push(t0.elapsed());
        }
    }
    Ok(Percentiles::of(samples))
}

/// Every field of a task's dependency graph.
pub const TASK_GRAPH_QUERY: &str = "query($id: ID!) { dependencyGraph(taskId: $id) {
  analysisTimestamp impactScore criticalityLevel
  criticalPath { steps estimatedDurationMs remainingDurationMs }
  bottleneckAnalysis { stepName severity score blockedDownstream blockedSteps reason }
  stepDependencies { stepName dependsOn dependents depth status estimatedDurationMs estimateSource }
  levels { depth width steps } maxParallelism roots leaves edges { from to }
} }";

/// Latency of `runs` [`TASK_GRAPH_QUERY`]s for one task (after 5 warm-ups).
pub async fn task_graph_latency(
    client: &reqwest::Client,
    url: &str,
    task_id: &str,
    runs: usize,
) -> Result<Percentiles, ApiBenchError> {
    let body = json!({"query": TASK_GRAPH_QUERY, "variables": {"id": task_id}});
    let mut samples: Vec<Duration> = Vec::with_capacity(runs);
    for i in 0..runs + 5 {
        let t0 = Instant::now();
        let response: Value = client.post(url).json(&body).send().await?.json().await?;
        if !response["errors"].is_null() || response["data"]["dependencyGraph"].is_null() {
            return Err(ApiBenchError::Graphql(response.to_string()));
        }
        if i >= 5 {
            samples.push(t0.elapsed());
        }
    }
    Ok(Percentiles::of(samples))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_dags_are_acyclic_with_the_asked_size_and_a_few_roots() {
        let dag = random_dag(1_000, 1);
        assert_eq!(dag.len(), 1_000);
        assert!(dag.topological_order().is_some());
        let roots = dag.roots().len();
        assert!((1..100).contains(&roots), "{roots} roots");
    }

    #[test]
    fn the_generated_template_parses_with_the_same_graph() {
        let yaml = template_yaml("bench", "g", 60, 3);
        let parsed = crate::domain::template::parse_template(&yaml).expect("parses");
        assert_eq!(parsed.steps.len(), 60);
        assert!(parsed.steps.iter().skip(1).any(|s| !s.depends_on.is_empty()));
    }
}

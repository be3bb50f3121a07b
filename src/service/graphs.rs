//! Dependency-graph analysis of templates and tasks. Step duration estimates
//! come from observed runs (p50 of the template's last N completed tasks,
//! cached for a minute), else the configured per-handler or default values.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::views::StepView;
use super::{Error, Result, Tasker};
use crate::domain::analysis::{EstimateSource, GraphAnalysis, StepInput, StepRuntime, analyze, estimate};
use crate::domain::dag::Dag;
use crate::domain::median::median;
use crate::domain::template::dag_of;
use crate::store::{self, StoredTemplate};

/// How long observed estimates are reused before they are read again.
const OBSERVED_TTL: Duration = Duration::from_secs(60);

/// Templates whose observed estimates are kept at most; the cache starts
/// over beyond it rather than grow without bound.
const OBSERVED_CAPACITY: usize = 10_000;

/// p50 duration (ms) per step name, per template `(namespace, name)`.
pub type ObservedByTemplate = HashMap<(String, String), Arc<HashMap<String, f64>>>;

/// [`ObservedByTemplate`] entries with their read time.
pub(super) type ObservedCache =
    std::sync::Mutex<HashMap<(String, String), (Instant, Arc<HashMap<String, f64>>)>>;

/// The key observed durations are kept under.
pub fn template_key(t: &crate::domain::template::TaskTemplate) -> (String, String) {
    (t.namespace.clone(), t.name.clone())
}

fn internal(err: impl std::fmt::Display) -> Error {
    Error::Internal(store::Error::Corrupt {
        message: err.to_string(),
    })
}

impl Tasker {
    /// p50 duration (ms) per step name over each template's last N completed
    /// runs, keyed by `(namespace, name)`; what the cache lacks is read in
    /// one statement.
    pub async fn observed_durations(&self, templates: &[(String, String)]) -> Result<ObservedByTemplate> {
        let runs = self.settings.analysis.duration_estimates.observed_runs;
        let mut found = ObservedByTemplate::new();
        let mut missing = Vec::new();
        let mut asked = std::collections::HashSet::new();
        {
            let cache = self.observed.lock().unwrap_or_else(|p| p.into_inner());
            for key in templates {
                match cache.get(key).filter(|(at, _)| at.elapsed() < OBSERVED_TTL) {
                    Some((_, durations)) => {
                        found.insert(key.clone(), Arc::clone(durations));
                    }
                    None if asked.insert(key) => missing.push(key.clone()),
                    None => {}
                }
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        let mut samples: HashMap<(String, String), HashMap<String, Vec<f64>>> = HashMap::new();
        for row in store::recent_step_durations(self.store.reader(), &missing, runs).await? {
            samples
                .entry((row.namespace, row.template))
                .or_default()
                .entry(row.step)
                .or_default()
                .push(row.duration_ms);
        }
        let now = Instant::now();
        let mut cache = self.observed.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() + missing.len() > OBSERVED_CAPACITY {
            cache.clear();
        }
        for key in missing {
            let by_step = samples.remove(&key).unwrap_or_default();
            let p50: Arc<HashMap<String, f64>> = Arc::new(
                by_step
                    .into_iter()
                    .filter_map(|(step, ms)| Some((step, median(ms)?)))
                    .collect(),
            );
            cache.insert(key.clone(), (now, Arc::clone(&p50)));
            found.insert(key, p50);
        }
        Ok(found)
    }

    /// The analyses of templates, their observed estimates read together.
    pub async fn template_graphs(&self, templates: &[StoredTemplate]) -> Result<Vec<GraphAnalysis>> {
        let keys: Vec<(String, String)> = templates.iter().map(|t| template_key(&t.template)).collect();
        let observed = self.observed_durations(&keys).await?;
        let none = HashMap::new();
        templates
            .iter()
            .zip(&keys)
            .map(|(t, key)| self.template_graph(t, observed.get(key).map_or(&none, Arc::as_ref)))
            .collect()
    }

    /// The analysis of a template (levels, critical path from estimates),
    /// given its observed p50 step durations.
    pub fn template_graph(
        &self,
        stored: &StoredTemplate,
        observed: &HashMap<String, f64>,
    ) -> Result<GraphAnalysis> {
        let t = &stored.template;
        let config = &self.settings.analysis;
        let inputs: Vec<StepInput> = t
            .steps
            .iter()
            .map(|s| {
                let (estimate_ms, estimate_source) =
                    estimate(&s.handler, observed.get(&s.name).copied(), config);
                StepInput {
                    estimate_ms,
                    estimate_source,
                    runtime: None,
                }
            })
            .collect();
        analyze(&dag_of(t).0, &inputs, config, self.clock.now()).map_err(internal)
    }

    /// The analysis of each task, in order, reading the steps, edges and
    /// observed estimates of all of them in three statements.
    pub async fn task_graphs(&self, tasks: &[super::TaskView]) -> Result<Vec<GraphAnalysis>> {
        let ids: Vec<Uuid> = tasks.iter().map(|t| t.id).collect();
        let mut keys: Vec<(String, String)> = tasks
            .iter()
            .map(|t| (t.namespace.clone(), t.name.clone()))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let mut steps: HashMap<Uuid, Vec<StepView>> = HashMap::new();
        for step in self.steps_of_tasks(&ids).await? {
            steps.entry(step.task_id).or_default().push(step);
        }
        let mut edges: HashMap<Uuid, Vec<(Uuid, Uuid)>> = HashMap::new();
        for (task, parent, child) in self.task_edges(&ids).await? {
            edges.entry(task).or_default().push((parent, child));
        }
        let observed = self.observed_durations(&keys).await?;
        let none = HashMap::new();
        tasks
            .iter()
            .map(|t| {
                let observed = observed.get(&(t.namespace.clone(), t.name.clone()));
                self.task_graph(
                    steps.get(&t.id).map_or(&[][..], Vec::as_slice),
                    edges.get(&t.id).map_or(&[][..], Vec::as_slice),
                    observed.map_or(&none, Arc::as_ref),
                )
            })
            .collect()
    }

    /// The analysis of a task from its steps, `(parent, child)` edges and
    /// its template's observed p50 step durations.
    pub fn task_graph(
        &self,
        steps: &[StepView],
        edges: &[(Uuid, Uuid)],
        observed: &HashMap<String, f64>,
    ) -> Result<GraphAnalysis> {
        let config = &self.settings.analysis;
        let name_of: HashMap<Uuid, &str> = steps.iter().map(|s| (s.id, s.name.as_str())).collect();
        let named: Vec<(&str, &str)> = edges
            .iter()
            .filter_map(|(p, c)| Some((*name_of.get(p)?, *name_of.get(c)?)))
            .collect();
        let (dag, _) = Dag::new(steps.iter().map(|s| s.name.clone()).collect(), named);
        let inputs: Vec<StepInput> = steps
            .iter()
            .map(|s| {
                let (estimate_ms, estimate_source) = match (s.status.satisfies_dependents(), s.duration_ms())
                {
                    (true, Some(ms)) => (ms as f64, EstimateSource::Actual),
                    (true, None) => (0.0, EstimateSource::Actual),
                    _ => estimate(&s.handler, observed.get(&s.name).copied(), config),
                };
                let runtime = StepRuntime {
                    status: s.status,
                    attempts: s.attempts,
                    max_attempts: s.max_attempts,
                    retryable: s.retryable && s.error.as_ref().is_none_or(|e| e.retryable),
                    started_at: s.started_at,
                    completed_at: s.completed_at,
                    next_attempt_at: s.next_attempt_at,
                    error: s.error.as_ref().map(|e| e.message.clone()),
                };
                StepInput {
                    estimate_ms,
                    estimate_source,
                    runtime: Some(runtime),
                }
            })
            .collect();
        analyze(&dag, &inputs, config, self.clock.now()).map_err(internal)
    }
}

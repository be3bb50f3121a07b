//! Prometheus metrics in one registry per process (no global recorder): fed
//! by lifecycle events, by the HTTP layer (GraphQL requests) and the engine
//! (claims), and sampled at scrape time (queue depths, the process).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::exponential_buckets;

use super::histogram::AtomicHistogram;
use prometheus_client::registry::{Registry, Unit};

use self::found::Found;
use self::labels::{
    AttemptLabels, EventLabels, HandlerLabels, OperationLabels, RequestLabels, StepLabels, StrategyLabels,
    TaskLabels,
};
use super::process::ProcessCollector;
use crate::domain::StepStatus;
use crate::domain::attempt::FailureKind;
use crate::domain::change::{Change, StepChange, TaskChange};

/// What `GET /metrics` answers with (OpenMetrics text, which Prometheus reads).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Distinct GraphQL operation names kept as label values; later ones are
/// counted as `other` so a client cannot grow the series without bound.
const MAX_OPERATIONS: usize = 200;

/// Step attempts: 1 ms to ~65 s.
fn attempt_histogram() -> AtomicHistogram {
    AtomicHistogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// Whole workflows: 10 ms to a day.
fn workflow_histogram() -> AtomicHistogram {
    AtomicHistogram::new([
        0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
        7200.0, 21600.0, 86400.0,
    ])
}

/// Requests and statements: 0.5 ms to ~16 s.
fn request_histogram() -> AtomicHistogram {
    AtomicHistogram::new(exponential_buckets(0.0005, 2.0, 16))
}

struct Inner {
    registry: Registry,
    tasks: Family<TaskLabels, Counter>,
    steps: Family<StepLabels, Counter>,
    attempts: Family<AttemptLabels, Counter>,
    step_duration: Family<HandlerLabels, AtomicHistogram, fn() -> AtomicHistogram>,
    workflow_duration: Family<TaskLabels, AtomicHistogram, fn() -> AtomicHistogram>,
    events: Family<EventLabels, Counter>,
    events_dropped: Counter,
    claim_latency: AtomicHistogram,
    graphql_requests: Family<RequestLabels, Counter>,
    graphql_duration: Family<OperationLabels, AtomicHistogram, fn() -> AtomicHistogram>,
    tasks_in_progress: Gauge,
    steps_ready: Gauge,
    cache_strategy: Family<StrategyLabels, Gauge>,
    operations: Mutex<HashSet<String>>,
    found: Mutex<FoundSeries>,
}

/// The series events went to, by label values (see [`found`]).
#[derive(Default)]
struct FoundSeries {
    tasks: Found<Counter>,
    workflow_duration: Found<AtomicHistogram>,
    steps: Found<Counter>,
    attempts: Found<Counter>,
    step_duration: Found<AtomicHistogram>,
}

/// The process's metrics (cheap to clone).
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every family registered, all at zero.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let tasks = Family::default();
        registry.register(
            "tasker_tasks",
            "Tasks that reached each status, by template",
            tasks.clone(),
        );
        let steps = Family::default();
        registry.register(
            "tasker_steps",
            "Steps that reached each status, by namespace and handler",
            steps.clone(),
        );
        let attempts = Family::default();
        registry.register(
            "tasker_step_attempts",
            "Finished step attempts by outcome (success, retry, failure, lease_expired)",
            attempts.clone(),
        );
        let step_duration = Family::new_with_constructor(attempt_histogram as fn() -> AtomicHistogram);
        registry.register_with_unit(
            "tasker_step_duration",
            "Duration of finished step attempts, claim to outcome",
            Unit::Seconds,
            step_duration.clone(),
        );
        let workflow_duration = Family::new_with_constructor(workflow_histogram as fn() -> AtomicHistogram);
        registry.register_with_unit(
            "tasker_workflow_duration",
            "Duration of finished tasks, creation to final status",
            Unit::Seconds,
            workflow_duration.clone(),
        );
        let events = Family::default();
        registry.register(
            "tasker_events",
            "Lifecycle events published, by name",
            events.clone(),
        );
        let events_dropped = Counter::default();
        registry.register(
            "tasker_events_dropped",
            "Events a subscriber missed because it fell behind",
            events_dropped.clone(),
        );
        let claim_latency = request_histogram();
        registry.register_with_unit(
            "tasker_claim_latency",
            "Duration of the engine's claim statements",
            Unit::Seconds,
            claim_latency.clone(),
        );
        let graphql_requests = Family::default();
        registry.register(
            "tasker_graphql_requests",
            "GraphQL queries and mutations by operation name and status (ok, error)",
            graphql_requests.clone(),
        );
        let graphql_duration = Family::new_with_constructor(request_histogram as fn() -> AtomicHistogram);
        registry.register_with_unit(
            "tasker_graphql_request_duration",
            "Duration of GraphQL queries and mutations",
            Unit::Seconds,
            graphql_duration.clone(),
        );
        let tasks_in_progress = Gauge::default();
        registry.register(
            "tasker_tasks_in_progress",
            "Tasks in IN_PROGRESS, read from the database at scrape time",
            tasks_in_progress.clone(),
        );
        let steps_ready = Gauge::default();
        registry.register(
            "tasker_steps_ready",
            "Steps that can be claimed now, read from the database at scrape time",
            steps_ready.clone(),
        );
        let cache_strategy = Family::<StrategyLabels, Gauge>::default();
        registry.register(
            "tasker_metrics_cache_strategy",
            "1 for the strategy this replica's metrics cache uses now, 0 for the others",
            cache_strategy.clone(),
        );
        registry.register_collector(Box::new(ProcessCollector::new()));
        Self(Arc::new(Inner {
            registry,
            tasks,
            steps,
            attempts,
            step_duration,
            workflow_duration,
            events,
            events_dropped,
            claim_latency,
            graphql_requests,
            graphql_duration,
            tasks_in_progress,
            steps_ready,
            cache_strategy,
            operations: Mutex::new(HashSet::new()),
            found: Mutex::default(),
        }))
    }

    /// Count one event and the committed change behind it, if any;
    /// `namespace` is the step's task's, when known.
    pub fn record_event(&self, event: &'static str, change: Option<&Change>, namespace: Option<&str>) {
        let m = &self.0;
        // Found in its family: with one `&'static str` label, that lookup is
        // cheaper than the kept handles' (27 against 184 ns in criterion).
        m.events.get_or_create(&EventLabels { event }).inc();
        let found = || m.found.lock().unwrap_or_else(|p| p.into_inner());
        match change {
            Some(Change::Task(t)) => self.record_task(&mut found(), t),
            Some(Change::Step(s)) => self.record_step(&mut found(), s, namespace.unwrap_or("unknown")),
            None => {}
        }
    }

    fn record_task(&self, found: &mut FoundSeries, t: &TaskChange) {
        let m = &self.0;
        let (namespace, name, status) = (t.namespace.as_str(), t.name.as_str(), t.to.label());
        let labels = || TaskLabels {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            status,
        };
        found
            .tasks
            .get(namespace, name, status, || {
                m.tasks.get_or_create(&labels()).clone()
            })
            .inc();
        if t.to.is_terminal() {
            let seconds = (t.at - t.created_at).num_milliseconds().max(0) as f64 / 1000.0;
            found
                .workflow_duration
                .get(namespace, name, status, || {
                    m.workflow_duration.get_or_create(&labels()).clone()
                })
                .observe(seconds);
        }
    }

    fn record_step(&self, found: &mut FoundSeries, s: &StepChange, namespace: &str) {
        let m = &self.0;
        let handler = s.handler.as_str();
        let status = s.to.label();
        found
            .steps
            .get(namespace, handler, status, || {
                let labels = StepLabels {
                    namespace: namespace.to_owned(),
                    handler: handler.to_owned(),
                    status,
                };
                m.steps.get_or_create(&labels).clone()
            })
            .inc();
        if s.from != Some(StepStatus::InProgress) {
            return;
        }
        let outcome = match s.to {
            _ if s.failure == Some(FailureKind::LeaseExpired) => "lease_expired",
            StepStatus::Complete => "success",
            StepStatus::WaitingForRetry => "retry",
            StepStatus::Error => "failure",
            // Cancelled or resolved while running: not an attempt outcome.
            _ => return,
        };
        found
            .attempts
            .get(namespace, handler, outcome, || {
                let labels = AttemptLabels {
                    namespace: namespace.to_owned(),
                    handler: handler.to_owned(),
                    outcome,
                };
                m.attempts.get_or_create(&labels).clone()
            })
            .inc();
        if let Some(started) = s.started_at {
            let seconds = (s.at - started).num_milliseconds().max(0) as f64 / 1000.0;
            found
                .step_duration
                .get(namespace, handler, "", || {
                    let labels = HandlerLabels {
                        namespace: namespace.to_owned(),
                        handler: handler.to_owned(),
                    };
                    m.step_duration.get_or_create(&labels).clone()
                })
                .observe(seconds);
        }
    }

    /// Events a subscriber missed.
    pub fn events_dropped(&self, missed: u64) {
        self.0.events_dropped.inc_by(missed);
    }

    /// The counter of missed events, for subscribers to add to.
    pub fn events_dropped_counter(&self) -> Counter {
        self.0.events_dropped.clone()
    }

    /// The engine's claim statements' durations.
    pub fn claim_latency(&self) -> AtomicHistogram {
        self.0.claim_latency.clone()
    }

    /// One GraphQL query or mutation.
    pub fn graphql_request(&self, operation: Option<&str>, ok: bool, elapsed: Duration) {
        let operation = self.operation_label(operation);
        self.0
            .graphql_requests
            .get_or_create(&RequestLabels {
                operation: operation.clone(),
                status: if ok { "ok" } else { "error" }.to_owned(),
            })
            .inc();
        self.0
            .graphql_duration
            .get_or_create(&OperationLabels { operation })
            .observe(elapsed.as_secs_f64());
    }

    fn operation_label(&self, operation: Option<&str>) -> String {
        let Some(name) = operation.filter(|n| {
            !n.is_empty() && n.len() <= 64 && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }) else {
            return "anonymous".to_owned();
        };
        let mut known = self.0.operations.lock().unwrap_or_else(|p| p.into_inner());
        if known.contains(name) || known.len() < MAX_OPERATIONS && known.insert(name.to_owned()) {
            name.to_owned()
        } else {
            "other".to_owned()
        }
    }

    /// Which metrics-cache strategy is active (`all` lists every strategy).
    pub fn set_cache_strategy(&self, active: &'static str, all: &[&'static str]) {
        for strategy in all {
            let value = i64::from(*strategy == active);
            self.0
                .cache_strategy
                .get_or_create(&StrategyLabels { strategy })
                .set(value);
        }
    }

    /// Queue depths read from the database.
    pub fn set_depths(&self, tasks_in_progress: u64, steps_ready: u64) {
        self.0
            .tasks_in_progress
            .set(i64::try_from(tasks_in_progress).unwrap_or(i64::MAX));
        self.0
            .steps_ready
            .set(i64::try_from(steps_ready).unwrap_or(i64::MAX));
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.0.registry);
        out
    }
}

mod found;
mod labels;
#[cfg(test)]
mod tests;

//! The orchestrator: claims ready steps, runs their handlers with bounded
//! concurrency, records outcomes, retries, finalizes tasks and recovers expired
//! leases. `Options` → [`Engine::new`] → [`Engine::run`]; everyone else holds an
//! [`EngineHandle`].
//!
//! One scheduler task per replica is the only writer of engine state: it gathers
//! every outcome that arrived while the previous transaction ran and records
//! them together with the next claim in one transaction (group commit and local
//! continuation: a stage costs one commit).

mod clock;
mod dispatch;
mod lease;
mod scheduler;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use clock::{Clock, SystemClock};

use crate::config::Config;
use crate::events::EventBus;
use crate::handlers::HandlerRegistry;
use crate::store::Store;

/// Engine settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Lease owner name; unique per running engine.
    pub instance_id: String,
    /// Most handlers running at once.
    pub max_concurrency: usize,
    /// Most steps claimed by one statement.
    pub claim_batch_size: usize,
    /// Most outcomes recorded by one transaction.
    pub max_batch: usize,
    /// Fallback poll for retry timers, expired leases and other replicas' work.
    pub poll_interval: Duration,
    /// Lease length; renewed every third of it while a handler runs.
    pub lease: Duration,
    /// Per-attempt timeout for steps without `timeout_ms`.
    pub default_step_timeout: Duration,
    /// On shutdown, how long running handlers get to finish.
    pub shutdown_grace: Duration,
    /// Largest results a handler may return (serialized bytes).
    pub max_result_bytes: usize,
    /// Only run this task's steps (`tasker task create --wait`).
    pub only_task: Option<Uuid>,
    /// Where claim statement durations are observed, if anywhere.
    pub claim_latency: Option<crate::telemetry::AtomicHistogram>,
    /// Attempts longer than this publish observability.slow_step.
    pub slow_step: Duration,
    /// Most task contexts kept for steps still to run; the cache is dropped
    /// whole beyond this.
    pub task_cache: usize,
    /// Concurrency limits of handlers, by name (counted at the gate).
    pub handler_concurrency: Arc<crate::store::HandlerLimits>,
}

impl Options {
    /// The options `config` gives (a fresh instance id).
    pub fn from_config(config: &Config) -> Self {
        let e = &config.engine;
        Self {
            instance_id: default_instance_id(),
            max_concurrency: e.max_concurrency,
            claim_batch_size: e.claim_batch_size,
            max_batch: e.max_batch,
            poll_interval: Duration::from_millis(e.poll_interval_ms),
            lease: Duration::from_secs(e.lease_seconds),
            default_step_timeout: Duration::from_secs(e.default_step_timeout_seconds),
            shutdown_grace: Duration::from_secs(e.shutdown_grace_seconds),
            max_result_bytes: config.limits.max_result_bytes,
            only_task: None,
            claim_latency: None,
            slow_step: Duration::from_millis(config.observability.slow_step_ms),
            task_cache: 10_000,
            handler_concurrency: Arc::new(config.handler_concurrency()),
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Self::from_config(&Config::default())
    }
}

/// `engine:<host>-<pid>-<random>`: unique even when a pid is reused.
pub fn default_instance_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "local".to_owned());
    let random = Uuid::new_v4().simple().to_string();
    format!("engine:{host}-{}-{}", std::process::id(), &random[..8])
}

/// Counters for benchmarks and health.
#[derive(Debug, Default)]
pub struct Stats {
    /// Steps claimed.
    pub claimed: AtomicU64,
    /// Attempts recorded as completed.
    pub completed: AtomicU64,
    /// Attempts recorded as failed.
    pub failed: AtomicU64,
    /// Transactions committed by the scheduler.
    pub batches: AtomicU64,
    /// Reports whose claim no longer held (expired, cancelled, reclaimed).
    pub lease_lost: AtomicU64,
    /// Turns whose transaction failed (and was retried later).
    pub failed_turns: AtomicU64,
    /// Claimed steps whose inputs could not be loaded (their attempt failed).
    pub dispatch_failures: AtomicU64,
}

/// What every step of a task shares: its namespace and its context (one copy,
/// however many steps run).
#[derive(Clone)]
struct TaskInputs {
    namespace: Arc<str>,
    context: Arc<Value>,
    correlation_id: Option<Arc<str>>,
    /// The trace of the span that created the task, parsed once per task.
    trace_parent: Option<crate::telemetry::traces::Parent>,
}

pub(crate) struct Shared {
    store: Store,
    handlers: HandlerRegistry,
    events: EventBus,
    clock: Arc<dyn Clock>,
    options: Options,
    wake: Notify,
    /// Running attempts by step id.
    running: Mutex<HashMap<Uuid, Running>>,
    /// Namespace and context per task (immutable, so safe to keep).
    tasks: Mutex<HashMap<Uuid, TaskInputs>>,
    in_flight: AtomicUsize,
    stats: Stats,
    /// Concurrency groups may admit work now (set by creations, by turns
    /// that ended or held back grouped work); the next turn looks at them.
    groups_due: AtomicBool,
    /// Where the next pass over step gates and task queues resumes
    /// (round-robin between groups).
    group_cursors: Mutex<GroupCursors>,
}

/// The last group served by each kind of pass.
#[derive(Debug, Default)]
struct GroupCursors {
    steps: String,
    tasks: String,
}

/// An attempt running here.
#[derive(Debug, Clone)]
struct Running {
    /// Stops the handler.
    cancel: CancellationToken,
    task_id: Uuid,
    /// The lease the attempt holds: what releasing it on shutdown must name.
    lease_token: Uuid,
}

impl Shared {
    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Running>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn task_cache(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, TaskInputs>> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn group_cursors(&self) -> std::sync::MutexGuard<'_, GroupCursors> {
        self.group_cursors.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Remember where the next passes over the groups resume.
    fn save_group_cursors(&self, steps: Option<String>, tasks: Option<String>) {
        let mut cursors = self.group_cursors();
        if let Some(steps) = steps {
            cursors.steps = steps;
        }
        if let Some(tasks) = tasks {
            cursors.tasks = tasks;
        }
    }

    /// Stop the handlers of these steps if they run here.
    fn interrupt(&self, step_ids: &[Uuid]) {
        let running = self.running();
        for id in step_ids {
            if let Some(attempt) = running.get(id) {
                attempt.cancel.cancel();
            }
        }
    }
}

/// A cheap handle to a running engine.
#[derive(Clone)]
pub struct EngineHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for EngineHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineHandle")
            .field("instance_id", &self.shared.options.instance_id)
            .finish()
    }
}

impl EngineHandle {
    /// New work may be ready (a task was created, a step completed elsewhere…).
    pub fn wake(&self) {
        self.shared.wake.notify_one();
    }

    /// Work may wait in a concurrency group (a grouped task or step was
    /// created, retried or released).
    pub fn wake_groups(&self) {
        self.shared.groups_due.store(true, Ordering::Release);
        self.shared.wake.notify_one();
    }

    /// Stop the handlers of these steps if they run here (cancelled or resolved).
    pub fn interrupt(&self, step_ids: &[Uuid]) {
        self.shared.interrupt(step_ids);
    }

    /// Handlers running now.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::Relaxed)
    }

    /// The lease owner name.
    pub fn instance_id(&self) -> &str {
        &self.shared.options.instance_id
    }

    /// Counters since start.
    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }
}

/// The engine; consumed by [`Engine::run`].
pub struct Engine {
    shared: Arc<Shared>,
    reports: mpsc::Receiver<scheduler::Report>,
    report_tx: mpsc::Sender<scheduler::Report>,
}

impl Engine {
    /// Build an engine over a store, handlers and an event bus.
    pub fn new(
        store: Store,
        handlers: HandlerRegistry,
        events: EventBus,
        clock: Arc<dyn Clock>,
        options: Options,
    ) -> Self {
        // Every running handler sends exactly one report, so this never fills up.
        let (report_tx, reports) = mpsc::channel(options.max_concurrency.max(1) * 2);
        let shared = Arc::new(Shared {
            store,
            handlers,
            events,
            clock,
            options,
            wake: Notify::new(),
            running: Mutex::new(HashMap::new()),
            tasks: Mutex::new(HashMap::new()),
            in_flight: AtomicUsize::new(0),
            stats: Stats::default(),
            groups_due: AtomicBool::new(true),
            group_cursors: Mutex::new(GroupCursors::default()),
        });
        Self {
            shared,
            reports,
            report_tx,
        }
    }

    /// A handle for services that create work or need to interrupt handlers.
    pub fn handle(&self) -> EngineHandle {
        EngineHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Run until `cancel` fires, then stop claiming, let running handlers finish
    /// within the grace period, record their outcomes and return.
    pub async fn run(self, cancel: CancellationToken) {
        // Leases are renewed through the grace period too: an attempt that
        // finishes then must still hold its lease to record its outcome.
        let renewing = CancellationToken::new();
        let keeper = tokio::spawn(lease::keep_leases(Arc::clone(&self.shared), renewing.clone()));
        scheduler::run(self.shared, self.reports, self.report_tx, cancel).await;
        renewing.cancel();
        let _ = keeper.await;
    }
}

//! Running claimed steps: load their inputs, then one tokio task per attempt
//! that calls the handler under a timeout, catches panics, honours interruption
//! and sends exactly one report back to the scheduler.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use chrono::Utc;
use futures::FutureExt;
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, Span, info_span, warn};
use uuid::Uuid;
use uuid::fmt::Hyphenated;

use super::scheduler::Report;
use super::{Running, Shared, TaskInputs};
use crate::domain::attempt::{FailureKind, StepFailure, check_storable_json, idempotency_key};
use crate::entities::workflow_step;
use crate::events::{Event, EventName};
use crate::handlers::{StepContext, StepHandler};
use crate::store::{AttemptOutcome, AttemptReport, DispatchInputs, dispatch_inputs, program_outcome};
use crate::telemetry::attempt_spans::{self, Ending, FinishedAttempt};
use crate::telemetry::traces;

/// Start the claimed steps: handlers run in their own tasks and report over
/// `reports`; the outcomes the engine decides itself (a false condition, a
/// map's expansion, a sleep, approval, wait for an event or child task
/// beginning to wait) are returned at once, for the scheduler's next turn.
pub(super) async fn start(
    shared: &Arc<Shared>,
    steps: Vec<workflow_step::Model>,
    reports: &mpsc::Sender<Report>,
) -> Vec<Report> {
    let mut settled = Vec::new();
    if steps.is_empty() {
        return settled;
    }
    // The tasks this batch needs, taken from the cache now: another batch may
    // drop the cache before these steps start.
    let mut tasks: HashMap<Uuid, TaskInputs> = {
        let cache = shared.task_cache();
        steps
            .iter()
            .filter_map(|s| cache.get(&s.task_id).map(|t| (s.task_id, t.clone())))
            .collect()
    };
    let inputs = match load_inputs(shared, &steps, &|id| tasks.contains_key(&id)).await {
        Ok(inputs) => inputs,
        Err(err) => {
            warn!(error = %err, steps = steps.len(), "cannot load step inputs; failing these attempts");
            shared
                .stats
                .dispatch_failures
                .fetch_add(steps.len() as u64, Ordering::Relaxed);
            for step in steps {
                let message = format!("the engine could not load the step's inputs: {err}");
                fail_dispatch(reports, &step, message).await;
            }
            return settled;
        }
    };
    let mut parents = inputs.parent_results;
    {
        let mut cache = shared.task_cache();
        if cache.len() + inputs.tasks.len() > shared.options.task_cache {
            cache.clear();
        }
        for (id, task) in inputs.tasks {
            let inputs = TaskInputs {
                namespace: task.namespace.into(),
                context: Arc::new(task.context),
                correlation_id: task.correlation_id.map(Into::into),
                trace_parent: task.trace_parent.as_deref().and_then(traces::Parent::parse),
            };
            cache.insert(id, inputs.clone());
            tasks.insert(id, inputs);
        }
    }
    for step in steps {
        let Some(task) = tasks.get(&step.task_id).cloned() else {
            fail_dispatch(
                reports,
                &step,
                format!("task {} of this step was not found", step.task_id),
            )
            .await;
            continue;
        };
        let parent_results = parents.remove(&step.id).unwrap_or_default();
        if let Some(outcome) = program_outcome(&step, &task.context, &parent_results, shared.clock.now()) {
            settled.push(report(&step, Some(outcome)));
            continue;
        }
        spawn_attempt(shared, step, task, parent_results, reports.clone());
    }
    settled
}

async fn load_inputs(
    shared: &Shared,
    steps: &[workflow_step::Model],
    known: &(dyn Fn(Uuid) -> bool + Sync),
) -> crate::store::Result<DispatchInputs> {
    let mut tries = 0;
    loop {
        match dispatch_inputs(shared.store.reader(), steps, known).await {
            Err(err) if tries < 3 => {
                tries += 1;
                warn!(error = %err, tries, "loading step inputs failed; retrying");
                tokio::time::sleep(Duration::from_millis(20 * tries)).await;
            }
            other => return other,
        }
    }
}

/// Report a claimed step that could not be started as a retryable failure.
async fn fail_dispatch(reports: &mpsc::Sender<Report>, step: &workflow_step::Model, message: String) {
    let failure = StepFailure {
        message,
        kind: FailureKind::Dispatch,
        retryable: true,
        retry_after: None,
    };
    let _ = reports
        .send(report(step, Some(AttemptOutcome::Failed(failure))))
        .await;
}

fn report(step: &workflow_step::Model, outcome: Option<AttemptOutcome>) -> Report {
    Report {
        step_id: step.id,
        attempt: outcome.map(|outcome| AttemptReport {
            step_id: step.id,
            task_id: step.task_id,
            lease_token: step.lease_token.unwrap_or_default(),
            outcome,
        }),
    }
}

fn spawn_attempt(
    shared: &Arc<Shared>,
    step: workflow_step::Model,
    task: TaskInputs,
    parent_results: Map<String, Value>,
    reports: mpsc::Sender<Report>,
) {
    let token = CancellationToken::new();
    let running = Running {
        cancel: token.clone(),
        task_id: step.task_id,
        lease_token: step.lease_token.unwrap_or_default(),
    };
    shared.running().insert(step.id, running);
    shared.in_flight.fetch_add(1, Ordering::Relaxed);
    let shared = Arc::clone(shared);
    // Everything else runs in the attempt's own task, not in the scheduler's
    // loop: building the span and the context is per-step work that would
    // otherwise delay every other step of the batch.
    tokio::spawn(async move {
        let attempt = u32::try_from(step.attempts).unwrap_or(0);
        let span = attempt_span(&step, &task, attempt);
        run_attempt(shared, step, task, parent_results, token, attempt, reports)
            .instrument(span)
            .await;
    });
}

/// The span that gives log lines inside the attempt its fields. Its trace
/// span is built apart (see `telemetry::attempt_spans`).
fn attempt_span(step: &workflow_step::Model, task: &TaskInputs, attempt: u32) -> Span {
    // Ids written out once here, not by each layer that records them.
    let (mut task_id, mut step_id) = ([0; Hyphenated::LENGTH], [0; Hyphenated::LENGTH]);
    info_span!(
        "step.attempt",
        task_id = &*step.task_id.hyphenated().encode_lower(&mut task_id),
        step_id = &*step.id.hyphenated().encode_lower(&mut step_id),
        step = step.name.as_str(),
        attempt,
        handler = step.handler.as_str(),
        // Left out, not empty, when the task has none.
        correlation_id = task.correlation_id.as_deref(),
    )
}

async fn run_attempt(
    shared: Arc<Shared>,
    step: workflow_step::Model,
    task: TaskInputs,
    parent_results: Map<String, Value>,
    cancel: CancellationToken,
    attempt: u32,
    reports: mpsc::Sender<Report>,
) {
    let handler = shared.handlers.resolve(&task.namespace, &step.handler);
    let timeout = step
        .timeout_ms
        .and_then(|ms| u64::try_from(ms).ok())
        .map_or(shared.options.default_step_timeout, Duration::from_millis);
    let ctx = StepContext {
        task_id: step.task_id,
        step_id: step.id,
        step_name: step.name.clone(),
        namespace: task.namespace.to_string(),
        attempt,
        idempotency_key: idempotency_key(step.task_id, &step.name, attempt),
        context: task.context,
        config: step.config.clone(),
        parent_results,
        map_item: step
            .map_index
            .and_then(|i| u32::try_from(i).ok())
            .map(|i| (i, step.map_item.clone().unwrap_or(Value::Null))),
        cancel,
    };
    let namespace = task.namespace;
    // The spans' times, taken only while attempt spans are recorded.
    let traced = attempt_spans::recording().map(|spans| (spans, SystemTime::now()));
    let calls_handler = handler.is_some();
    if calls_handler && shared.events.has_subscribers() {
        let event = attempt_event(EventName::StepHandle, &step, &namespace, attempt)
            .with("idempotency_key", ctx.idempotency_key.clone());
        shared.events.publish(event);
    }
    let timer = std::time::Instant::now();
    let called = traced.map(|_| SystemTime::now());
    let outcome = run_handler(handler, ctx, timeout, shared.options.max_result_bytes).await;
    let handler_call = called
        .filter(|_| calls_handler)
        .map(|called| (called, SystemTime::now()));
    check_slow(&shared, &step, &namespace, attempt, timer.elapsed());
    shared.running().remove(&step.id);
    let ending = traced.map(|_| ending(outcome.as_ref()));
    // The scheduler outlives every attempt; a send error means it is gone.
    let _ = reports.send(report(&step, outcome)).await;
    // Only now: a shutdown that sees no attempt in flight must find every
    // report already queued.
    shared.in_flight.fetch_sub(1, Ordering::Relaxed);
    if let (Some((spans, started)), Some(ending)) = (traced, ending) {
        spans.record(FinishedAttempt {
            task_id: step.task_id,
            step_id: step.id,
            step: step.name,
            handler: step.handler,
            attempt,
            correlation_id: task.correlation_id,
            parent: task.trace_parent,
            ran: (started, SystemTime::now()),
            handler_call,
            ending,
        });
    }
}

/// How the attempt ended, as its trace span says.
fn ending(outcome: Option<&AttemptOutcome>) -> Ending {
    match outcome {
        None => Ending::Interrupted,
        Some(AttemptOutcome::Completed(_)) => Ending::Completed,
        Some(AttemptOutcome::Failed(failure)) => {
            Ending::Failed(failure.kind.as_str(), failure.message.clone())
        }
        // Handlers never report these: the engine decides them without one.
        Some(AttemptOutcome::Skipped(_) | AttemptOutcome::Waiting { .. } | AttemptOutcome::Expand(_)) => {
            Ending::Completed
        }
    }
}

/// An event about this attempt, with the fields every attempt event carries.
fn attempt_event(name: EventName, step: &workflow_step::Model, namespace: &str, attempt: u32) -> Event {
    Event::new(name, Utc::now())
        .task(step.task_id)
        .step(step.id)
        .with("namespace", namespace)
        .with("step_name", step.name.clone())
        .with("handler", step.handler.clone())
        .with("attempt", attempt)
}

/// Publish observability.slow_step when the attempt ran past the threshold.
fn check_slow(shared: &Shared, step: &workflow_step::Model, namespace: &str, attempt: u32, took: Duration) {
    let limit = shared.options.slow_step;
    if took <= limit {
        return;
    }
    let (took_ms, limit_ms) = (took.as_millis() as u64, limit.as_millis() as u64);
    warn!(
        duration_ms = took_ms,
        threshold_ms = limit_ms,
        "slow step attempt"
    );
    let event = attempt_event(EventName::ObservabilitySlowStep, step, namespace, attempt)
        .with("duration_ms", took_ms)
        .with("threshold_ms", limit_ms);
    shared.events.publish(event);
}

fn failed(kind: FailureKind, message: String, retryable: bool) -> Option<AttemptOutcome> {
    Some(AttemptOutcome::Failed(StepFailure {
        message,
        kind,
        retryable,
        retry_after: None,
    }))
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-text panic payload".to_owned())
}

/// `None` when the attempt was interrupted: nothing is to be recorded.
async fn run_handler(
    handler: Option<Arc<dyn StepHandler>>,
    ctx: StepContext,
    timeout: Duration,
    max_result_bytes: usize,
) -> Option<AttemptOutcome> {
    let Some(handler) = handler else {
        let message = format!(
            "no handler for this step is registered on this replica (namespace {})",
            ctx.namespace
        );
        return failed(FailureKind::UnknownHandler, message, false);
    };
    let cancel = ctx.cancel.clone();
    let call = AssertUnwindSafe(handler.handle(ctx)).catch_unwind();
    let outcome = tokio::select! {
        outcome = tokio::time::timeout(timeout, call) => outcome,
        () = cancel.cancelled() => return None,
    };
    match outcome {
        Err(_) => {
            cancel.cancel();
            failed(
                FailureKind::Timeout,
                format!("the attempt ran longer than {} ms", timeout.as_millis()),
                true,
            )
        }
        Ok(Err(panic)) => failed(
            FailureKind::Panic,
            format!("the handler panicked: {}", panic_text(&*panic)),
            false,
        ),
        Ok(Ok(Err(err))) => Some(AttemptOutcome::Failed(StepFailure {
            message: err.message,
            kind: FailureKind::Handler,
            retryable: err.retryable,
            retry_after: err.retry_after,
        })),
        Ok(Ok(Ok(results))) => match check_storable_json(&results, max_result_bytes) {
            Ok(()) => Some(AttemptOutcome::Completed(results)),
            Err(message) => failed(FailureKind::ResultTooLarge, message, false),
        },
    }
}

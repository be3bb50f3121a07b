//! The scheduler loop: one transaction per turn records every outcome that has
//! arrived, recovers expired leases when a poll is due, and claims as many
//! ready steps as there are free handler slots; then the claimed steps start.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, error, info_span, warn};
use uuid::Uuid;

use super::{Shared, dispatch};
use crate::domain::StepStatus;
use crate::domain::attempt::{FailureKind, StepFailure};
use crate::store::{
    self, AdmitScope, Admitted, AttemptOutcome, AttemptReport, Claim, ClaimFilter, Recorded, ReportResult,
    Woken, admit_tasks, claim_gated, claim_steps, expired_leases, record_attempts, wake_due,
};

/// What a finished handler sends back.
#[derive(Debug)]
pub(super) struct Report {
    /// The step.
    pub step_id: Uuid,
    /// `None` when the attempt was interrupted (the step is no longer ours).
    pub attempt: Option<AttemptReport>,
}

/// The result of one committed turn.
struct Turn {
    claimed: Vec<crate::entities::workflow_step::Model>,
    claim_limit: usize,
    next_retry: Option<chrono::DateTime<chrono::Utc>>,
    /// Grouped work ended, waits or was admitted: the next turn looks at the groups.
    groups_changed: bool,
}

/// A turn's look at the concurrency groups: where each kind of pass resumes.
struct GroupPass {
    steps: String,
    tasks: String,
}

impl GroupPass {
    /// A pass is due with every poll, and whenever grouped work may move.
    fn due(shared: &Shared, poll: bool) -> Option<GroupPass> {
        let flagged = shared.groups_due.swap(false, Ordering::AcqRel);
        (poll || flagged).then(|| {
            let cursors = shared.group_cursors();
            GroupPass {
                steps: cursors.steps.clone(),
                tasks: cursors.tasks.clone(),
            }
        })
    }
}

pub(super) async fn run(
    shared: Arc<Shared>,
    mut reports: mpsc::Receiver<Report>,
    report_tx: mpsc::Sender<Report>,
    cancel: CancellationToken,
) {
    let options = shared.options.clone();
    let mut rng = StdRng::from_os_rng();
    let mut pending: Vec<Report> = Vec::new();
    let mut look_for_work = true;
    let mut next_poll = Instant::now();
    let mut failures: u32 = 0;
    while !cancel.is_cancelled() {
        if pending.is_empty() && !look_for_work && Instant::now() < next_poll {
            tokio::select! {
                () = cancel.cancelled() => break,
                report = reports.recv() => pending.extend(report),
                () = shared.wake.notified() => look_for_work = true,
                () = tokio::time::sleep_until(next_poll) => {}
            }
            continue;
        }
        drain(&mut reports, &mut pending, options.max_batch);
        let poll_due = Instant::now() >= next_poll;
        let free = options
            .max_concurrency
            .saturating_sub(shared.in_flight.load(Ordering::Relaxed));
        let claim_limit = free.min(options.claim_batch_size);
        match turn(&shared, &pending, claim_limit, poll_due, &mut rng).await {
            Ok(done) => {
                failures = 0;
                pending.clear();
                look_for_work = done.claim_limit > 0 && done.claimed.len() == done.claim_limit;
                if done.groups_changed {
                    shared.groups_due.store(true, Ordering::Release);
                    look_for_work = true;
                }
                if poll_due {
                    next_poll = Instant::now() + options.poll_interval;
                }
                if let Some(at) = done.next_retry {
                    let wait = (at - shared.clock.now()).to_std().unwrap_or(Duration::ZERO);
                    next_poll = next_poll.min(Instant::now() + wait);
                }
                let settled = dispatch::start(&shared, done.claimed, &report_tx).await;
                pending.extend(settled);
            }
            Err(err) => {
                // The groups this turn meant to look at are looked at next time.
                shared.groups_due.store(true, Ordering::Release);
                failures += 1;
                shared.stats.failed_turns.fetch_add(1, Ordering::Relaxed);
                if err.is_refusal() && failures >= 3 {
                    isolate(&shared, &mut pending, &mut rng).await;
                }
                let backoff = Duration::from_millis(50u64.saturating_mul(1 << failures.min(7)))
                    .min(Duration::from_secs(5));
                warn!(error = %err, pending = pending.len(), retry_in_ms = backoff.as_millis() as u64, "engine turn failed");
                tokio::select! {
                    () = cancel.cancelled() => break,
                    () = tokio::time::sleep(backoff) => {}
                }
            }
        }
    }
    shutdown(&shared, reports, pending, &mut rng).await;
}

fn drain(reports: &mut mpsc::Receiver<Report>, pending: &mut Vec<Report>, max: usize) {
    while pending.len() < max {
        match reports.try_recv() {
            Ok(report) => pending.push(report),
            Err(_) => break,
        }
    }
}

fn lease_expired(lease: store::ExpiredLease) -> AttemptReport {
    AttemptReport {
        step_id: lease.step_id,
        task_id: lease.task_id,
        lease_token: lease.lease_token,
        outcome: AttemptOutcome::Failed(StepFailure {
            message: "the lease expired before the attempt reported (worker or replica lost)".to_owned(),
            kind: FailureKind::LeaseExpired,
            retryable: true,
            retry_after: Some(Duration::ZERO),
        }),
    }
}

/// One turn, retried a few times when the database reports contention.
async fn turn(
    shared: &Shared,
    pending: &[Report],
    claim_limit: usize,
    scan_expired: bool,
    rng: &mut StdRng,
) -> store::Result<Turn> {
    let span = info_span!("engine.turn", reports = pending.len(), claim_limit);
    let mut attempt = 0u64;
    loop {
        match try_turn(shared, pending, claim_limit, scan_expired, rng)
            .instrument(span.clone())
            .await
        {
            Err(err) if err.is_retryable() && attempt < 5 => {
                attempt += 1;
                debug!(error = %err, attempt, "engine turn contended; retrying");
                tokio::time::sleep(Duration::from_millis(2 * attempt)).await;
            }
            other => return other,
        }
    }
}

async fn try_turn(
    shared: &Shared,
    pending: &[Report],
    claim_limit: usize,
    scan_expired: bool,
    rng: &mut StdRng,
) -> store::Result<Turn> {
    let now = shared.clock.now();
    let started = std::time::Instant::now();
    let mut tx = shared.store.begin().await?;
    let mut jitter = || rng.random::<f64>();
    let mut reports: Vec<AttemptReport> = pending.iter().filter_map(|r| r.attempt.clone()).collect();
    let from_handlers = reports.len();
    if scan_expired {
        let expired = expired_leases(&tx, now, shared.options.max_batch as u64).await?;
        if !expired.is_empty() {
            warn!(count = expired.len(), "recovering steps whose lease expired");
        }
        reports.extend(expired.into_iter().map(lease_expired));
    }
    let mut claim = Claim {
        owner: &shared.options.instance_id,
        limit: claim_limit as u64,
        lease: shared.options.lease,
        filter: ClaimFilter::Engine {
            task: shared.options.only_task,
        },
    };
    let Recorded {
        results,
        mut claimed,
        groups_changed,
    } = if reports.is_empty() {
        Recorded::default()
    } else {
        record_attempts(&mut tx, &reports, &mut jitter, Some(&claim), now).await?
    };
    // Sleeps and approvals whose time has come, looked at with every poll
    // (the scheduler polls no later than the earliest wake it knows of).
    let woken = if scan_expired {
        wake_due(&mut tx, now, shared.options.max_batch as u64, jitter()).await?
    } else {
        Woken::default()
    };
    let groups = GroupPass::due(shared, scan_expired);
    let clock = || shared.clock.now();
    let admitted = match &groups {
        Some(pass) => admit_tasks(&mut tx, AdmitScope::Due(&pass.tasks), now, &clock).await?,
        None => (Admitted::default(), None),
    };
    claim.limit = (claim_limit - claimed.len()) as u64;
    let claiming = Instant::now();
    claimed.extend(claim_steps(&mut tx, claim, now).await?);
    if let Some(latency) = &shared.options.claim_latency {
        latency.observe(claiming.elapsed().as_secs_f64());
    }
    let mut steps_cursor = None;
    let mut throttled = Vec::new();
    if let Some(pass) = &groups {
        claim.limit = (claim_limit.saturating_sub(claimed.len())) as u64;
        let mut cursor = pass.steps.clone();
        let gated = claim_gated(
            &mut tx,
            claim,
            &shared.options.handler_concurrency,
            now,
            &clock,
            &mut cursor,
        )
        .await?;
        claimed.extend(gated.claimed);
        throttled = gated.throttled;
        steps_cursor = Some(cursor);
    }
    let changes = tx.commit().await?;
    let (admitted, tasks_cursor) = admitted;
    if groups.is_some() {
        shared.save_group_cursors(steps_cursor, tasks_cursor);
    }
    if !admitted.interrupted.is_empty() {
        shared.interrupt(&admitted.interrupted);
    }
    debug!(
        reports = reports.len(),
        woken = woken.steps.len(),
        claimed = claimed.len(),
        changes = changes.len(),
        elapsed_us = started.elapsed().as_micros() as u64,
        "engine turn committed"
    );

    let stats = &shared.stats;
    stats.batches.fetch_add(1, Ordering::Relaxed);
    stats.claimed.fetch_add(claimed.len() as u64, Ordering::Relaxed);
    let mut next_retry = None;
    for (i, result) in results.iter().enumerate() {
        match result {
            ReportResult::Applied(step) if step.status == StepStatus::Complete.as_str() => {
                stats.completed.fetch_add(1, Ordering::Relaxed);
            }
            ReportResult::Applied(step) if step.status == StepStatus::Waiting.as_str() => {
                next_retry = next_retry.into_iter().chain(step.wake_at).min();
            }
            ReportResult::Applied(step) if step.status == StepStatus::Skipped.as_str() => {}
            ReportResult::Applied(step) => {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                next_retry = next_retry.into_iter().chain(step.ready_at).min();
            }
            ReportResult::LeaseLost if i < from_handlers => {
                stats.lease_lost.fetch_add(1, Ordering::Relaxed);
                debug!(step_id = %reports[i].step_id, "attempt outcome dropped: the claim no longer holds");
            }
            ReportResult::LeaseLost => {}
        }
    }
    shared.events.publish_changes(changes);
    for t in &throttled {
        shared.events.publish(crate::events::Event::throttled(t, now));
    }
    Ok(Turn {
        claimed,
        claim_limit,
        next_retry,
        groups_changed: groups_changed
            || admitted.started > 0
            || woken.steps.iter().any(|s| s.flow_key.is_some()),
    })
}

/// After repeated refusals, record reports one by one so that a single report
/// the database refuses cannot hold the others back. A refused report is
/// dropped: its lease expires and the step runs again as a new attempt.
async fn isolate(shared: &Shared, pending: &mut Vec<Report>, rng: &mut StdRng) {
    let mut kept = Vec::new();
    for report in pending.drain(..) {
        match turn(shared, std::slice::from_ref(&report), 0, false, rng).await {
            Ok(_) => {}
            Err(err) if err.is_refusal() => {
                error!(step_id = %report.step_id, error = %err, "dropping an outcome the database refuses; the step will be retried after its lease expires");
            }
            Err(_) => kept.push(report),
        }
    }
    *pending = kept;
}

async fn shutdown(
    shared: &Shared,
    mut reports: mpsc::Receiver<Report>,
    mut pending: Vec<Report>,
    rng: &mut StdRng,
) {
    let deadline = Instant::now() + shared.options.shutdown_grace;
    loop {
        // Read before draining: an attempt leaves the count only after its
        // report is queued, so none in flight means every report is drained.
        let idle = shared.in_flight.load(Ordering::Relaxed) == 0;
        drain(&mut reports, &mut pending, usize::MAX);
        if !pending.is_empty() {
            match turn(shared, &pending, 0, false, rng).await {
                Ok(_) => pending.clear(),
                Err(err) => warn!(error = %err, "recording outcomes during shutdown failed"),
            }
        }
        if idle || Instant::now() >= deadline {
            break;
        }
        tokio::select! {
            report = reports.recv() => pending.extend(report),
            () = tokio::time::sleep_until(deadline) => {}
        }
    }
    if shared.in_flight.load(Ordering::Relaxed) > 0 {
        release(shared, reports, rng).await;
    }
}

/// Longest the release at the end of a shutdown waits for stopped handlers to
/// report (they report at once: a stopped handler has nothing to record).
const RELEASE_WAIT: Duration = Duration::from_secs(1);

/// Stop the attempts still running after the grace period and hand their
/// steps back at once, as retryable `shutdown` failures, rather than leave
/// them leased until the lease runs out. An attempt that finished meanwhile
/// keeps its own outcome.
async fn release(shared: &Shared, mut reports: mpsc::Receiver<Report>, rng: &mut StdRng) {
    let running: HashMap<Uuid, super::Running> = shared.running().clone();
    warn!(
        running = running.len(),
        "shutdown grace period over; stopping running attempts and releasing their leases"
    );
    for attempt in running.values() {
        attempt.cancel.cancel();
    }
    // Reports of the stopped attempts, and of any that finished just before
    // the stop (already gone from `running`): those are recorded as they are.
    let mut outcomes: HashMap<Uuid, Option<AttemptReport>> = HashMap::new();
    let mut pending: Vec<Report> = Vec::new();
    let mut sort = |report: Report| {
        if running.contains_key(&report.step_id) {
            outcomes.insert(report.step_id, report.attempt);
        } else {
            pending.push(report);
        }
    };
    let deadline = Instant::now() + RELEASE_WAIT;
    while shared.in_flight.load(Ordering::Relaxed) > 0 {
        tokio::select! {
            report = reports.recv() => match report {
                Some(report) => sort(report),
                None => break,
            },
            () = tokio::time::sleep_until(deadline) => break,
        }
    }
    while let Ok(report) = reports.try_recv() {
        sort(report);
    }
    pending.extend(running.into_iter().map(|(step_id, attempt)| {
        // A completion that raced the stop stands; a failure may be the
        // handler's answer to being stopped.
        let finished = outcomes
            .remove(&step_id)
            .flatten()
            .filter(|r| matches!(r.outcome, AttemptOutcome::Completed(_)));
        let report = finished.unwrap_or_else(|| AttemptReport {
            step_id,
            task_id: attempt.task_id,
            lease_token: attempt.lease_token,
            outcome: AttemptOutcome::Failed(StepFailure {
                message: "the replica shut down before the attempt finished".to_owned(),
                kind: FailureKind::Shutdown,
                retryable: true,
                retry_after: Some(Duration::ZERO),
            }),
        });
        Report {
            step_id,
            attempt: Some(report),
        }
    }));
    match turn(shared, &pending, 0, false, rng).await {
        Ok(_) => warn!(
            released = pending.len(),
            "released the leases of stopped attempts"
        ),
        Err(err) => warn!(error = %err, "releasing leases failed; they will expire instead"),
    }
}

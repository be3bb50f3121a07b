//! Recording the outcome of attempts, many at once.
//!
//! Completions are one compare-and-set UPDATE for the whole batch, guarded by
//! the lease token, so a stale claim (expired, cancelled, taken over) can never
//! complete a step. Failures are decided by the step's retry policy: wait and
//! retry, or fail for good. Then children are promoted and tasks finalized, all
//! in the caller's transaction.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, DbBackend, EntityTrait, QueryFilter};
use serde_json::Value;
use uuid::Uuid;

use super::claims::{Claim, lease_and_error_cleared, lease_cleared};
use super::error::{Error, Result};
use super::ids::any_of;
use super::maps::{record_expansions, settle_maps};
use super::readiness::{lock_tasks, promote_children, reconcile_tasks};
use super::transition::{StepMove, move_steps, null_time};
use super::txn::{WriteTxn, insert_all};
use super::waits::{record_skips, record_waits};
use crate::domain::StepStatus;
use crate::domain::attempt::StepFailure;
use crate::domain::backoff::{FailureDecision, RetryPolicy};
use crate::domain::kind::CHILD_WAIT;
use crate::entities::{step_error, step_result, workflow_step};

/// The outcome of one attempt, as reported by a handler or worker.
#[derive(Debug, Clone)]
pub struct AttemptReport {
    /// The step.
    pub step_id: Uuid,
    /// Its task.
    pub task_id: Uuid,
    /// The token of the claim the attempt ran under.
    pub lease_token: Uuid,
    /// What happened.
    pub outcome: AttemptOutcome,
}

/// Success with results, a failure, or what the engine decided for a step
/// it runs itself.
#[derive(Debug, Clone)]
pub enum AttemptOutcome {
    /// The handler succeeded.
    Completed(Value),
    /// The attempt failed.
    Failed(StepFailure),
    /// The step's `when` condition was false (the reason says so).
    Skipped(String),
    /// A map's list: one instance of the step per item.
    Expand(Vec<Value>),
    /// A sleep, approval or wait for an event waits, until the time given
    /// if any.
    Waiting {
        /// When the wait ends (a sleep's end, a timeout).
        until: Option<DateTime<Utc>>,
        /// The event it waits for.
        event: Option<String>,
    },
}

/// What became of one report.
#[derive(Debug, Clone)]
pub enum ReportResult {
    /// Recorded; the step as it is now.
    Applied(Box<workflow_step::Model>),
    /// The claim no longer holds: nothing was changed.
    LeaseLost,
}

/// Longest error message stored; longer ones are cut (with a marker).
const MAX_MESSAGE_CHARS: usize = 4_000;

fn clip(message: &str) -> String {
    if message.chars().count() <= MAX_MESSAGE_CHARS {
        message.to_owned()
    } else {
        let cut: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
        format!("{cut}… (truncated)")
    }
}

fn later(now: DateTime<Utc>, by: std::time::Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX)
}

/// What [`record_attempts`] did.
#[derive(Debug, Default)]
pub struct Recorded {
    /// One result per report, in order.
    pub results: Vec<ReportResult>,
    /// Children made ready and claimed at once for the caller's `continuation`.
    pub claimed: Vec<workflow_step::Model>,
    /// A concurrency group may admit more now (a step or task of one ended) or
    /// has new work waiting.
    pub groups_changed: bool,
}

/// Record a batch of outcomes. `jitter` yields samples in `[0, 1)` for backoff.
/// With `continuation`, children made ready are claimed for it right away.
pub async fn record_attempts(
    tx: &mut WriteTxn,
    reports: &[AttemptReport],
    jitter: &mut (dyn FnMut() -> f64 + Send),
    continuation: Option<&Claim<'_>>,
    now: DateTime<Utc>,
) -> Result<Recorded> {
    let task_ids: Vec<Uuid> = reports.iter().map(|r| r.task_id).collect();
    // Event names before tasks, as an arriving event takes them.
    let events: Vec<String> = reports
        .iter()
        .filter_map(|r| match &r.outcome {
            AttemptOutcome::Waiting { event, .. } => event.clone().filter(|e| e != CHILD_WAIT),
            _ => None,
        })
        .collect();
    if !events.is_empty() {
        super::inbound::lock_events(tx, &events).await?;
    }
    lock_tasks(tx, &task_ids).await?;
    let mut results = vec![ReportResult::LeaseLost; reports.len()];

    let completed: Vec<usize> = (0..reports.len())
        .filter(|&i| matches!(reports[i].outcome, AttemptOutcome::Completed(_)))
        .collect();
    let completed_ids = record_completions(tx, reports, &completed, &mut results, now).await?;

    let failed: Vec<usize> = (0..reports.len())
        .filter(|&i| matches!(reports[i].outcome, AttemptOutcome::Failed(_)))
        .collect();
    record_failures(tx, reports, &failed, &mut results, jitter, now).await?;
    let mut satisfied = completed_ids;
    satisfied.extend(record_skips(tx, reports, &mut results, now).await?);
    record_waits(tx, reports, &mut results, now).await?;
    record_expansions(tx, reports, &mut results, now).await?;
    // Instances that ended may finish their map.
    let instances: Vec<workflow_step::Model> = results
        .iter()
        .filter_map(|r| match r {
            ReportResult::Applied(step) if step.map_parent.is_some() => Some((**step).clone()),
            _ => None,
        })
        .collect();
    settle_maps(tx, &instances, now).await?;

    let promotion = promote_children(tx, &satisfied, continuation, now).await?;
    let moved = reconcile_tasks(tx, &task_ids, now).await?;
    let grouped_step_ended = results.iter().any(|r| match r {
        ReportResult::Applied(step) => step.flow_key.is_some(),
        ReportResult::LeaseLost => false,
    });
    let grouped_task_ended = moved
        .iter()
        .any(|t| t.flow_key.is_some() && t.completed_at.is_some());
    Ok(Recorded {
        results,
        claimed: promotion.claimed,
        groups_changed: grouped_step_ended || grouped_task_ended || promotion.gated > 0,
    })
}

fn lease_condition(backend: DbBackend, reports: &[AttemptReport], which: &[usize]) -> Condition {
    // Tokens are unique per claim, so (id ∈ ids ∧ token ∈ tokens) matches exactly
    // the rows whose own token was reported.
    Condition::all()
        .add(any_of(
            backend,
            workflow_step::Column::Id,
            which.iter().map(|&i| reports[i].step_id),
        ))
        .add(any_of(
            backend,
            workflow_step::Column::LeaseToken,
            which.iter().map(|&i| reports[i].lease_token),
        ))
}

async fn record_completions(
    tx: &mut WriteTxn,
    reports: &[AttemptReport],
    which: &[usize],
    results: &mut [ReportResult],
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>> {
    if which.is_empty() {
        return Ok(Vec::new());
    }
    let mut set = lease_and_error_cleared();
    set.push((workflow_step::Column::CompletedAt, Expr::value(now)));
    set.push((workflow_step::Column::ReadyAt, null_time()));
    let rows = move_steps(
        tx,
        StepMove {
            via: None,
            to: StepStatus::Complete,
            from: &[StepStatus::InProgress],
            filter: lease_condition(tx.backend(), reports, which),
            set,
            reason: None,
            failure: None,
        },
        now,
    )
    .await?;
    let mut by_id: HashMap<Uuid, workflow_step::Model> = rows.into_iter().map(|r| (r.id, r)).collect();
    let mut result_rows = Vec::with_capacity(by_id.len());
    let mut ids = Vec::with_capacity(by_id.len());
    for &i in which {
        let report = &reports[i];
        let (Some(row), AttemptOutcome::Completed(value)) = (by_id.remove(&report.step_id), &report.outcome)
        else {
            continue;
        };
        result_rows.push(step_result::ActiveModel {
            step_id: Set(row.id),
            task_id: Set(row.task_id),
            attempt: Set(row.attempts),
            results: Set(value.clone()),
            created_at: Set(now),
        });
        ids.push(row.id);
        results[i] = ReportResult::Applied(Box::new(row));
    }
    insert_all(tx.conn(), result_rows, 5).await?;
    Ok(ids)
}

async fn record_failures(
    tx: &mut WriteTxn,
    reports: &[AttemptReport],
    which: &[usize],
    results: &mut [ReportResult],
    jitter: &mut (dyn FnMut() -> f64 + Send),
    now: DateTime<Utc>,
) -> Result<()> {
    if which.is_empty() {
        return Ok(());
    }
    let current: HashMap<Uuid, workflow_step::Model> = workflow_step::Entity::find()
        .filter(lease_condition(tx.backend(), reports, which))
        .filter(workflow_step::Column::Status.eq(StepStatus::InProgress.as_str()))
        .all(tx.conn())
        .await?
        .into_iter()
        .map(|r| (r.id, r))
        .collect();
    let mut error_rows = Vec::new();
    for &i in which {
        let report = &reports[i];
        let (Some(row), AttemptOutcome::Failed(failure)) = (current.get(&report.step_id), &report.outcome)
        else {
            continue;
        };
        let filter = lease_condition(tx.backend(), reports, &[i]);
        let attempt = FailedAttempt {
            row,
            failure,
            from: &[StepStatus::InProgress],
            filter,
        };
        if let Some((row, error)) = fail_step(tx, attempt, jitter(), now).await? {
            error_rows.push(error);
            results[i] = ReportResult::Applied(Box::new(row));
        }
    }
    insert_all(tx.conn(), error_rows, 9).await
}

/// A failed attempt of a step, to record.
pub(crate) struct FailedAttempt<'a> {
    /// The step as read under its task's lock.
    pub row: &'a workflow_step::Model,
    /// What went wrong.
    pub failure: &'a StepFailure,
    /// The statuses it may be in.
    pub from: &'static [StepStatus],
    /// Which row (and, for a claim, under which lease).
    pub filter: Condition,
}

impl<'a> FailedAttempt<'a> {
    /// A failure of `row` while it is WAITING (a timeout, a rejection, a
    /// child or map instance that failed).
    pub(crate) fn while_waiting(row: &'a workflow_step::Model, failure: &'a StepFailure) -> Self {
        Self {
            row,
            failure,
            from: &[StepStatus::Waiting],
            filter: Condition::all().add(workflow_step::Column::Id.eq(row.id)),
        }
    }
}

/// Record a failure as the step's retry policy decides: wait for the next
/// attempt, or fail for good. Returns the step as moved and its error row,
/// or none when it was no longer where it was expected.
pub(crate) async fn fail_step(
    tx: &mut WriteTxn,
    attempt: FailedAttempt<'_>,
    jitter: f64,
    now: DateTime<Utc>,
) -> Result<Option<(workflow_step::Model, step_error::ActiveModel)>> {
    let FailedAttempt {
        row,
        failure,
        from,
        filter,
    } = attempt;
    let policy: RetryPolicy = serde_json::from_value(row.retry_policy.clone())
        .map_err(|e| Error::corrupt(format!("retry policy of step {}: {e}", row.id)))?;
    let attempts = u32::try_from(row.attempts).unwrap_or(0);
    let limit = u32::try_from(row.attempt_limit).unwrap_or(0);
    let decision = policy.decide(attempts, limit, failure.retryable, failure.retry_after, jitter);
    let stored = StepFailure {
        message: clip(&failure.message),
        ..failure.clone()
    };
    let error_json = serde_json::to_value(&stored).map_err(|e| Error::corrupt(e.to_string()))?;
    let mut set = lease_cleared();
    set.push((workflow_step::Column::LastError, Expr::value(error_json)));
    set.push((workflow_step::Column::WakeAt, null_time()));
    set.push((workflow_step::Column::WaitEvent, super::transition::null()));
    let to = match decision {
        FailureDecision::Retry(delay) => {
            let at = later(now, delay);
            if row.flow_key.is_some() {
                // The next attempt of a concurrency group's step waits
                // at its gate again.
                set.push((workflow_step::Column::GateAt, Expr::value(at)));
            } else {
                set.push((workflow_step::Column::ReadyAt, Expr::value(at)));
                set.push((workflow_step::Column::ClaimRank, tx.rank_expr(at)));
            }
            StepStatus::WaitingForRetry
        }
        FailureDecision::GiveUp => {
            set.push((workflow_step::Column::CompletedAt, Expr::value(now)));
            StepStatus::Error
        }
    };
    let moved = move_steps(
        tx,
        StepMove {
            via: None,
            to,
            from,
            filter,
            set,
            reason: Some(format!("{}: {}", failure.kind.as_str(), clip(&failure.message))),
            failure: Some(failure.kind),
        },
        now,
    )
    .await?;
    Ok(moved.into_iter().next().map(|row| {
        let error = step_error::ActiveModel {
            id: Set(Uuid::now_v7()),
            step_id: Set(row.id),
            task_id: Set(row.task_id),
            attempt: Set(row.attempts),
            kind: Set(failure.kind.as_str().to_owned()),
            message: Set(stored.message.clone()),
            retryable: Set(failure.retryable),
            retry_after_ms: Set(failure
                .retry_after
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))),
            created_at: Set(now),
        };
        (row, error)
    }))
}

/// What becomes of a claimed step with a program (a condition, a map or a
/// kind the engine runs itself) without calling a handler, given its task's
/// `context` and its `parents`' results; none when its handler runs.
pub fn program_outcome(
    step: &workflow_step::Model,
    context: &Value,
    parents: &serde_json::Map<String, Value>,
    now: DateTime<Utc>,
) -> Option<AttemptOutcome> {
    use crate::domain::attempt::FailureKind;
    use crate::domain::kind::{Start, StepProgram, start};
    let json = step.program.as_ref()?;
    let failed = |kind, message| {
        Some(AttemptOutcome::Failed(StepFailure {
            message,
            kind,
            retryable: false,
            retry_after: None,
        }))
    };
    let program: StepProgram = match serde_json::from_value(json.clone()) {
        Ok(program) => program,
        Err(e) => {
            return failed(
                FailureKind::Dispatch,
                format!("the step's program cannot be read: {e}"),
            );
        }
    };
    match start(&program, context, &Value::Object(parents.clone()), now) {
        Start::Run => None,
        Start::Skip(reason) => Some(AttemptOutcome::Skipped(reason)),
        Start::Wait { until, event } => Some(AttemptOutcome::Waiting { until, event }),
        Start::Fail(message) => failed(FailureKind::Expression, message),
        Start::Expand(items) if items.is_empty() => Some(AttemptOutcome::Completed(Value::Array(items))),
        Start::Expand(items) => Some(AttemptOutcome::Expand(items)),
    }
}

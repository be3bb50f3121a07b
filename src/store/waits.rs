//! Steps the engine runs itself. A claimed step whose `when` condition is
//! false is SKIPPED; a sleep or an approval moves to WAITING and lets go of
//! its lease (no handler slot, no connection), with `wake_at` set when its
//! wait ends at a known time. Any replica wakes due steps: a sleep completes,
//! an approval times out (a failure, retried per the step's policy). Each
//! move is a compare-and-set on the step's status, so a step is woken or
//! decided once however many replicas try.

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::Value;
use uuid::Uuid;

use super::attempts::{AttemptOutcome, AttemptReport, FailedAttempt, ReportResult, fail_step};
use super::claims::{ended_at, lease_cleared};
use super::error::{Error, Result};
use super::queries::find_step;
use super::readiness::{lock_tasks, promote_children, reconcile_tasks};
use super::transition::{StepMove, move_steps, null_time, parse_step_status};
use super::txn::{WriteTxn, insert_all};
use crate::domain::StepStatus;
use crate::domain::attempt::{FailureKind, StepFailure};
use crate::domain::kind::{StepKind, StepProgram, approved, slept};
use crate::entities::{step_result, workflow_step};

/// The row of `report`'s step under the lease it reports for.
pub(crate) fn lease_of(report: &AttemptReport) -> Condition {
    Condition::all()
        .add(workflow_step::Column::Id.eq(report.step_id))
        .add(workflow_step::Column::LeaseToken.eq(report.lease_token))
}

/// Record claimed steps whose condition was false as SKIPPED; their ids (for
/// their children to be promoted).
pub(crate) async fn record_skips(
    tx: &mut WriteTxn,
    reports: &[AttemptReport],
    results: &mut [ReportResult],
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>> {
    let mut ids = Vec::new();
    for (i, report) in reports.iter().enumerate() {
        let AttemptOutcome::Skipped(reason) = &report.outcome else {
            continue;
        };
        let moved = move_steps(
            tx,
            StepMove {
                via: None,
                to: StepStatus::Skipped,
                from: &[StepStatus::InProgress],
                filter: lease_of(report),
                set: ended_at(now),
                reason: Some(reason.clone()),
                failure: None,
            },
            now,
        )
        .await?;
        if let Some(row) = moved.into_iter().next() {
            ids.push(row.id);
            results[i] = ReportResult::Applied(Box::new(row));
        }
    }
    Ok(ids)
}

/// Record claimed sleeps, approvals and waits for events as WAITING,
/// without a lease; a wait for an event receives the latest matching event
/// of the lookback window at once.
pub(crate) async fn record_waits(
    tx: &mut WriteTxn,
    reports: &[AttemptReport],
    results: &mut [ReportResult],
    now: DateTime<Utc>,
) -> Result<()> {
    let mut for_events = Vec::new();
    for (i, report) in reports.iter().enumerate() {
        let AttemptOutcome::Waiting { until, event } = &report.outcome else {
            continue;
        };
        let mut set = lease_cleared();
        set.push((
            workflow_step::Column::WakeAt,
            until.map_or_else(null_time, Expr::value),
        ));
        if let Some(name) = event {
            set.push((workflow_step::Column::WaitEvent, Expr::value(name.clone())));
        }
        let moved = move_steps(
            tx,
            StepMove {
                via: None,
                to: StepStatus::Waiting,
                from: &[StepStatus::InProgress],
                filter: lease_of(report),
                set,
                reason: None,
                failure: None,
            },
            now,
        )
        .await?;
        if let Some(row) = moved.into_iter().next() {
            if row.wait_event.is_some() {
                for_events.push(row.clone());
            }
            results[i] = ReportResult::Applied(Box::new(row));
        }
    }
    super::inbound::deliver_recent(tx, &for_events, now).await?;
    Ok(())
}

pub(crate) fn program_of(row: &workflow_step::Model) -> Result<StepProgram> {
    row.program
        .clone()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| Error::corrupt(format!("program of step {}: {e}", row.id)))
        .map(Option::unwrap_or_default)
}

/// Complete WAITING steps with their results, and let their children run.
pub(crate) async fn complete_waiting(
    tx: &mut WriteTxn,
    done: Vec<(workflow_step::Model, Value, Option<String>)>,
    now: DateTime<Utc>,
) -> Result<Vec<workflow_step::Model>> {
    let mut completed = Vec::with_capacity(done.len());
    let mut result_rows = Vec::with_capacity(done.len());
    for (row, results, reason) in done {
        let moved = move_steps(
            tx,
            StepMove {
                via: None,
                to: StepStatus::Complete,
                from: &[StepStatus::Waiting],
                filter: Condition::all().add(workflow_step::Column::Id.eq(row.id)),
                set: ended_at(now),
                reason,
                failure: None,
            },
            now,
        )
        .await?;
        if let Some(row) = moved.into_iter().next() {
            result_rows.push(step_result::ActiveModel {
                step_id: Set(row.id),
                task_id: Set(row.task_id),
                attempt: Set(row.attempts),
                results: Set(results),
                created_at: Set(now),
            });
            completed.push(row);
        }
    }
    insert_all(tx.conn(), result_rows, 5).await?;
    let ids: Vec<Uuid> = completed.iter().map(|r| r.id).collect();
    promote_children(tx, &ids, None, now).await?;
    Ok(completed)
}

/// What a wake pass did.
#[derive(Debug, Default)]
pub struct Woken {
    /// Steps moved on (completed sleeps, timed-out approvals), as they are now.
    pub steps: Vec<workflow_step::Model>,
}

/// Wake up to `limit` WAITING steps whose time has come: sleeps complete,
/// approvals fail with a timeout. `jitter` is a sample in `[0, 1)` for the
/// backoff of a retried approval.
pub async fn wake_due(tx: &mut WriteTxn, now: DateTime<Utc>, limit: u64, jitter: f64) -> Result<Woken> {
    let due = workflow_step::Entity::find()
        .filter(workflow_step::Column::WakeAt.is_not_null())
        .filter(workflow_step::Column::WakeAt.lte(now))
        .filter(workflow_step::Column::Status.eq(StepStatus::Waiting.as_str()))
        .order_by_asc(workflow_step::Column::WakeAt)
        .limit(limit)
        .all(tx.conn())
        .await?;
    if due.is_empty() {
        return Ok(Woken::default());
    }
    let task_ids: Vec<Uuid> = due.iter().map(|r| r.task_id).collect();
    lock_tasks(tx, &task_ids).await?;
    let mut sleeps = Vec::new();
    let mut woken = Vec::new();
    let mut error_rows = Vec::new();
    for row in due {
        let Some(wake_at) = row.wake_at else { continue };
        match program_of(&row)?.kind() {
            StepKind::Sleep => sleeps.push((row, slept(wake_at), None)),
            kind => {
                let message = if kind == StepKind::WaitFor {
                    "no matching event arrived before the wait's timeout"
                } else {
                    "no decision arrived before the approval's timeout"
                };
                let failure = StepFailure {
                    message: message.to_owned(),
                    kind: FailureKind::Timeout,
                    retryable: true,
                    retry_after: None,
                };
                let attempt = FailedAttempt::while_waiting(&row, &failure);
                if let Some((moved, error)) = fail_step(tx, attempt, jitter, now).await? {
                    woken.push(moved);
                    error_rows.push(error);
                }
            }
        }
    }
    insert_all(tx.conn(), error_rows, 9).await?;
    woken.extend(complete_waiting(tx, sleeps, now).await?);
    let mut task_ids: Vec<Uuid> = woken.iter().map(|r| r.task_id).collect();
    task_ids.sort_unstable();
    task_ids.dedup();
    reconcile_tasks(tx, &task_ids, now).await?;
    Ok(Woken { steps: woken })
}

/// A person's decision on a step waiting for approval.
#[derive(Debug, Clone)]
pub enum Decision {
    /// Approved: the step completes.
    Approve {
        /// Who (token subject or API key name).
        by: String,
        /// Why, if they said.
        comment: Option<String>,
    },
    /// Rejected: the step fails for good.
    Reject {
        /// Who.
        by: String,
        /// Why.
        reason: String,
    },
}

/// Apply `decision` to the approval step `step_id`, which must be WAITING.
pub async fn decide_approval(
    tx: &mut WriteTxn,
    step_id: Uuid,
    decision: &Decision,
    now: DateTime<Utc>,
) -> Result<workflow_step::Model> {
    let not_found = || Error::NotFound {
        entity: "step",
        id: step_id.to_string(),
    };
    let row = find_step(tx.conn(), step_id).await?.ok_or_else(not_found)?;
    lock_tasks(tx, &[row.task_id]).await?;
    let row = find_step(tx.conn(), step_id).await?.ok_or_else(not_found)?;
    if program_of(&row)?.kind() != StepKind::Approval {
        return Err(Error::Conflict {
            message: format!("step {step_id} ({}) is not an approval step", row.name),
        });
    }
    let status = parse_step_status(&row.status)?;
    if status != StepStatus::Waiting {
        return Err(Error::Conflict {
            message: format!("step {step_id} is {status}, not WAITING for a decision"),
        });
    }
    let task_id = row.task_id;
    let moved = match decision {
        Decision::Approve { by, comment } => {
            let reason = match comment {
                Some(c) => format!("approved by {by}: {c}"),
                None => format!("approved by {by}"),
            };
            let results = approved(by, comment.as_deref());
            complete_waiting(tx, vec![(row, results, Some(reason))], now)
                .await?
                .into_iter()
                .next()
        }
        Decision::Reject { by, reason } => {
            let failure = StepFailure {
                message: format!("rejected by {by}: {reason}"),
                kind: FailureKind::Rejected,
                retryable: false,
                retry_after: None,
            };
            let attempt = FailedAttempt::while_waiting(&row, &failure);
            let failed = fail_step(tx, attempt, 0.0, now).await?;
            match failed {
                Some((moved, error)) => {
                    insert_all(tx.conn(), vec![error], 9).await?;
                    Some(moved)
                }
                None => None,
            }
        }
    };
    let moved = moved.ok_or_else(|| Error::Conflict {
        message: format!("step {step_id} changed while the decision was recorded"),
    })?;
    reconcile_tasks(tx, &[task_id], now).await?;
    Ok(moved)
}

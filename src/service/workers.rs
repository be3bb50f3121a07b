//! The external-worker protocol: claim steps of your handlers under a lease,
//! heartbeat while working, then complete or fail with the lease token. A stale
//! token changes nothing and gets `LeaseLost`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::views::StepView;
use super::{Error, Result, Tasker};
use crate::domain::attempt::{FailureKind, StepFailure, check_storable_json, idempotency_key};
use crate::store::{self, AttemptOutcome, AttemptReport, Claim, ClaimFilter, ReportResult};

/// Input of [`Tasker::claim_steps`].
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    /// Who claims (becomes the lease owner).
    pub worker_id: String,
    /// Handler names the worker serves.
    pub handlers: Vec<String>,
    /// Most steps to claim (1–100).
    pub limit: u32,
    /// Lease length in seconds (1–3600).
    pub lease_seconds: u32,
}

/// A claimed step with everything the worker needs.
#[derive(Debug, Clone)]
pub struct ClaimedStep {
    /// The step.
    pub step: StepView,
    /// Present it to heartbeat, complete or fail.
    pub lease_token: Uuid,
    /// When the lease lapses without a heartbeat.
    pub lease_expires_at: DateTime<Utc>,
    /// Attempt number, from 1.
    pub attempt: u32,
    /// `task id:step name:attempt`.
    pub idempotency_key: String,
    /// The task's context.
    pub context: Value,
    /// Results of the parents by step name.
    pub parent_results: Map<String, Value>,
    /// W3C `traceparent` of the task's creation span.
    pub traceparent: Option<String>,
}

/// A failure reported by a worker.
#[derive(Debug, Clone)]
pub struct FailureReport {
    /// What went wrong.
    pub message: String,
    /// Whether another attempt may help.
    pub retryable: bool,
    /// A wait the worker asks for before the next attempt.
    pub retry_after_seconds: Option<u32>,
}

impl Tasker {
    /// Claim ready external steps of the given handlers.
    pub async fn claim_steps(&self, request: ClaimRequest) -> Result<Vec<ClaimedStep>> {
        if request.worker_id.trim().is_empty() || request.worker_id.len() > 256 {
            return Err(Error::bad_input("workerId", "must be 1 to 256 bytes"));
        }
        if request.handlers.is_empty() || request.handlers.len() > 100 {
            return Err(Error::bad_input("handlers", "list 1 to 100 handler names"));
        }
        if !(1..=100).contains(&request.limit) {
            return Err(Error::bad_input("limit", "must be between 1 and 100"));
        }
        if !(1..=3600).contains(&request.lease_seconds) {
            return Err(Error::bad_input("leaseSeconds", "must be between 1 and 3600"));
        }
        let now = self.clock.now();
        let request = &request;
        let rows = self
            .write(|mut tx| async move {
                let claim = Claim {
                    owner: &request.worker_id,
                    limit: u64::from(request.limit),
                    lease: Duration::from_secs(u64::from(request.lease_seconds)),
                    filter: ClaimFilter::External {
                        handlers: &request.handlers,
                    },
                };
                let mut rows = store::claim_steps(&mut tx, claim, now).await?;
                let mut cursor = self.gate_cursor().clone();
                let rest = Claim {
                    limit: claim.limit - rows.len() as u64,
                    ..claim
                };
                let clock = || self.clock.now();
                let gated = store::claim_gated(
                    &mut tx,
                    rest,
                    &self.settings.handler_concurrency,
                    now,
                    &clock,
                    &mut cursor,
                )
                .await?;
                rows.extend(gated.claimed);
                Ok(((rows, cursor, gated.throttled), tx))
            })
            .await?;
        let (rows, cursor, throttled) = rows;
        for t in &throttled {
            self.events.publish(crate::events::Event::throttled(t, now));
        }
        *self.gate_cursor() = cursor;
        let mut inputs = store::dispatch_inputs(self.store.reader(), &rows, &|_| false).await?;
        let mut claimed = Vec::with_capacity(rows.len());
        let mut settled = Vec::new();
        for row in rows {
            let attempt = u32::try_from(row.attempts).unwrap_or(0);
            let task = inputs.tasks.get(&row.task_id);
            let context = task.map(|t| t.context.clone()).unwrap_or(Value::Null);
            let traceparent = task.and_then(|t| t.trace_parent.clone());
            let parent_results = inputs.parent_results.remove(&row.id).unwrap_or_default();
            let (Some(lease_token), Some(lease_expires_at)) = (row.lease_token, row.lease_expires_at) else {
                continue;
            };
            // A false condition or a map's expansion is the engine's to
            // record, not the worker's to run.
            if let Some(outcome) = store::program_outcome(&row, &context, &parent_results, now) {
                settled.push(AttemptReport {
                    step_id: row.id,
                    task_id: row.task_id,
                    lease_token,
                    outcome,
                });
                continue;
            }
            claimed.push(ClaimedStep {
                attempt,
                idempotency_key: idempotency_key(row.task_id, &row.name, attempt),
                lease_token,
                lease_expires_at,
                context,
                parent_results,
                traceparent,
                step: row.try_into()?,
            });
        }
        if !settled.is_empty() {
            let settled = &settled;
            self.write(|mut tx| async move {
                let mut jitter = rand::random::<f64>;
                store::record_attempts(&mut tx, settled, &mut jitter, None, now).await?;
                Ok(((), tx))
            })
            .await?;
            self.wake_groups();
        }
        Ok(claimed)
    }

    /// Extend a lease (default: by the step's lease length of 30 s).
    pub async fn heartbeat_step(
        &self,
        step_id: Uuid,
        token: Uuid,
        extend_seconds: Option<u32>,
    ) -> Result<DateTime<Utc>> {
        let extend = extend_seconds.unwrap_or(30);
        if !(1..=3600).contains(&extend) {
            return Err(Error::bad_input("extendSeconds", "must be between 1 and 3600"));
        }
        let now = self.clock.now();
        Ok(store::heartbeat(
            self.store.writer(),
            step_id,
            token,
            Duration::from_secs(u64::from(extend)),
            now,
        )
        .await?)
    }

    /// Complete a claimed step with its results.
    pub async fn complete_step(
        &self,
        step_id: Uuid,
        token: Uuid,
        results: Option<Value>,
    ) -> Result<StepView> {
        let results = results.unwrap_or_else(|| Value::Object(Map::new()));
        check_storable_json(&results, self.settings.limits.max_result_bytes)
            .map_err(|m| Error::bad_input("results", m))?;
        self.report(step_id, token, AttemptOutcome::Completed(results))
            .await
    }

    /// Fail a claimed step; the retry policy decides what happens next.
    pub async fn fail_step(&self, step_id: Uuid, token: Uuid, failure: FailureReport) -> Result<StepView> {
        if failure.message.len() > 16 * 1024 {
            return Err(Error::bad_input("error", "longer than 16 KiB"));
        }
        let failure = StepFailure {
            message: failure.message,
            kind: FailureKind::Worker,
            retryable: failure.retryable,
            retry_after: failure
                .retry_after_seconds
                .map(|s| Duration::from_secs(u64::from(s))),
        };
        self.report(step_id, token, AttemptOutcome::Failed(failure)).await
    }

    async fn report(&self, step_id: Uuid, token: Uuid, outcome: AttemptOutcome) -> Result<StepView> {
        let step = store::find_step(self.store.reader(), step_id)
            .await?
            .ok_or_else(|| Error::NotFound {
                entity: "step",
                id: step_id.to_string(),
            })?;
        let now = self.clock.now();
        let report = AttemptReport {
            step_id,
            task_id: step.task_id,
            lease_token: token,
            outcome,
        };
        let report = &report;
        let result = self
            .write(|mut tx| async move {
                let mut jitter = rand::random::<f64>;
                let mut recorded =
                    store::record_attempts(&mut tx, std::slice::from_ref(report), &mut jitter, None, now)
                        .await?;
                Ok(((recorded.results.pop(), recorded.groups_changed), tx))
            })
            .await?;
        let (result, groups_changed) = result;
        match result {
            Some(ReportResult::Applied(row)) => {
                if groups_changed {
                    self.wake_groups();
                } else {
                    self.wake_engine();
                }
                (*row).try_into()
            }
            _ => Err(Error::LeaseLost {
                step_id: step_id.to_string(),
            }),
        }
    }
}

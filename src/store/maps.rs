//! Maps. A claimed map step expands into one instance per item (named
//! `step[i]`, with the step's handler, config and retry policy, its parents'
//! results, and its item and index) and waits (WAITING) without a lease. When
//! every instance is satisfied the map step completes with their results in
//! item order; when one fails for good, so does the map step. Expanding again
//! (after an operator's retry) creates only the instances that are missing.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde_json::Value;
use uuid::Uuid;

use super::attempts::{AttemptOutcome, AttemptReport, FailedAttempt, ReportResult, fail_step};
use super::claims::lease_cleared;
use super::error::{Error, Result};
use super::ids::any_of;
use super::transition::{StepMove, move_steps};
use super::txn::{WriteTxn, insert_all};
use super::waits::{complete_waiting, lease_of};
use crate::domain::StepStatus;
use crate::domain::attempt::{FailureKind, StepFailure};
use crate::domain::backoff::RetryPolicy;
use crate::domain::change::StepChange;
use crate::domain::priority::{Priority, claim_rank};
use crate::entities::{step_edge, step_result, workflow_step};

/// Columns of a `workflow_step` row (for multi-row inserts).
pub(crate) const STEP_COLUMNS: usize = 36;

/// Expand the claimed map steps of `reports` into their instances and let
/// them wait.
pub(crate) async fn record_expansions(
    tx: &mut WriteTxn,
    reports: &[AttemptReport],
    results: &mut [ReportResult],
    now: DateTime<Utc>,
) -> Result<()> {
    for (i, report) in reports.iter().enumerate() {
        let AttemptOutcome::Expand(items) = &report.outcome else {
            continue;
        };
        let moved = move_steps(
            tx,
            StepMove {
                via: None,
                to: StepStatus::Waiting,
                from: &[StepStatus::InProgress],
                filter: lease_of(report),
                set: lease_cleared(),
                reason: Some(format!("map over {} items", items.len())),
                failure: None,
            },
            now,
        )
        .await?;
        let Some(map) = moved.into_iter().next() else {
            continue;
        };
        expand(tx, &map, items, now).await?;
        settle_maps(tx, std::slice::from_ref(&map), now).await?;
        results[i] = ReportResult::Applied(Box::new(map));
    }
    Ok(())
}

/// Create the instances of `map` that do not exist yet.
async fn expand(
    tx: &mut WriteTxn,
    map: &workflow_step::Model,
    items: &[Value],
    now: DateTime<Utc>,
) -> Result<()> {
    let existing: HashSet<i32> = workflow_step::Entity::find()
        .select_only()
        .column(workflow_step::Column::MapIndex)
        .filter(workflow_step::Column::MapParent.eq(map.id))
        .into_tuple::<Option<i32>>()
        .all(tx.conn())
        .await?
        .into_iter()
        .flatten()
        .collect();
    let parents: Vec<Uuid> = step_edge::Entity::find()
        .select_only()
        .column(step_edge::Column::FromStepId)
        .filter(step_edge::Column::ToStepId.eq(map.id))
        .into_tuple()
        .all(tx.conn())
        .await?;
    let policy: RetryPolicy = serde_json::from_value(map.retry_policy.clone())
        .map_err(|e| Error::corrupt(format!("retry policy of step {}: {e}", map.id)))?;
    let priority = Priority::new(i64::from(map.priority)).unwrap_or_default();
    let gated = map.flow_key.is_some();
    let status = if gated {
        StepStatus::Pending
    } else {
        StepStatus::Enqueued
    };
    let mut rows = Vec::new();
    let mut edges = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let index = i32::try_from(index).unwrap_or(i32::MAX);
        if existing.contains(&index) {
            continue;
        }
        let id = Uuid::now_v7();
        let name = format!("{}[{index}]", map.name);
        let history: &[(Option<StepStatus>, StepStatus)] = if gated {
            &[(None, StepStatus::Pending)]
        } else {
            &[
                (None, StepStatus::Pending),
                (Some(StepStatus::Pending), StepStatus::Enqueued),
            ]
        };
        for (seq, (from, to)) in history.iter().enumerate() {
            tx.record_step(StepChange {
                step_id: id,
                task_id: map.task_id,
                step_name: name.clone(),
                handler: map.handler.clone(),
                external: map.external,
                from: *from,
                to: *to,
                attempt: 0,
                started_at: None,
                sequence: i32::try_from(seq + 1).unwrap_or(1),
                reason: None,
                failure: None,
                at: now,
            })?;
        }
        rows.push(workflow_step::ActiveModel {
            id: Set(id),
            task_id: Set(map.task_id),
            position: Set(map.position),
            name: Set(name),
            handler: Set(map.handler.clone()),
            external: Set(map.external),
            status: Set(status.as_str().to_owned()),
            previous_status: Set((!gated).then(|| StepStatus::Pending.as_str().to_owned())),
            transition_seq: Set(i32::try_from(history.len()).unwrap_or(1)),
            attempts: Set(0),
            attempt_limit: Set(i32::try_from(policy.max_attempts).unwrap_or(i32::MAX)),
            retry_policy: Set(map.retry_policy.clone()),
            timeout_ms: Set(map.timeout_ms),
            skippable: Set(false),
            config: Set(map.config.clone()),
            ready_at: Set((!gated).then_some(now)),
            priority: Set(map.priority),
            claim_rank: Set((!gated).then(|| claim_rank(now, priority, tx.ageing()))),
            flow_key: Set(map.flow_key.clone()),
            flow_limit: Set(map.flow_limit),
            gate_at: Set(gated.then_some(now)),
            rate_limits: Set(map.rate_limits.clone()),
            program: Set(None),
            wake_at: Set(None),
            wait_event: Set(None),
            map_parent: Set(Some(map.id)),
            map_index: Set(Some(index)),
            map_item: Set(Some(item.clone())),
            lease_owner: Set(None),
            lease_token: Set(None),
            lease_expires_at: Set(None),
            last_error: Set(None),
            started_at: Set(None),
            completed_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        });
        edges.extend(parents.iter().map(|parent| step_edge::ActiveModel {
            task_id: Set(map.task_id),
            from_step_id: Set(*parent),
            to_step_id: Set(id),
        }));
    }
    insert_all(tx.conn(), rows, STEP_COLUMNS).await?;
    insert_all(tx.conn(), edges, 3).await
}

/// Settle the maps of the instances among `rows` (and maps among them): a
/// map all of whose instances are satisfied completes with their results in
/// order; one with an instance failed for good fails.
pub(crate) async fn settle_maps(
    tx: &mut WriteTxn,
    rows: &[workflow_step::Model],
    now: DateTime<Utc>,
) -> Result<()> {
    let mut maps: Vec<Uuid> = rows
        .iter()
        .filter_map(|r| match r.map_parent {
            Some(parent) => Some(parent),
            None if r.status == StepStatus::Waiting.as_str() && r.map_parent.is_none() => Some(r.id),
            None => None,
        })
        .collect();
    if maps.is_empty() {
        return Ok(());
    }
    maps.sort_unstable();
    maps.dedup();
    let waiting = workflow_step::Entity::find()
        .filter(any_of(
            tx.backend(),
            workflow_step::Column::Id,
            maps.iter().copied(),
        ))
        .filter(workflow_step::Column::Status.eq(StepStatus::Waiting.as_str()))
        .all(tx.conn())
        .await?;
    let mut done = Vec::new();
    let mut error_rows = Vec::new();
    for map in waiting {
        let instances = workflow_step::Entity::find()
            .filter(workflow_step::Column::MapParent.eq(map.id))
            .all(tx.conn())
            .await?;
        if instances.is_empty() {
            continue;
        }
        let status = |r: &workflow_step::Model| r.status.parse::<StepStatus>().ok();
        if let Some(failed) = instances.iter().find(|r| status(r) == Some(StepStatus::Error)) {
            let failure = StepFailure {
                message: format!("map instance {} failed for good", failed.name),
                kind: FailureKind::MapItem,
                retryable: false,
                retry_after: None,
            };
            let attempt = FailedAttempt::while_waiting(&map, &failure);
            if let Some((_, error)) = fail_step(tx, attempt, 0.0, now).await? {
                error_rows.push(error);
            }
            continue;
        }
        if !instances
            .iter()
            .all(|r| status(r).is_some_and(StepStatus::satisfies_dependents))
        {
            continue;
        }
        let results = ordered_results(tx, &instances).await?;
        let reason = format!("map of {} items done", instances.len());
        done.push((map, results, Some(reason)));
    }
    insert_all(tx.conn(), error_rows, 9).await?;
    complete_waiting(tx, done, now).await.map(drop)
}

/// The instances' latest results, in item order (null where none).
async fn ordered_results(tx: &WriteTxn, instances: &[workflow_step::Model]) -> Result<Value> {
    let mut latest: HashMap<Uuid, (i32, Value)> = HashMap::new();
    let rows = step_result::Entity::find()
        .filter(any_of(
            tx.backend(),
            step_result::Column::StepId,
            instances.iter().map(|r| r.id),
        ))
        .all(tx.conn())
        .await?;
    for row in rows {
        let newer = latest
            .get(&row.step_id)
            .is_none_or(|(attempt, _)| row.attempt >= *attempt);
        if newer {
            latest.insert(row.step_id, (row.attempt, row.results));
        }
    }
    let mut ordered: Vec<(i32, Value)> = instances
        .iter()
        .map(|r| {
            let value = latest.remove(&r.id).map(|(_, v)| v).unwrap_or(Value::Null);
            (r.map_index.unwrap_or(0), value)
        })
        .collect();
    ordered.sort_by_key(|(index, _)| *index);
    Ok(Value::Array(ordered.into_iter().map(|(_, v)| v).collect()))
}

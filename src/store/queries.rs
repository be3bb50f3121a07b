//! Read-side queries: one statement per question, batched by id lists.

use std::collections::HashMap;

use sea_orm::sea_query::{Alias, Expr, ExprTrait, JoinType, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::error::Result;
use super::ids::any_of;
use super::transition::{parse_step_status, parse_task_status};
use crate::domain::readiness::StepCounts;
use crate::domain::{StepStatus, TaskStatus};
use crate::entities::{
    step_edge, step_error, step_result, step_transition, task, task_transition, workflow_step,
};

/// Step counts per status, per task.
pub type StepCountsByTask = HashMap<Uuid, StepCounts>;

/// How many steps of each task are in each status.
pub async fn step_counts(conn: &impl ConnectionTrait, task_ids: &[Uuid]) -> Result<StepCountsByTask> {
    // Steps at a concurrency gate are counted apart: PENDING, yet still to run.
    let at_gate = Expr::cust("CASE WHEN gate_at IS NULL THEN 0 ELSE 1 END");
    let rows: Vec<(Uuid, String, i32, i64)> = workflow_step::Entity::find()
        .select_only()
        .column(workflow_step::Column::TaskId)
        .column(workflow_step::Column::Status)
        .column_as(at_gate.clone(), "at_gate")
        .column_as(workflow_step::Column::Id.count(), "n")
        .filter(any_of(
            conn.get_database_backend(),
            workflow_step::Column::TaskId,
            task_ids.iter().copied(),
        ))
        .group_by(workflow_step::Column::TaskId)
        .group_by(workflow_step::Column::Status)
        .group_by(at_gate)
        .into_tuple()
        .all(conn)
        .await?;
    let mut counts = StepCountsByTask::new();
    for (task_id, status, at_gate, n) in rows {
        let status = parse_step_status(&status)?;
        let n = u32::try_from(n).unwrap_or(0);
        let entry = counts.entry(task_id).or_default();
        entry.add(status, n);
        if at_gate == 1 && status == StepStatus::Pending {
            entry.add_held(n);
        }
    }
    Ok(counts)
}

/// One task.
pub async fn find_task(conn: &impl ConnectionTrait, id: Uuid) -> Result<Option<task::Model>> {
    Ok(task::Entity::find_by_id(id).one(conn).await?)
}

/// The task created with this idempotency key.
pub async fn find_task_by_idempotency_key(
    conn: &impl ConnectionTrait,
    key: &str,
) -> Result<Option<task::Model>> {
    Ok(task::Entity::find()
        .filter(task::Column::IdempotencyKey.eq(key))
        .one(conn)
        .await?)
}

/// One step.
pub async fn find_step(conn: &impl ConnectionTrait, id: Uuid) -> Result<Option<workflow_step::Model>> {
    Ok(workflow_step::Entity::find_by_id(id).one(conn).await?)
}

/// The steps of a task in template order.
pub async fn steps_of_task(conn: &impl ConnectionTrait, task_id: Uuid) -> Result<Vec<workflow_step::Model>> {
    Ok(workflow_step::Entity::find()
        .filter(workflow_step::Column::TaskId.eq(task_id))
        .order_by_asc(workflow_step::Column::Position)
        .all(conn)
        .await?)
}

/// Transitions of these steps, oldest first per step.
pub async fn step_transitions(
    conn: &impl ConnectionTrait,
    step_ids: &[Uuid],
) -> Result<Vec<step_transition::Model>> {
    Ok(step_transition::Entity::find()
        .filter(any_of(
            conn.get_database_backend(),
            step_transition::Column::StepId,
            step_ids.iter().copied(),
        ))
        .order_by_asc(step_transition::Column::StepId)
        .order_by_asc(step_transition::Column::Sequence)
        .all(conn)
        .await?)
}

/// Transitions of a task, oldest first.
pub async fn task_transitions(
    conn: &impl ConnectionTrait,
    task_id: Uuid,
) -> Result<Vec<task_transition::Model>> {
    Ok(task_transition::Entity::find()
        .filter(task_transition::Column::TaskId.eq(task_id))
        .order_by_asc(task_transition::Column::Sequence)
        .all(conn)
        .await?)
}

/// Results of these steps (only steps that have some).
pub async fn step_results(conn: &impl ConnectionTrait, step_ids: &[Uuid]) -> Result<HashMap<Uuid, Value>> {
    Ok(step_result::Entity::find()
        .filter(any_of(
            conn.get_database_backend(),
            step_result::Column::StepId,
            step_ids.iter().copied(),
        ))
        .all(conn)
        .await?
        .into_iter()
        .map(|r| (r.step_id, r.results))
        .collect())
}

/// Every failed attempt of a step, oldest first.
pub async fn step_errors(conn: &impl ConnectionTrait, step_id: Uuid) -> Result<Vec<step_error::Model>> {
    Ok(step_error::Entity::find()
        .filter(step_error::Column::StepId.eq(step_id))
        .order_by_asc(step_error::Column::Attempt)
        .order_by_asc(step_error::Column::CreatedAt)
        .all(conn)
        .await?)
}

/// Number of tasks per status.
pub async fn count_tasks_by_status(conn: &impl ConnectionTrait) -> Result<Vec<(TaskStatus, u64)>> {
    let rows: Vec<(String, i64)> = task::Entity::find()
        .select_only()
        .column(task::Column::Status)
        .column_as(task::Column::Id.count(), "n")
        .group_by(task::Column::Status)
        .into_tuple()
        .all(conn)
        .await?;
    rows.into_iter()
        .map(|(s, n)| Ok((parse_task_status(&s)?, u64::try_from(n).unwrap_or(0))))
        .collect()
}

/// Where a set of tasks stands.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// The tasks not finished yet (or not found).
    pub unfinished: Vec<Uuid>,
    /// The first creation among them.
    pub first_created: Option<chrono::DateTime<chrono::Utc>>,
    /// The last finish among the finished ones.
    pub last_finished: Option<chrono::DateTime<chrono::Utc>>,
}

/// Of these tasks: how many are finished, the first creation and the last finish.
pub async fn finished_window(
    conn: &impl ConnectionTrait,
    task_ids: &[Uuid],
) -> Result<(
    u64,
    Option<chrono::DateTime<chrono::Utc>>,
    Option<chrono::DateTime<chrono::Utc>>,
)> {
    let p = progress(conn, task_ids).await?;
    let finished = task_ids.len().saturating_sub(p.unfinished.len());
    Ok((finished as u64, p.first_created, p.last_finished))
}

/// A task's id, creation, finish and status.
type TaskWindow = (
    Uuid,
    chrono::DateTime<chrono::Utc>,
    Option<chrono::DateTime<chrono::Utc>>,
    String,
);

/// Which of these tasks are still unfinished, with the first creation and the
/// last finish among them (for waiters that ask again about the rest only).
pub async fn progress(conn: &impl ConnectionTrait, task_ids: &[Uuid]) -> Result<Progress> {
    let mut out = Progress::default();
    let mut seen = std::collections::HashSet::with_capacity(task_ids.len());
    for chunk in task_ids.chunks(10_000) {
        let rows: Vec<TaskWindow> = task::Entity::find()
            .select_only()
            .column(task::Column::Id)
            .column(task::Column::CreatedAt)
            .column(task::Column::CompletedAt)
            .column(task::Column::Status)
            .filter(any_of(
                conn.get_database_backend(),
                task::Column::Id,
                chunk.iter().copied(),
            ))
            .into_tuple()
            .all(conn)
            .await?;
        for (id, created, completed, status) in rows {
            seen.insert(id);
            out.first_created = out.first_created.into_iter().chain([created]).min();
            if parse_task_status(&status)?.is_finished() {
                out.last_finished = out.last_finished.into_iter().chain(completed).max();
            } else {
                out.unfinished.push(id);
            }
        }
    }
    out.unfinished
        .extend(task_ids.iter().filter(|id| !seen.contains(*id)).copied());
    Ok(out)
}

/// What every step of a task needs from the task.
#[derive(Debug, Clone)]
pub struct TaskInputs {
    /// The task's namespace (handler lookup).
    pub namespace: String,
    /// The task's context.
    pub context: Value,
    /// Correlation id of the request that created the task (for logs).
    pub correlation_id: Option<String>,
    /// W3C `traceparent` of the span that created the task.
    pub trace_parent: Option<String>,
}

/// What a handler needs besides its step row.
#[derive(Debug, Default)]
pub struct DispatchInputs {
    /// Task id → what its steps need.
    pub tasks: HashMap<Uuid, TaskInputs>,
    /// Step id → `{parent step name: parent results}` (null for parents without results).
    pub parent_results: HashMap<Uuid, Map<String, Value>>,
}

/// Namespaces and contexts of the steps' tasks and results of their parents, in
/// two statements. Tasks already known (e.g. cached by the engine) are skipped.
pub async fn dispatch_inputs(
    conn: &impl ConnectionTrait,
    steps: &[workflow_step::Model],
    known_tasks: &(dyn Fn(Uuid) -> bool + Sync),
) -> Result<DispatchInputs> {
    let mut inputs = DispatchInputs::default();
    if steps.is_empty() {
        return Ok(inputs);
    }
    let mut task_ids: Vec<Uuid> = steps
        .iter()
        .map(|s| s.task_id)
        .filter(|id| !known_tasks(*id))
        .collect();
    task_ids.sort_unstable();
    task_ids.dedup();
    if !task_ids.is_empty() {
        type Row = (Uuid, String, Value, Option<String>, Option<String>);
        let rows: Vec<Row> = task::Entity::find()
            .select_only()
            .column(task::Column::Id)
            .column(task::Column::Namespace)
            .column(task::Column::Context)
            .column(task::Column::CorrelationId)
            .column(task::Column::TraceParent)
            .filter(any_of(conn.get_database_backend(), task::Column::Id, task_ids))
            .into_tuple()
            .all(conn)
            .await?;
        inputs.tasks.extend(rows.into_iter().map(
            |(id, namespace, context, correlation_id, trace_parent)| {
                let inputs = TaskInputs {
                    namespace,
                    context,
                    correlation_id,
                    trace_parent,
                };
                (id, inputs)
            },
        ));
    }
    let (p, r) = (Alias::new("p"), Alias::new("r"));
    let query = Query::select()
        .column((step_edge::Entity, step_edge::Column::ToStepId))
        .column((p.clone(), workflow_step::Column::Name))
        .column((r.clone(), step_result::Column::Results))
        .from(step_edge::Entity)
        .join_as(
            JoinType::InnerJoin,
            workflow_step::Entity,
            p.clone(),
            Expr::col((p, workflow_step::Column::Id))
                .equals((step_edge::Entity, step_edge::Column::FromStepId)),
        )
        .join_as(
            JoinType::LeftJoin,
            step_result::Entity,
            r.clone(),
            Expr::col((r, step_result::Column::StepId))
                .equals((step_edge::Entity, step_edge::Column::FromStepId)),
        )
        .and_where(any_of(
            conn.get_database_backend(),
            step_edge::Column::ToStepId,
            steps.iter().map(|s| s.id),
        ))
        .to_owned();
    for row in conn.query_all(&query).await? {
        let step_id: Uuid = row.try_get("", "to_step_id")?;
        let name: String = row.try_get("", "name")?;
        let results: Option<Value> = row.try_get("", "results")?;
        inputs
            .parent_results
            .entry(step_id)
            .or_default()
            .insert(name, results.unwrap_or(Value::Null));
    }
    Ok(inputs)
}

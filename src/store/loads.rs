//! Batched reads by id lists, one statement each, for the API's data loaders.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::error::Result;
use super::ids::any_of;
use crate::domain::StepStatus;
use crate::entities::{step_edge, task, task_transition, workflow_step};

/// Tasks with these ids.
pub async fn tasks_by_ids(conn: &impl ConnectionTrait, ids: &[Uuid]) -> Result<Vec<task::Model>> {
    let backend = conn.get_database_backend();
    Ok(task::Entity::find()
        .filter(any_of(backend, task::Column::Id, ids.iter().copied()))
        .all(conn)
        .await?)
}

/// Steps with these ids.
pub async fn steps_by_ids(conn: &impl ConnectionTrait, ids: &[Uuid]) -> Result<Vec<workflow_step::Model>> {
    let backend = conn.get_database_backend();
    Ok(workflow_step::Entity::find()
        .filter(any_of(backend, workflow_step::Column::Id, ids.iter().copied()))
        .all(conn)
        .await?)
}

/// Steps of these tasks, by task then template order.
pub async fn steps_of_tasks(
    conn: &impl ConnectionTrait,
    task_ids: &[Uuid],
) -> Result<Vec<workflow_step::Model>> {
    let backend = conn.get_database_backend();
    Ok(workflow_step::Entity::find()
        .filter(any_of(
            backend,
            workflow_step::Column::TaskId,
            task_ids.iter().copied(),
        ))
        .order_by_asc(workflow_step::Column::TaskId)
        .order_by_asc(workflow_step::Column::Position)
        .all(conn)
        .await?)
}

/// Transitions of these tasks, oldest first per task.
pub async fn task_transitions_of(
    conn: &impl ConnectionTrait,
    task_ids: &[Uuid],
) -> Result<Vec<task_transition::Model>> {
    let backend = conn.get_database_backend();
    Ok(task_transition::Entity::find()
        .filter(any_of(
            backend,
            task_transition::Column::TaskId,
            task_ids.iter().copied(),
        ))
        .order_by_asc(task_transition::Column::TaskId)
        .order_by_asc(task_transition::Column::Sequence)
        .all(conn)
        .await?)
}

/// Which side of an edge the given ids are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeEnd {
    /// The ids are children: return their parents.
    Parents,
    /// The ids are parents: return their children.
    Children,
}

/// `(from, to)` edges touching these steps on the given end.
pub async fn edges_of_steps(
    conn: &impl ConnectionTrait,
    ids: &[Uuid],
    end: EdgeEnd,
) -> Result<Vec<(Uuid, Uuid)>> {
    let backend = conn.get_database_backend();
    let column = match end {
        EdgeEnd::Parents => step_edge::Column::ToStepId,
        EdgeEnd::Children => step_edge::Column::FromStepId,
    };
    Ok(step_edge::Entity::find()
        .select_only()
        .column(step_edge::Column::FromStepId)
        .column(step_edge::Column::ToStepId)
        .filter(any_of(backend, column, ids.iter().copied()))
        .into_tuple()
        .all(conn)
        .await?)
}

/// `(task, from, to)` edges of these tasks.
pub async fn edges_of_tasks(
    conn: &impl ConnectionTrait,
    task_ids: &[Uuid],
) -> Result<Vec<(Uuid, Uuid, Uuid)>> {
    let backend = conn.get_database_backend();
    Ok(step_edge::Entity::find()
        .select_only()
        .column(step_edge::Column::TaskId)
        .column(step_edge::Column::FromStepId)
        .column(step_edge::Column::ToStepId)
        .filter(any_of(
            backend,
            step_edge::Column::TaskId,
            task_ids.iter().copied(),
        ))
        .into_tuple()
        .all(conn)
        .await?)
}

/// Of `handlers`, those with an external step claimable at `now`.
pub async fn handlers_with_claimable_work(
    conn: &impl ConnectionTrait,
    handlers: &[String],
    now: DateTime<Utc>,
) -> Result<Vec<String>> {
    let claimable: Vec<&str> = StepStatus::CLAIMABLE.iter().map(|s| s.as_str()).collect();
    Ok(workflow_step::Entity::find()
        .select_only()
        .column(workflow_step::Column::Handler)
        .distinct()
        .filter(workflow_step::Column::ReadyAt.is_not_null())
        .filter(workflow_step::Column::ReadyAt.lte(now))
        .filter(workflow_step::Column::External.eq(true))
        .filter(workflow_step::Column::Status.is_in(claimable))
        .filter(workflow_step::Column::Handler.is_in(handlers.to_vec()))
        .into_tuple()
        .all(conn)
        .await?)
}

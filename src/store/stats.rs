//! Counts for health and metrics. Each reads an index only (task status,
//! the partial ready and lease indexes), so it stays fast with many tasks.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter, QuerySelect,
};

use super::error::Result;
use crate::entities::{task, task_template, workflow_step};

/// Work waiting and running.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueDepths {
    /// Tasks in IN_PROGRESS.
    pub tasks_in_progress: u64,
    /// Steps claimable now (ENQUEUED, or WAITING_FOR_RETRY with the wait over).
    pub steps_ready: u64,
    /// Steps whose claimable time lies ahead (a retry backoff or a delayed start).
    pub steps_scheduled: u64,
    /// Steps leased by a running engine or worker.
    pub leases_active: u64,
    /// Leases past their expiry, not yet taken back.
    pub leases_expired: u64,
}

#[derive(FromQueryResult)]
struct StatusCount {
    status: String,
    count: i64,
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Queue depths at `now`.
pub async fn queue_depths(conn: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<QueueDepths> {
    use workflow_step::Column as C;
    let steps = || workflow_step::Entity::find();
    Ok(QueueDepths {
        tasks_in_progress: task::Entity::find()
            .filter(task::Column::Status.eq("IN_PROGRESS"))
            .count(conn)
            .await?,
        steps_ready: steps()
            .filter(C::ReadyAt.is_not_null())
            .filter(C::ReadyAt.lte(now))
            .count(conn)
            .await?,
        steps_scheduled: steps()
            .filter(C::ReadyAt.is_not_null())
            .filter(C::ReadyAt.gt(now))
            .count(conn)
            .await?,
        leases_active: steps()
            .filter(C::LeaseExpiresAt.is_not_null())
            .filter(C::LeaseExpiresAt.gt(now))
            .count(conn)
            .await?,
        leases_expired: steps()
            .filter(C::LeaseExpiresAt.is_not_null())
            .filter(C::LeaseExpiresAt.lte(now))
            .count(conn)
            .await?,
    })
}

/// Tasks per status (statuses without tasks are left out).
pub async fn tasks_by_status(conn: &impl ConnectionTrait) -> Result<BTreeMap<String, u64>> {
    let rows = task::Entity::find()
        .select_only()
        .column_as(task::Column::Status, "status")
        .column_as(task::Column::Id.count(), "count")
        .group_by(task::Column::Status)
        .into_model::<StatusCount>()
        .all(conn)
        .await?;
    Ok(rows.into_iter().map(|r| (r.status, count(r.count))).collect())
}

/// Registered templates (all versions).
pub async fn template_count(conn: &impl ConnectionTrait) -> Result<u64> {
    Ok(task_template::Entity::find().count(conn).await?)
}

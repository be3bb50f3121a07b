//! What the dashboard shows at a glance, read in a few index-backed queries:
//! tasks created in the window by bucket and status (the creation-time
//! index), the oldest claimable step (the ready index), and who holds leases
//! (the lease-owner index), and the WAITING steps (their partial index).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, CaseStatement, Expr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::error::Result;
use crate::entities::{task, workflow_step};

/// Tasks created in one bucket with one status.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct BucketCount {
    /// Index into the bucket starts given.
    pub bucket: i64,
    /// Task status.
    pub status: String,
    /// How many.
    pub count: i64,
}

/// Steps leased by one engine or worker.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct LeaseHolder {
    /// The lease owner (an engine's instance id or a worker id).
    pub owner: String,
    /// Leases it holds that have not expired.
    pub leases: i64,
}

/// Tasks created since `starts[0]`, counted by bucket (the last start at or
/// before their creation) and status.
pub async fn tasks_by_bucket(
    conn: &impl ConnectionTrait,
    starts: &[DateTime<Utc>],
) -> Result<Vec<BucketCount>> {
    let Some(first) = starts.first() else {
        return Ok(Vec::new());
    };
    // Newest first: the first start a creation time reaches is its bucket.
    let bucket = starts
        .iter()
        .enumerate()
        .rev()
        .fold(CaseStatement::new(), |case, (i, start)| {
            case.case(task::Column::CreatedAt.gte(*start), Expr::val(i as i64))
        })
        .finally(Expr::val(-1_i64));
    Ok(task::Entity::find()
        .select_only()
        .column_as(Expr::expr(bucket), "bucket")
        .column_as(task::Column::Status, "status")
        .column_as(task::Column::Id.count(), "count")
        .filter(task::Column::CreatedAt.gte(*first))
        .group_by(Expr::col(Alias::new("bucket")))
        .group_by(task::Column::Status)
        .into_model::<BucketCount>()
        .all(conn)
        .await?)
}

/// The step that has been claimable the longest, if any is.
pub async fn oldest_ready_step(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> Result<Option<workflow_step::Model>> {
    use workflow_step::Column as C;
    Ok(workflow_step::Entity::find()
        .filter(C::ReadyAt.is_not_null())
        .filter(C::ReadyAt.lte(now))
        .order_by_asc(C::ReadyAt)
        .one(conn)
        .await?)
}

/// Steps WAITING (a sleep, an approval, an event, a child task).
pub async fn steps_waiting(conn: &impl ConnectionTrait) -> Result<u64> {
    Ok(workflow_step::Entity::find()
        .filter(workflow_step::Column::Status.eq("WAITING"))
        .count(conn)
        .await?)
}

/// Every owner of an unexpired lease with how many it holds, busiest first.
pub async fn lease_holders(conn: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<Vec<LeaseHolder>> {
    use workflow_step::Column as C;
    let mut holders = workflow_step::Entity::find()
        .select_only()
        .column_as(C::LeaseOwner, "owner")
        .column_as(C::Id.count(), "leases")
        .filter(C::LeaseOwner.is_not_null())
        .filter(C::LeaseExpiresAt.gt(now))
        .group_by(C::LeaseOwner)
        .into_model::<LeaseHolder>()
        .all(conn)
        .await?;
    holders.sort_by(|a, b| b.leases.cmp(&a.leases).then_with(|| a.owner.cmp(&b.owner)));
    Ok(holders)
}

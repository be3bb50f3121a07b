//! Cron schedules and their fires. Every replica looks for due schedules;
//! one takes a schedule under a short lease on its row (a compare-and-set, so
//! two never hold it at once), handles its due fires and moves `next_fire_at`
//! on. Each fire is recorded once (primary key schedule and fire time) with
//! the task it created; the task itself is created with an idempotency key
//! of the schedule and fire time, so a replica that dies between creating
//! the task and recording the fire leaves nothing for the next to repeat.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use super::Store;
use super::error::Result;
use super::ids::any_of;
use crate::entities::{schedule, schedule_fire, task};

/// Most schedules one pass takes.
const SCHEDULES_PER_PASS: u64 = 64;

/// Store a new schedule, or (for one declared in a template, by its
/// `source`) replace the declaration and keep its history.
pub async fn save_schedule(store: &Store, row: schedule::Model) -> Result<schedule::Model> {
    if let Some(source) = &row.source
        && let Some(found) = schedule::Entity::find()
            .filter(schedule::Column::Source.eq(source.clone()))
            .one(store.writer())
            .await?
    {
        let mut active = row.clone().into_active_model();
        active.id = sea_orm::ActiveValue::Unchanged(found.id);
        active.created_at = sea_orm::ActiveValue::NotSet;
        active.fired = sea_orm::ActiveValue::NotSet;
        active.missed = sea_orm::ActiveValue::NotSet;
        active.paused = sea_orm::ActiveValue::NotSet;
        active.lease_owner = sea_orm::ActiveValue::NotSet;
        active.lease_until = sea_orm::ActiveValue::NotSet;
        // An unchanged cron keeps its place (no fire is repeated or lost).
        if found.cron == row.cron && found.timezone == row.timezone {
            active.next_fire_at = sea_orm::ActiveValue::NotSet;
        }
        return Ok(active.update(store.writer()).await?);
    }
    Ok(row.into_active_model().insert(store.writer()).await?)
}

/// Delete the schedules whose `source` starts with `prefix` but is not in
/// `keep` (a template no longer declares them); their tasks stay.
pub async fn delete_undeclared_schedules(store: &Store, prefix: &str, keep: &[String]) -> Result<()> {
    // LIKE reads `_` in names as a wildcard: the prefix is checked again here.
    let found: Vec<(Uuid, Option<String>)> = schedule::Entity::find()
        .select_only()
        .column(schedule::Column::Id)
        .column(schedule::Column::Source)
        .filter(schedule::Column::Source.starts_with(prefix))
        .into_tuple()
        .all(store.writer())
        .await?;
    for (id, source) in found {
        if source.is_some_and(|s| s.starts_with(prefix) && !keep.contains(&s)) {
            delete_schedule(store, id).await?;
        }
    }
    Ok(())
}

/// Every schedule, oldest first.
pub async fn list_schedules(store: &Store) -> Result<Vec<schedule::Model>> {
    Ok(schedule::Entity::find()
        .order_by_asc(schedule::Column::CreatedAt)
        .order_by_asc(schedule::Column::Id)
        .all(store.reader())
        .await?)
}

/// One schedule.
pub async fn find_schedule(store: &Store, id: Uuid) -> Result<Option<schedule::Model>> {
    Ok(schedule::Entity::find_by_id(id).one(store.reader()).await?)
}

/// Pause or resume; a resumed schedule's first fire is `next` (fires that
/// came due while paused are not made up for).
pub async fn set_paused(
    store: &Store,
    id: Uuid,
    paused: bool,
    next: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let mut update = schedule::Entity::update_many()
        .col_expr(schedule::Column::Paused, Expr::value(paused))
        .col_expr(schedule::Column::UpdatedAt, Expr::value(now));
    if !paused {
        update = update.col_expr(schedule::Column::NextFireAt, Expr::value(next));
    }
    let done = update
        .filter(schedule::Column::Id.eq(id))
        .exec(store.writer())
        .await?;
    Ok(done.rows_affected == 1)
}

/// Delete a schedule and its fire records (its tasks stay).
pub async fn delete_schedule(store: &Store, id: Uuid) -> Result<bool> {
    schedule_fire::Entity::delete_many()
        .filter(schedule_fire::Column::ScheduleId.eq(id))
        .exec(store.writer())
        .await?;
    let done = schedule::Entity::delete_by_id(id).exec(store.writer()).await?;
    Ok(done.rows_affected == 1)
}

/// Take the due schedules no other replica holds, for `lease`.
pub async fn lease_due(
    store: &Store,
    owner: &str,
    now: DateTime<Utc>,
    lease: Duration,
) -> Result<Vec<schedule::Model>> {
    let free = Condition::any()
        .add(schedule::Column::LeaseUntil.is_null())
        .add(schedule::Column::LeaseUntil.lt(now));
    let due: Vec<Uuid> = schedule::Entity::find()
        .select_only()
        .column(schedule::Column::Id)
        .filter(schedule::Column::Paused.eq(false))
        .filter(schedule::Column::NextFireAt.lte(now))
        .filter(free.clone())
        .order_by_asc(schedule::Column::NextFireAt)
        .limit(SCHEDULES_PER_PASS)
        .into_tuple()
        .all(store.reader())
        .await?;
    let mut taken = Vec::new();
    for id in due {
        let done = schedule::Entity::update_many()
            .col_expr(schedule::Column::LeaseOwner, Expr::value(owner))
            .col_expr(schedule::Column::LeaseUntil, Expr::value(now + lease))
            .filter(schedule::Column::Id.eq(id))
            .filter(schedule::Column::Paused.eq(false))
            .filter(schedule::Column::NextFireAt.lte(now))
            .filter(free.clone())
            .exec(store.writer())
            .await?;
        if done.rows_affected == 1
            && let Some(row) = schedule::Entity::find_by_id(id).one(store.writer()).await?
        {
            taken.push(row);
        }
    }
    Ok(taken)
}

/// Record a fire (once: a fire recorded already stays as it is).
pub async fn record_fire(
    store: &Store,
    schedule_id: Uuid,
    fire_at: DateTime<Utc>,
    task_id: Option<Uuid>,
    outcome: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let row = schedule_fire::ActiveModel {
        schedule_id: sea_orm::ActiveValue::Set(schedule_id),
        fire_at: sea_orm::ActiveValue::Set(fire_at),
        task_id: sea_orm::ActiveValue::Set(task_id),
        outcome: sea_orm::ActiveValue::Set(outcome.to_owned()),
        created_at: sea_orm::ActiveValue::Set(now),
    };
    schedule_fire::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([schedule_fire::Column::ScheduleId, schedule_fire::Column::FireAt])
                .do_nothing()
                .to_owned(),
        )
        .try_insert()
        .exec(store.writer())
        .await?;
    Ok(())
}

/// Move a leased schedule on to `next` and release it, counting what the
/// pass did; nothing happens if the lease was lost meanwhile.
pub async fn advance(
    store: &Store,
    id: Uuid,
    owner: &str,
    next: Option<DateTime<Utc>>,
    fired: i64,
    missed: i64,
    now: DateTime<Utc>,
) -> Result<bool> {
    let done = schedule::Entity::update_many()
        .col_expr(schedule::Column::NextFireAt, Expr::value(next))
        .col_expr(schedule::Column::LeaseOwner, Expr::value(Option::<String>::None))
        .col_expr(
            schedule::Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            schedule::Column::Fired,
            Expr::col(schedule::Column::Fired).add(fired),
        )
        .col_expr(
            schedule::Column::Missed,
            Expr::col(schedule::Column::Missed).add(missed),
        )
        .col_expr(schedule::Column::UpdatedAt, Expr::value(now))
        .filter(schedule::Column::Id.eq(id))
        .filter(schedule::Column::LeaseOwner.eq(owner))
        .exec(store.writer())
        .await?;
    Ok(done.rows_affected == 1)
}

/// The schedule's tasks that have not finished (PENDING, SCHEDULED, IN_PROGRESS).
pub async fn running_tasks(store: &Store, schedule_id: Uuid) -> Result<Vec<Uuid>> {
    let fired: Vec<Uuid> = schedule_fire::Entity::find()
        .select_only()
        .column(schedule_fire::Column::TaskId)
        .filter(schedule_fire::Column::ScheduleId.eq(schedule_id))
        .filter(schedule_fire::Column::TaskId.is_not_null())
        .into_tuple::<Option<Uuid>>()
        .all(store.writer())
        .await?
        .into_iter()
        .flatten()
        .collect();
    if fired.is_empty() {
        return Ok(Vec::new());
    }
    Ok(task::Entity::find()
        .select_only()
        .column(task::Column::Id)
        .filter(any_of(store.backend(), task::Column::Id, fired))
        .filter(task::Column::Status.is_in(["PENDING", "SCHEDULED", "IN_PROGRESS"]))
        .into_tuple()
        .all(store.writer())
        .await?)
}

/// The latest `limit` fires of a schedule, newest first.
pub async fn recent_fires(store: &Store, schedule_id: Uuid, limit: u64) -> Result<Vec<schedule_fire::Model>> {
    Ok(schedule_fire::Entity::find()
        .filter(schedule_fire::Column::ScheduleId.eq(schedule_id))
        .order_by_desc(schedule_fire::Column::FireAt)
        .limit(limit)
        .all(store.reader())
        .await?)
}

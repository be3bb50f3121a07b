//! Cron schedules over GraphQL: the `schedules` query and the mutations that
//! create, pause, resume and delete them.

use async_graphql::{Context, Enum, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::error::GqlResult;
use super::guard::{require, require_somewhere};
use super::types::{parse_id, tasker};
use crate::auth::permission::{TASK_CREATE, TASK_READ};
use crate::domain::schedule::{CatchUp, Overlap};
use crate::service::{NewSchedule, ScheduleView};

/// What a fire does while an earlier task of the schedule has not finished.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "ScheduleOverlap", remote = "crate::domain::schedule::Overlap")]
pub enum OverlapGql {
    /// Start another task anyway.
    Allow,
    /// Start nothing (the fire is recorded as skipped).
    Skip,
    /// Cancel the schedule's unfinished tasks, then start.
    CancelPrevious,
}

/// Which fires that came due while no replica ran are made up for.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "ScheduleCatchUp", remote = "crate::domain::schedule::CatchUp")]
pub enum CatchUpGql {
    /// None: they are counted as missed.
    None,
    /// The latest one.
    One,
    /// Every one, oldest first (at most 100 a second).
    All,
}

/// Input of `createSchedule`.
#[derive(InputObject)]
pub struct CreateScheduleInput {
    /// Template namespace (default `default`).
    pub namespace: Option<String>,
    /// Template name.
    pub name: String,
    /// Template version (default: the highest registered at each fire).
    pub version: Option<String>,
    /// Cron expression: five fields (minute hour day-of-month month
    /// day-of-week), or six with seconds first; names, `L`, `#`, `W` and
    /// `@daily`-style aliases are understood.
    pub cron: String,
    /// IANA time zone the expression is read in (default `UTC`).
    pub timezone: Option<String>,
    /// Context of every task it creates (checked now against the template).
    pub context: Option<Json<Value>>,
    /// Default `ALLOW`.
    pub overlap: Option<OverlapGql>,
    /// Default `NONE`.
    pub catch_up: Option<CatchUpGql>,
}

/// One fire of a schedule.
#[derive(SimpleObject)]
pub struct ScheduleFire {
    /// When it was due.
    pub fire_at: DateTime<Utc>,
    /// `created`, `skipped` (overlap) or `refused` (the task was refused).
    pub outcome: String,
    /// The task it created.
    pub task_id: Option<ID>,
}

pub struct Schedule(ScheduleView);

/// A cron schedule that creates tasks from a template.
#[Object]
impl Schedule {
    /// Id (UUID).
    async fn id(&self) -> ID {
        ID(self.0.row.id.to_string())
    }

    /// Template namespace.
    async fn namespace(&self) -> &str {
        &self.0.row.namespace
    }

    /// Template name.
    async fn name(&self) -> &str {
        &self.0.row.name
    }

    /// Template version (null: the highest at each fire).
    async fn version(&self) -> Option<&str> {
        self.0.row.version.as_deref()
    }

    /// The cron expression.
    async fn cron(&self) -> &str {
        &self.0.row.cron
    }

    /// Its time zone.
    async fn timezone(&self) -> &str {
        &self.0.row.timezone
    }

    /// Context of every task it creates.
    async fn context(&self) -> Json<&Value> {
        Json(&self.0.row.context)
    }

    /// What a fire does while an earlier task runs.
    async fn overlap(&self) -> OverlapGql {
        Overlap::parse(&self.0.row.overlap).unwrap_or_default().into()
    }

    /// Which missed fires are made up for.
    async fn catch_up(&self) -> CatchUpGql {
        CatchUp::parse(&self.0.row.catch_up).unwrap_or_default().into()
    }

    /// Paused schedules do not fire.
    async fn paused(&self) -> bool {
        self.0.row.paused
    }

    /// For a schedule declared in a template: which (`template:ns/name:schedule`).
    async fn source(&self) -> Option<&str> {
        self.0.row.source.as_deref()
    }

    /// The next five fires (empty while paused).
    async fn next_fire_times(&self) -> &[DateTime<Utc>] {
        &self.0.upcoming
    }

    /// Fires that created a task.
    async fn fired(&self) -> i64 {
        self.0.row.fired
    }

    /// Fires missed while no replica ran and not made up for.
    async fn missed(&self) -> i64 {
        self.0.row.missed
    }

    /// The latest five fires, newest first.
    async fn recent_fires(&self) -> Vec<ScheduleFire> {
        self.0
            .recent
            .iter()
            .map(|f| ScheduleFire {
                fire_at: f.fire_at,
                outcome: f.outcome.clone(),
                task_id: f.task_id.map(|id| ID(id.to_string())),
            })
            .collect()
    }

    /// When it was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.row.created_at
    }
}

/// Reads of schedules.
#[derive(Default)]
pub struct ScheduleQuery;

#[Object]
impl ScheduleQuery {
    /// Every cron schedule (of the namespaces the caller may read tasks of).
    async fn schedules(&self, ctx: &Context<'_>) -> GqlResult<Vec<Schedule>> {
        let scope = require_somewhere(ctx, TASK_READ)?;
        let all = tasker(ctx)?.schedules().await?;
        Ok(all
            .into_iter()
            .filter(|s| scope.contains(&s.row.namespace))
            .map(Schedule)
            .collect())
    }

    /// One schedule (null when unknown).
    async fn schedule(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Schedule>> {
        require_somewhere(ctx, TASK_READ)?;
        let id = parse_id(&id, "id")?;
        let found = tasker(ctx)?.schedule(id).await?;
        if let Some(s) = &found {
            require(ctx, TASK_READ, Some(&s.row.namespace))?;
        }
        Ok(found.map(Schedule))
    }
}

/// Changes to schedules.
#[derive(Default)]
pub struct ScheduleMutation;

async fn namespace_of(ctx: &Context<'_>, id: &ID) -> GqlResult<uuid::Uuid> {
    require_somewhere(ctx, TASK_CREATE)?;
    let id = parse_id(id, "id")?;
    let found = tasker(ctx)?.schedule(id).await?;
    // Unknown ids fall through to the service, which says NOT_FOUND.
    if let Some(s) = found {
        require(ctx, TASK_CREATE, Some(&s.row.namespace))?;
    }
    Ok(id)
}

#[Object]
impl ScheduleMutation {
    /// Create a cron schedule: each fire creates one task from the template,
    /// on whichever replica sees it first.
    async fn create_schedule(&self, ctx: &Context<'_>, input: CreateScheduleInput) -> GqlResult<Schedule> {
        let namespace = input
            .namespace
            .clone()
            .unwrap_or_else(|| crate::domain::template::DEFAULT_NAMESPACE.to_owned());
        require(ctx, TASK_CREATE, Some(&namespace))?;
        let created = tasker(ctx)?
            .create_schedule(NewSchedule {
                namespace: Some(namespace),
                name: input.name,
                version: input.version,
                cron: input.cron,
                timezone: input.timezone,
                context: input
                    .context
                    .map_or_else(|| Value::Object(Default::default()), |j| j.0),
                overlap: input.overlap.map(Into::into).unwrap_or_default(),
                catch_up: input.catch_up.map(Into::into).unwrap_or_default(),
                source: None,
            })
            .await?;
        Ok(Schedule(created))
    }

    /// Pause a schedule: it does not fire until resumed.
    async fn pause_schedule(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Schedule> {
        let id = namespace_of(ctx, &id).await?;
        Ok(Schedule(tasker(ctx)?.pause_schedule(id, true).await?))
    }

    /// Resume a schedule; fires due while it was paused are not made up for.
    async fn resume_schedule(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Schedule> {
        let id = namespace_of(ctx, &id).await?;
        Ok(Schedule(tasker(ctx)?.pause_schedule(id, false).await?))
    }

    /// Delete a schedule (the tasks it created stay); true when it existed.
    async fn delete_schedule(&self, ctx: &Context<'_>, id: ID) -> GqlResult<bool> {
        let id = namespace_of(ctx, &id).await?;
        Ok(tasker(ctx)?.delete_schedule(id).await?)
    }
}

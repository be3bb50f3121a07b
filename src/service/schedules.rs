//! Cron schedules: create, list, pause, resume and delete them, and the pass
//! every replica runs to fire what is due. A fire creates its task with an
//! idempotency key of the schedule and fire time, so however many replicas
//! look, and whatever dies half-way, each fire makes one task.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};
use uuid::Uuid;

use super::flow::flow_groups;
use super::tasks::CreateTask;
use super::{Error, Result, Tasker};
use crate::domain::context::ContextSchema;
use crate::domain::schedule::{CatchUp, CronSchedule, Overlap, TEMPLATE_SOURCE_PREFIX, due};
use crate::domain::template::DEFAULT_NAMESPACE;
use crate::domain::template::TaskTemplate;
use crate::entities::{schedule, schedule_fire};
use crate::store;

/// How long a replica holds a schedule while it fires it.
const LEASE_SECONDS: i64 = 30;
/// Upcoming fires a view lists.
pub const UPCOMING: usize = 5;

/// Input of [`Tasker::create_schedule`].
#[derive(Debug, Clone, Default)]
pub struct NewSchedule {
    /// Template namespace (default `default`).
    pub namespace: Option<String>,
    /// Template name.
    pub name: String,
    /// Template version (default: the highest registered when each fire happens).
    pub version: Option<String>,
    /// Cron expression (five fields, or six with seconds).
    pub cron: String,
    /// IANA time zone the expression is read in (default UTC).
    pub timezone: Option<String>,
    /// Context of every task it creates.
    pub context: Value,
    /// What a fire does while an earlier task of the schedule runs.
    pub overlap: Overlap,
    /// Which fires missed while no replica ran are made up for.
    pub catch_up: CatchUp,
    /// For a schedule declared in a template: which (replaced on re-registration).
    pub source: Option<String>,
}

/// A schedule as clients see it.
#[derive(Debug, Clone)]
pub struct ScheduleView {
    /// The stored row.
    pub row: schedule::Model,
    /// The next fires (none while paused).
    pub upcoming: Vec<DateTime<Utc>>,
    /// The latest fires, newest first.
    pub recent: Vec<schedule_fire::Model>,
}

/// A new schedule's row, firing first at `next`.
fn new_row(input: NewSchedule, next: Option<DateTime<Utc>>, now: DateTime<Utc>) -> schedule::Model {
    schedule::Model {
        id: Uuid::now_v7(),
        namespace: input.namespace.unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned()),
        name: input.name,
        version: input.version,
        cron: input.cron,
        timezone: input.timezone.unwrap_or_else(|| "UTC".to_owned()),
        context: input.context,
        overlap: input.overlap.as_str().to_owned(),
        catch_up: input.catch_up.as_str().to_owned(),
        paused: false,
        source: input.source,
        next_fire_at: next,
        lease_owner: None,
        lease_until: None,
        fired: 0,
        missed: 0,
        created_at: now,
        updated_at: now,
    }
}

fn parse_row(row: &schedule::Model) -> Option<CronSchedule> {
    CronSchedule::parse(&row.cron, &row.timezone).ok()
}

impl Tasker {
    /// Create a schedule: the template must exist and the context must make a
    /// valid task now; the first fire is the first after now.
    pub async fn create_schedule(&self, input: NewSchedule) -> Result<ScheduleView> {
        let timezone = input.timezone.clone().unwrap_or_else(|| "UTC".to_owned());
        let cron = CronSchedule::parse(&input.cron, &timezone).map_err(|e| {
            let field = match e {
                crate::domain::schedule::ScheduleError::Timezone(_) => "timezone",
                crate::domain::schedule::ScheduleError::Cron { .. } => "cron",
            };
            Error::bad_input(field, e.to_string())
        })?;
        let namespace = input
            .namespace
            .clone()
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
        self.check_creatable(&CreateTask {
            namespace: Some(namespace.clone()),
            name: input.name.clone(),
            version: input.version.clone(),
            context: input.context.clone(),
            ..CreateTask::default()
        })
        .await?;
        let now = store::storage_time(self.clock.now());
        let next = cron.next_after(now);
        let row = new_row(
            NewSchedule {
                namespace: Some(namespace),
                timezone: Some(timezone),
                ..input
            },
            next,
            now,
        );
        let saved = store::save_schedule(&self.store, row).await?;
        self.schedule_view(saved).await
    }

    /// Check that every schedule a template declares makes a valid task:
    /// its context against the template's schema and flow-control keys.
    pub(super) fn check_declared_schedules(&self, template: &TaskTemplate) -> Result<()> {
        let schema = match &template.context_schema {
            Some(schema) => {
                Some(ContextSchema::compile(schema).map_err(|m| Error::bad_input("context_schema", m))?)
            }
            None => None,
        };
        for (i, decl) in template.schedules.iter().enumerate() {
            let at = |e: Error| Error::bad_input(&format!("schedules[{i}].context"), e.to_string());
            if let Some(schema) = &schema {
                schema.check(&decl.context).map_err(|e| at(e.into()))?;
            }
            flow_groups(template, &decl.context, &self.settings).map_err(at)?;
        }
        Ok(())
    }

    /// Store the schedules a template declares (replacing their earlier
    /// declaration, keeping their history) and delete the ones the template
    /// no longer declares: the latest registration wins.
    pub(super) async fn save_declared_schedules(&self, template: &TaskTemplate) -> Result<()> {
        let (namespace, name) = (&template.namespace, &template.name);
        let mut keep = Vec::new();
        for decl in &template.schedules {
            let source = decl.source(namespace, name);
            keep.push(source.clone());
            let cron = CronSchedule::parse(&decl.cron, &decl.timezone)
                .map_err(|e| Error::bad_input("schedules", e.to_string()))?;
            let now = store::storage_time(self.clock.now());
            let input = NewSchedule {
                namespace: Some(namespace.clone()),
                name: name.clone(),
                version: Some(template.version.to_string()),
                cron: decl.cron.clone(),
                timezone: Some(decl.timezone.clone()),
                context: decl.context.clone(),
                overlap: decl.overlap,
                catch_up: decl.catch_up,
                source: Some(source),
            };
            let row = new_row(input, cron.next_after(now), now);
            store::save_schedule(&self.store, row).await?;
        }
        let prefix = format!("{TEMPLATE_SOURCE_PREFIX}{namespace}/{name}:");
        store::delete_undeclared_schedules(&self.store, &prefix, &keep).await?;
        Ok(())
    }

    async fn schedule_view(&self, row: schedule::Model) -> Result<ScheduleView> {
        let upcoming = match (row.paused, parse_row(&row)) {
            (false, Some(cron)) => cron.upcoming(self.clock.now(), UPCOMING),
            _ => Vec::new(),
        };
        let recent = store::recent_fires(&self.store, row.id, UPCOMING as u64).await?;
        Ok(ScheduleView {
            row,
            upcoming,
            recent,
        })
    }

    /// Every schedule, oldest first.
    pub async fn schedules(&self) -> Result<Vec<ScheduleView>> {
        let mut views = Vec::new();
        for row in store::list_schedules(&self.store).await? {
            views.push(self.schedule_view(row).await?);
        }
        Ok(views)
    }

    /// One schedule.
    pub async fn schedule(&self, id: Uuid) -> Result<Option<ScheduleView>> {
        match store::find_schedule(&self.store, id).await? {
            Some(row) => Ok(Some(self.schedule_view(row).await?)),
            None => Ok(None),
        }
    }

    async fn existing_schedule(&self, id: Uuid) -> Result<schedule::Model> {
        store::find_schedule(&self.store, id)
            .await?
            .ok_or_else(|| Error::NotFound {
                entity: "schedule",
                id: id.to_string(),
            })
    }

    /// Pause (`paused`) or resume a schedule. Fires that come due while it is
    /// paused are not made up for: a resumed schedule fires next at the first
    /// fire after now.
    pub async fn pause_schedule(&self, id: Uuid, paused: bool) -> Result<ScheduleView> {
        let row = self.existing_schedule(id).await?;
        let now = self.clock.now();
        let next = parse_row(&row).and_then(|c| c.next_after(now));
        store::set_paused(&self.store, id, paused, next, now).await?;
        let row = self.existing_schedule(id).await?;
        self.schedule_view(row).await
    }

    /// Delete a schedule (the tasks it created stay).
    pub async fn delete_schedule(&self, id: Uuid) -> Result<bool> {
        self.existing_schedule(id).await?;
        Ok(store::delete_schedule(&self.store, id).await?)
    }

    /// Fire every due schedule no other replica holds; returns the tasks created.
    pub async fn fire_due_schedules(&self, owner: &str) -> Result<usize> {
        let now = self.clock.now();
        let leased = store::lease_due(&self.store, owner, now, Duration::seconds(LEASE_SECONDS)).await?;
        let mut created = 0;
        for row in leased {
            created += self.fire(row, owner, now).await?;
        }
        Ok(created)
    }

    async fn fire(&self, row: schedule::Model, owner: &str, now: DateTime<Utc>) -> Result<usize> {
        let Some(cron) = parse_row(&row) else {
            // Stored schedules were parsed when created; one that no longer
            // parses (a zone removed from the database) stops firing.
            warn!(schedule = %row.id, cron = %row.cron, timezone = %row.timezone, "schedule no longer parses; it stops firing");
            store::advance(&self.store, row.id, owner, None, 0, 0, now).await?;
            return Ok(0);
        };
        let Some(first) = row.next_fire_at else {
            return Ok(0);
        };
        let catch_up = CatchUp::parse(&row.catch_up).unwrap_or_default();
        let overlap = Overlap::parse(&row.overlap).unwrap_or_default();
        let plan = due(&cron, first, now, catch_up);
        let mut created = 0;
        for fire_at in &plan.fire {
            let fire_at = store::storage_time(*fire_at);
            let when = fire_at.to_rfc3339_opts(SecondsFormat::Millis, true);
            let running = match overlap {
                Overlap::Allow => Vec::new(),
                Overlap::Skip | Overlap::CancelPrevious => store::running_tasks(&self.store, row.id).await?,
            };
            if overlap == Overlap::Skip && !running.is_empty() {
                debug!(schedule = %row.id, fire = %when, "fire skipped: the previous task still runs");
                store::record_fire(&self.store, row.id, fire_at, None, "skipped", now).await?;
                continue;
            }
            for task in running {
                let reason = format!("schedule {} fired at {when} (overlap: cancel_previous)", row.id);
                match self.cancel_task(task, Some(reason)).await {
                    Ok(_) | Err(Error::InvalidTransition { .. }) => {}
                    Err(err) => return Err(err),
                }
            }
            let input = CreateTask {
                namespace: Some(row.namespace.clone()),
                name: row.name.clone(),
                version: row.version.clone(),
                context: row.context.clone(),
                initiator: Some(format!("schedule:{}", row.id)),
                source_system: Some("tasker.schedule".to_owned()),
                reason: Some(format!("cron {:?} fired at {when}", row.cron)),
                idempotency_key: Some(format!("schedule:{}:{}", row.id, fire_at.timestamp_micros())),
                ..CreateTask::default()
            };
            match self.create_task(input).await {
                Ok(task) => {
                    store::record_fire(&self.store, row.id, fire_at, Some(task.task.id), "created", now)
                        .await?;
                    created += 1;
                }
                Err(err) if err.is_client_error() => {
                    warn!(schedule = %row.id, fire = %when, error = %err, "a schedule's task was refused");
                    store::record_fire(&self.store, row.id, fire_at, None, "refused", now).await?;
                }
                Err(err) => return Err(err),
            }
        }
        let missed = i64::try_from(plan.missed).unwrap_or(i64::MAX);
        if missed > 0 {
            warn!(schedule = %row.id, missed, catch_up = %row.catch_up, "schedule fires were missed");
        }
        let fired = i64::try_from(created).unwrap_or(i64::MAX);
        store::advance(&self.store, row.id, owner, plan.next, fired, missed, now).await?;
        Ok(created)
    }
}

/// Fire due schedules every `every` until `cancel`, as `owner`.
pub fn spawn_schedules(
    tasker: Tasker,
    owner: String,
    every: StdDuration,
    cancel: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                _ = ticks.tick() => {}
            }
            if let Err(err) = tasker.fire_due_schedules(&owner).await {
                warn!(error = %err, "firing schedules failed; trying again");
            }
        }
    })
}

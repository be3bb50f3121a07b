//! The dashboard over GraphQL: `overview` (tasks of the last hour or day by
//! bucket and status, queues, the oldest claimable step, replicas) and
//! `explorer` (what the web UI needs to know of the server's settings).

use async_graphql::{Context, Enum, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::error::GqlResult;
use super::guard::{require, require_somewhere};
use super::types::{Step, TaskStatusKind, tasker};
use crate::auth::permission::{METRICS_READ, TASK_READ};
use crate::domain::TaskStatus;
use crate::domain::overview::Window;
use crate::service::{Bucket, Overview};

/// How far back `overview` looks.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "OverviewWindow")]
pub enum OverviewWindowGql {
    /// The last hour, in 12 buckets of 5 minutes.
    Hour,
    /// The last day, in 24 buckets of an hour.
    Day,
}

impl From<OverviewWindowGql> for Window {
    fn from(w: OverviewWindowGql) -> Self {
        match w {
            OverviewWindowGql::Hour => Window::Hour,
            OverviewWindowGql::Day => Window::Day,
        }
    }
}

/// Tasks of one status.
#[derive(SimpleObject, Clone)]
pub struct StatusCount {
    /// The status.
    pub status: TaskStatusKind,
    /// How many tasks have it.
    pub count: u64,
}

/// Tasks created in one bucket of the window.
#[derive(SimpleObject)]
pub struct OverviewBucket {
    /// Its start (it ends where the next starts; the last one now).
    pub start: DateTime<Utc>,
    /// Tasks created in it.
    pub total: u64,
    /// Of those, by status as they stand now (statuses without tasks left out).
    pub by_status: Vec<StatusCount>,
}

/// Work waiting and running now.
#[derive(SimpleObject)]
pub struct QueueFigures {
    /// Tasks IN_PROGRESS.
    pub tasks_in_progress: u64,
    /// Steps claimable now.
    pub steps_ready: u64,
    /// Steps claimable later (a retry's backoff, a delayed start).
    pub steps_scheduled: u64,
    /// Steps WAITING for a sleep, an approval, an event or a child task.
    pub steps_waiting: u64,
    /// Steps leased by an engine or worker.
    pub leases_active: u64,
    /// Leases past their expiry, not yet taken back.
    pub leases_expired: u64,
}

/// A replica sharing its metrics (through Redis; without Redis only the
/// replica answering is known).
#[derive(SimpleObject)]
#[graphql(name = "Replica")]
pub struct ReplicaGql {
    /// Its instance id (`metrics_cache.instance_id`).
    pub id: String,
    /// The replica that answered this query.
    pub this_one: bool,
    /// Its last metrics sync; a replica that stops syncing drops out after
    /// the metrics cache's retention window.
    pub last_seen_at: DateTime<Utc>,
}

/// An engine or external worker holding leases.
#[derive(SimpleObject)]
pub struct LeaseHolder {
    /// The lease owner: an engine's instance id or a worker id.
    pub owner: String,
    /// Unexpired leases it holds.
    pub leases: u64,
}

/// The dashboard's figures.
pub struct OverviewGql {
    window: OverviewWindowGql,
    overview: Overview,
}

fn counts<'a>(pairs: impl Iterator<Item = (&'a String, &'a u64)>) -> Vec<StatusCount> {
    pairs
        .filter_map(|(status, count)| {
            let status: TaskStatus = status.parse().ok()?;
            Some(StatusCount {
                status: status.into(),
                count: *count,
            })
        })
        .collect()
}

fn bucket(b: &Bucket) -> OverviewBucket {
    OverviewBucket {
        start: b.start,
        total: b.by_status.values().sum(),
        by_status: counts(b.by_status.iter()),
    }
}

/// The dashboard's figures: tasks of the window, queues and replicas.
#[Object(name = "Overview")]
impl OverviewGql {
    /// When the figures were read.
    async fn at(&self) -> DateTime<Utc> {
        self.overview.at
    }

    /// The window asked for.
    async fn window(&self) -> OverviewWindowGql {
        self.window
    }

    /// Width of one bucket in seconds.
    async fn bucket_seconds(&self) -> i64 {
        Window::from(self.window).bucket().num_seconds()
    }

    /// Tasks created in the window, bucket by bucket, oldest first.
    async fn buckets(&self) -> Vec<OverviewBucket> {
        self.overview.buckets.iter().map(bucket).collect()
    }

    /// Tasks created in the window, by status as they stand now.
    async fn tasks_by_status(&self) -> Vec<StatusCount> {
        let mut total = std::collections::BTreeMap::<String, u64>::new();
        for b in &self.overview.buckets {
            for (status, count) in &b.by_status {
                *total.entry(status.clone()).or_default() += count;
            }
        }
        counts(total.iter())
    }

    /// Work waiting and running now (every task, not only the window's).
    async fn queues(&self) -> QueueFigures {
        let q = &self.overview.queues;
        QueueFigures {
            tasks_in_progress: q.tasks_in_progress,
            steps_ready: q.steps_ready,
            steps_scheduled: q.steps_scheduled,
            steps_waiting: self.overview.steps_waiting,
            leases_active: q.leases_active,
            leases_expired: q.leases_expired,
        }
    }

    /// The step that has been claimable for the longest time, if any is.
    async fn oldest_ready_step(&self) -> Option<Step> {
        self.overview
            .oldest_ready
            .as_ref()
            .map(|(step, _)| Step::one(step.clone()))
    }

    /// Since when that step has been claimable.
    async fn oldest_ready_since(&self) -> Option<DateTime<Utc>> {
        self.overview.oldest_ready.as_ref().map(|(_, since)| *since)
    }

    /// The replicas, this one first.
    async fn replicas(&self) -> Vec<ReplicaGql> {
        self.overview
            .replicas
            .iter()
            .map(|r| ReplicaGql {
                id: r.id.clone(),
                this_one: r.this_one,
                last_seen_at: r.last_seen,
            })
            .collect()
    }

    /// Why only this replica is listed although Redis is configured.
    async fn replicas_error(&self) -> Option<&str> {
        self.overview.replicas_error.as_deref()
    }

    /// Engines and workers holding leases now, busiest first.
    async fn lease_holders(&self) -> Vec<LeaseHolder> {
        self.overview
            .lease_holders
            .iter()
            .map(|h| LeaseHolder {
                owner: h.owner.clone(),
                leases: u64::try_from(h.leases).unwrap_or(0),
            })
            .collect()
    }
}

/// What the task explorer (the web UI at `/`) needs of the settings.
#[derive(SimpleObject, Clone, Debug, Default)]
pub struct ExplorerSettings {
    /// Link to a trace in the configured trace viewer, with `{trace_id}`
    /// where the id goes (`explorer.trace_url`); null when none is set.
    pub trace_url: Option<String>,
    /// The server's version.
    pub version: String,
}

/// The dashboard's queries.
#[derive(Default)]
pub struct OverviewQuery;

#[Object]
impl OverviewQuery {
    /// The dashboard's figures over the last hour or day. Needs
    /// `tasker.metrics:read`: they cover every namespace.
    async fn overview(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "OverviewWindowGql::Hour")] window: OverviewWindowGql,
    ) -> GqlResult<OverviewGql> {
        require(ctx, METRICS_READ, None)?;
        let overview = tasker(ctx)?.overview(window.into()).await?;
        Ok(OverviewGql { window, overview })
    }

    /// The explorer's settings. Needs `tasker.task:read` (of any namespace),
    /// as the task pages that use them do.
    async fn explorer(&self, ctx: &Context<'_>) -> GqlResult<ExplorerSettings> {
        require_somewhere(ctx, TASK_READ)?;
        Ok(ctx.data_opt::<ExplorerSettings>().cloned().unwrap_or_default())
    }
}

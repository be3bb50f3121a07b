//! The dashboard's figures: tasks of the window by bucket and status, the
//! queues, the step that has waited longest to be claimed, and the replicas
//! (those sharing metrics through Redis, and whoever holds leases).

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};

use super::views::StepView;
use super::{Result, Tasker};
use crate::domain::overview::Window;
use crate::store::{self, QueueDepths};

/// Tasks created in one bucket of the window, by status.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    /// Its start; it ends where the next one starts (the last one: now).
    pub start: DateTime<Utc>,
    /// Tasks created in it, by status (statuses without tasks left out).
    pub by_status: BTreeMap<String, u64>,
}

/// A replica sharing metrics, as the metrics cache knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Replica {
    /// Its instance id (`metrics_cache.instance_id`).
    pub id: String,
    /// This is the replica answering.
    pub this_one: bool,
    /// Its last metrics sync through Redis (now, for this replica without Redis).
    pub last_seen: DateTime<Utc>,
}

/// What the dashboard shows.
#[derive(Debug, Clone)]
pub struct Overview {
    /// The window's buckets, oldest first.
    pub buckets: Vec<Bucket>,
    /// Work waiting and running now.
    pub queues: QueueDepths,
    /// Steps WAITING for a sleep, an approval, an event or a child task.
    pub steps_waiting: u64,
    /// The step claimable for the longest time, and since when.
    pub oldest_ready: Option<(StepView, DateTime<Utc>)>,
    /// The replicas, this one first: with Redis, every one that synced its
    /// metrics within the retention window; without, this one only.
    pub replicas: Vec<Replica>,
    /// Why the other replicas are not listed (Redis unreachable).
    pub replicas_error: Option<String>,
    /// Engines and workers holding unexpired leases, busiest first.
    pub lease_holders: Vec<store::LeaseHolder>,
    /// When the figures were read.
    pub at: DateTime<Utc>,
}

impl Tasker {
    /// The dashboard's figures for `window`.
    pub async fn overview(&self, window: Window) -> Result<Overview> {
        let now = self.clock.now();
        let conn = self.store.reader();
        let starts = window.starts(now);
        let mut buckets: Vec<Bucket> = starts
            .iter()
            .map(|start| Bucket {
                start: *start,
                by_status: BTreeMap::new(),
            })
            .collect();
        for row in store::tasks_by_bucket(conn, &starts).await? {
            if let Some(bucket) = usize::try_from(row.bucket).ok().and_then(|i| buckets.get_mut(i)) {
                *bucket.by_status.entry(row.status).or_default() += u64::try_from(row.count).unwrap_or(0);
            }
        }
        let oldest_ready = match store::oldest_ready_step(conn, now).await? {
            Some(step) => {
                let since = step.ready_at.unwrap_or(now);
                Some((StepView::try_from(step)?, since))
            }
            None => None,
        };
        let (replicas, replicas_error) = self.replicas(now).await;
        Ok(Overview {
            buckets,
            queues: store::queue_depths(conn, now).await?,
            steps_waiting: store::steps_waiting(conn).await?,
            oldest_ready,
            replicas,
            replicas_error,
            lease_holders: store::lease_holders(conn, now).await?,
            at: now,
        })
    }

    async fn replicas(&self, now: DateTime<Utc>) -> (Vec<Replica>, Option<String>) {
        let me = self.metrics_cache.status().instance_id;
        let mut list = vec![Replica {
            id: me.clone(),
            this_one: true,
            last_seen: now,
        }];
        match self.metrics_cache.replicas().await {
            None => (list, None),
            Some(Ok(seen)) => {
                for (id, at) in seen {
                    let Some(last_seen) = Utc.timestamp_opt(at as i64, 0).single() else {
                        continue;
                    };
                    if id == me {
                        list[0].last_seen = last_seen;
                    } else {
                        list.push(Replica {
                            id,
                            this_one: false,
                            last_seen,
                        });
                    }
                }
                (list, None)
            }
            Some(Err(err)) => (list, Some(err.to_string())),
        }
    }
}

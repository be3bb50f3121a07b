//! The subscription root. Every subscriber has its own bounded queue on the
//! event bus: the engine never waits for a subscriber, and one that falls
//! behind is told how many events it missed.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Context, ErrorExtensions, ID, Subscription};
use futures::Stream;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use super::error::{ErrorCode, GqlError, bad_input};
use super::guard::{require, require_somewhere};
use super::types::{Event, Task, namespace_of, parse_id, tasker};
use crate::auth::Scope;
use crate::auth::permission::{EVENT_READ, STEP_CLAIM, TASK_READ};
use crate::domain::StepStatus;
use crate::domain::change::Change;
use crate::events::{self, first_unknown, selected};
use crate::service::TaskInfoCache;

/// How often `workAvailable` re-checks for work that became claimable without
/// an event (retries whose backoff elapsed, work created by other processes).
const WORK_RECHECK: Duration = Duration::from_secs(2);

/// Tasks whose namespace and correlation id an `events` subscriber keeps.
const TASKS_REMEMBERED: usize = 10_000;

fn lagged(missed: u64) -> async_graphql::Error {
    ErrorCode::Lagged
        .error(format!("this subscriber fell behind and missed {missed} events"))
        .extend_with(|_, e| e.set("missed", missed))
}

/// Receive the next event for which `wanted` holds; `Err(n)` after missing n.
async fn next_matching(
    rx: &mut Receiver<Arc<events::Event>>,
    wanted: impl Fn(&events::Event) -> bool,
) -> Option<Result<Arc<events::Event>, u64>> {
    loop {
        match rx.recv().await {
            Ok(event) if wanted(&event) => return Some(Ok(event)),
            Ok(_) => {}
            Err(RecvError::Lagged(n)) => return Some(Err(n)),
            Err(RecvError::Closed) => return None,
        }
    }
}

/// Live updates.
pub struct SubscriptionRoot;

/// Live updates over graphql-ws.
#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// The task, first as it is now, then after every change of it or its
    /// steps (bursts are coalesced). Ends after the task finishes (COMPLETE,
    /// ERROR, CANCELLED or RESOLVED_MANUALLY).
    async fn task_updated(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<impl Stream<Item = async_graphql::Result<Task>> + use<>, GqlError> {
        require_somewhere(ctx, TASK_READ)?;
        let id = parse_id(&id, "id")?;
        let tasker = tasker(ctx)?.clone();
        // Watch before reading, so no change between the two is missed.
        let mut watcher = tasker.task_watch().watch(id);
        let first = tasker
            .task(id)
            .await?
            .ok_or_else(|| ErrorCode::NotFound.error(format!("task {id} not found")))?;
        require(ctx, TASK_READ, Some(&first.namespace))?;
        Ok(async_stream::stream! {
            let mut done = first.status.is_finished();
            yield Ok(Task::one(first));
            // Each wake-up reloads the full state, so a burst (or events the
            // dispatcher missed) costs one read and loses nothing.
            while !done && watcher.changed().await {
                match tasker.task(id).await {
                    Ok(Some(task)) => {
                        done = task.status.is_finished();
                        yield Ok(Task::one(task));
                    }
                    Ok(None) => break,
                    Err(err) => {
                        yield Err(GqlError::from(err).into());
                        break;
                    }
                }
            }
        })
    }

    /// Lifecycle events as they are committed. `names` takes catalog names or
    /// prefixes ending in `*` (e.g. `step.*`); all given filters must match. A
    /// subscriber that falls behind receives a LAGGED error with the number
    /// of events it missed, then the stream goes on.
    async fn events(
        &self,
        ctx: &Context<'_>,
        names: Option<Vec<String>>,
        task_id: Option<ID>,
        namespace: Option<String>,
    ) -> Result<impl Stream<Item = async_graphql::Result<Event>> + use<>, GqlError> {
        // Events outside the caller's namespaces are skipped, and so are
        // events of no namespace unless the grant is unscoped.
        let scope = require_somewhere(ctx, EVENT_READ)?;
        let task_filter = task_id.map(|id| parse_id(&id, "taskId")).transpose()?;
        let patterns = names.unwrap_or_default();
        if let Some(unknown) = first_unknown(&patterns) {
            return Err(bad_input(
                "names",
                format!("{unknown:?} matches no event of the catalog (see Query.eventCatalog)"),
            )
            .into());
        }
        let tasker = tasker(ctx)?.clone();
        let mut rx = tasker.events().subscribe();
        let mut cache = TaskInfoCache::new(tasker, TASKS_REMEMBERED);
        Ok(async_stream::stream! {
            let wanted = |e: &events::Event| {
                task_filter.is_none_or(|t| Some(t) == e.task_id)
                    && selected(&patterns, e.name.as_str())
            };
            while let Some(next) = next_matching(&mut rx, wanted).await {
                let event = match next {
                    Ok(event) => event,
                    Err(missed) => {
                        cache.tasker().metrics().events_dropped(missed);
                        yield Err(lagged(missed));
                        continue;
                    }
                };
                let info = match event.task_id {
                    None => None,
                    Some(task_id) => match cache.get(task_id).await {
                        Ok(Some(info)) => Some(info),
                        // Deleted since: nothing left to show.
                        Ok(None) => continue,
                        Err(err) => {
                            yield Err(GqlError::from(err).into());
                            continue;
                        }
                    },
                };
                let event_namespace = namespace_of(&event, info.as_deref());
                if namespace.as_deref().is_some_and(|n| Some(n) != event_namespace) {
                    continue;
                }
                if scope != Scope::All && !event_namespace.is_some_and(|n| scope.contains(n)) {
                    continue;
                }
                yield Ok(Event::new(&event, info.as_deref(), &cache.tasker().settings().redactor));
            }
        })
    }

    /// Handler names (of those given) with external work to claim: once at
    /// start when there is some, whenever such a step becomes ready, and when
    /// work appears without an event (a retry's backoff elapsed). Workers
    /// then call claimSteps instead of polling.
    async fn work_available(
        &self,
        ctx: &Context<'_>,
        handlers: Vec<String>,
    ) -> Result<impl Stream<Item = async_graphql::Result<Vec<String>>> + use<>, GqlError> {
        require(ctx, STEP_CLAIM, None)?;
        if handlers.is_empty() {
            return Err(bad_input("handlers", "list at least one handler").into());
        }
        let tasker = tasker(ctx)?.clone();
        let mut rx = tasker.events().subscribe();
        let wanted: BTreeSet<String> = handlers.into_iter().collect();
        let handler_list: Vec<String> = wanted.iter().cloned().collect();
        let initial = tasker.handlers_with_work(&handler_list).await?;
        Ok(async_stream::stream! {
            let mut last_check: BTreeSet<String> = initial.iter().cloned().collect();
            if !initial.is_empty() {
                yield Ok(initial);
            }
            let mut recheck = tokio::time::interval(WORK_RECHECK);
            recheck.tick().await;
            loop {
                tokio::select! {
                    next = rx.recv() => {
                        let mut ready = BTreeSet::new();
                        let mut pending = Some(next);
                        while let Some(item) = pending.take() {
                            match item {
                                Ok(event) => {
                                    if let Some(Change::Step(s)) = &event.change
                                        && s.external && s.to == StepStatus::Enqueued && wanted.contains(&s.handler)
                                    {
                                        ready.insert(s.handler.clone());
                                    }
                                }
                                Err(RecvError::Lagged(_)) => {
                                    // Missed events may have announced work: ask the database.
                                    match tasker.handlers_with_work(&handler_list).await {
                                        Ok(found) => ready.extend(found),
                                        Err(err) => yield Err(GqlError::from(err).into()),
                                    }
                                }
                                Err(RecvError::Closed) => return,
                            }
                            pending = match rx.try_recv() {
                                Ok(event) => Some(Ok(event)),
                                Err(TryRecvError::Lagged(n)) => Some(Err(RecvError::Lagged(n))),
                                Err(_) => None,
                            };
                        }
                        if !ready.is_empty() {
                            yield Ok(ready.into_iter().collect());
                        }
                    }
                    _ = recheck.tick() => {
                        match tasker.handlers_with_work(&handler_list).await {
                            Ok(found) => {
                                let now: BTreeSet<String> = found.into_iter().collect();
                                if !now.is_empty() && now != last_check {
                                    yield Ok(now.iter().cloned().collect());
                                }
                                last_check = now;
                            }
                            Err(err) => yield Err(GqlError::from(err).into()),
                        }
                    }
                }
            }
        })
    }
}

//! The telemetry subscriber: every event goes where the router sends it —
//! metrics, a log line (sensitive values filtered), a span. Step changes carry
//! no namespace or correlation id: they come from the task's own events, else
//! from the database, once per task.

use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::sync::Mutex;
use tracing::{Level, debug, error, info, info_span, trace, warn};

use crate::domain::change::Change;
use crate::events::{Delivery, Event, Subscriber};
use crate::registry::RegistryError;
use crate::service::{TaskInfo, TaskInfoCache, Tasker};
use crate::telemetry::{background, traces};

/// Tasks whose namespace the feed keeps.
const TASKS_REMEMBERED: usize = 100_000;

/// The subscriber's name in the registry.
pub const NAME: &str = "telemetry";

struct Feed {
    tasks: Mutex<TaskInfoCache>,
}

fn info_of(event: &Event) -> Option<Arc<TaskInfo>> {
    match &event.change {
        Some(Change::Task(t)) => Some(Arc::new(TaskInfo {
            namespace: t.namespace.clone(),
            correlation_id: t.correlation_id.clone(),
            trace_parent: t.trace_parent.clone(),
        })),
        _ => None,
    }
}

macro_rules! log_at {
    ($level:expr, $($fields:tt)+) => {
        match $level {
            Level::ERROR => error!($($fields)+),
            Level::WARN => warn!($($fields)+),
            Level::INFO => info!($($fields)+),
            Level::DEBUG => debug!($($fields)+),
            Level::TRACE => trace!($($fields)+),
        }
    };
}

/// Whether a log line at `level` would be written (the level is only known at
/// run time, each callsite needs its own constant).
fn log_enabled(level: Level) -> bool {
    match level {
        Level::ERROR => tracing::enabled!(Level::ERROR),
        Level::WARN => tracing::enabled!(Level::WARN),
        Level::INFO => tracing::enabled!(Level::INFO),
        Level::DEBUG => tracing::enabled!(Level::DEBUG),
        Level::TRACE => tracing::enabled!(Level::TRACE),
    }
}

#[async_trait::async_trait]
impl Subscriber for Feed {
    async fn handle(&self, event: Arc<Event>) {
        // Relayed from another replica: counted and logged there.
        if event.origin.is_some() {
            return;
        }
        let mut tasks = self.tasks.lock().await;
        let settings = tasks.tasker().settings();
        let mut route = settings.router.route(event.name, event.task_id);
        // Routed lines the log filter would drop cost no payload, no filtering.
        route.log = route.log.filter(|level| log_enabled(*level));
        route.span = route.span && tracing::enabled!(kind: tracing::metadata::Kind::SPAN, Level::INFO);
        if !route.metric && route.log.is_none() && !route.span {
            return;
        }
        let info = match (info_of(&event), event.task_id) {
            (Some(info), Some(task_id)) => {
                tasks.remember(task_id, Arc::clone(&info));
                Some(info)
            }
            // Deleted, or the database is down: counted under "unknown".
            (None, Some(task_id)) => tasks.get(task_id).await.ok().flatten(),
            (_, None) => None,
        };
        let namespace = info.as_ref().map(|i| i.namespace.as_str());
        let tasker = tasks.tasker();
        if route.metric {
            let step_namespace = match &event.change {
                Some(Change::Step(_)) => Some(namespace.unwrap_or("unknown")),
                _ => None,
            };
            tasker
                .metrics()
                .record_event(event.name.as_str(), event.change.as_ref(), step_namespace);
        }
        if route.log.is_none() && !route.span {
            return;
        }
        let mut payload = event.payload();
        tasker.settings().redactor.redact_in_place(&mut payload);
        let correlation_id = info
            .as_ref()
            .and_then(|i| i.correlation_id.as_deref())
            .unwrap_or_default();
        let task_id = event.task_id.map(|t| t.to_string()).unwrap_or_default();
        let step_id = event.step_id.map(|s| s.to_string()).unwrap_or_default();
        let step_name = payload["step_name"].as_str().unwrap_or_default();
        let attempt = payload["attempt"].as_i64().unwrap_or_default();
        if let Some(level) = route.log {
            log_at!(
                level,
                event = event.name.as_str(),
                task_id,
                step_id,
                step_name,
                attempt,
                namespace = namespace.unwrap_or_default(),
                correlation_id,
                payload = %payload,
                "{}",
                event.name.description()
            );
        }
        if route.span {
            let span = info_span!(
                "tasker.event",
                otel.name = event.name.as_str(),
                task_id,
                step_id,
                correlation_id,
                payload = %payload,
            );
            // In the task's trace, beside its step attempts.
            if let Some(parent) = info.as_ref().and_then(|i| i.trace_parent.as_deref()) {
                traces::continue_trace(&span, parent);
            }
            drop(span.enter());
        }
    }
}

/// Route every event from now on, with a queue of `queue` events (events
/// missed beyond it are counted as dropped), on the telemetry thread.
pub fn follow(tasker: &Tasker, queue: usize) -> Result<(), RegistryError> {
    let here = Handle::current();
    let tasks = TaskInfoCache::new(tasker.clone(), TASKS_REMEMBERED).reading_on(here.clone());
    let feed = Feed {
        tasks: Mutex::new(tasks),
    };
    // Off the engine's threads (see `background`), unless that thread is missing.
    let runtime = background::runtime().unwrap_or(here);
    let delivery = Delivery {
        queue,
        window: background::GATHER_WINDOW,
    };
    tasker
        .subscribers()
        .subscribe_on(&runtime, NAME, &["*"], Arc::new(feed), true, delivery)
}

//! The telemetry subscriber: every event goes where the router sends it —
//! metrics, a log line (sensitive values filtered), a span. Step changes carry
//! no namespace or correlation id: they come from the task's own events, else
//! from the database, once per task.

use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::sync::Mutex;
use tracing::{Level, debug, error, info, info_span, trace, warn};
use uuid::fmt::Hyphenated;

use crate::domain::change::Change;
use crate::events::{Delivery, Event, Subscriber};
use crate::registry::RegistryError;
use crate::service::{TaskInfo, TaskInfoCache, Tasker};
use crate::telemetry::router::Destinations;
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

/// What an event's log line says in fields of its own, so that a log search
/// needs no parsing of a payload: a transition's from and to, its reason, what
/// it is about.
#[derive(Default)]
struct Transition<'a> {
    task_name: Option<&'a str>,
    step_name: Option<&'a str>,
    handler: Option<&'a str>,
    attempt: Option<i64>,
    from: Option<&'static str>,
    to: Option<&'static str>,
    reason: Option<&'a str>,
}

impl<'a> Transition<'a> {
    fn of(event: &'a Event) -> Self {
        match &event.change {
            Some(Change::Task(t)) => Transition {
                task_name: Some(&t.name),
                from: t.from.map(|status| status.as_str()),
                to: Some(t.to.as_str()),
                reason: t.reason.as_deref(),
                ..Transition::default()
            },
            Some(Change::Step(s)) => Transition {
                step_name: Some(&s.step_name),
                handler: Some(&s.handler),
                attempt: Some(i64::from(s.attempt)),
                from: s.from.map(|status| status.as_str()),
                to: Some(s.to.as_str()),
                reason: s.reason.as_deref(),
                ..Transition::default()
            },
            // Events about an attempt carry its step in their payload.
            None => Transition {
                step_name: event.data.get("step_name").and_then(|v| v.as_str()),
                attempt: event.data.get("attempt").and_then(|v| v.as_i64()),
                ..Transition::default()
            },
        }
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
            // Deleted, or the database is down: counted under "unknown". The
            // read is boxed: every event's future is moved into a box, and
            // the read's (a query's) would make that a copy of kilobytes.
            (None, Some(task_id)) => match tasks.known(task_id) {
                Some(info) => Some(info),
                None => Box::pin(tasks.get(task_id)).await.ok().flatten(),
            },
            (_, None) => None,
        };
        dispatch(tasks.tasker(), &event, route, info.as_deref());
    }
}

/// Send `event` where `route` says. Apart from `handle`, whose future (moved
/// into a box for every event) would otherwise hold all of this.
fn dispatch(tasker: &Tasker, event: &Event, route: Destinations, info: Option<&TaskInfo>) {
    let namespace = info.map(|i| i.namespace.as_str());
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
    let redactor = &tasker.settings().redactor;
    let correlation_id = info.and_then(|i| i.correlation_id.as_deref());
    let (mut task_buf, mut step_buf) = ([0; Hyphenated::LENGTH], [0; Hyphenated::LENGTH]);
    let task_id = event
        .task_id
        .map(|t| &*t.hyphenated().encode_lower(&mut task_buf));
    let step_id = event
        .step_id
        .map(|s| &*s.hyphenated().encode_lower(&mut step_buf));
    if let Some(level) = route.log {
        let t = Transition::of(event);
        let reason = t.reason.map(|r| redactor.redact_text(r));
        // What the fields do not say (none for most state changes),
        // filtered, as one JSON text.
        let payload = (!event.data.is_empty()).then(|| {
            let mut data = serde_json::Value::Object(event.data.clone());
            redactor.redact_in_place(&mut data);
            data.to_string()
        });
        // Fields that do not apply (a task event's step) are left out.
        log_at!(
            level,
            event = event.name.as_str(),
            task_id,
            step_id,
            task_name = t.task_name,
            step_name = t.step_name,
            handler = t.handler,
            attempt = t.attempt,
            from = t.from,
            to = t.to,
            reason = reason.as_deref(),
            namespace,
            correlation_id,
            payload = payload.as_deref(),
            "{}",
            event.name.description()
        );
    }
    if route.span {
        let mut payload = event.payload();
        redactor.redact_in_place(&mut payload);
        let span = info_span!(
            "tasker.event",
            otel.name = event.name.as_str(),
            task_id,
            step_id,
            correlation_id,
            payload = %payload,
        );
        // In the task's trace, beside its step attempts.
        if let Some(parent) = info.and_then(|i| i.trace_parent.as_deref()) {
            traces::continue_trace(&span, parent);
        }
        drop(span.enter());
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

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use serde_json::Value;
    use uuid::Uuid;

    use super::*;
    use crate::config::Config;
    use crate::domain::attempt::FailureKind;
    use crate::domain::change::{StepChange, TaskChange};
    use crate::domain::{StepStatus, TaskStatus};
    use crate::events::EventName;
    use crate::handlers::HandlerRegistry;
    use crate::telemetry::tests::one_line;

    #[test]
    fn event_lines_carry_the_fields_that_apply_and_the_rest_as_filtered_json_text() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let mut config = Config::default();
        config.database.url = "sqlite::memory:".into();
        let tasker = runtime
            .block_on(crate::app::open(&config, HandlerRegistry::with_builtins()))
            .expect("opens");
        let feed = Feed {
            tasks: Mutex::new(TaskInfoCache::new(tasker, 10)),
        };
        let (task_id, step_id) = (Uuid::new_v4(), Uuid::new_v4());
        let created = Change::Task(TaskChange {
            task_id,
            namespace: "shop".into(),
            name: "order".into(),
            created_at: Utc::now(),
            correlation_id: Some("req-7".into()),
            trace_parent: None,
            from: None,
            to: TaskStatus::Pending,
            sequence: 1,
            reason: None,
            at: Utc::now(),
        });
        // A warning: written at the `info` level the lines are captured at.
        let failed = Change::Step(StepChange {
            step_id,
            task_id,
            step_name: "charge".into(),
            handler: "http".into(),
            external: false,
            from: Some(StepStatus::InProgress),
            to: StepStatus::Error,
            attempt: 3,
            started_at: None,
            sequence: 4,
            reason: Some("card declined token=abc".into()),
            failure: Some(FailureKind::Handler),
            at: Utc::now(),
        });
        let line_of = |event: Event| -> Value {
            let text = one_line(|| runtime.block_on(feed.handle(Arc::new(event))));
            serde_json::from_str(&text).expect("one JSON line")
        };

        let task = line_of(Event::from_change(created));
        assert_eq!(task["event"], "task.initialize_requested", "{task}");
        assert_eq!(task["task_id"], task_id.to_string());
        assert_eq!(task["task_name"], "order");
        assert_eq!(task["to"], TaskStatus::Pending.as_str());
        assert_eq!(task["namespace"], "shop");
        assert_eq!(task["correlation_id"], "req-7");
        for absent in ["step_id", "step_name", "attempt", "from", "reason", "payload"] {
            assert!(task.get(absent).is_none(), "{absent} in {task}");
        }

        // The step's task is remembered from its first event.
        let step = line_of(Event::from_change(failed));
        assert_eq!(step["level"], "WARN", "{step}");
        assert_eq!(step["event"], "step.failed");
        assert_eq!(step["step_id"], step_id.to_string());
        assert_eq!(step["step_name"], "charge");
        assert_eq!(step["handler"], "http");
        assert_eq!(step["attempt"], 3);
        assert_eq!(step["from"], StepStatus::InProgress.as_str());
        assert_eq!(step["to"], StepStatus::Error.as_str());
        assert_eq!(step["reason"], "card declined token=[FILTERED]");
        assert_eq!(step["namespace"], "shop");
        assert_eq!(step["correlation_id"], "req-7");

        // Not a state change: the payload says the rest, filtered.
        let slow = Event::new(EventName::ObservabilitySlowStep, Utc::now())
            .task(task_id)
            .step(step_id)
            .with("step_name", "charge")
            .with("attempt", 3)
            .with("duration_ms", 950)
            .with("api_key", "k-1");
        let slow = line_of(slow);
        assert_eq!(slow["step_name"], "charge", "{slow}");
        assert_eq!(slow["attempt"], 3);
        let payload: Value = serde_json::from_str(slow["payload"].as_str().expect("text")).expect("JSON");
        assert_eq!(payload["duration_ms"], 950);
        assert_eq!(payload["api_key"], crate::domain::redact::FILTERED);
    }
}

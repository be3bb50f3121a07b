//! The event router: decides, per event, whether it feeds the metrics, becomes
//! a log line, a span, or several. Routes are declarative (`observability.routes`,
//! most specific pattern wins); `event_sampling_rate` keeps a share of tasks'
//! log lines and spans (all or nothing per task, warnings always kept), and
//! `filtered_events` are never logged or traced. Metrics see every event
//! routed to them, unsampled.

use std::collections::BTreeMap;

use tracing::Level;
use uuid::Uuid;

use crate::events::{EventName, first_unknown, name_matches};

/// Where one event goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Destinations {
    /// Counted in the Prometheus metrics.
    pub metric: bool,
    /// Written as a log line at this level.
    pub log: Option<Level>,
    /// Exported as a span.
    pub span: bool,
}

/// A route's destination names, as configured.
pub const DESTINATIONS: &[&str] = &["metric", "log", "span"];

/// How loud an event is when logged.
pub fn level_of(name: EventName) -> Level {
    use EventName as E;
    match name {
        E::TaskFailed
        | E::StepFailed
        | E::StepLeaseExpired
        | E::SubscriberLagged
        | E::HandlerValidationFailed
        | E::PluginValidationFailed
        | E::ObservabilitySlowStep
        | E::ObservabilitySlowQuery
        | E::ObservabilityMemorySpike => Level::WARN,
        _ if name.as_str().starts_with("step.") || name.as_str().starts_with("workflow.") => Level::DEBUG,
        _ => Level::INFO,
    }
}

/// A configuration problem: the key and what is wrong.
pub type RouteProblem = (String, String);

/// Check configured routes: known patterns and destinations.
pub fn check_routes(routes: &BTreeMap<String, Vec<String>>) -> Result<(), RouteProblem> {
    for (pattern, destinations) in routes {
        if first_unknown(&[pattern]).is_some() {
            return Err((
                format!("routes.{pattern:?}"),
                "matches no event of the catalog".into(),
            ));
        }
        if let Some(bad) = destinations.iter().find(|d| !DESTINATIONS.contains(&d.as_str())) {
            return Err((
                format!("routes.{pattern:?}"),
                format!("{bad:?} is not one of metric, log, span"),
            ));
        }
    }
    Ok(())
}

/// The decisions, precomputed per catalog entry.
#[derive(Debug, Clone)]
pub struct Router {
    routes: Vec<Destinations>,
    sampling_rate: f64,
    filtered: Vec<bool>,
}

fn specificity(pattern: &str) -> (bool, usize) {
    (!pattern.ends_with('*'), pattern.len())
}

fn index(name: EventName) -> usize {
    EventName::ALL.iter().position(|e| *e == name).unwrap_or(0)
}

impl Router {
    /// A router over `routes` (see [`crate::config::default_routes`]).
    pub fn new(
        routes: &BTreeMap<String, Vec<String>>,
        sampling_rate: f64,
        filtered_events: &[String],
    ) -> Self {
        let decide = |name: EventName| {
            let Some((_, targets)) = routes
                .iter()
                .filter(|(p, _)| name_matches(p, name.as_str()))
                .max_by_key(|(p, _)| specificity(p))
            else {
                return Destinations::default();
            };
            Destinations {
                metric: targets.iter().any(|t| t == "metric"),
                log: targets.iter().any(|t| t == "log").then(|| level_of(name)),
                span: targets.iter().any(|t| t == "span"),
            }
        };
        Router {
            routes: EventName::ALL.iter().map(|e| decide(*e)).collect(),
            sampling_rate: sampling_rate.clamp(0.0, 1.0),
            filtered: EventName::ALL
                .iter()
                .map(|e| filtered_events.iter().any(|p| name_matches(p, e.as_str())))
                .collect(),
        }
    }

    /// Where an event of `name` about `task` goes.
    pub fn route(&self, name: EventName, task: Option<Uuid>) -> Destinations {
        let i = index(name);
        let mut d = self.routes[i];
        let kept =
            d.log.is_some_and(|l| l <= Level::WARN) || task.is_none_or(|t| sampled(t, self.sampling_rate));
        if self.filtered[i] || !kept {
            d.log = None;
            d.span = false;
        }
        d
    }
}

impl Default for Router {
    fn default() -> Self {
        Router::new(&crate::config::default_routes(), 1.0, &[])
    }
}

/// Whether a task falls in the sampled share: decided by its id, so that all
/// of a task's lines are kept or none.
fn sampled(task: Uuid, rate: f64) -> bool {
    if rate >= 1.0 {
        return true;
    }
    let low = u64::from_le_bytes(task.as_bytes()[8..].try_into().unwrap_or([0; 8]));
    (low as f64 / u64::MAX as f64) < rate
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::default_routes;

    #[test]
    fn the_most_specific_route_wins() {
        let mut routes = default_routes();
        routes.insert("step.completed".into(), vec!["metric".into()]);
        let r = Router::new(&routes, 1.0, &[]);
        let t = Some(Uuid::now_v7());
        assert_eq!(
            r.route(EventName::StepCompleted, t),
            Destinations {
                metric: true,
                log: None,
                span: false
            }
        );
        let failed = r.route(EventName::StepFailed, t);
        assert_eq!(failed.log, Some(Level::WARN));
        let completed = r.route(EventName::TaskCompleted, t);
        assert!(completed.metric && completed.log.is_some() && !completed.span);
        routes.insert("task.*".into(), vec!["span".into()]);
        let r = Router::new(&routes, 1.0, &[]);
        assert_eq!(
            r.route(EventName::TaskCompleted, t),
            Destinations {
                metric: false,
                log: None,
                span: true
            }
        );
        assert_eq!(r.route(EventName::HandlerRegistered, None).log, Some(Level::INFO));
    }

    #[test]
    fn filtered_events_are_never_logged_but_still_counted() {
        let r = Router::new(&default_routes(), 1.0, &["workflow.*".to_owned()]);
        let d = r.route(EventName::WorkflowTaskStarted, Some(Uuid::now_v7()));
        assert!(d.metric && d.log.is_none() && !d.span);
    }

    #[test]
    fn sampling_keeps_a_share_of_tasks_whole_and_every_warning() {
        let r = Router::new(&default_routes(), 0.25, &[]);
        let tasks: Vec<Uuid> = (0..4000).map(|_| Uuid::new_v4()).collect();
        let kept = tasks
            .iter()
            .filter(|t| r.route(EventName::TaskCompleted, Some(**t)).log.is_some())
            .count();
        assert!((800..1200).contains(&kept), "{kept} of 4000 at 25 %");
        for t in &tasks {
            let a = r.route(EventName::StepCompleted, Some(*t)).log.is_some();
            let b = r.route(EventName::TaskCompleted, Some(*t)).log.is_some();
            assert_eq!(a, b, "a task is kept whole");
            assert!(r.route(EventName::TaskFailed, Some(*t)).log.is_some());
            assert!(r.route(EventName::TaskFailed, Some(*t)).metric);
        }
        let none = Router::new(&default_routes(), 0.0, &[]);
        assert!(none.route(EventName::TaskCompleted, Some(tasks[0])).log.is_none());
    }

    #[test]
    fn bad_routes_are_named() {
        let mut routes = default_routes();
        routes.insert("nope.*".into(), vec!["log".into()]);
        assert!(check_routes(&routes).is_err());
        let mut routes = default_routes();
        routes.insert("task.*".into(), vec!["email".into()]);
        let (key, message) = check_routes(&routes).expect_err("refused");
        assert!(key.contains("task.*") && message.contains("email"));
        assert!(check_routes(&default_routes()).is_ok());
    }
}

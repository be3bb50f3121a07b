//! Step kinds: what a step does once its parents are satisfied. Most steps
//! call a handler, a `map` once per item of a list. The engine runs the
//! others itself, and they hold no handler slot, lease or connection while
//! they wait: `sleep` waits until a time, `approval` for a person to approve
//! or reject it, `wait_for` for an event from outside, `task` for a child
//! task (each may time out).
//! Any step may also have a `when` condition over the context and its
//! parents' results: when it is false the step is SKIPPED with the reason,
//! and a skipped parent counts as done for its children.
//!
//! This module holds the rules: what a valid kind is, and what the engine
//! does with a claimed step. The store keeps waiting steps and wakes them.

use serde::{Deserialize, Serialize};

use super::expr::Expression;

/// What a condition or a sleep's `until` may refer to: the task's context and
/// the results of the step's parents, by parent name.
pub const STEP_VARIABLES: &[&str] = &["context", "parents"];
/// Longest sleep or approval timeout, in milliseconds (a year).
pub const MAX_WAIT_MS: u64 = 366 * 86_400_000;
/// Handler names of the kinds the engine runs itself start with this (so
/// they can never be a registered handler's name); so does every name the
/// engine gives a wait, so no event from outside can have one.
pub const ENGINE_HANDLER_PREFIX: &str = "tasker:";
/// What a step waiting for its child task waits for (in place of an event).
pub const CHILD_WAIT: &str = "tasker:task";

/// A durable sleep: for `ms`, or until the time `until` evaluates to (an
/// RFC 3339 string).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SleepSpec {
    /// How long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ms: Option<u64>,
    /// A CEL expression over `context` and `parents` giving the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// A wait for a person's decision (`approveStep` / `rejectStep`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalSpec {
    /// Without a decision in this time the attempt fails (and is retried per
    /// the step's policy); none: it waits for ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// A wait for an event (`sendEvent` or `POST /events/{name}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitForSpec {
    /// The event's name, e.g. `payments.succeeded`.
    pub event: String,
    /// A CEL expression over `context` and `event` (the payload) that must
    /// hold for the event to be this step's; none: any event of the name.
    #[serde(rename = "match", default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<String>,
    /// Without a matching event in this time the attempt fails (and is
    /// retried per the step's policy); none: it waits for ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// A child task: the step creates a task from another template and
/// completes with its results (fails when it fails).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChildTaskSpec {
    /// Template namespace (default: the parent task's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Template name.
    pub name: String,
    /// Template version (default: the highest registered when it starts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// A CEL expression over `context` and `parents` giving the child's
    /// context (an object); none: the parent task's context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

/// Dynamic fan-out: one instance of the step per item of a list, each run
/// by the step's handler with its item and index; the step completes with
/// the instances' results in item order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MapSpec {
    /// A CEL expression over `context` and `parents` giving the list.
    pub over: String,
    /// Most items (a longer list fails the step).
    #[serde(default = "default_max_items")]
    pub max_items: u32,
}

/// Default `max_items`.
pub const DEFAULT_MAX_ITEMS: u32 = 1_000;
/// Highest `max_items`.
pub const MAX_MAP_ITEMS: u32 = 10_000;

fn default_max_items() -> u32 {
    DEFAULT_MAX_ITEMS
}

/// What an event's `match` expression may refer to.
pub const MATCH_VARIABLES: &[&str] = &["context", "event"];

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StepKind {
    /// Calls its handler.
    Handler,
    /// Waits until a time.
    Sleep,
    /// Waits for a decision.
    Approval,
    /// Waits for an event.
    WaitFor,
    /// Runs a child task.
    Task,
    /// Runs its handler once per item of a list.
    Map,
}

impl StepKind {
    /// The handler name steps of this kind are stored with, for the kinds
    /// the engine runs itself.
    pub fn engine_handler(self) -> Option<&'static str> {
        match self {
            StepKind::Handler => None,
            StepKind::Sleep => Some("tasker:sleep"),
            StepKind::Approval => Some("tasker:approval"),
            StepKind::WaitFor => Some("tasker:wait_for"),
            StepKind::Task => Some("tasker:task"),
            StepKind::Map => None,
        }
    }
}

/// How a step runs beyond its handler: its kind and condition, as written in
/// the template and stored with each step.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepProgram {
    /// Run only when this CEL expression over `context` and `parents` is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// A durable sleep instead of a handler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sleep: Option<SleepSpec>,
    /// A wait for approval instead of a handler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalSpec>,
    /// A wait for an event instead of a handler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_for: Option<WaitForSpec>,
    /// A child task instead of a handler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<ChildTaskSpec>,
    /// Its handler once per item of a list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map: Option<MapSpec>,
}

impl StepProgram {
    /// Its kind.
    pub fn kind(&self) -> StepKind {
        if self.sleep.is_some() {
            StepKind::Sleep
        } else if self.approval.is_some() {
            StepKind::Approval
        } else if self.wait_for.is_some() {
            StepKind::WaitFor
        } else if self.task.is_some() {
            StepKind::Task
        } else if self.map.is_some() {
            StepKind::Map
        } else {
            StepKind::Handler
        }
    }

    /// A plain handler step without a condition (stored without a program).
    pub fn is_plain(&self) -> bool {
        *self == StepProgram::default()
    }

    /// Problems of the program written at `at` (a step) with `handler`, the
    /// step's handler as parsed (the kind's own for the engine's kinds).
    pub fn problems(&self, at: &str, handler: &str) -> Vec<(String, String)> {
        let mut found = Vec::new();
        let expression = |source: &str, field: &str, found: &mut Vec<(String, String)>| {
            if let Err(e) = Expression::parse(source, STEP_VARIABLES) {
                found.push((format!("{at}.{field}"), e.to_string()));
            }
        };
        if let Some(when) = &self.when {
            expression(when, "when", &mut found);
        }
        let kinds = [
            self.sleep.is_some(),
            self.approval.is_some(),
            self.wait_for.is_some(),
            self.task.is_some(),
            self.map.is_some(),
        ];
        if kinds.iter().filter(|k| **k).count() > 1 {
            found.push((
                at.to_owned(),
                "a step is one of sleep, approval, wait_for, task and map, not several".to_owned(),
            ));
        }
        if let Some(map) = &self.map {
            expression(&map.over, "map.over", &mut found);
            if !(1..=MAX_MAP_ITEMS).contains(&map.max_items) {
                found.push((
                    format!("{at}.map.max_items"),
                    format!("must be between 1 and {MAX_MAP_ITEMS}"),
                ));
            }
        }
        if let Some(child) = &self.task {
            if let Some(source) = &child.context {
                expression(source, "task.context", &mut found);
            }
            if child.name.trim().is_empty() {
                found.push((
                    format!("{at}.task.name"),
                    "name the child task's template".to_owned(),
                ));
            }
        }
        let kind = self.kind();
        match kind.engine_handler() {
            Some(own) if handler != own => found.push((
                format!("{at}.handler"),
                format!("a {} step runs no handler: leave handler out", kind_word(kind)),
            )),
            None if handler.starts_with(ENGINE_HANDLER_PREFIX) => found.push((
                format!("{at}.handler"),
                format!("handler names starting with {ENGINE_HANDLER_PREFIX:?} are the engine's"),
            )),
            _ => {}
        }
        if let Some(sleep) = &self.sleep {
            match (sleep.ms, &sleep.until) {
                (Some(_), Some(_)) | (None, None) => {
                    found.push((format!("{at}.sleep"), "give either ms or until".to_owned()))
                }
                (Some(ms), None) if ms > MAX_WAIT_MS => found.push((
                    format!("{at}.sleep.ms"),
                    format!("must be at most {MAX_WAIT_MS} (a year)"),
                )),
                (_, Some(until)) => expression(until, "sleep.until", &mut found),
                _ => {}
            }
        }
        let timeouts = [
            ("approval", self.approval.as_ref().and_then(|a| a.timeout_ms)),
            ("wait_for", self.wait_for.as_ref().and_then(|w| w.timeout_ms)),
        ];
        for (field, ms) in timeouts {
            if let Some(ms) = ms
                && !(1..=MAX_WAIT_MS).contains(&ms)
            {
                found.push((
                    format!("{at}.{field}.timeout_ms"),
                    format!("must be between 1 and {MAX_WAIT_MS}"),
                ));
            }
        }
        if let Some(wait) = &self.wait_for {
            if let Some(message) = super::inbound::event_name_problem(&wait.event) {
                found.push((format!("{at}.wait_for.event"), message));
            }
            if let Some(source) = &wait.matches
                && let Err(e) = Expression::parse(source, MATCH_VARIABLES)
            {
                found.push((format!("{at}.wait_for.match"), e.to_string()));
            }
        }
        found
    }
}

fn kind_word(kind: StepKind) -> &'static str {
    match kind {
        StepKind::Handler => "handler",
        StepKind::Sleep => "sleep",
        StepKind::Approval => "approval",
        StepKind::WaitFor => "wait_for",
        StepKind::Task => "task",
        StepKind::Map => "map",
    }
}

mod start;

pub use start::{Start, approved, child_context, child_results, slept, start};

#[cfg(test)]
mod tests {
    use super::*;

    fn program(yaml: &str) -> StepProgram {
        serde_yaml::from_str(yaml).expect("program")
    }

    #[test]
    fn bad_programs_name_their_field() {
        let keys = |yaml: &str, handler: &str| -> Vec<String> {
            program(yaml)
                .problems("steps[0]", handler)
                .into_iter()
                .map(|(k, _)| k)
                .collect()
        };
        let sleep = "tasker:sleep";
        assert_eq!(keys("when: 'context.('", "noop"), ["steps[0].when"]);
        assert_eq!(keys("when: 'result.x'", "noop"), ["steps[0].when"]);
        assert_eq!(keys("sleep: {ms: 5}", "noop"), ["steps[0].handler"]);
        assert_eq!(keys("when: 'true'", sleep), ["steps[0].handler"]);
        assert_eq!(keys("sleep: {}", sleep), ["steps[0].sleep"]);
        assert_eq!(keys("sleep: {ms: 1, until: 'x'}", sleep), ["steps[0].sleep"]);
        assert_eq!(
            keys("sleep: {until: 'context.('}", sleep),
            ["steps[0].sleep.until"]
        );
        assert_eq!(
            keys("approval: {timeout_ms: 0}", "tasker:approval"),
            ["steps[0].approval.timeout_ms"]
        );
        assert_eq!(keys("approval: {}\nsleep: {ms: 3}", sleep), ["steps[0]"]);
        let wait = "tasker:wait_for";
        assert_eq!(
            keys("wait_for: {event: 'bad name'}", wait),
            ["steps[0].wait_for.event"]
        );
        assert_eq!(
            keys("wait_for: {event: paid, match: 'context.x == result.x'}", wait),
            ["steps[0].wait_for.match"]
        );
        assert_eq!(
            keys("wait_for: {event: paid, timeout_ms: 0}", wait),
            ["steps[0].wait_for.timeout_ms"]
        );
        assert!(
            keys(
                "wait_for: {event: payments.paid, match: 'event.id == context.id'}",
                wait
            )
            .is_empty()
        );
        assert!(keys("sleep: {ms: 5}", sleep).is_empty());
        assert!(keys("when: context.ok", "noop").is_empty());
        let task = "tasker:task";
        assert!(keys("task: {name: child}", task).is_empty());
        assert_eq!(
            keys("task: {name: child, context: 'context.('}", task),
            ["steps[0].task.context"]
        );
        assert_eq!(keys("task: {name: ' '}", task), ["steps[0].task.name"]);
        assert!(keys("map: {over: context.items}", "noop").is_empty());
        assert_eq!(keys("map: {over: 'context.('}", "noop"), ["steps[0].map.over"]);
        assert_eq!(
            keys("map: {over: '[]', max_items: 0}", "noop"),
            ["steps[0].map.max_items"]
        );
    }
}

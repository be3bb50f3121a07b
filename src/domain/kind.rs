//! Step kinds: what a step does once its parents are satisfied. Most steps
//! call a handler. The engine runs the others itself, and they hold no handler
//! slot, lease or connection while they wait: `sleep` waits until a time, and
//! `approval` waits for a person to approve or reject it (or for its timeout).
//! Any step may also have a `when` condition over the context and its
//! parents' results: when it is false the step is SKIPPED with the reason,
//! and a skipped parent counts as done for its children.
//!
//! This module holds the rules: what a valid kind is, and what the engine
//! does with a claimed step. The store keeps waiting steps and wakes them.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::expr::{ExprError, Expression};

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

/// What the engine does with a claimed step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// Call its handler.
    Run,
    /// Its condition is false: skip it, for this reason.
    Skip(String),
    /// Wait (WAITING) until the time given, or for a decision or an event
    /// (with the time it gives up, if any).
    Wait {
        /// When the wait ends: a sleep completes, a wait times out.
        until: Option<DateTime<Utc>>,
        /// The event it waits for, if it does.
        event: Option<String>,
    },
    /// An expression could not be evaluated: the attempt fails for good.
    Fail(String),
    /// A map: one instance per item (an empty list completes at once).
    Expand(Vec<Value>),
}

fn after(now: DateTime<Utc>, ms: u64) -> DateTime<Utc> {
    now + Duration::milliseconds(i64::try_from(ms.min(MAX_WAIT_MS)).unwrap_or(i64::MAX))
}

/// What to do with a claimed step of `program`, given its task's `context`
/// and its parents' results (`parents`: an object by parent name).
pub fn start(program: &StepProgram, context: &Value, parents: &Value, now: DateTime<Utc>) -> Start {
    let vars = [("context", context), ("parents", parents)];
    if let Some(when) = &program.when {
        match Expression::parse(when, STEP_VARIABLES).and_then(|e| e.evaluate_bool(&vars)) {
            Ok(true) => {}
            Ok(false) => return Start::Skip(format!("condition {when:?} is false")),
            Err(e) => return Start::Fail(e.to_string()),
        }
    }
    match (&program.sleep, &program.approval, &program.wait_for) {
        (Some(sleep), _, _) => match sleep_end(sleep, &vars, now) {
            Ok(until) => Start::Wait {
                until: Some(until),
                event: None,
            },
            Err(e) => Start::Fail(e),
        },
        (None, Some(approval), _) => Start::Wait {
            until: approval.timeout_ms.map(|ms| after(now, ms)),
            event: None,
        },
        (None, None, Some(wait)) => Start::Wait {
            until: wait.timeout_ms.map(|ms| after(now, ms)),
            event: Some(wait.event.clone()),
        },
        (None, None, None) if program.map.is_some() => match map_items(program, &vars) {
            Ok(items) => Start::Expand(items),
            Err(e) => Start::Fail(e),
        },
        // The services start the child once the step waits for it.
        (None, None, None) if program.task.is_some() => Start::Wait {
            until: None,
            event: Some(CHILD_WAIT.to_owned()),
        },
        (None, None, None) => Start::Run,
    }
}

fn sleep_end(
    sleep: &SleepSpec,
    vars: &[(&str, &Value)],
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, String> {
    let Some(source) = &sleep.until else {
        return Ok(after(now, sleep.ms.unwrap_or(0)));
    };
    let value = Expression::parse(source, STEP_VARIABLES)
        .and_then(|e| e.evaluate_json(vars))
        .map_err(|e: ExprError| e.to_string())?;
    let text = value
        .as_str()
        .ok_or_else(|| format!("sleep until {source:?} gave {value}, not an RFC 3339 time"))?;
    let until = DateTime::parse_from_rfc3339(text)
        .map_err(|e| format!("sleep until {source:?} gave {text:?}, not an RFC 3339 time: {e}"))?
        .with_timezone(&Utc);
    if until > after(now, MAX_WAIT_MS) {
        return Err(format!("sleep until {text} is more than a year ahead"));
    }
    // A time already past ends the sleep at once.
    Ok(until.max(now))
}

fn map_items(program: &StepProgram, vars: &[(&str, &Value)]) -> Result<Vec<Value>, String> {
    let Some(map) = &program.map else {
        return Ok(Vec::new());
    };
    let value = Expression::parse(&map.over, STEP_VARIABLES)
        .and_then(|e| e.evaluate_json(vars))
        .map_err(|e| e.to_string())?;
    let Value::Array(items) = value else {
        return Err(format!("map.over {:?} gave {value}, not a list", map.over));
    };
    if items.len() > map.max_items as usize {
        return Err(format!(
            "map.over gave {} items, more than max_items {}",
            items.len(),
            map.max_items
        ));
    }
    Ok(items)
}

/// The context of the child task a step of `spec` starts: its expression's
/// value (an object) or, without one, the parent task's context.
pub fn child_context(spec: &ChildTaskSpec, context: &Value, parents: &Value) -> Result<Value, String> {
    let Some(source) = &spec.context else {
        return Ok(context.clone());
    };
    let value = Expression::parse(source, STEP_VARIABLES)
        .and_then(|e| e.evaluate_json(&[("context", context), ("parents", parents)]))
        .map_err(|e| e.to_string())?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(format!("task.context {source:?} gave {value}, not an object"))
    }
}

/// The results of a child task step: the child's id and status, and its
/// steps' results by name.
pub fn child_results(task_id: uuid::Uuid, status: &str, results: serde_json::Map<String, Value>) -> Value {
    json!({ "task_id": task_id, "status": status, "results": results })
}

/// The results of a sleep that ended.
pub fn slept(until: DateTime<Utc>) -> Value {
    json!({ "slept_until": until.to_rfc3339_opts(chrono::SecondsFormat::Millis, true) })
}

/// The results of an approved step.
pub fn approved(by: &str, comment: Option<&str>) -> Value {
    json!({ "approved": true, "by": by, "comment": comment })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .expect("time")
    }

    fn program(yaml: &str) -> StepProgram {
        serde_yaml::from_str(yaml).expect("program")
    }

    #[test]
    fn a_false_condition_skips_and_a_true_one_runs() {
        let now = at("2026-12-07T10:00:00Z");
        let parents = json!({"check": {"risk": 0.9}});
        let p = program("when: parents.check.risk < 0.5");
        assert_eq!(
            start(&p, &json!({}), &parents, now),
            Start::Skip("condition \"parents.check.risk < 0.5\" is false".into())
        );
        let p = program("when: context.country == 'DE' && parents.check.risk > 0.5");
        assert_eq!(start(&p, &json!({"country": "DE"}), &parents, now), Start::Run);
        let p = program("when: parents.missing.risk > 1");
        assert!(matches!(start(&p, &json!({}), &parents, now), Start::Fail(_)));
    }

    #[test]
    fn sleeps_end_after_ms_or_at_their_until_time() {
        let now = at("2026-12-07T10:00:00Z");
        assert_eq!(
            start(&program("sleep: {ms: 1500}"), &json!({}), &json!({}), now),
            Start::Wait {
                until: Some(at("2026-12-07T10:00:01.500Z")),
                event: None
            }
        );
        let p = program("sleep: {until: context.remind_at}");
        let context = json!({"remind_at": "2026-12-10T08:00:00+01:00"});
        assert_eq!(
            start(&p, &context, &json!({}), now),
            Start::Wait {
                until: Some(at("2026-12-10T07:00:00Z")),
                event: None
            }
        );
        // Past times end at once; bad ones fail the attempt.
        let past = json!({"remind_at": "2020-01-01T00:00:00Z"});
        assert_eq!(
            start(&p, &past, &json!({}), now),
            Start::Wait {
                until: Some(now),
                event: None
            }
        );
        let bad = json!({"remind_at": "next tuesday"});
        assert!(matches!(start(&p, &bad, &json!({}), now), Start::Fail(m) if m.contains("RFC 3339")));
        let far = json!({"remind_at": "2030-01-01T00:00:00Z"});
        assert!(matches!(start(&p, &far, &json!({}), now), Start::Fail(m) if m.contains("a year")));
    }

    #[test]
    fn a_child_gets_its_own_context_or_its_parents() {
        let spec: ChildTaskSpec =
            serde_yaml::from_str("{name: c, context: \"{'order': context.id, 'n': parents.a.n}\"}")
                .expect("spec");
        let context = json!({"id": "o-1"});
        assert_eq!(
            child_context(&spec, &context, &json!({"a": {"n": 2}})),
            Ok(json!({"order": "o-1", "n": 2}))
        );
        let plain = ChildTaskSpec {
            context: None,
            ..spec.clone()
        };
        assert_eq!(child_context(&plain, &context, &json!({})), Ok(context.clone()));
        let list = ChildTaskSpec {
            context: Some("[1]".into()),
            ..spec
        };
        assert!(child_context(&list, &context, &json!({})).is_err());
        assert_eq!(program("task: {name: c}").kind(), StepKind::Task);
    }

    #[test]
    fn a_map_expands_over_its_list_up_to_max_items() {
        let now = at("2026-12-07T10:00:00Z");
        let p = program("map: {over: parents.list.files, max_items: 3}");
        assert_eq!(p.kind(), StepKind::Map);
        let parents = json!({"list": {"files": ["a", "b"]}});
        assert_eq!(
            start(&p, &json!({}), &parents, now),
            Start::Expand(vec![json!("a"), json!("b")])
        );
        assert_eq!(
            start(&p, &json!({}), &json!({"list": {"files": []}}), now),
            Start::Expand(vec![])
        );
        let many = json!({"list": {"files": [1, 2, 3, 4]}});
        assert!(matches!(start(&p, &json!({}), &many, now), Start::Fail(m) if m.contains("max_items")));
        let scalar = json!({"list": {"files": 7}});
        assert!(matches!(start(&p, &json!({}), &scalar, now), Start::Fail(m) if m.contains("not a list")));
        let skipped = program("when: 'false'\nmap: {over: '[1]'}");
        assert!(matches!(
            start(&skipped, &json!({}), &json!({}), now),
            Start::Skip(_)
        ));
    }

    #[test]
    fn approvals_wait_with_or_without_a_timeout() {
        let now = at("2026-12-07T10:00:00Z");
        assert_eq!(
            start(&program("approval: {}"), &json!({}), &json!({}), now),
            Start::Wait {
                until: None,
                event: None
            }
        );
        assert_eq!(
            start(
                &program("approval: {timeout_ms: 60000}"),
                &json!({}),
                &json!({}),
                now
            ),
            Start::Wait {
                until: Some(at("2026-12-07T10:01:00Z")),
                event: None
            }
        );
        assert_eq!(program("approval: {}").kind(), StepKind::Approval);
        assert!(program("when: 'true'").kind() == StepKind::Handler);
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

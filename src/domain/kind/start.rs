//! What the engine does with a claimed step of a program: run its handler,
//! skip it, let it wait, expand it into a map's instances, or fail it; and
//! the results of the steps the engine completes itself.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::{CHILD_WAIT, ChildTaskSpec, MAX_WAIT_MS, STEP_VARIABLES, SleepSpec, StepProgram};
use crate::domain::expr::{ExprError, Expression};

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
    use crate::domain::kind::StepKind;

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
}

//! The shape a task's trace must have: the caller's request → the task →
//! one span per step attempt → the handler call of each attempt Tasker ran
//! itself (an external worker traces its own).

use super::jaeger::TraceSpan;

/// The span names Tasker gives each level.
pub const REQUEST: &str = "POST /graphql";
/// The task's span.
pub const TASK: &str = "task";
/// One step attempt's span.
pub const ATTEMPT: &str = "step.attempt";
/// A built-in or Rust handler's call.
pub const HANDLER: &str = "handler";

/// A step of the task as the server reported it when the task finished.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedStep {
    /// Its name.
    pub name: String,
    /// Whether an external worker ran it.
    pub external: bool,
    /// Attempts made.
    pub attempts: i64,
}

/// A trace of the right shape, counted.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    /// The request span's duration, µs.
    pub request_us: i64,
    /// Spans in the trace.
    pub spans: usize,
    /// Step-attempt spans.
    pub attempts: usize,
    /// Handler spans.
    pub handlers: usize,
}

/// Check `spans` against the task; what is missing or wrong when it fails.
pub fn check(
    spans: &[TraceSpan],
    caller_span: &str,
    task_id: &str,
    steps: &[ExpectedStep],
) -> Result<Shape, String> {
    let children = |parent: &str, name: &str| -> Vec<&TraceSpan> {
        spans
            .iter()
            .filter(|s| s.name == name && s.parent.as_deref() == Some(parent))
            .collect()
    };
    let request = match children(caller_span, REQUEST).as_slice() {
        [one] => *one,
        [] => {
            return Err(format!(
                "no `{REQUEST}` span continuing the caller's span {caller_span} (names seen: {})",
                names(spans)
            ));
        }
        many => return Err(format!("{} `{REQUEST}` spans for one request", many.len())),
    };
    let tasks: Vec<&TraceSpan> = children(&request.span_id, TASK)
        .into_iter()
        .filter(|s| s.tags.get("tasker.task.id").map(String::as_str) == Some(task_id))
        .collect();
    let [task] = tasks.as_slice() else {
        return Err(format!(
            "{} `{TASK}` spans with tasker.task.id={task_id} under the request span (expected 1)",
            tasks.len()
        ));
    };
    let attempts = children(&task.span_id, ATTEMPT);
    let mut handlers = 0;
    for step in steps {
        let mine: Vec<&&TraceSpan> = attempts
            .iter()
            .filter(|s| s.tags.get("step") == Some(&step.name))
            .collect();
        if i64::try_from(mine.len()).ok() != Some(step.attempts) {
            return Err(format!(
                "step `{}`: {} `{ATTEMPT}` spans under the task span, {} attempts made",
                step.name,
                mine.len(),
                step.attempts
            ));
        }
        if step.external {
            continue;
        }
        for attempt in mine {
            if children(&attempt.span_id, HANDLER).len() != 1 {
                return Err(format!(
                    "step `{}` attempt {}: no `{HANDLER}` span under it",
                    step.name,
                    attempt.tags.get("attempt").map_or("?", String::as_str)
                ));
            }
            handlers += 1;
        }
    }
    Ok(Shape {
        request_us: request.duration_us,
        spans: spans.len(),
        attempts: attempts.len(),
        handlers,
    })
}

fn names(spans: &[TraceSpan]) -> String {
    let mut names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn span(id: &str, parent: &str, name: &str, tags: &[(&str, &str)]) -> TraceSpan {
        TraceSpan {
            span_id: id.to_owned(),
            parent: Some(parent.to_owned()),
            name: name.to_owned(),
            start_us: 0,
            duration_us: 1200,
            tags: tags
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<HashMap<_, _>>(),
            service: "tasker".to_owned(),
        }
    }

    fn step(name: &str, external: bool, attempts: i64) -> ExpectedStep {
        ExpectedStep {
            name: name.to_owned(),
            external,
            attempts,
        }
    }

    /// A task of two steps: `a` (tried twice) and the external `b`.
    fn trace() -> Vec<TraceSpan> {
        vec![
            span("r", "caller", REQUEST, &[]),
            span("t", "r", TASK, &[("tasker.task.id", "T1")]),
            span("a1", "t", ATTEMPT, &[("step", "a"), ("attempt", "1")]),
            span("h1", "a1", HANDLER, &[]),
            span("a2", "t", ATTEMPT, &[("step", "a"), ("attempt", "2")]),
            span("h2", "a2", HANDLER, &[]),
            span("b1", "t", ATTEMPT, &[("step", "b"), ("attempt", "1")]),
        ]
    }

    #[test]
    fn a_whole_trace_passes_and_is_counted() {
        let shape = check(
            &trace(),
            "caller",
            "T1",
            &[step("a", false, 2), step("b", true, 1)],
        )
        .expect("ok");
        assert_eq!(
            shape,
            Shape {
                request_us: 1200,
                spans: 7,
                attempts: 3,
                handlers: 2
            }
        );
    }

    #[test]
    fn each_missing_level_is_named() {
        let steps = [step("a", false, 2), step("b", true, 1)];
        let without =
            |id: &str| -> Vec<TraceSpan> { trace().into_iter().filter(|s| s.span_id != id).collect() };

        let no_request = check(&without("r"), "caller", "T1", &steps).expect_err("fails");
        assert!(no_request.contains("no `POST /graphql` span"), "{no_request}");
        assert!(no_request.contains("task"), "names the spans seen: {no_request}");
        let other_caller = check(&trace(), "someone-else", "T1", &steps).expect_err("fails");
        assert!(other_caller.contains("someone-else"), "{other_caller}");

        let no_task = check(&trace(), "caller", "T2", &steps).expect_err("fails");
        assert!(
            no_task.contains("0 `task` spans with tasker.task.id=T2"),
            "{no_task}"
        );

        let lost_attempt = check(&without("a2"), "caller", "T1", &steps).expect_err("fails");
        assert_eq!(
            lost_attempt,
            "step `a`: 1 `step.attempt` spans under the task span, 2 attempts made"
        );

        let no_handler = check(&without("h2"), "caller", "T1", &steps).expect_err("fails");
        assert_eq!(no_handler, "step `a` attempt 2: no `handler` span under it");
    }
}

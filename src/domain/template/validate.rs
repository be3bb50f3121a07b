//! Template rules. Every problem is collected (not just the first), each naming
//! its culprit, so an author fixes a template in one round.

use std::collections::HashMap;

use super::model::TaskTemplate;
use crate::domain::context::ContextSchema;
use crate::domain::dag::Dag;
use crate::domain::error::{TemplateError, TemplateProblem};
use crate::domain::schedule::{CronSchedule, ScheduleError};
use crate::domain::{concurrency, rate};

/// What validation needs to know about handlers, without depending on the registry.
pub trait HandlerCatalog {
    /// `Ok` when `handler` resolves for a step in `namespace` and accepts `config`;
    /// `Err(HandlerIssue)` otherwise.
    fn check(&self, namespace: &str, handler: &str, config: &serde_json::Value) -> Result<(), HandlerIssue>;
}

/// Why a handler reference was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandlerIssue {
    /// Not built in and not registered.
    Unknown,
    /// Known, but its config is wrong (the message says how).
    BadConfig(String),
}

/// Size limits a template must respect.
#[derive(Debug, Clone, Copy)]
pub struct TemplateLimits {
    /// Most steps in one template.
    pub max_steps: usize,
    /// Longest per-attempt timeout a step may ask for.
    pub max_timeout_ms: u64,
}

impl Default for TemplateLimits {
    fn default() -> Self {
        Self {
            max_steps: 1_000,
            max_timeout_ms: 7 * 24 * 3_600_000,
        }
    }
}

const MAX_NAME_LEN: usize = 128;

fn name_problem(kind: &str, name: &str) -> Option<String> {
    let valid_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if name.is_empty() {
        Some(format!("{kind} must not be empty"))
    } else if name.len() > MAX_NAME_LEN {
        Some(format!(
            "{kind} {name:?} is longer than {MAX_NAME_LEN} characters"
        ))
    } else if !valid_chars {
        Some(format!(
            "{kind} {name:?} may only use letters, digits, '_', '-' and '.'"
        ))
    } else {
        None
    }
}

/// Check every rule; `Ok` or every problem found.
pub fn validate_template(
    template: &TaskTemplate,
    handlers: &dyn HandlerCatalog,
    limits: TemplateLimits,
) -> Result<(), TemplateError> {
    let mut problems = Vec::new();
    let mut push = |path: String, message: String| problems.push(TemplateProblem { path, message });

    for (field, value) in [("namespace", &template.namespace), ("name", &template.name)] {
        if let Some(message) = name_problem(field, value) {
            push(field.to_owned(), message);
        }
    }
    if template.steps.is_empty() {
        push(
            "steps".to_owned(),
            "a template needs at least one step".to_owned(),
        );
    }
    if template.steps.len() > limits.max_steps {
        push(
            "steps".to_owned(),
            format!(
                "{} steps is more than the limit of {}",
                template.steps.len(),
                limits.max_steps
            ),
        );
    }
    if let Some(schema) = &template.context_schema
        && let Err(message) = ContextSchema::compile(schema)
    {
        push(
            "context_schema".to_owned(),
            format!("is not a valid JSON Schema: {message}"),
        );
    }

    if let Some(spec) = &template.concurrency {
        for (path, message) in concurrency::problems(spec, "concurrency", false) {
            push(path, message);
        }
    }

    let mut schedule_names: HashMap<&str, usize> = HashMap::new();
    for (i, decl) in template.schedules.iter().enumerate() {
        let at = format!("schedules[{i}]");
        if let Some(message) = name_problem("schedule name", &decl.name) {
            push(format!("{at}.name"), message);
        }
        if let Some(first) = schedule_names.get(decl.name.as_str()) {
            push(
                format!("{at}.name"),
                format!(
                    "duplicate schedule name {:?} (first at schedules[{first}])",
                    decl.name
                ),
            );
        } else {
            schedule_names.insert(&decl.name, i);
        }
        match CronSchedule::parse(&decl.cron, &decl.timezone) {
            Ok(_) => {}
            Err(e @ ScheduleError::Timezone(_)) => push(format!("{at}.timezone"), e.to_string()),
            Err(e @ ScheduleError::Cron { .. }) => push(format!("{at}.cron"), e.to_string()),
        }
    }

    let mut first_index: HashMap<&str, usize> = HashMap::new();
    for (i, step) in template.steps.iter().enumerate() {
        let at = format!("steps[{i}]");
        if let Some(message) = name_problem("step name", &step.name) {
            push(format!("{at}.name"), message);
        }
        if let Some(&first) = first_index.get(step.name.as_str()) {
            push(
                format!("{at}.name"),
                format!("duplicate step name {:?} (first at steps[{first}])", step.name),
            );
        } else {
            first_index.insert(&step.name, i);
        }
        check_handler(template, i, handlers, &mut push);
        if let Some(spec) = &step.concurrency {
            for (path, message) in concurrency::problems(spec, &format!("{at}.concurrency"), true) {
                push(path, message);
            }
        }
        if let Some(spec) = &step.rate_limit {
            for (path, message) in rate::problems(spec, &format!("{at}.rate_limit")) {
                push(path, message);
            }
        }
        for problem in step.retry.problems(&format!("{at}.retry")) {
            push(problem.path, problem.message);
        }
        if let Some(t) = step.timeout_ms
            && (t == 0 || t > limits.max_timeout_ms)
        {
            push(
                format!("{at}.timeout_ms"),
                format!("must be between 1 and {}, got {t}", limits.max_timeout_ms),
            );
        }
        let mut seen = Vec::new();
        for dep in &step.depends_on {
            if seen.contains(&dep) {
                push(format!("{at}.depends_on"), format!("{dep:?} is listed twice"));
            }
            seen.push(dep);
            if template.step(dep).is_none() {
                push(format!("{at}.depends_on"), format!("unknown step {dep:?}"));
            }
        }
    }

    let (dag, _) = dag_of(template);
    if let Some(cycle) = dag.find_cycle() {
        push(
            "steps".to_owned(),
            format!("dependency cycle: {}", cycle.join(" -> ")),
        );
    }

    if problems.is_empty() {
        Ok(())
    } else {
        Err(TemplateError::Invalid {
            name: template.full_name(),
            problems,
        })
    }
}

fn check_handler(
    template: &TaskTemplate,
    i: usize,
    handlers: &dyn HandlerCatalog,
    push: &mut impl FnMut(String, String),
) {
    let step = &template.steps[i];
    for (path, message) in step.program.problems(&format!("steps[{i}]"), &step.handler) {
        push(path, message);
    }
    if step.program.kind().engine_handler().is_some() {
        if step.external {
            push(
                format!("steps[{i}].external"),
                "the engine runs sleep, approval, wait_for and task steps itself".to_owned(),
            );
        }
        return;
    }
    if step.handler.is_empty() {
        push(
            format!("steps[{i}].handler"),
            "a step needs a handler (or sleep, approval, wait_for or task)".to_owned(),
        );
        return;
    }
    let handler_ok = step.handler.len() <= 256
        && step.handler.len() <= 256
        && !step.handler.chars().any(char::is_whitespace);
    if !handler_ok {
        push(
            format!("steps[{i}].handler"),
            format!("{:?} is not a valid handler name", step.handler),
        );
        return;
    }
    if !step.config.is_object() {
        push(
            format!("steps[{i}].config"),
            "must be a mapping (key: value)".to_owned(),
        );
        return;
    }
    if step.external {
        return;
    }
    match handlers.check(&template.namespace, &step.handler, &step.config) {
        Ok(()) => {}
        Err(HandlerIssue::Unknown) => push(
            format!("steps[{i}].handler"),
            format!(
                "unknown handler {:?}: use a built-in (noop, echo, sleep, fail_times, http), register a Rust handler, or set external: true",
                step.handler
            ),
        ),
        Err(HandlerIssue::BadConfig(message)) => push(format!("steps[{i}].config"), message),
    }
}

/// The template's step graph (edges to unknown steps are left out and returned).
pub fn dag_of(template: &TaskTemplate) -> (Dag, Vec<(String, String)>) {
    let names = template.steps.iter().map(|s| s.name.clone()).collect();
    let edges = template
        .steps
        .iter()
        .flat_map(|s| s.depends_on.iter().map(move |d| (d.as_str(), s.name.as_str())));
    Dag::new(names, edges)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::template::parse_template;

    struct Known;
    impl HandlerCatalog for Known {
        fn check(&self, _: &str, handler: &str, config: &serde_json::Value) -> Result<(), HandlerIssue> {
            match handler {
                "noop" => Ok(()),
                "sleep" if config.get("ms").is_none() => {
                    Err(HandlerIssue::BadConfig("sleep needs config.ms".into()))
                }
                "sleep" => Ok(()),
                _ => Err(HandlerIssue::Unknown),
            }
        }
    }

    fn problems(yaml: &str) -> Vec<String> {
        let t = parse_template(yaml).expect("parses");
        match validate_template(&t, &Known, TemplateLimits::default()) {
            Ok(()) => vec![],
            Err(TemplateError::Invalid { problems, .. }) => {
                problems.iter().map(ToString::to_string).collect()
            }
            Err(other) => vec![other.to_string()],
        }
    }

    #[test]
    fn a_valid_template_passes() {
        assert!(problems("name: ok\nsteps:\n  - {name: a, handler: noop}\n  - {name: b, handler: noop, depends_on: [a]}\n").is_empty());
    }

    #[test]
    fn each_rule_names_its_culprit() {
        let cases = [
            (
                "name: t\nsteps:\n  - {name: a, handler: noop}\n  - {name: a, handler: noop}\n",
                "steps[1].name: duplicate step name \"a\"",
            ),
            (
                "name: t\nsteps:\n  - {name: a, handler: noop, depends_on: [zz]}\n",
                "steps[0].depends_on: unknown step \"zz\"",
            ),
            (
                "name: t\nsteps:\n  - {name: a, handler: noop, depends_on: [b]}\n  - {name: b, handler: noop, depends_on: [a]}\n",
                "dependency cycle: a -> b -> a",
            ),
            (
                "name: t\nsteps:\n  - {name: a, handler: charge_card}\n",
                "steps[0].handler: unknown handler \"charge_card\"",
            ),
            (
                "name: t\nsteps:\n  - {name: a, handler: noop, retry: {max_attempts: 0}}\n",
                "steps[0].retry.max_attempts",
            ),
            (
                "name: t\nsteps:\n  - {name: a, handler: noop, retry: {backoff_ms: 500, max_backoff_ms: 100}}\n",
                "steps[0].retry.backoff_ms",
            ),
            (
                "name: t\ncontext_schema: {type: objekt}\nsteps:\n  - {name: a, handler: noop}\n",
                "context_schema: is not a valid JSON Schema",
            ),
            (
                "name: t\nsteps:\n  - {name: a, handler: sleep}\n",
                "steps[0].config: sleep needs config.ms",
            ),
            ("name: t\nsteps: []\n", "at least one step"),
            (
                "name: bad/name\nsteps:\n  - {name: a, handler: noop}\n",
                "name: name \"bad/name\"",
            ),
            (
                "name: t\nsteps:\n  - {name: a, handler: noop, timeout_ms: 0}\n",
                "steps[0].timeout_ms",
            ),
        ];
        for (yaml, expected) in cases {
            let found = problems(yaml);
            assert!(
                found.iter().any(|p| p.contains(expected)),
                "{expected:?} not in {found:?}"
            );
        }
    }

    #[test]
    fn external_steps_need_no_registered_handler() {
        assert!(
            problems("name: t\nsteps:\n  - {name: a, handler: charge_card, external: true}\n").is_empty()
        );
    }

    #[test]
    fn all_problems_are_reported_together() {
        let found = problems(
            "name: t\nsteps:\n  - {name: a, handler: ghost, depends_on: [nope]}\n  - {name: a, handler: noop}\n",
        );
        assert_eq!(found.len(), 3, "{found:?}");
    }
}

//! YAML (and JSON, a subset of YAML) into [`TaskTemplate`]: the native format of
//! GRAPHQL-CONTRACT.md and the original Tasker format (`named_steps`/`step_templates`).
//! Unknown keys are errors in both, so a typo never silently changes a workflow.

use serde::Deserialize;
use serde_json::Value;

use super::model::{ConcurrencySpec, DEFAULT_NAMESPACE, DEFAULT_VERSION, StepTemplate, TaskTemplate};
use crate::domain::backoff::RetrySpec;
use crate::domain::error::{TemplateError, TemplateProblem};
use crate::domain::kind::{ApprovalSpec, ChildTaskSpec, MapSpec, SleepSpec, StepProgram, WaitForSpec};
use crate::domain::priority::Priority;
use crate::domain::rate::RateLimitSpec;
use crate::domain::schedule::ScheduleDecl;

/// Parse a template document in either format. Validation is separate
/// ([`super::validate`]); this only checks shape and version syntax.
pub fn parse_template(text: &str) -> Result<TaskTemplate, TemplateError> {
    let probe: serde_yaml::Value = serde_yaml::from_str(text).map_err(syntax)?;
    let Some(map) = probe.as_mapping() else {
        return Err(TemplateError::Syntax {
            message: "expected a mapping with name and steps at the top level".to_owned(),
        });
    };
    if map.contains_key("step_templates") {
        serde_yaml::from_str::<TaskerDoc>(text)
            .map_err(syntax)?
            .into_template()
    } else {
        serde_yaml::from_str::<NativeDoc>(text)
            .map_err(syntax)?
            .into_template()
    }
}

fn syntax(err: serde_yaml::Error) -> TemplateError {
    TemplateError::Syntax {
        message: err.to_string(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NativeDoc {
    namespace: Option<String>,
    name: String,
    version: Option<VersionText>,
    description: Option<String>,
    context_schema: Option<Value>,
    priority: Option<Priority>,
    concurrency: Option<ConcurrencySpec>,
    steps: Vec<NativeStep>,
    #[serde(default)]
    schedules: Vec<ScheduleDecl>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NativeStep {
    name: String,
    handler: Option<String>,
    #[serde(default)]
    external: bool,
    #[serde(default)]
    depends_on: OneOrMany,
    retryable: Option<bool>,
    #[serde(default)]
    retry: RetrySpec,
    timeout_ms: Option<u64>,
    #[serde(default)]
    skippable: bool,
    config: Option<Value>,
    concurrency: Option<ConcurrencySpec>,
    rate_limit: Option<RateLimitSpec>,
    description: Option<String>,
    when: Option<String>,
    sleep: Option<SleepSpec>,
    approval: Option<ApprovalSpec>,
    wait_for: Option<WaitForSpec>,
    task: Option<ChildTaskSpec>,
    map: Option<MapSpec>,
}

/// The Rails gem's format. Keys it used for Ruby class loading are accepted and ignored.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskerDoc {
    name: String,
    namespace_name: Option<String>,
    version: Option<VersionText>,
    description: Option<String>,
    #[serde(rename = "module_namespace")]
    _module_namespace: Option<String>,
    #[serde(rename = "task_handler_class")]
    _task_handler_class: Option<String>,
    #[serde(rename = "default_dependent_system")]
    _default_dependent_system: Option<String>,
    #[serde(rename = "environments")]
    _environments: Option<Value>,
    #[serde(rename = "custom_events")]
    _custom_events: Option<Value>,
    named_steps: Option<Vec<String>>,
    schema: Option<Value>,
    step_templates: Vec<TaskerStep>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskerStep {
    name: String,
    description: Option<String>,
    handler: Option<String>,
    handler_class: Option<String>,
    handler_config: Option<Value>,
    depends_on_step: Option<String>,
    #[serde(default)]
    depends_on_steps: Vec<String>,
    default_retryable: Option<bool>,
    default_retry_limit: Option<u32>,
    #[serde(default)]
    skippable: bool,
    #[serde(default)]
    external: bool,
    timeout_ms: Option<u64>,
    #[serde(rename = "dependent_system")]
    _dependent_system: Option<String>,
    #[serde(rename = "custom_events")]
    _custom_events: Option<Value>,
}

/// YAML reads `version: 1.0` as a number; keep whatever was written as text.
#[derive(Deserialize)]
#[serde(untagged)]
enum VersionText {
    Text(String),
    Number(serde_json::Number),
}

/// `depends_on: a` and `depends_on: [a, b]` are both natural to write.
#[derive(Deserialize, Default)]
#[serde(untagged)]
enum OneOrMany {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::None => Vec::new(),
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

fn parse_version(text: Option<VersionText>, problems: &mut Vec<TemplateProblem>) -> semver::Version {
    let text = match text {
        None => DEFAULT_VERSION.to_owned(),
        Some(VersionText::Text(s)) => s,
        Some(VersionText::Number(n)) => n.to_string(),
    };
    semver::Version::parse(text.trim()).unwrap_or_else(|err| {
        problems.push(TemplateProblem {
            path: "version".to_owned(),
            message: format!("{text:?} is not a semantic version MAJOR.MINOR.PATCH ({err})"),
        });
        semver::Version::new(0, 0, 0)
    })
}

fn finish(template: TaskTemplate, problems: Vec<TemplateProblem>) -> Result<TaskTemplate, TemplateError> {
    if problems.is_empty() {
        Ok(template)
    } else {
        Err(TemplateError::Invalid {
            name: template.full_name(),
            problems,
        })
    }
}

impl NativeDoc {
    fn into_template(self) -> Result<TaskTemplate, TemplateError> {
        let mut problems = Vec::new();
        let version = parse_version(self.version, &mut problems);
        let steps = self
            .steps
            .into_iter()
            .map(|s| {
                let program = StepProgram {
                    when: s.when,
                    sleep: s.sleep,
                    approval: s.approval,
                    wait_for: s.wait_for,
                    task: s.task,
                    map: s.map,
                };
                // The engine's kinds carry their own handler name; one written
                // beside them is kept for validation to refuse.
                let handler = s
                    .handler
                    .or_else(|| program.kind().engine_handler().map(str::to_owned))
                    .unwrap_or_default();
                StepTemplate {
                    name: s.name,
                    handler,
                    external: s.external,
                    depends_on: s.depends_on.into_vec(),
                    retryable: s.retryable.unwrap_or(true),
                    retry: s.retry,
                    timeout_ms: s.timeout_ms,
                    skippable: s.skippable,
                    config: s.config.unwrap_or_else(|| Value::Object(Default::default())),
                    concurrency: s.concurrency,
                    rate_limit: s.rate_limit,
                    description: s.description,
                    program,
                }
            })
            .collect();
        let template = TaskTemplate {
            namespace: self.namespace.unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned()),
            name: self.name,
            version,
            description: self.description,
            context_schema: self.context_schema,
            priority: self.priority,
            concurrency: self.concurrency,
            steps,
            schedules: self.schedules,
        };
        finish(template, problems)
    }
}

impl TaskerDoc {
    fn into_template(self) -> Result<TaskTemplate, TemplateError> {
        let mut problems = Vec::new();
        let version = parse_version(self.version, &mut problems);
        // "ns/name" was the Rails gem's way of namespacing a named task.
        let (namespace, name) = match (self.namespace_name, self.name.rsplit_once('/')) {
            (Some(ns), _) => (ns, self.name),
            (None, Some((ns, name))) => (ns.to_owned(), name.to_owned()),
            (None, None) => (DEFAULT_NAMESPACE.to_owned(), self.name),
        };
        let mut steps = Vec::with_capacity(self.step_templates.len());
        for (i, s) in self.step_templates.into_iter().enumerate() {
            let handler = s.handler.or(s.handler_class).unwrap_or_else(|| {
                problems.push(TemplateProblem {
                    path: format!("step_templates[{i}]"),
                    message: "needs a handler (or handler_class)".to_owned(),
                });
                String::new()
            });
            let mut depends_on: Vec<String> = s.depends_on_step.into_iter().collect();
            depends_on.extend(s.depends_on_steps);
            steps.push(StepTemplate {
                name: s.name,
                handler,
                external: s.external,
                depends_on,
                retryable: s.default_retryable.unwrap_or(true),
                retry: RetrySpec {
                    max_attempts: s.default_retry_limit,
                    ..RetrySpec::default()
                },
                timeout_ms: s.timeout_ms,
                skippable: s.skippable,
                config: s
                    .handler_config
                    .unwrap_or_else(|| Value::Object(Default::default())),
                concurrency: None,
                rate_limit: None,
                description: s.description,
                program: StepProgram::default(),
            });
        }
        if let Some(named) = &self.named_steps {
            for (i, n) in named.iter().enumerate() {
                if !steps.iter().any(|s| &s.name == n) {
                    problems.push(TemplateProblem {
                        path: format!("named_steps[{i}]"),
                        message: format!("{n:?} has no entry in step_templates"),
                    });
                }
            }
            for (i, s) in steps.iter().enumerate() {
                if !named.contains(&s.name) {
                    problems.push(TemplateProblem {
                        path: format!("step_templates[{i}]"),
                        message: format!("{:?} is not listed in named_steps", s.name),
                    });
                }
            }
        }
        let template = TaskTemplate {
            namespace,
            name,
            version,
            description: self.description,
            context_schema: self.schema,
            priority: None,
            concurrency: None,
            steps,
            schedules: Vec::new(),
        };
        finish(template, problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_format_parses_with_defaults() {
        let t = parse_template(
            "name: hello\nsteps:\n  - name: a\n    handler: noop\n  - name: b\n    handler: echo\n    depends_on: a\n    retry: { max_attempts: 5 }\n",
        )
        .expect("parses");
        assert_eq!(t.namespace, "default");
        assert_eq!(t.version.to_string(), "0.1.0");
        assert_eq!(t.steps[1].depends_on, vec!["a"]);
        assert_eq!(t.steps[1].retry.max_attempts, Some(5));
        assert!(t.steps[0].retryable);
        assert_eq!(t.steps[0].config, serde_json::json!({}));
    }

    #[test]
    fn a_template_may_set_its_tasks_priority_between_one_and_four() {
        let t = parse_template("name: x\npriority: 4\nsteps: []\n").expect("parses");
        assert_eq!(t.priority.map(|p| p.get()), Some(4));
        let err = parse_template("name: x\npriority: 7\nsteps: []\n").expect_err("out of range");
        assert!(err.to_string().contains("between 1"), "{err}");
    }

    #[test]
    fn a_typo_in_a_key_is_an_error_that_names_it() {
        let err = parse_template("name: x\nsteps:\n  - name: a\n    handler: noop\n    depend_on: [b]\n")
            .expect_err("unknown key");
        assert!(err.to_string().contains("depend_on"), "{err}");
    }

    #[test]
    fn numeric_and_bad_versions_are_handled() {
        let err = parse_template("name: x\nversion: 1.0\nsteps: []\n").expect_err("not semver");
        assert!(err.to_string().contains("version"), "{err}");
        let t = parse_template("name: x\nversion: \"2.1.3\"\nsteps: []\n").expect("semver");
        assert_eq!(t.version, semver::Version::new(2, 1, 3));
    }

    #[test]
    fn tasker_format_maps_to_the_same_model() {
        let yaml = r#"
name: api_task/integration_example
module_namespace: ApiTask
task_handler_class: IntegrationExample
version: 0.1.0
named_steps: [fetch_cart, fetch_products, validate]
schema: { type: object, required: [cart_id] }
step_templates:
  - name: fetch_cart
    handler_class: noop
    handler_config: { url: "http://x" }
  - name: fetch_products
    handler_class: noop
    default_retryable: false
  - name: validate
    handler_class: echo
    depends_on_steps: [fetch_cart, fetch_products]
    default_retry_limit: 7
"#;
        let t = parse_template(yaml).expect("parses");
        assert_eq!(
            (t.namespace.as_str(), t.name.as_str()),
            ("api_task", "integration_example")
        );
        assert_eq!(t.steps[2].depends_on, vec!["fetch_cart", "fetch_products"]);
        assert_eq!(t.steps[2].retry.max_attempts, Some(7));
        assert!(!t.steps[1].retryable);
        assert_eq!(t.steps[0].config["url"], "http://x");
        assert!(t.context_schema.is_some());
    }

    #[test]
    fn tasker_named_steps_must_match_step_templates() {
        let yaml = "name: x\nnamed_steps: [a, ghost]\nstep_templates:\n  - name: a\n    handler: noop\n";
        let err = parse_template(yaml).expect_err("ghost");
        assert!(err.to_string().contains("ghost"), "{err}");
    }

    #[test]
    fn non_mapping_documents_are_syntax_errors() {
        assert!(matches!(
            parse_template("- a\n- b\n"),
            Err(TemplateError::Syntax { .. })
        ));
        assert!(matches!(
            parse_template("name: [unclosed"),
            Err(TemplateError::Syntax { .. })
        ));
    }
}

//! Typed errors of the domain rules.

use std::fmt;

/// A state-machine rule was broken, or a stored status is unknown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// `from → to` is not in the transition table.
    #[error("a {entity} cannot go from {} to {to}", from.unwrap_or("(new)"))]
    Illegal {
        /// `"task"` or `"step"`.
        entity: &'static str,
        /// Current status (`None` before creation).
        from: Option<&'static str>,
        /// Requested status.
        to: &'static str,
    },
    /// A status text that is not part of the state machine.
    #[error("unknown {entity} status {value:?}")]
    UnknownStatus {
        /// The status type.
        entity: &'static str,
        /// The offending text.
        value: String,
    },
}

/// One problem found in a template, located by a path such as `steps[2].depends_on`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateProblem {
    /// Where in the template (dotted path, `steps[i]` for the i-th step).
    pub path: String,
    /// What is wrong and, where possible, how to fix it.
    pub message: String,
}

impl fmt::Display for TemplateProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// A template could not be parsed or failed validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The text is not valid YAML/JSON or does not have the template shape.
    #[error("template is not valid YAML for a task template: {message}")]
    Syntax {
        /// Parser message, with line and column where known.
        message: String,
    },
    /// The template parsed but breaks one or more rules.
    #[error("template {name} is invalid: {}", join_problems(problems))]
    Invalid {
        /// `namespace/name@version` (as far as it could be read).
        name: String,
        /// Every problem found, not just the first.
        problems: Vec<TemplateProblem>,
    },
}

impl TemplateError {
    /// Line and column (from 1) of a syntax error, when the parser named them.
    pub fn location(&self) -> Option<(u32, u32)> {
        let Self::Syntax { message } = self else {
            return None;
        };
        let (_, rest) = message.split_once(" line ")?;
        let mut words = rest
            .split(|c: char| !c.is_ascii_digit())
            .filter(|w| !w.is_empty());
        let line = words.next()?.parse().ok()?;
        let column = rest
            .split_once("column ")
            .and_then(|(_, c)| c.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
            .unwrap_or(1);
        Some((line, column))
    }
}

fn join_problems(problems: &[TemplateProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// A task context was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    /// The context does not satisfy the template's `context_schema`.
    #[error("context does not match the template's context_schema: {}", violations.join("; "))]
    SchemaViolation {
        /// One entry per violation: `<instance path>: <message>`.
        violations: Vec<String>,
    },
    /// The serialized context is larger than the configured limit.
    #[error("context is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        /// Serialized size in bytes.
        size: usize,
        /// Configured maximum.
        limit: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_syntax_error_is_located_by_the_line_and_column_its_parser_names() {
        let at = |message: &str| {
            TemplateError::Syntax {
                message: message.into(),
            }
            .location()
        };
        assert_eq!(
            at("steps[0]: invalid type: string \"x\", expected a sequence at line 3 column 7"),
            Some((3, 7))
        );
        assert_eq!(at("did not find expected key at line 12"), Some((12, 1)));
        assert_eq!(at("missing field `name`"), None);
        let invalid = TemplateError::Invalid {
            name: "x".into(),
            problems: vec![],
        };
        assert_eq!(invalid.location(), None);
    }
}

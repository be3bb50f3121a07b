//! The expression language of templates: CEL (the Common Expression Language,
//! as Hatchet and Kubernetes use it), through the `cel` crate. A template's
//! concurrency key, for example, is `context.customer_id`: an expression over
//! the task's context, evaluated once when a task is created.
//!
//! Expressions are checked when a template is registered: they must compile,
//! stay short and shallow (the parser recurses), and name only the variables
//! their place offers. Evaluation errors name the expression.

use std::fmt;

use serde_json::Value;

/// Longest expression source, in bytes.
pub const MAX_EXPRESSION_BYTES: usize = 1_024;
/// Deepest nesting of brackets an expression may use.
const MAX_NESTING: usize = 32;
/// Longest string a key expression may produce, in characters.
pub const MAX_KEY_CHARS: usize = 256;

/// A compiled expression with its source.
pub struct Expression {
    source: String,
    program: cel::Program,
}

impl fmt::Debug for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Expression").field(&self.source).finish()
    }
}

/// Why an expression was refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExprError {
    /// Not valid CEL, too long or too deep.
    #[error("{expression:?} is not a valid expression: {message}")]
    Invalid {
        /// The expression.
        expression: String,
        /// What is wrong.
        message: String,
    },
    /// Evaluating it failed or gave a value its place cannot use.
    #[error("expression {expression:?}: {message}")]
    Evaluation {
        /// The expression.
        expression: String,
        /// What went wrong.
        message: String,
    },
}

fn nesting(source: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    for c in source.chars() {
        match c {
            '(' | '[' | '{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

impl Expression {
    /// Compile `source`, which may refer only to the variables in `allowed`.
    pub fn parse(source: &str, allowed: &[&str]) -> Result<Self, ExprError> {
        let invalid = |message: String| ExprError::Invalid {
            expression: source.to_owned(),
            message,
        };
        if source.trim().is_empty() {
            return Err(invalid("it is empty".to_owned()));
        }
        if source.len() > MAX_EXPRESSION_BYTES {
            return Err(invalid(format!("longer than {MAX_EXPRESSION_BYTES} bytes")));
        }
        if nesting(source) > MAX_NESTING {
            return Err(invalid(format!("nested deeper than {MAX_NESTING} brackets")));
        }
        let program = cel::Program::compile(source).map_err(|e| invalid(e.to_string()))?;
        let mut unknown: Vec<String> = program
            .references()
            .variables()
            .into_iter()
            .filter(|v| !allowed.contains(v))
            .map(str::to_owned)
            .collect();
        unknown.sort();
        if let Some(name) = unknown.first() {
            return Err(invalid(format!(
                "unknown variable {name:?} (it may use {})",
                allowed.join(", ")
            )));
        }
        Ok(Self {
            source: source.to_owned(),
            program,
        })
    }

    /// The source text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluate with each `(name, value)` bound as a variable.
    pub fn evaluate(&self, variables: &[(&str, &Value)]) -> Result<cel::Value, ExprError> {
        let mut context = cel::Context::default();
        for (name, value) in variables {
            context
                .add_variable(*name, *value)
                .map_err(|e| self.failed(e.to_string()))?;
        }
        self.program
            .execute(&context)
            .map_err(|e| self.failed(e.to_string()))
    }

    /// Evaluate to a group key: a string, integer or boolean (as text), at
    /// most [`MAX_KEY_CHARS`] characters.
    pub fn evaluate_key(&self, variables: &[(&str, &Value)]) -> Result<String, ExprError> {
        let key = match self.evaluate(variables)? {
            cel::Value::String(s) => s.to_string(),
            cel::Value::Int(i) => i.to_string(),
            cel::Value::UInt(u) => u.to_string(),
            cel::Value::Bool(b) => b.to_string(),
            other => {
                return Err(self.failed(format!(
                    "a key must be a string, an integer or a boolean, not {:?}",
                    other.type_of()
                )));
            }
        };
        if key.chars().count() > MAX_KEY_CHARS {
            return Err(self.failed(format!("the key is longer than {MAX_KEY_CHARS} characters")));
        }
        if key.contains('\0') {
            return Err(self.failed("the key contains a NUL character".to_owned()));
        }
        Ok(key)
    }

    /// Evaluate to a boolean (a condition).
    pub fn evaluate_bool(&self, variables: &[(&str, &Value)]) -> Result<bool, ExprError> {
        match self.evaluate(variables)? {
            cel::Value::Bool(b) => Ok(b),
            other => Err(self.failed(format!(
                "a condition must be true or false, not {:?}",
                other.type_of()
            ))),
        }
    }

    /// Evaluate to a JSON value.
    pub fn evaluate_json(&self, variables: &[(&str, &Value)]) -> Result<Value, ExprError> {
        let value = self.evaluate(variables)?;
        value
            .json()
            .map_err(|e| self.failed(format!("the value has no JSON form: {e:?}")))
    }

    fn failed(&self, message: String) -> ExprError {
        ExprError::Evaluation {
            expression: self.source.clone(),
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(source: &str, context: Value) -> Result<String, ExprError> {
        Expression::parse(source, &["context"])?.evaluate_key(&[("context", &context)])
    }

    #[test]
    fn conditions_are_booleans_and_values_become_json() {
        let context = json!({"amount": 120, "items": ["a", "b"]});
        let vars = [("context", &context)];
        let cond = |src: &str| Expression::parse(src, &["context"])?.evaluate_bool(&vars);
        assert_eq!(cond("context.amount > 100"), Ok(true));
        assert_eq!(cond("size(context.items) == 0"), Ok(false));
        assert!(matches!(
            cond("context.amount"),
            Err(ExprError::Evaluation { .. })
        ));
        let value = Expression::parse("{'n': context.amount, 'first': context.items[0]}", &["context"])
            .and_then(|e| e.evaluate_json(&vars));
        assert_eq!(value, Ok(json!({"n": 120, "first": "a"})));
    }

    #[test]
    fn keys_come_from_the_context() {
        let context = json!({"customer": {"id": "c-7", "tier": 2}, "vip": true});
        assert_eq!(key("context.customer.id", context.clone()), Ok("c-7".into()));
        assert_eq!(key("context.customer.tier", context.clone()), Ok("2".into()));
        assert_eq!(key("context.vip", context.clone()), Ok("true".into()));
        assert_eq!(
            key(
                "context.customer.id + '/' + string(context.customer.tier)",
                context
            ),
            Ok("c-7/2".into())
        );
    }

    #[test]
    fn bad_expressions_are_refused_with_their_reason() {
        let refused = |source: &str| Expression::parse(source, &["context"]).expect_err(source);
        assert!(matches!(refused("context."), ExprError::Invalid { .. }));
        assert!(matches!(refused(""), ExprError::Invalid { .. }));
        let unknown = refused("input.customer").to_string();
        assert!(
            unknown.contains("\"input\"") && unknown.contains("context"),
            "{unknown}"
        );
        let long = format!("context.a + '{}'", "x".repeat(MAX_EXPRESSION_BYTES));
        assert!(refused(&long).to_string().contains("longer"));
        let deep = format!("{}1{}", "(".repeat(100), ")".repeat(100));
        assert!(refused(&deep).to_string().contains("nested"));
    }

    #[test]
    fn evaluation_errors_and_unusable_values_name_the_expression() {
        let missing = key("context.customer", json!({})).expect_err("no such key");
        assert!(matches!(missing, ExprError::Evaluation { .. }), "{missing}");
        assert!(missing.to_string().contains("context.customer"), "{missing}");
        let list = key("context.items", json!({"items": [1, 2]})).expect_err("a list");
        assert!(list.to_string().contains("must be a string"), "{list}");
        let long = key("context.k", json!({"k": "y".repeat(MAX_KEY_CHARS + 1)})).expect_err("long");
        assert!(long.to_string().contains("longer"), "{long}");
    }
}

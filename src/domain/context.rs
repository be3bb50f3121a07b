//! Task contexts: size limit and validation against a template's JSON Schema.
//! Messages carry the location of a violation but never the offending value,
//! because contexts may hold secrets and errors end up in logs.

use serde_json::Value;

use super::error::ContextError;

/// A compiled `context_schema`.
pub struct ContextSchema {
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for ContextSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ContextSchema")
    }
}

/// Most violations listed in one error.
const MAX_VIOLATIONS: usize = 10;

impl ContextSchema {
    /// Compile a schema (checked against its meta-schema); the error says why not.
    pub fn compile(schema: &Value) -> Result<Self, String> {
        jsonschema::validator_for(schema)
            .map(|validator| Self { validator })
            .map_err(|err| format!("{} (at {})", err.masked(), err.schema_path()))
    }

    /// Check a context, listing up to ten violations with their location.
    pub fn check(&self, context: &Value) -> Result<(), ContextError> {
        let violations: Vec<String> = self
            .validator
            .iter_errors(context)
            .take(MAX_VIOLATIONS)
            .map(|err| {
                let at = err.instance_path().to_string();
                let at = if at.is_empty() { "/".to_owned() } else { at };
                format!("{at}: {}", err.masked())
            })
            .collect();
        if violations.is_empty() {
            Ok(())
        } else {
            Err(ContextError::SchemaViolation { violations })
        }
    }
}

/// The serialized size of `context`, or an error above `limit` bytes.
pub fn check_context_size(context: &Value, limit: usize) -> Result<usize, ContextError> {
    let size = serde_json::to_vec(context).map(|v| v.len()).unwrap_or(usize::MAX);
    if size > limit {
        Err(ContextError::TooLarge { size, limit })
    } else {
        Ok(size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn violations_name_the_location_but_not_the_value() {
        let schema = ContextSchema::compile(&json!({
            "type": "object",
            "required": ["order_id"],
            "properties": {"card": {"type": "integer"}}
        }))
        .expect("valid schema");
        assert!(schema.check(&json!({"order_id": 1})).is_ok());
        let err = schema
            .check(&json!({"card": "4111-secret"}))
            .expect_err("two violations");
        let text = err.to_string();
        assert!(text.contains("order_id"), "{text}");
        assert!(text.contains("/card"), "{text}");
        assert!(!text.contains("4111-secret"), "{text}");
    }

    #[test]
    fn invalid_schemas_do_not_compile() {
        assert!(ContextSchema::compile(&json!({"type": "objekt"})).is_err());
        assert!(ContextSchema::compile(&json!({"minLength": -1})).is_err());
    }

    #[test]
    fn size_limit_is_in_serialized_bytes() {
        let ctx = json!({"blob": "x".repeat(100)});
        assert!(check_context_size(&ctx, 1_000).is_ok());
        assert!(matches!(
            check_context_size(&ctx, 50),
            Err(ContextError::TooLarge { limit: 50, .. })
        ));
    }
}

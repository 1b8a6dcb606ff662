//! Message formats as JSON Schema (interface.md 7, last paragraph): a
//! draft 2020-12 schema that room or direct messages must satisfy instead
//! of the default `{textMessage: string}`, for users who cannot write a
//! Rust checker hook.
//!
//! The schema sees the message as the service carries it: binary values
//! (socket.io attachments) in their `Buffer` form,
//! `{"type": "Buffer", "data": [..bytes..]}` (see `crate::json`), so an
//! attachment's size is bounded with `maxItems` on `data`.
//!
//! It is compiled once, when the service is configured: checking a message
//! runs the compiled validator and never reads anything else (no `$ref` is
//! fetched from the network or the disk; the crate's resolvers are not
//! built in).

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

/// A compiled message schema; cheap to clone.
#[derive(Clone)]
pub struct MessageSchema(Arc<jsonschema::Validator>);

impl MessageSchema {
    /// Compiles `schema` as draft 2020-12 (whatever its `$schema` says);
    /// the reason in words if it is not a valid schema.
    pub fn new(schema: &Value) -> Result<Self, String> {
        jsonschema::draft202012::new(schema)
            .map(|validator| Self(Arc::new(validator)))
            .map_err(|error| format!("not a valid JSON Schema: {error}"))
    }

    /// Reads and compiles a schema file; the reason in words if it cannot
    /// be read, is not JSON or is not a valid schema.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
        let schema: Value = serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?;
        Self::new(&schema)
    }

    /// Whether `message` satisfies the schema.
    pub fn accepts(&self, message: &Value) -> bool {
        self.0.is_valid(message)
    }
}

impl std::fmt::Debug for MessageSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("MessageSchema").finish_non_exhaustive()
    }
}

/// The schemas of both message kinds; `None`: that kind keeps its format
/// (the default, or a checker hook's).
#[derive(Debug, Clone, Default)]
pub struct MessageSchemas {
    pub room: Option<MessageSchema>,
    pub direct: Option<MessageSchema>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_schema_accepts_what_it_describes_and_binary_is_bounded_through_its_buffer_form() {
        let schema = MessageSchema::new(&json!({
            "type": "object",
            "properties": {
                "file": {
                    "type": "object",
                    "properties": { "data": { "maxItems": 2 } },
                    "required": ["type", "data"]
                }
            },
            "required": ["file"]
        }))
        .unwrap();
        assert!(schema.accepts(&json!({"file": {"type": "Buffer", "data": [1, 2]}})));
        assert!(!schema.accepts(&json!({"file": {"type": "Buffer", "data": [1, 2, 3]}})));
        assert!(!schema.accepts(&json!({"textMessage": "x"})));
    }

    #[test]
    fn invalid_schemas_and_files_say_why() {
        let bad = MessageSchema::new(&json!({"type": "no such type"})).unwrap_err();
        assert!(bad.starts_with("not a valid JSON Schema: "), "{bad}");
        let missing = MessageSchema::from_file(Path::new("/nonexistent/s.json")).unwrap_err();
        assert!(missing.starts_with("cannot read: "), "{missing}");
    }
}

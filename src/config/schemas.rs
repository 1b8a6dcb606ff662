//! `--room-message-schema` and `--direct-message-schema` (interface.md 7):
//! the files read and compiled once, at start. A file that cannot be read,
//! is not JSON or is not a valid schema is bad configuration naming its
//! flag, as the JWT key file is.

use std::path::Path;

use super::{Config, ConfigError};
use crate::schema::{MessageSchema, MessageSchemas};

impl Config {
    /// The message schemas the options name, compiled.
    pub fn message_schemas(&self) -> Result<MessageSchemas, ConfigError> {
        Ok(MessageSchemas {
            room: compile("--room-message-schema", self.room_message_schema.as_deref())?,
            direct: compile(
                "--direct-message-schema",
                self.direct_message_schema.as_deref(),
            )?,
        })
    }
}

fn compile(option: &str, path: Option<&Path>) -> Result<Option<MessageSchema>, ConfigError> {
    let Some(path) = path else {
        return Ok(None);
    };
    MessageSchema::from_file(path)
        .map(Some)
        .map_err(|reason| ConfigError::invalid(option, format!("{}: {reason}", path.display())))
}

#[cfg(test)]
mod tests {
    use crate::config::testing::{TempToml, load};

    #[test]
    fn schema_files_come_from_every_layer_and_bad_ones_name_their_flag() {
        let schema = TempToml::new(r#"{"type": "object", "required": ["smileId"]}"#);
        let c = load(&["--room-message-schema", schema.path()], &[]).unwrap();
        let schemas = c.message_schemas().unwrap();
        assert!(schemas.room.is_some() && schemas.direct.is_none());
        let c = load(
            &[],
            &[("CHAT_SERVICE_DIRECT_MESSAGE_SCHEMA", schema.path())],
        )
        .unwrap();
        assert!(c.message_schemas().unwrap().direct.is_some());
        let toml = TempToml::new(&format!("room_message_schema = {:?}", schema.path()));
        let c = load(&["--config", toml.path()], &[]).unwrap();
        assert!(c.message_schemas().unwrap().room.is_some());

        let not_json = TempToml::new("{type: object}");
        let not_schema = TempToml::new(r#"{"type": 5}"#);
        for (flag, file, why) in [
            (
                "--room-message-schema",
                "/nonexistent/s.json",
                "cannot read",
            ),
            ("--direct-message-schema", not_json.path(), "not JSON"),
            (
                "--room-message-schema",
                not_schema.path(),
                "not a valid JSON Schema",
            ),
        ] {
            let error = load(&[flag, file], &[])
                .unwrap()
                .message_schemas()
                .unwrap_err();
            let message = error.to_string();
            assert_eq!(error.exit_code(), 2);
            assert!(!message.contains('\n'), "{message}");
            assert!(
                message.starts_with(&format!("invalid value for {flag}: {file}: {why}")),
                "{message}"
            );
        }
    }
}

//! The one error type of the service, mapping 1:1 to the protocol's error
//! codes, and its two wire renderings (string or raw object).

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::json::format_js;

/// A failure that is no protocol error: a store that failed, a bug, a
/// hook's own error. Clients see it as the original shows a JavaScript
/// error, `e.toString()`: `"<kind>: <message>"` (`"Error: boom"`), in raw
/// mode wrapped as `internalError`. What caused it is kept for the logs.
#[derive(Debug, Clone)]
pub struct InternalError {
    kind: Cow<'static, str>,
    message: String,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl InternalError {
    /// The message after the kind (`"boom"`).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for InternalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.kind.is_empty() {
            // A thrown string (`ChatServiceError::thrown`) has no kind.
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.kind, self.message)
        }
    }
}

impl std::error::Error for InternalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Equal when clients would see the same text.
impl PartialEq for InternalError {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.message == other.message
    }
}

/// Every error a command, a hook or the server API can produce.
///
/// Each variant is one protocol error code; `Custom` carries the codes that
/// hooks invent, `Internal` anything that is not a `ChatServiceError` in the
/// original (a bug, a store failure, a hook's plain error).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChatServiceError {
    #[error("{}", self.message())]
    BadArgument(usize, Value),
    #[error(transparent)]
    Internal(InternalError),
    #[error("{}", self.message())]
    InvalidName(Value),
    #[error("{}", self.message())]
    InvalidSocket(String),
    #[error("{}", self.message())]
    NoCommand(String),
    #[error("{}", self.message())]
    ListLimitExceeded(String),
    #[error("{}", self.message())]
    NoList(String),
    #[error("{}", self.message())]
    NoLogin,
    #[error("{}", self.message())]
    NoRoom(String),
    #[error("{}", self.message())]
    NoSocket(String),
    #[error("{}", self.message())]
    NoUser(String),
    #[error("{}", self.message())]
    NoUserOnline(String),
    #[error("{}", self.message())]
    NotAllowed,
    #[error("{}", self.message())]
    NotJoined(String),
    #[error("{}", self.message())]
    RoomExists(String),
    #[error("{}", self.message())]
    Timeout,
    /// A login beyond `--max-sockets-per-user` (interface.md 8).
    #[error("{}", self.message())]
    TooManySockets(String),
    /// A request beyond `--rate-limit` (interface.md 8).
    #[error("{}", self.message())]
    RateLimited,
    #[error("{}", self.message())]
    UserExists(String),
    #[error("{}", self.message())]
    UserOnline(String),
    #[error("{}", self.message())]
    WrongArgumentsCount(usize, usize),
    /// A code of the application's own (hooks); args are kept for raw mode.
    #[error("{}", self.message())]
    Custom { code: String, args: Vec<Value> },
}

pub type Result<T, E = ChatServiceError> = std::result::Result<T, E>;

impl ChatServiceError {
    /// A custom error with an application-defined code, as hooks raise them.
    pub fn custom(code: impl Into<String>, args: Vec<Value>) -> Self {
        Self::Custom {
            code: code.into(),
            args,
        }
    }

    /// An internal error, shown to clients as `"Error: <message>"`.
    pub fn internal(message: impl std::fmt::Display) -> Self {
        Self::internal_kind("Error", message)
    }

    /// A hook's error that is a plain string, not an `Error`: shown to
    /// clients as the string itself, as the original shows a thrown string
    /// (`String(e)`); in raw mode wrapped as `internalError`.
    pub fn thrown(message: impl std::fmt::Display) -> Self {
        Self::internal_kind("", message)
    }

    /// An internal error of another JavaScript error kind, shown as
    /// `"<kind>: <message>"` (`"TypeError: ..."`).
    pub fn internal_kind(
        kind: impl Into<Cow<'static, str>>,
        message: impl std::fmt::Display,
    ) -> Self {
        Self::Internal(InternalError {
            kind: kind.into(),
            message: message.to_string(),
            source: None,
        })
    }

    /// An internal error caused by `source`, shown as
    /// `"Error: <context>: <source>"`; the source stays reachable through
    /// `std::error::Error::source` for logs.
    pub fn caused_by(
        context: impl std::fmt::Display,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Internal(InternalError {
            kind: "Error".into(),
            message: format!("{context}: {source}"),
            source: Some(Arc::new(source)),
        })
    }

    /// The protocol error code.
    pub fn code(&self) -> &str {
        use ChatServiceError::*;
        match self {
            BadArgument(..) => "badArgument",
            Internal(_) => "internalError",
            InvalidName(_) => "invalidName",
            InvalidSocket(_) => "invalidSocket",
            NoCommand(_) => "noCommand",
            ListLimitExceeded(_) => "listLimitExceeded",
            NoList(_) => "noList",
            NoLogin => "noLogin",
            NoRoom(_) => "noRoom",
            NoSocket(_) => "noSocket",
            NoUser(_) => "noUser",
            NoUserOnline(_) => "noUserOnline",
            NotAllowed => "notAllowed",
            NotJoined(_) => "notJoined",
            RoomExists(_) => "roomExists",
            Timeout => "timeout",
            TooManySockets(_) => "tooManySockets",
            RateLimited => "rateLimited",
            UserExists(_) => "userExists",
            UserOnline(_) => "userOnline",
            WrongArgumentsCount(..) => "wrongArgumentsCount",
            Custom { code, .. } => code,
        }
    }

    /// The error's arguments as the protocol lists them.
    pub fn args(&self) -> Vec<Value> {
        use ChatServiceError::*;
        match self {
            BadArgument(pos, value) => vec![json!(pos), value.clone()],
            Internal(error) => vec![json!(error.to_string())],
            InvalidName(name) => vec![name.clone()],
            InvalidSocket(s) | NoCommand(s) | ListLimitExceeded(s) | NoList(s) | NoRoom(s)
            | NoSocket(s) | NoUser(s) | NoUserOnline(s) | NotJoined(s) | RoomExists(s)
            | UserExists(s) | UserOnline(s) | TooManySockets(s) => vec![json!(s)],
            NoLogin | NotAllowed | Timeout | RateLimited => vec![],
            WrongArgumentsCount(expected, got) => vec![json!(expected), json!(got)],
            Custom { args, .. } => args.clone(),
        }
    }

    fn format(&self) -> Option<&'static str> {
        code_format(self.code())
    }

    /// The message without the `ChatServiceError: ` prefix
    /// (`"No such room room1"`); a custom code renders as the code itself.
    pub fn message(&self) -> String {
        match self.format() {
            Some(fmt) => format_js(fmt, &self.args()),
            None => self.code().to_string(),
        }
    }

    /// The string form clients receive without `useRawErrorObjects`.
    pub fn to_wire_string(&self) -> String {
        match self {
            Self::Internal(error) => error.to_string(),
            _ => format!("ChatServiceError: {}", self.message()),
        }
    }

    /// The raw object form `{name, code, args}` (keys in that order).
    pub fn to_raw_object(&self) -> Value {
        json!({"name": "ChatServiceError", "code": self.code(), "args": self.args()})
    }

    /// The error as sent to a client: a string, or the raw object.
    pub fn render(&self, raw: bool) -> Value {
        if raw {
            self.to_raw_object()
        } else {
            Value::String(self.to_wire_string())
        }
    }

    /// A `badArgument` for the value at `pos`.
    pub fn bad_argument(pos: usize, value: &Value) -> Self {
        Self::BadArgument(pos, value.clone())
    }
}

/// The message format of each protocol error code (protocol.md 2.4), as
/// the original looks it up by code: a custom error raised with a known
/// code (`{"code": "noRoom", "args": ["r"]}` from an HTTP hook) renders
/// like the service's own.
fn code_format(code: &str) -> Option<&'static str> {
    Some(match code {
        "badArgument" => "Bad argument at position %d, value %j",
        "internalError" => "%s",
        "invalidName" => "String %s contains invalid characters",
        "invalidSocket" => "Socket %s is not connected",
        "noCommand" => "No such command %s",
        "listLimitExceeded" => "Exceeded %s size limit",
        "noList" => "No such list %s",
        "noLogin" => "No login provided",
        "noRoom" => "No such room %s",
        "noSocket" => "Command %s requires a valid socket",
        "noUser" => "No such user %s",
        "noUserOnline" => "No such user online %s",
        "notAllowed" => "Action is not allowed",
        "notJoined" => "Not joined to room %s",
        "roomExists" => "Room %s already exists",
        "timeout" => "Server operation timeout",
        "tooManySockets" => "Too many connections of user %s",
        "rateLimited" => "Too many requests",
        "userExists" => "User %s already exists",
        "userOnline" => "User %s is online",
        "wrongArgumentsCount" => "Expected %s arguments, got %s",
        _ => return None,
    })
}

impl From<serde_json::Error> for ChatServiceError {
    fn from(e: serde_json::Error) -> Self {
        Self::caused_by("JSON", e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_forms_match_the_original() {
        let cases = [
            (
                ChatServiceError::WrongArgumentsCount(2, 0),
                "ChatServiceError: Expected 2 arguments, got 0",
            ),
            (
                ChatServiceError::BadArgument(0, Value::Null),
                "ChatServiceError: Bad argument at position 0, value null",
            ),
            (
                ChatServiceError::BadArgument(1, json!("x")),
                "ChatServiceError: Bad argument at position 1, value \"x\"",
            ),
            (
                ChatServiceError::BadArgument(2, json!([1])),
                "ChatServiceError: Bad argument at position 2, value [1]",
            ),
            (
                ChatServiceError::BadArgument(1, json!({"textMessage": "x", "other": 1})),
                "ChatServiceError: Bad argument at position 1, value {\"textMessage\":\"x\",\"other\":1}",
            ),
            (
                ChatServiceError::NoRoom("room1".into()),
                "ChatServiceError: No such room room1",
            ),
            (
                ChatServiceError::InvalidName(json!(123)),
                "ChatServiceError: String 123 contains invalid characters",
            ),
            (
                ChatServiceError::custom("myCode", vec![json!("q")]),
                "ChatServiceError: myCode",
            ),
            (ChatServiceError::internal("boom"), "Error: boom"),
            (ChatServiceError::thrown("go away"), "go away"),
            (
                ChatServiceError::custom("noRoom", vec![json!("r")]),
                "ChatServiceError: No such room r",
            ),
            (
                ChatServiceError::custom("notJoined", vec![]),
                "ChatServiceError: Not joined to room %s",
            ),
            (
                ChatServiceError::internal_kind("TypeError", "x is null"),
                "TypeError: x is null",
            ),
        ];
        for (error, expected) in cases {
            assert_eq!(error.to_wire_string(), expected);
        }
    }

    #[test]
    fn raw_objects_keep_key_order() {
        let raw = ChatServiceError::BadArgument(1, json!("x")).to_raw_object();
        assert_eq!(
            raw.to_string(),
            r#"{"name":"ChatServiceError","code":"badArgument","args":[1,"x"]}"#
        );
        let raw = ChatServiceError::internal("boom").to_raw_object();
        assert_eq!(
            raw.to_string(),
            r#"{"name":"ChatServiceError","code":"internalError","args":["Error: boom"]}"#
        );
    }

    #[test]
    fn internal_errors_keep_their_source() {
        let io = std::io::Error::other("disk full");
        let error = ChatServiceError::caused_by("writing the database", io);
        assert_eq!(
            error.to_wire_string(),
            "Error: writing the database: disk full"
        );
        let source = std::error::Error::source(&error).expect("a source");
        assert_eq!(source.to_string(), "disk full");
    }
}

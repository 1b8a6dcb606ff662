//! Room messages: as a command hands one to the state, as the state stores
//! it, and as its feed carries it to every instance.

use std::sync::Arc;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// A stored, processed room message (with `author`, `timestamp`, `id`).
pub type Message = Arc<Value>;

/// The id the state gave a stored message.
pub fn message_id(message: &Value) -> u64 {
    message.get("id").and_then(Value::as_u64).unwrap_or(0)
}

/// Room message settings the caller supplies to `room_add_message`.
pub struct NewMessage<'a> {
    pub author: Option<&'a str>,
    /// `false` with `bypassPermissions`.
    pub require_member: bool,
    /// The client's fields, `id`/`timestamp` already stripped, `author` set.
    pub fields: Map<String, Value>,
    pub timestamp: i64,
}

/// A room message as the state stored it, on its way to every instance's
/// sockets.
#[derive(Debug, Clone)]
pub struct Published {
    pub room: String,
    pub message: FeedMessage,
}

/// A message on the feed: the stored value (memory state), or the stored
/// JSON text (Redis state), which goes to the sockets as it is instead of
/// being parsed and written again for every message.
#[derive(Debug, Clone)]
pub enum FeedMessage {
    Stored(Message),
    Json { text: Box<RawValue>, id: u64 },
}

impl FeedMessage {
    pub fn id(&self) -> u64 {
        match self {
            FeedMessage::Stored(message) => message_id(message),
            FeedMessage::Json { id, .. } => *id,
        }
    }
}

/// The room messages a state stores, each room's in id order: the one path
/// by which every instance delivers room messages to its sockets, so that
/// a member receives a room's messages in the order of their ids whichever
/// instance (or concurrent command) appended them.
pub type MessageFeed = futures::stream::BoxStream<'static, Published>;

//! Room messages and history: `roomMessage`, `roomRecentHistory`,
//! `roomHistoryGet`, `roomHistoryInfo` (protocol.md 5.6, 8).

use serde_json::{Map, Value, json};

use super::{Cmd, Formats, now_ms};
use crate::dispatch::{Exec, args};
use crate::error::Result;
use crate::state::{Message, NewMessage, message_id};

/// Removes the fields the server sets and sets `author` (3.2): the sender,
/// or for anonymous server calls whatever the message carried.
pub(crate) fn strip_server_fields(
    mut fields: Map<String, Value>,
    author: Option<&str>,
) -> Map<String, Value> {
    fields.shift_remove("id");
    fields.shift_remove("timestamp");
    if let Some(author) = author {
        fields.insert("author".into(), Value::String(author.to_string()));
    }
    fields
}

fn messages(list: Vec<Message>) -> Value {
    Value::Array(list.iter().map(|m| Value::clone(m)).collect())
}

pub struct RoomMessage {
    pub room: String,
    pub message: Map<String, Value>,
}

impl Cmd for RoomMessage {
    const ARITY: usize = 2;
    fn parse(a: &[Value], formats: Formats) -> Result<Self> {
        Ok(Self {
            room: args::string(a, 0)?,
            message: args::message(a, 1, formats.room_custom)?,
        })
    }
    async fn apply(self, cx: &Exec<'_>) -> Result<Value> {
        let message = NewMessage {
            author: cx.user,
            require_member: !cx.bypass,
            fields: strip_server_fields(self.message, cx.user),
            timestamp: now_ms(),
        };
        let since = cx.service.deliveries().now();
        let stored = cx
            .service
            .state()
            .room_add_message(&self.room, message)
            .await?;
        crate::metrics::room_message_broadcast();
        // Every instance delivers it from the state's message feed; the
        // ack follows this instance's delivery (protocol.md 7.2).
        let id = message_id(&stored);
        cx.service.deliveries().wait(&self.room, id, since).await;
        Ok(Value::from(id))
    }
}

room_command!(RoomRecentHistory, |cx, room| {
    let limit = cx.service.options().history_max_get_messages;
    let list = cx
        .service
        .state()
        .room_recent_history(room, limit, cx.read_presence())
        .await?;
    Ok(messages(list))
});

pub struct RoomHistoryGet {
    pub room: String,
    pub id: u64,
    pub limit: u64,
}

impl Cmd for RoomHistoryGet {
    const ARITY: usize = 3;
    fn parse(a: &[Value], _: Formats) -> Result<Self> {
        Ok(Self {
            room: args::string(a, 0)?,
            id: args::number(a, 1, 0.0)?,
            limit: args::number(a, 2, 1.0)?,
        })
    }
    async fn apply(self, cx: &Exec<'_>) -> Result<Value> {
        let mut limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        if !cx.bypass {
            limit = limit.min(cx.service.options().history_max_get_messages);
        }
        let list = cx
            .service
            .state()
            .room_history_get(&self.room, self.id, limit, cx.read_presence())
            .await?;
        Ok(messages(list))
    }
}

room_command!(RoomHistoryInfo, |cx, room| {
    let info = cx
        .service
        .state()
        .room_history_info(room, cx.read_presence())
        .await?;
    Ok(json!({
        "historySize": info.history_size,
        "historyMaxSize": info.history_max_size,
        "historyMaxGetMessages": cx.service.options().history_max_get_messages,
        "lastMessageId": info.last_message_id,
    }))
});

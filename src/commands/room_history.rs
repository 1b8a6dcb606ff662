//! Room messages and history: `roomMessage`, `roomRecentHistory`,
//! `roomHistoryGet`, `roomHistoryInfo` (protocol.md 5.6, 8).

use serde_json::{Map, Value, json};

use super::Cmd;
use super::{Ctx, args};
use crate::error::Result;
use crate::options::Formats;
use crate::state::now_ms;
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

/// The reply: messages read from a store are only here, so they move into
/// it; cached ones are shared with the state, so they are copied.
fn messages(list: Vec<Message>) -> Value {
    Value::Array(list.into_iter().map(Message::unwrap_or_clone).collect())
}

/// Which end of a newest-first list a reply keeps when it is over budget.
enum Keep {
    /// The newest (`roomRecentHistory`).
    Newest,
    /// The oldest, contiguous from the requested id on (`roomHistoryGet`:
    /// a client fetching what it missed asks again from the last id it got).
    Oldest,
}

/// The messages of `list` (newest first) that fit in `budget` bytes of
/// JSON (as `approx_json_len` counts them), at least one: no request makes
/// the server build a reply of any size
/// (`ServiceOptions::history_reply_bytes`).
fn within_budget(mut list: Vec<Message>, budget: usize, keep: Keep) -> Vec<Message> {
    let mut total = 0;
    let mut fits = |m: &Message| {
        total += crate::json::approx_json_len(m) + 1;
        total <= budget
    };
    match keep {
        Keep::Newest => {
            let n = list.iter().take_while(|m| fits(m)).count().max(1);
            list.truncate(n);
            list
        }
        Keep::Oldest => {
            let n = list.iter().rev().take_while(|m| fits(m)).count().max(1);
            list.split_off(list.len().saturating_sub(n))
        }
    }
}

pub struct RoomMessage {
    pub room: String,
    pub message: Map<String, Value>,
}

impl Cmd for RoomMessage {
    const ARITY: usize = 2;
    fn parse(a: &[Value], formats: &Formats) -> Result<Self> {
        Ok(Self {
            room: args::string(a, 0)?,
            message: args::message(a, 1, &formats.room, formats.max_message_bytes)?,
        })
    }
    async fn apply(self, cx: &Ctx<'_>) -> Result<Value> {
        let message = NewMessage {
            author: cx.user(),
            require_member: !cx.bypass(),
            fields: strip_server_fields(self.message, cx.user()),
            timestamp: now_ms(),
        };
        let since = cx.deliveries.now();
        let stored = cx.state.room_add_message(&self.room, message).await?;
        crate::metrics::room_message_broadcast();
        // Every instance delivers it from the state's message feed; the
        // ack follows this instance's delivery (protocol.md 7.2).
        let id = message_id(&stored);
        cx.deliveries.wait(&self.room, id, since).await;
        Ok(Value::from(id))
    }
}

room_command!(RoomRecentHistory, |cx, room| {
    let limit = cx.options.history_max_get_messages;
    let list = cx
        .state
        .room_recent_history(room, limit, cx.read_presence())
        .await?;
    let budget = cx.options.history_reply_bytes;
    Ok(messages(within_budget(list, budget, Keep::Newest)))
});

pub struct RoomHistoryGet {
    pub room: String,
    pub id: u64,
    pub limit: u64,
}

impl Cmd for RoomHistoryGet {
    const ARITY: usize = 3;
    fn parse(a: &[Value], _: &Formats) -> Result<Self> {
        Ok(Self {
            room: args::string(a, 0)?,
            id: args::number(a, 1, 0.0)?,
            limit: args::number(a, 2, 1.0)?,
        })
    }
    async fn apply(self, cx: &Ctx<'_>) -> Result<Value> {
        let mut limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        if !cx.bypass() {
            limit = limit.min(cx.options.history_max_get_messages);
        }
        let list = cx
            .state
            .room_history_get(&self.room, self.id, limit, cx.read_presence())
            .await?;
        let budget = cx.options.history_reply_bytes;
        Ok(messages(within_budget(list, budget, Keep::Oldest)))
    }
}

room_command!(RoomHistoryInfo, |cx, room| {
    let info = cx.state.room_history_info(room, cx.read_presence()).await?;
    Ok(json!({
        "historySize": info.history_size,
        "historyMaxSize": info.history_max_size,
        "historyMaxGetMessages": cx.options.history_max_get_messages,
        "lastMessageId": info.last_message_id,
    }))
});

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn approx_len_is_about_the_json_length() {
        let message = json!({"textMessage": "hello there", "author": "alice", "timestamp": 1764931200000u64, "id": 42});
        let exact = crate::json::js_stringify_len(&message);
        let approx = crate::json::approx_json_len(&message);
        assert!(
            approx >= exact && approx <= exact * 2,
            "{approx} for {exact}"
        );
    }

    #[test]
    fn replies_keep_within_the_budget_at_least_one_message() {
        // newest first, ids 5..1, each `{"id":N,"t":"xxxxxxxx"}` (counted
        // as 2 + 6 + 24 + 5 + 10 = 47 bytes, numbers at their longest)
        let list: Vec<Message> = (1..=5)
            .rev()
            .map(|id| Arc::new(json!({"id": id, "t": "xxxxxxxx"})))
            .collect();
        let ids = |budget, keep| {
            let kept = within_budget(list.clone(), budget, keep);
            kept.iter().map(|m| message_id(m)).collect::<Vec<_>>()
        };
        assert_eq!(ids(1000, Keep::Newest), [5, 4, 3, 2, 1]);
        assert_eq!(ids(100, Keep::Newest), [5, 4]);
        assert_eq!(ids(100, Keep::Oldest), [2, 1]);
        assert_eq!(ids(1, Keep::Newest), [5]);
        assert_eq!(ids(1, Keep::Oldest), [1]);
        assert!(within_budget(Vec::new(), 1, Keep::Oldest).is_empty());
    }
}

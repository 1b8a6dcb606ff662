//! What the conformance cases share: names, actors, room configs, and short
//! forms of common calls. Everything the case files use comes from here.

pub(super) use std::sync::Arc;
pub(super) use std::time::Duration;

pub(super) use serde_json::{Map, json};

pub(super) use crate::error::{ChatServiceError, Result};
pub(super) use crate::state::*;

pub(super) type StateRef = Arc<dyn State>;

pub(super) const TTL: Duration = Duration::from_secs(10);
/// Upper bound for anything that should happen "at once".
pub(super) const SOON: Duration = Duration::from_secs(5);

pub(super) fn names(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

pub(super) fn sorted(mut items: Vec<String>) -> Vec<String> {
    items.sort();
    items
}

pub(super) fn user(name: &str) -> Actor<'_> {
    Actor {
        user: Some(name),
        bypass: false,
    }
}

pub(super) const ANONYMOUS: Actor<'static> = Actor {
    user: None,
    bypass: false,
};

pub(super) const BYPASS: Actor<'static> = Actor {
    user: None,
    bypass: true,
};

/// A room with an owner, an admin and room for history.
pub(super) fn owned(owner: &str, admins: &[&str]) -> RoomConfig {
    RoomConfig {
        owner: Some(owner.to_string()),
        adminlist: names(admins),
        history_max_size: 10,
        ..RoomConfig::default()
    }
}

pub(super) fn with_history(max: usize) -> RoomConfig {
    RoomConfig {
        history_max_size: max,
        ..RoomConfig::default()
    }
}

/// Joins `socket` of `user` to `room`, registering the socket on instance
/// `i1` first if it is new.
pub(super) async fn join(state: &StateRef, room: &str, user: &str, socket: &str) -> Joined {
    let known = state
        .user_sockets(user)
        .await
        .is_ok_and(|sockets| sockets.contains_key(socket));
    if !known {
        state.add_socket(user, socket, "i1").await.unwrap();
    }
    state.room_join(room, user, socket, 1).await.unwrap()
}

pub(super) async fn in_list(state: &StateRef, room: &str, list: &str, item: &str) -> bool {
    state
        .room_has_in_list(room, &list_name(list), item)
        .await
        .unwrap()
}

pub(super) async fn userlist(state: &StateRef, room: &str) -> Vec<String> {
    sorted(state.room_userlist(room).await.unwrap())
}

/// A room list name as a command reads it (unknown ones included).
pub(super) fn list_name(name: &str) -> RoomListName {
    RoomListName::parse(name)
}

pub(super) async fn get_list(state: &StateRef, room: &str, list: &str) -> Vec<String> {
    sorted(
        state
            .room_get_list(room, &list_name(list), Presence::Any)
            .await
            .unwrap(),
    )
}

pub(super) async fn change(
    state: &StateRef,
    room: &str,
    actor: Actor<'_>,
    list: &str,
    items: &[&str],
    op: ListOp,
) -> Result<AccessChange> {
    state
        .room_change_list(room, actor, &list_name(list), &names(items), op, 100)
        .await
}

/// Adds a room message without a membership requirement.
pub(super) async fn post(state: &StateRef, room: &str, text: &str) -> Message {
    let mut fields = Map::new();
    fields.insert("textMessage".into(), json!(text));
    state
        .room_add_message(
            room,
            NewMessage {
                author: None,
                require_member: false,
                fields,
                timestamp: 1000,
            },
        )
        .await
        .unwrap()
}

pub(super) async fn post_n(state: &StateRef, room: &str, n: usize) {
    for i in 1..=n {
        post(state, room, &format!("m{i}")).await;
    }
}

/// A feed message as a value (stored JSON text parsed).
pub(super) fn as_message(message: &FeedMessage) -> Message {
    match message {
        FeedMessage::Stored(message) => message.clone(),
        FeedMessage::Json { text, .. } => Arc::new(serde_json::from_str(text.get()).unwrap()),
    }
}

pub(super) fn ids(messages: &[Message]) -> Vec<u64> {
    messages.iter().map(|m| m["id"].as_u64().unwrap()).collect()
}

pub(super) async fn history_get(state: &StateRef, room: &str, id: u64, limit: usize) -> Vec<u64> {
    ids(&state
        .room_history_get(room, id, limit, Presence::Any)
        .await
        .unwrap())
}

pub(super) async fn seen(state: &StateRef, room: &str, user: &str) -> UserSeen {
    state
        .room_user_seen(room, user, Presence::Any)
        .await
        .unwrap()
}

pub(super) fn not_joined(room: &str) -> ChatServiceError {
    ChatServiceError::NotJoined(room.to_string())
}

pub(super) fn no_room(room: &str) -> ChatServiceError {
    ChatServiceError::NoRoom(room.to_string())
}

pub(super) fn no_user(user: &str) -> ChatServiceError {
    ChatServiceError::NoUser(user.to_string())
}

pub(super) fn left_room(room: &str, njoined: usize, userlist_updates: bool) -> LeftRoom {
    LeftRoom {
        room: room.to_string(),
        njoined,
        userlist_updates,
    }
}

pub(super) fn instance(id: &str, heartbeat: i64) -> Instance {
    Instance {
        id: id.to_string(),
        heartbeat,
    }
}

pub(super) fn recipient(access: bool, nconnected: usize) -> Recipient {
    Recipient { access, nconnected }
}

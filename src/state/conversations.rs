//! Stored one-to-one conversations, built of rooms: the conversation of
//! two users is the room `dm:<a>:<b>` (the two names sorted), whitelist-
//! only with both on its whitelist and no owner, so it keeps a history
//! (messages wait for a user who is offline) and nobody else can join it.
//! No client can create or claim such a room: room and user names may
//! not contain `:` (`roomCreate` answers `invalidName`), so only
//! [`open`] makes one, on demand. Each user's
//! [`DirectList::Conversations`] names the other, so that a client
//! learns its conversations when it logs in.

use super::{DirectList, ListOp, RoomConfig, State, UserConfig, is_valid_name};
use crate::error::{ChatServiceError, Result};

/// What every conversation room's name starts with.
pub const PREFIX: &str = "dm:";

/// The room of the conversation of `a` and `b` (in either order).
pub fn room_name(a: &str, b: &str) -> String {
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    format!("{PREFIX}{first}:{second}")
}

/// The two users of a conversation room's name; `None` for any other name.
pub fn users(room: &str) -> Option<(&str, &str)> {
    let (a, b) = room.strip_prefix(PREFIX)?.split_once(':')?;
    let valid = is_valid_name(a) && is_valid_name(b) && a < b;
    valid.then_some((a, b))
}

/// The other user of a conversation room `user` is part of.
pub fn partner<'a>(room: &'a str, user: &str) -> Option<&'a str> {
    match users(room)? {
        (a, b) if a == user => Some(b),
        (a, b) if b == user => Some(a),
        _ => None,
    }
}

/// A conversation made or found by [`open`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub room: String,
    /// Made now (its users learn of it), or there already.
    pub created: bool,
}

/// Makes the conversation of `a` and `b` if it is not there (its room
/// with `config`'s other settings, the users' records if they have none,
/// each user's conversations list naming the other); `invalidName` for a
/// name a user may not have, `badArgument` for a conversation with
/// oneself.
pub async fn open(state: &dyn State, a: &str, b: &str, config: RoomConfig) -> Result<Opened> {
    for name in [a, b] {
        if !is_valid_name(name) {
            return Err(ChatServiceError::InvalidName(name.into()));
        }
    }
    if a == b {
        return Err(ChatServiceError::BadArgument(1, b.into()));
    }
    let room = room_name(a, b);
    let config = RoomConfig {
        owner: None,
        whitelist_only: true,
        whitelist: vec![a.to_string(), b.to_string()],
        blacklist: Vec::new(),
        adminlist: Vec::new(),
        ..config
    };
    let created = match state.add_room(&room, config).await {
        Ok(()) => true,
        Err(ChatServiceError::RoomExists(_)) => false,
        Err(error) => return Err(error),
    };
    // Also for a room that was there: a list change lost to a crash
    // between the two is made again (adding a listed name changes nothing).
    for (user, other) in [(a, b), (b, a)] {
        match state.add_user(user, UserConfig::default()).await {
            Ok(()) | Err(ChatServiceError::UserExists(_)) => {}
            Err(error) => return Err(error),
        }
        let names = [other.to_string()];
        state
            .direct_change_list(
                user,
                DirectList::Conversations,
                &names,
                ListOp::Add,
                usize::MAX,
            )
            .await?;
    }
    Ok(Opened { room, created })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{MemoryState, Presence};

    #[test]
    fn names_are_sorted_and_parsed_back() {
        assert_eq!(room_name("bob", "alice"), "dm:alice:bob");
        assert_eq!(users("dm:alice:bob"), Some(("alice", "bob")));
        assert_eq!(partner("dm:alice:bob", "bob"), Some("alice"));
        assert_eq!(partner("dm:alice:bob", "carol"), None);
        for other in [
            "dm:bob:alice",
            "dm:alice",
            "dm:alice:bob:x",
            "dm::bob",
            "lobby",
            "dm:a:a",
        ] {
            assert_eq!(users(other), None, "{other}");
        }
    }

    #[tokio::test]
    async fn open_makes_a_private_room_once_and_lists_it_for_both() {
        let state = MemoryState::new();
        let opened = open(&state, "bob", "alice", RoomConfig::default())
            .await
            .unwrap();
        assert_eq!(
            opened,
            Opened {
                room: "dm:alice:bob".into(),
                created: true
            }
        );
        assert!(
            state
                .room_whitelist_only(&opened.room, Presence::Any)
                .await
                .unwrap()
        );
        assert!(state.room_access(&opened.room, "alice").await.unwrap());
        assert!(!state.room_access(&opened.room, "carol").await.unwrap());
        assert_eq!(
            state.room_owner(&opened.room, Presence::Any).await.unwrap(),
            None
        );
        for (user, other) in [("alice", "bob"), ("bob", "alice")] {
            let list = state.direct_get_list(user, DirectList::Conversations).await;
            assert_eq!(list.unwrap(), [other]);
        }
        let again = open(&state, "alice", "bob", RoomConfig::default()).await;
        assert!(!again.unwrap().created);
        assert_eq!(
            open(&state, "alice", "alice", RoomConfig::default()).await,
            Err(ChatServiceError::BadArgument(1, "alice".into()))
        );
        assert_eq!(
            open(&state, "alice", "x:y", RoomConfig::default()).await,
            Err(ChatServiceError::InvalidName("x:y".into()))
        );
    }
}

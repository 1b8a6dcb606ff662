//! The state conformance suite: what every `State` implementation must do,
//! written once against `Arc<dyn State>` (protocol.md 4, 5, 8, 13, 14.4).
//!
//! Each case is a `pub async fn case(state: Arc<dyn State>)` that gets a
//! fresh, empty state. `state_conformance!` turns the whole list into one
//! `#[tokio::test]` per case for a given factory, so another
//! implementation runs the very same cases with
//!
//! ```ignore
//! mod redis_conformance {
//!     super::tests::state_conformance!(|| async { make_redis_state().await });
//! }
//! ```
//!
//! The factory is a closure returning a future of `Arc<dyn State>`. Cases
//! never depend on the order of set-like results (users of a room, sockets
//! of an instance, list entries): those are compared sorted.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, json};

use super::*;

/// Generates one `#[tokio::test]` per conformance case, each on a fresh
/// state made by `$make` (a closure returning a future of `Arc<dyn State>`).
macro_rules! state_conformance {
    ($make:expr) => {
        $crate::state::tests::state_conformance!(@cases $make;
            add_room_then_has_room_and_room_exists,
            add_room_keeps_its_config,
            delete_room_checks_room_then_owner,
            delete_room_returns_joined_sockets_of_present_users,
            recreated_room_starts_empty,
            room_access_admin_beats_blacklist,
            room_access_whitelist_only,
            room_access_of_missing_room_is_no_room,
            room_join_counts_sockets_and_reports_already,
            room_join_checks_access,
            room_join_of_unregistered_socket_is_invalid_socket,
            room_join_and_leave_of_missing_room_is_no_room,
            room_leave_counts_sockets_and_reports_was_joined,
            seen_changes_only_when_entering_or_leaving_userlist,
            room_remove_user_removes_all_joined_sockets,
            room_userlist_and_users_without_sockets,
            userlist_updates_flag_is_reported_by_join_and_leave,
            list_change_userlist_is_never_allowed,
            list_change_owner_may_change_every_list,
            list_change_admin_rules,
            list_change_others_get_not_allowed_before_no_list,
            list_change_bypass_skips_permissions_only,
            list_change_of_missing_room_is_no_room,
            lists_are_sets,
            list_size_limit_counts_current_and_requested_names,
            blacklist_add_removes_present_non_admins,
            whitelist_remove_removes_only_in_whitelist_only_mode,
            whitelist_mode_true_removes_unlisted_users_and_owner,
            whitelist_mode_keeps_listed_owner_and_false_removes_nobody,
            whitelist_mode_permissions,
            other_list_changes_remove_nobody,
            access_change_reports_access_lists_updates,
            message_ids_start_at_one_and_message_is_processed,
            add_message_requires_membership_unless_told_not_to,
            history_is_a_bounded_ring_of_newest_messages,
            history_max_size_zero_counts_ids_but_stores_nothing,
            message_feed_publishes_each_room_in_id_order,
            history_get_examples_of_section_8,
            history_get_examples_with_rotated_messages,
            recent_history_is_newest_first_and_limited,
            set_history_max_size_trims_and_none_keeps_capacity,
            room_reads_check_room_then_presence_then_list,
            room_reads_presence_rules,
            room_settings_setters,
            add_user_has_user_delete_user,
            delete_user_with_sockets_is_user_online,
            direct_lists_change_and_read,
            direct_list_size_limit,
            direct_whitelist_mode,
            direct_access_rules,
            user_queries_of_unknown_user_are_no_user,
            add_socket_counts_and_creates_user,
            user_sockets_and_rooms,
            remove_socket_reports_rooms_and_counts,
            add_socket_again_keeps_its_rooms,
            instance_sockets_per_instance,
            heartbeats,
            recovery_is_claimed_once_and_only_for_stale_instances,
            rooms_owned_counts_rooms_owned_now,
            lock_waits_for_the_same_pair_until_guard_drops,
            lock_on_different_pairs_does_not_block,
            lock_can_be_retaken_many_times,
            ping_answers,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let state: ::std::sync::Arc<dyn $crate::state::State> = ($make)().await;
                $crate::state::tests::$case(state).await;
            }
        )*
    };
}
pub(crate) use state_conformance;

mod memory {
    use super::*;

    state_conformance!(|| async { Arc::new(MemoryState::new()) as Arc<dyn State> });

    /// 14.4: the memory state gives up after its retries (about 11 s of
    /// waiting), with `timeout`. Virtual time: the test takes no real time.
    #[tokio::test(start_paused = true)]
    async fn lock_gives_up_with_timeout() {
        let state = MemoryState::new();
        let _held = state.lock("u", "r", TTL).await.unwrap();
        let started = tokio::time::Instant::now();
        let second = state.lock("u", "r", TTL).await;
        assert_eq!(second.err(), Some(ChatServiceError::Timeout));
        let waited = started.elapsed();
        assert!(waited >= Duration::from_secs(5), "gave up after {waited:?}");
    }
}

// ---- helpers ----

type StateRef = Arc<dyn State>;

const TTL: Duration = Duration::from_secs(10);
/// Upper bound for anything that should happen "at once".
const SOON: Duration = Duration::from_secs(5);

fn names(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn sorted(mut items: Vec<String>) -> Vec<String> {
    items.sort();
    items
}

fn user(name: &str) -> Actor<'_> {
    Actor {
        user: Some(name),
        bypass: false,
    }
}

const ANONYMOUS: Actor<'static> = Actor {
    user: None,
    bypass: false,
};

const BYPASS: Actor<'static> = Actor {
    user: None,
    bypass: true,
};

/// A room with an owner, an admin and room for history.
fn owned(owner: &str, admins: &[&str]) -> RoomConfig {
    RoomConfig {
        owner: Some(owner.to_string()),
        adminlist: names(admins),
        history_max_size: 10,
        ..RoomConfig::default()
    }
}

fn with_history(max: usize) -> RoomConfig {
    RoomConfig {
        history_max_size: max,
        ..RoomConfig::default()
    }
}

/// Joins `socket` of `user` to `room`, registering the socket on instance
/// `i1` first if it is new.
async fn join(state: &StateRef, room: &str, user: &str, socket: &str) -> Joined {
    let known = state
        .user_sockets(user)
        .await
        .is_ok_and(|sockets| sockets.contains_key(socket));
    if !known {
        state.add_socket(user, socket, "i1").await.unwrap();
    }
    state.room_join(room, user, socket, 1).await.unwrap()
}

async fn userlist(state: &StateRef, room: &str) -> Vec<String> {
    sorted(state.room_userlist(room).await.unwrap())
}

async fn get_list(state: &StateRef, room: &str, list: &str) -> Vec<String> {
    sorted(
        state
            .room_get_list(room, list, Presence::Any)
            .await
            .unwrap(),
    )
}

async fn change(
    state: &StateRef,
    room: &str,
    actor: Actor<'_>,
    list: &str,
    items: &[&str],
    op: ListOp,
) -> Result<AccessChange> {
    state
        .room_change_list(room, actor, list, &names(items), op, 100)
        .await
}

/// Adds a room message without a membership requirement.
async fn post(state: &StateRef, room: &str, text: &str) -> Message {
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

async fn post_n(state: &StateRef, room: &str, n: usize) {
    for i in 1..=n {
        post(state, room, &format!("m{i}")).await;
    }
}

/// A feed message as a value (stored JSON text parsed).
fn as_message(message: &FeedMessage) -> Message {
    match message {
        FeedMessage::Stored(message) => message.clone(),
        FeedMessage::Json { text, .. } => Arc::new(serde_json::from_str(text.get()).unwrap()),
    }
}

fn ids(messages: &[Message]) -> Vec<u64> {
    messages.iter().map(|m| m["id"].as_u64().unwrap()).collect()
}

async fn history_get(state: &StateRef, room: &str, id: u64, limit: usize) -> Vec<u64> {
    ids(&state
        .room_history_get(room, id, limit, Presence::Any)
        .await
        .unwrap())
}

async fn seen(state: &StateRef, room: &str, user: &str) -> UserSeen {
    state
        .room_user_seen(room, user, Presence::Any)
        .await
        .unwrap()
}

fn not_joined(room: &str) -> ChatServiceError {
    ChatServiceError::NotJoined(room.to_string())
}

fn no_room(room: &str) -> ChatServiceError {
    ChatServiceError::NoRoom(room.to_string())
}

fn no_user(user: &str) -> ChatServiceError {
    ChatServiceError::NoUser(user.to_string())
}

// ---- rooms ----

pub async fn add_room_then_has_room_and_room_exists(state: StateRef) {
    assert!(!state.has_room("r").await.unwrap());
    state.add_room("r", RoomConfig::default()).await.unwrap();
    assert!(state.has_room("r").await.unwrap());
    assert_eq!(
        state.add_room("r", RoomConfig::default()).await,
        Err(ChatServiceError::RoomExists("r".into()))
    );
}

pub async fn add_room_keeps_its_config(state: StateRef) {
    let config = RoomConfig {
        owner: Some("o".into()),
        whitelist_only: true,
        whitelist: names(&["w1", "w2"]),
        blacklist: names(&["b"]),
        adminlist: names(&["a"]),
        history_max_size: 7,
        enable_access_lists_updates: true,
        enable_userlist_updates: false,
    };
    state.add_room("r", config).await.unwrap();
    let any = Presence::Any;
    assert_eq!(state.room_owner("r", any).await.unwrap(), Some("o".into()));
    assert!(state.room_whitelist_only("r", any).await.unwrap());
    assert_eq!(
        get_list(&state, "r", "whitelist").await,
        names(&["w1", "w2"])
    );
    assert_eq!(get_list(&state, "r", "blacklist").await, names(&["b"]));
    assert_eq!(get_list(&state, "r", "adminlist").await, names(&["a"]));
    assert_eq!(
        get_list(&state, "r", "userlist").await,
        Vec::<String>::new()
    );
    assert_eq!(
        state.room_notifications("r", any).await.unwrap(),
        NotificationsInfo {
            enable_userlist_updates: false,
            enable_access_lists_updates: true,
        }
    );
    assert_eq!(
        state.room_history_info("r", any).await.unwrap(),
        HistoryInfo {
            history_size: 0,
            history_max_size: 7,
            last_message_id: 0,
        }
    );

    state.add_room("free", RoomConfig::default()).await.unwrap();
    assert_eq!(state.room_owner("free", any).await.unwrap(), None);
}

pub async fn delete_room_checks_room_then_owner(state: StateRef) {
    assert_eq!(state.delete_room("r", BYPASS).await, Err(no_room("r")));
    state.add_room("r", owned("o", &["a"])).await.unwrap();
    for actor in [user("a"), user("x"), ANONYMOUS] {
        assert_eq!(
            state.delete_room("r", actor).await,
            Err(ChatServiceError::NotAllowed)
        );
    }
    assert!(state.has_room("r").await.unwrap());
    state.delete_room("r", user("o")).await.unwrap();
    assert!(!state.has_room("r").await.unwrap());

    state.add_room("r2", owned("o", &[])).await.unwrap();
    state.delete_room("r2", BYPASS).await.unwrap();
    assert!(!state.has_room("r2").await.unwrap());
}

pub async fn delete_room_returns_joined_sockets_of_present_users(state: StateRef) {
    state.add_room("r", owned("o", &[])).await.unwrap();
    state.add_room("other", owned("o", &[])).await.unwrap();
    join(&state, "r", "u1", "s1").await;
    join(&state, "other", "u1", "s1").await;
    state.add_socket("u1", "s2", "i1").await.unwrap();
    join(&state, "r", "u2", "s3").await;
    join(&state, "r", "u2", "s4").await;

    let mut removed = state.delete_room("r", user("o")).await.unwrap();
    removed.sort();
    for (_, sockets) in &mut removed {
        sockets.sort();
    }
    assert_eq!(
        removed,
        vec![
            ("u1".to_string(), names(&["s1"])),
            ("u2".to_string(), names(&["s3", "s4"])),
        ]
    );
    let sockets = state.user_sockets("u1").await.unwrap();
    assert_eq!(sockets["s1"], names(&["other"]));
    assert_eq!(sockets["s2"], Vec::<String>::new());
    assert_eq!(state.user_rooms("u2").await.unwrap(), Vec::<String>::new());
    assert_eq!(state.room_join("r", "u1", "s1", 2).await, Err(no_room("r")));
}

pub async fn recreated_room_starts_empty(state: StateRef) {
    state.add_room("r", owned("o", &[])).await.unwrap();
    join(&state, "r", "u", "s").await;
    post_n(&state, "r", 2).await;
    state.delete_room("r", BYPASS).await.unwrap();
    state.add_room("r", with_history(10)).await.unwrap();
    assert_eq!(userlist(&state, "r").await, Vec::<String>::new());
    assert_eq!(
        state.room_history_info("r", Presence::Any).await.unwrap(),
        HistoryInfo {
            history_size: 0,
            history_max_size: 10,
            last_message_id: 0,
        }
    );
    assert_eq!(seen(&state, "r", "u").await.timestamp, None);
    assert_eq!(ids(&[post(&state, "r", "again").await]), vec![1]);
}

// ---- access (4.2) ----

pub async fn room_access_admin_beats_blacklist(state: StateRef) {
    let config = RoomConfig {
        blacklist: names(&["o", "a", "b"]),
        ..owned("o", &["a"])
    };
    state.add_room("r", config).await.unwrap();
    assert!(state.room_access("r", "o").await.unwrap());
    assert!(state.room_access("r", "a").await.unwrap());
    assert!(!state.room_access("r", "b").await.unwrap());
    assert!(state.room_access("r", "anyone").await.unwrap());
}

pub async fn room_access_whitelist_only(state: StateRef) {
    let config = RoomConfig {
        whitelist_only: true,
        whitelist: names(&["w", "wb"]),
        blacklist: names(&["wb"]),
        ..owned("o", &["a"])
    };
    state.add_room("r", config).await.unwrap();
    assert!(state.room_access("r", "w").await.unwrap());
    assert!(!state.room_access("r", "wb").await.unwrap());
    assert!(!state.room_access("r", "x").await.unwrap());
    assert!(state.room_access("r", "o").await.unwrap());
    assert!(state.room_access("r", "a").await.unwrap());
}

pub async fn room_access_of_missing_room_is_no_room(state: StateRef) {
    assert_eq!(state.room_access("r", "u").await, Err(no_room("r")));
}

// ---- join and leave ----

pub async fn room_join_counts_sockets_and_reports_already(state: StateRef) {
    state.add_room("r", with_history(10)).await.unwrap();
    state.add_socket("u", "s1", "i1").await.unwrap();
    state.add_socket("u", "s2", "i2").await.unwrap();
    let first = state.room_join("r", "u", "s1", 1).await.unwrap();
    assert_eq!((first.njoined, first.already), (1, false));
    let again = state.room_join("r", "u", "s1", 2).await.unwrap();
    assert_eq!((again.njoined, again.already), (1, true));
    let second = state.room_join("r", "u", "s2", 3).await.unwrap();
    assert_eq!((second.njoined, second.already), (2, false));
    assert_eq!(userlist(&state, "r").await, names(&["u"]));
}

pub async fn room_join_checks_access(state: StateRef) {
    let config = RoomConfig {
        blacklist: names(&["b"]),
        ..owned("o", &[])
    };
    state.add_room("r", config).await.unwrap();
    state.add_socket("b", "s1", "i1").await.unwrap();
    assert_eq!(
        state.room_join("r", "b", "s1", 1).await,
        Err(ChatServiceError::NotAllowed)
    );
    assert_eq!(userlist(&state, "r").await, Vec::<String>::new());
    assert_eq!(state.user_rooms("b").await.unwrap(), Vec::<String>::new());
    assert_eq!(seen(&state, "r", "b").await.timestamp, None);
}

pub async fn room_join_of_unregistered_socket_is_invalid_socket(state: StateRef) {
    state.add_room("r", with_history(10)).await.unwrap();
    state.add_socket("u", "s1", "i1").await.unwrap();
    assert_eq!(
        state.room_join("r", "u", "nope", 1).await,
        Err(ChatServiceError::InvalidSocket("nope".into()))
    );
    assert_eq!(userlist(&state, "r").await, Vec::<String>::new());
    assert_eq!(state.user_rooms("u").await.unwrap(), Vec::<String>::new());
}

pub async fn room_join_and_leave_of_missing_room_is_no_room(state: StateRef) {
    state.add_socket("u", "s1", "i1").await.unwrap();
    assert_eq!(state.room_join("r", "u", "s1", 1).await, Err(no_room("r")));
    assert_eq!(state.room_leave("r", "u", "s1", 1).await, Err(no_room("r")));
    assert_eq!(
        state.room_remove_user("r", "u", 1).await.err(),
        Some(no_room("r"))
    );
}

pub async fn room_leave_counts_sockets_and_reports_was_joined(state: StateRef) {
    state.add_room("r", with_history(10)).await.unwrap();
    join(&state, "r", "u", "s1").await;
    join(&state, "r", "u", "s2").await;
    state.add_socket("u", "s3", "i1").await.unwrap();

    let left = state.room_leave("r", "u", "s1", 2).await.unwrap();
    assert_eq!((left.njoined, left.was_joined), (1, true));
    assert_eq!(userlist(&state, "r").await, names(&["u"]));

    let again = state.room_leave("r", "u", "s1", 3).await.unwrap();
    assert_eq!((again.njoined, again.was_joined), (1, false));
    let never = state.room_leave("r", "u", "s3", 3).await.unwrap();
    assert_eq!((never.njoined, never.was_joined), (1, false));

    let last = state.room_leave("r", "u", "s2", 4).await.unwrap();
    assert_eq!((last.njoined, last.was_joined), (0, true));
    assert_eq!(userlist(&state, "r").await, Vec::<String>::new());
    assert_eq!(state.user_rooms("u").await.unwrap(), Vec::<String>::new());
}

pub async fn seen_changes_only_when_entering_or_leaving_userlist(state: StateRef) {
    state.add_room("r", with_history(10)).await.unwrap();
    state.add_socket("u", "s1", "i1").await.unwrap();
    state.add_socket("u", "s2", "i1").await.unwrap();
    let at = |joined, timestamp| UserSeen { joined, timestamp };

    assert_eq!(seen(&state, "r", "u").await, at(false, None));
    state.room_join("r", "u", "s1", 100).await.unwrap();
    assert_eq!(seen(&state, "r", "u").await, at(true, Some(100)));
    state.room_join("r", "u", "s2", 200).await.unwrap();
    state.room_join("r", "u", "s2", 250).await.unwrap();
    assert_eq!(seen(&state, "r", "u").await, at(true, Some(100)));
    state.room_leave("r", "u", "s1", 300).await.unwrap();
    assert_eq!(seen(&state, "r", "u").await, at(true, Some(100)));
    state.room_leave("r", "u", "s2", 400).await.unwrap();
    assert_eq!(seen(&state, "r", "u").await, at(false, Some(400)));
    state.room_leave("r", "u", "s2", 500).await.unwrap();
    assert_eq!(seen(&state, "r", "u").await, at(false, Some(400)));
    assert_eq!(seen(&state, "r", "stranger").await, at(false, None));
}

pub async fn room_remove_user_removes_all_joined_sockets(state: StateRef) {
    let config = RoomConfig {
        enable_userlist_updates: true,
        ..with_history(10)
    };
    state.add_room("r", config).await.unwrap();
    state.add_room("other", with_history(10)).await.unwrap();
    join(&state, "r", "u", "s1").await;
    join(&state, "r", "u", "s2").await;
    join(&state, "other", "u", "s2").await;
    state.add_socket("u", "s3", "i1").await.unwrap();
    join(&state, "r", "v", "s4").await;

    let removed = state.room_remove_user("r", "u", 50).await.unwrap();
    assert_eq!(sorted(removed.sockets), names(&["s1", "s2"]));
    assert!(removed.userlist_updates);
    assert_eq!(userlist(&state, "r").await, names(&["v"]));
    assert_eq!(
        seen(&state, "r", "u").await,
        UserSeen {
            joined: false,
            timestamp: Some(50),
        }
    );
    assert_eq!(state.user_rooms("u").await.unwrap(), names(&["other"]));

    let nobody = state.room_remove_user("r", "ghost", 60).await.unwrap();
    assert!(nobody.sockets.is_empty());
    assert_eq!(seen(&state, "r", "ghost").await.timestamp, None);
}

pub async fn room_userlist_and_users_without_sockets(state: StateRef) {
    assert_eq!(state.room_userlist("r").await, Err(no_room("r")));
    assert_eq!(
        state.room_users_without_sockets("r").await,
        Err(no_room("r"))
    );
    state.add_room("r", with_history(10)).await.unwrap();
    assert_eq!(userlist(&state, "r").await, Vec::<String>::new());
    join(&state, "r", "u", "s1").await;
    join(&state, "r", "v", "s2").await;
    assert_eq!(userlist(&state, "r").await, names(&["u", "v"]));
    assert_eq!(
        state.room_users_without_sockets("r").await.unwrap(),
        Vec::<String>::new()
    );
}

pub async fn userlist_updates_flag_is_reported_by_join_and_leave(state: StateRef) {
    let config = RoomConfig {
        enable_userlist_updates: true,
        ..with_history(10)
    };
    state.add_room("on", config).await.unwrap();
    state.add_room("off", with_history(10)).await.unwrap();
    assert!(join(&state, "on", "u", "s1").await.userlist_updates);
    assert!(!join(&state, "off", "u", "s1").await.userlist_updates);
    let left = state.room_leave("on", "u", "s1", 2).await.unwrap();
    assert!(left.userlist_updates);
    let left = state.room_leave("off", "u", "s1", 2).await.unwrap();
    assert!(!left.userlist_updates);
}

// ---- list changes (4.4) ----

pub async fn list_change_userlist_is_never_allowed(state: StateRef) {
    state.add_room("r", owned("o", &["a"])).await.unwrap();
    for actor in [user("o"), user("a"), BYPASS] {
        for op in [ListOp::Add, ListOp::Remove] {
            assert_eq!(
                change(&state, "r", actor, "userlist", &["x"], op)
                    .await
                    .err(),
                Some(ChatServiceError::NotAllowed)
            );
        }
    }
    assert_eq!(userlist(&state, "r").await, Vec::<String>::new());
}

pub async fn list_change_owner_may_change_every_list(state: StateRef) {
    state.add_room("r", owned("o", &["a"])).await.unwrap();
    for list in ["adminlist", "whitelist", "blacklist"] {
        change(&state, "r", user("o"), list, &["o", "x"], ListOp::Add)
            .await
            .unwrap();
        assert!(state.room_has_in_list("r", list, "x").await.unwrap());
        change(&state, "r", user("o"), list, &["x"], ListOp::Remove)
            .await
            .unwrap();
        assert!(!state.room_has_in_list("r", list, "x").await.unwrap());
    }
    assert_eq!(
        change(&state, "r", user("o"), "badlist", &["x"], ListOp::Add)
            .await
            .err(),
        Some(ChatServiceError::NoList("badlist".into()))
    );
}

pub async fn list_change_admin_rules(state: StateRef) {
    state.add_room("r", owned("o", &["a"])).await.unwrap();
    let not_allowed = Some(ChatServiceError::NotAllowed);
    // Admins may not touch the adminlist.
    for op in [ListOp::Add, ListOp::Remove] {
        assert_eq!(
            change(&state, "r", user("a"), "adminlist", &["x"], op)
                .await
                .err(),
            not_allowed
        );
    }
    // Admins may not list the owner, in either direction.
    for list in ["whitelist", "blacklist"] {
        for op in [ListOp::Add, ListOp::Remove] {
            assert_eq!(
                change(&state, "r", user("a"), list, &["x", "o"], op)
                    .await
                    .err(),
                not_allowed
            );
        }
    }
    assert!(!state.room_has_in_list("r", "whitelist", "x").await.unwrap());
    // Otherwise they may change the whitelist and blacklist.
    change(&state, "r", user("a"), "whitelist", &["x"], ListOp::Add)
        .await
        .unwrap();
    change(&state, "r", user("a"), "blacklist", &["y"], ListOp::Add)
        .await
        .unwrap();
    assert!(state.room_has_in_list("r", "whitelist", "x").await.unwrap());
    assert!(state.room_has_in_list("r", "blacklist", "y").await.unwrap());
    // A bad list name from an admin is `noList`.
    assert_eq!(
        change(&state, "r", user("a"), "badlist", &["x"], ListOp::Add)
            .await
            .err(),
        Some(ChatServiceError::NoList("badlist".into()))
    );
}

pub async fn list_change_others_get_not_allowed_before_no_list(state: StateRef) {
    state.add_room("r", owned("o", &["a"])).await.unwrap();
    for actor in [user("x"), ANONYMOUS] {
        for list in ["whitelist", "blacklist", "adminlist", "badlist"] {
            assert_eq!(
                change(&state, "r", actor, list, &["y"], ListOp::Add)
                    .await
                    .err(),
                Some(ChatServiceError::NotAllowed),
                "{list}"
            );
        }
    }
    assert!(!state.room_has_in_list("r", "whitelist", "y").await.unwrap());
}

pub async fn list_change_bypass_skips_permissions_only(state: StateRef) {
    state.add_room("r", owned("o", &["a"])).await.unwrap();
    change(&state, "r", BYPASS, "adminlist", &["z"], ListOp::Add)
        .await
        .unwrap();
    change(&state, "r", BYPASS, "blacklist", &["o"], ListOp::Add)
        .await
        .unwrap();
    assert!(state.room_has_in_list("r", "adminlist", "z").await.unwrap());
    assert!(state.room_has_in_list("r", "blacklist", "o").await.unwrap());
    assert_eq!(
        change(&state, "r", BYPASS, "badlist", &["x"], ListOp::Add)
            .await
            .err(),
        Some(ChatServiceError::NoList("badlist".into()))
    );
    let limited = state
        .room_change_list(
            "r",
            BYPASS,
            "whitelist",
            &names(&["p", "q"]),
            ListOp::Add,
            1,
        )
        .await;
    assert_eq!(
        limited.err(),
        Some(ChatServiceError::ListLimitExceeded("whitelist".into()))
    );
}

pub async fn list_change_of_missing_room_is_no_room(state: StateRef) {
    assert_eq!(
        change(&state, "r", BYPASS, "userlist", &["x"], ListOp::Add)
            .await
            .err(),
        Some(no_room("r"))
    );
}

pub async fn lists_are_sets(state: StateRef) {
    state.add_room("r", owned("o", &[])).await.unwrap();
    change(
        &state,
        "r",
        BYPASS,
        "whitelist",
        &["x", "x", "y"],
        ListOp::Add,
    )
    .await
    .unwrap();
    change(&state, "r", BYPASS, "whitelist", &["x"], ListOp::Add)
        .await
        .unwrap();
    assert_eq!(get_list(&state, "r", "whitelist").await, names(&["x", "y"]));
    change(
        &state,
        "r",
        BYPASS,
        "whitelist",
        &["x", "ghost"],
        ListOp::Remove,
    )
    .await
    .unwrap();
    change(&state, "r", BYPASS, "whitelist", &["x"], ListOp::Remove)
        .await
        .unwrap();
    assert_eq!(get_list(&state, "r", "whitelist").await, names(&["y"]));
}

pub async fn list_size_limit_counts_current_and_requested_names(state: StateRef) {
    state.add_room("r", owned("o", &[])).await.unwrap();
    let add = |items: &'static [&'static str]| {
        let state = state.clone();
        async move {
            state
                .room_change_list("r", user("o"), "blacklist", &names(items), ListOp::Add, 3)
                .await
                .map(|_| ())
        }
    };
    let exceeded = Err(ChatServiceError::ListLimitExceeded("blacklist".into()));
    add(&["a", "b"]).await.unwrap();
    assert_eq!(add(&["c", "d"]).await, exceeded);
    assert_eq!(get_list(&state, "r", "blacklist").await, names(&["a", "b"]));
    // 2 present + 1 requested = 3: allowed, even though "a" is present.
    add(&["a"]).await.unwrap();
    // Present names and duplicates count: 2 + 2 > 3.
    assert_eq!(add(&["a", "a"]).await, exceeded);
    add(&["c"]).await.unwrap();
    assert_eq!(add(&[]).await, Ok(()));
    assert_eq!(add(&["d"]).await, exceeded);
    // Removing is never limited.
    state
        .room_change_list(
            "r",
            user("o"),
            "blacklist",
            &names(&["a", "b", "c"]),
            ListOp::Remove,
            0,
        )
        .await
        .unwrap();
    assert_eq!(
        get_list(&state, "r", "blacklist").await,
        Vec::<String>::new()
    );
}

// ---- removed users (4.5) ----

async fn present_room(state: &StateRef, config: RoomConfig, present: &[&str]) {
    state.add_room("r", config).await.unwrap();
    for (i, name) in present.iter().enumerate() {
        join(state, "r", name, &format!("s{i}")).await;
    }
}

pub async fn blacklist_add_removes_present_non_admins(state: StateRef) {
    present_room(&state, owned("o", &["a"]), &["o", "a", "u", "v"]).await;
    let change = change(
        &state,
        "r",
        user("o"),
        "blacklist",
        &["u", "a", "o", "ghost", "u"],
        ListOp::Add,
    )
    .await
    .unwrap();
    assert_eq!(change.removed_users, names(&["u"]));
}

pub async fn whitelist_remove_removes_only_in_whitelist_only_mode(state: StateRef) {
    let config = RoomConfig {
        whitelist_only: true,
        whitelist: names(&["u", "v", "a"]),
        ..owned("o", &["a"])
    };
    present_room(&state, config, &["u", "v", "a"]).await;
    let removed = change(
        &state,
        "r",
        user("o"),
        "whitelist",
        &["u", "a", "ghost"],
        ListOp::Remove,
    )
    .await
    .unwrap()
    .removed_users;
    assert_eq!(removed, names(&["u"]));

    state
        .room_set_whitelist_only("r", BYPASS, false)
        .await
        .unwrap();
    let removed = change(&state, "r", BYPASS, "whitelist", &["v"], ListOp::Remove)
        .await
        .unwrap()
        .removed_users;
    assert!(removed.is_empty());
}

pub async fn whitelist_mode_true_removes_unlisted_users_and_owner(state: StateRef) {
    let config = RoomConfig {
        whitelist: names(&["w"]),
        ..owned("o", &["a"])
    };
    present_room(&state, config, &["o", "a", "w", "x"]).await;
    let change = state
        .room_set_whitelist_only("r", user("o"), true)
        .await
        .unwrap();
    assert_eq!(sorted(change.removed_users), names(&["o", "x"]));
    assert!(state.room_whitelist_only("r", Presence::Any).await.unwrap());
}

pub async fn whitelist_mode_keeps_listed_owner_and_false_removes_nobody(state: StateRef) {
    let config = RoomConfig {
        whitelist: names(&["o"]),
        ..owned("o", &[])
    };
    present_room(&state, config, &["o"]).await;
    let change = state
        .room_set_whitelist_only("r", user("o"), true)
        .await
        .unwrap();
    assert!(change.removed_users.is_empty());
    let change = state
        .room_set_whitelist_only("r", user("o"), false)
        .await
        .unwrap();
    assert!(change.removed_users.is_empty());
    assert!(!state.room_whitelist_only("r", Presence::Any).await.unwrap());
    join(&state, "r", "x", "sx").await;
    let change = state
        .room_set_whitelist_only("r", user("o"), false)
        .await
        .unwrap();
    assert!(change.removed_users.is_empty());
}

pub async fn whitelist_mode_permissions(state: StateRef) {
    assert_eq!(
        state.room_set_whitelist_only("r", BYPASS, true).await.err(),
        Some(no_room("r"))
    );
    state.add_room("r", owned("o", &["a"])).await.unwrap();
    for actor in [user("x"), ANONYMOUS] {
        assert_eq!(
            state.room_set_whitelist_only("r", actor, true).await.err(),
            Some(ChatServiceError::NotAllowed)
        );
    }
    assert!(!state.room_whitelist_only("r", Presence::Any).await.unwrap());
    for actor in [user("a"), user("o"), BYPASS] {
        state
            .room_set_whitelist_only("r", actor, true)
            .await
            .unwrap();
    }
    assert!(state.room_whitelist_only("r", Presence::Any).await.unwrap());
}

pub async fn other_list_changes_remove_nobody(state: StateRef) {
    let config = RoomConfig {
        whitelist_only: true,
        whitelist: names(&["w"]),
        blacklist: names(&["b"]),
        ..owned("o", &["a", "a2"])
    };
    present_room(&state, config, &["a", "a2", "w"]).await;
    let cases: [(&str, &[&str], ListOp); 4] = [
        ("whitelist", &["x", "a"], ListOp::Add),
        ("adminlist", &["w"], ListOp::Add),
        ("blacklist", &["b", "w"], ListOp::Remove),
        // A former admin who is not whitelisted stays.
        ("adminlist", &["a2"], ListOp::Remove),
    ];
    for (list, items, op) in cases {
        let change = change(&state, "r", user("o"), list, items, op)
            .await
            .unwrap();
        assert!(change.removed_users.is_empty(), "{list} {op:?}");
    }
}

pub async fn access_change_reports_access_lists_updates(state: StateRef) {
    let config = RoomConfig {
        enable_access_lists_updates: true,
        ..owned("o", &[])
    };
    state.add_room("on", config).await.unwrap();
    state.add_room("off", owned("o", &[])).await.unwrap();
    for (room, expected) in [("on", true), ("off", false)] {
        let added = change(&state, room, BYPASS, "whitelist", &["x"], ListOp::Add)
            .await
            .unwrap();
        assert_eq!(added.access_lists_updates, expected);
        let mode = state
            .room_set_whitelist_only(room, BYPASS, false)
            .await
            .unwrap();
        assert_eq!(mode.access_lists_updates, expected);
    }
}

// ---- history (8) ----

pub async fn message_ids_start_at_one_and_message_is_processed(state: StateRef) {
    state.add_room("r", owned("o", &[])).await.unwrap();
    join(&state, "r", "u", "s").await;
    let mut fields = Map::new();
    fields.insert("textMessage".into(), json!("hi"));
    fields.insert("author".into(), json!("u"));
    let message = state
        .room_add_message(
            "r",
            NewMessage {
                author: Some("u"),
                require_member: true,
                fields,
                timestamp: 1_700_000_000_000,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_string(&*message).unwrap(),
        r#"{"textMessage":"hi","author":"u","timestamp":1700000000000,"id":1}"#
    );
    assert_eq!(ids(&[post(&state, "r", "2").await]), vec![2]);
    assert_eq!(ids(&[post(&state, "r", "3").await]), vec![3]);
    let stored = state
        .room_recent_history("r", 10, Presence::Any)
        .await
        .unwrap();
    assert_eq!(*stored[2], *message);
    assert_eq!(
        state.room_history_info("r", Presence::Any).await.unwrap(),
        HistoryInfo {
            history_size: 3,
            history_max_size: 10,
            last_message_id: 3,
        }
    );
}

pub async fn message_feed_publishes_each_room_in_id_order(state: StateRef) {
    use futures::StreamExt;
    let quoted = "r \"1\" é";
    state.add_room("a", with_history(0)).await.unwrap();
    state.add_room(quoted, with_history(100)).await.unwrap();
    let mut feed = state.message_feed().await.unwrap();
    let posts = (0..40).map(|i| {
        let room = if i % 2 == 0 { "a" } else { quoted };
        let state = state.clone();
        async move { post(&state, room, &format!("m{i}")).await }
    });
    futures::future::join_all(posts).await;
    let mut received: Vec<Published> = Vec::new();
    while received.len() < 40 {
        let next = tokio::time::timeout(SOON, feed.next()).await;
        received.push(next.expect("feed item in time").expect("feed open"));
    }
    let messages_of = |room: &str| -> Vec<Message> {
        received
            .iter()
            .filter(|p| p.room == room)
            .map(|p| as_message(&p.message))
            .collect()
    };
    for room in ["a", quoted] {
        let messages = messages_of(room);
        assert_eq!(
            ids(&messages),
            received
                .iter()
                .filter(|p| p.room == room)
                .map(|p| p.message.id())
                .collect::<Vec<u64>>(),
            "the id beside the message is the message's"
        );
        assert_eq!(ids(&messages), (1..=20).collect::<Vec<u64>>(), "{room}");
    }
    // What the feed carries is what the history holds.
    let mut stored = state
        .room_recent_history(quoted, 20, Presence::Any)
        .await
        .unwrap();
    stored.reverse();
    assert_eq!(stored, messages_of(quoted));
}

pub async fn add_message_requires_membership_unless_told_not_to(state: StateRef) {
    let message = |author, require_member| NewMessage {
        author,
        require_member,
        fields: Map::new(),
        timestamp: 1,
    };
    assert_eq!(
        state
            .room_add_message("r", message(None, false))
            .await
            .err(),
        Some(no_room("r"))
    );
    state.add_room("r", owned("o", &[])).await.unwrap();
    // Admins are not exempt.
    for author in [Some("o"), Some("u"), None] {
        assert_eq!(
            state
                .room_add_message("r", message(author, true))
                .await
                .err(),
            Some(not_joined("r"))
        );
    }
    join(&state, "r", "u", "s").await;
    let first = state
        .room_add_message("r", message(Some("u"), true))
        .await
        .unwrap();
    assert_eq!(first["id"], json!(1));
    let second = state
        .room_add_message("r", message(Some("x"), false))
        .await
        .unwrap();
    assert_eq!(second["id"], json!(2));
}

pub async fn history_is_a_bounded_ring_of_newest_messages(state: StateRef) {
    state.add_room("r", with_history(2)).await.unwrap();
    post_n(&state, "r", 3).await;
    let recent = state
        .room_recent_history("r", 10, Presence::Any)
        .await
        .unwrap();
    assert_eq!(ids(&recent), vec![3, 2]);
    assert_eq!(recent[0]["textMessage"], json!("m3"));
    let info = state.room_history_info("r", Presence::Any).await.unwrap();
    assert_eq!((info.history_size, info.last_message_id), (2, 3));
}

pub async fn history_max_size_zero_counts_ids_but_stores_nothing(state: StateRef) {
    state.add_room("r", with_history(0)).await.unwrap();
    let got: Vec<u64> = [
        post(&state, "r", "a").await,
        post(&state, "r", "b").await,
        post(&state, "r", "c").await,
    ]
    .iter()
    .map(|m| m["id"].as_u64().unwrap())
    .collect();
    assert_eq!(got, vec![1, 2, 3]);
    assert!(
        state
            .room_recent_history("r", 10, Presence::Any)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(history_get(&state, "r", 0, 10).await.is_empty());
    assert_eq!(
        state.room_history_info("r", Presence::Any).await.unwrap(),
        HistoryInfo {
            history_size: 0,
            history_max_size: 0,
            last_message_id: 3,
        }
    );
}

pub async fn history_get_examples_of_section_8(state: StateRef) {
    state.add_room("r", with_history(10)).await.unwrap();
    assert!(history_get(&state, "r", 0, 10).await.is_empty());
    post_n(&state, "r", 3).await;
    assert_eq!(history_get(&state, "r", 0, 10).await, vec![3, 2, 1]);
    assert_eq!(history_get(&state, "r", 1, 10).await, vec![3, 2]);
    assert_eq!(history_get(&state, "r", 2, 10).await, vec![3]);
    assert!(history_get(&state, "r", 3, 10).await.is_empty());
    // historyMaxGetMessages = 2 caps the limit before the state sees it.
    assert_eq!(history_get(&state, "r", 0, 2).await, vec![2, 1]);
    assert_eq!(history_get(&state, "r", 1, 2).await, vec![3, 2]);
    // An id past the last one is clamped to it; limit 0 gives nothing.
    assert!(history_get(&state, "r", 99, 10).await.is_empty());
    assert!(history_get(&state, "r", 0, 0).await.is_empty());
    assert_eq!(history_get(&state, "r", 0, usize::MAX).await, vec![3, 2, 1]);
}

pub async fn history_get_examples_with_rotated_messages(state: StateRef) {
    state.add_room("r", with_history(2)).await.unwrap();
    post_n(&state, "r", 3).await;
    assert_eq!(history_get(&state, "r", 0, 10).await, vec![3, 2]);
    assert!(history_get(&state, "r", 0, 1).await.is_empty());
    assert_eq!(history_get(&state, "r", 0, 2).await, vec![2]);
    assert_eq!(history_get(&state, "r", 1, 1).await, vec![2]);
    assert_eq!(history_get(&state, "r", 2, 1).await, vec![3]);
}

pub async fn recent_history_is_newest_first_and_limited(state: StateRef) {
    state.add_room("r", with_history(10)).await.unwrap();
    post_n(&state, "r", 5).await;
    let recent = |limit| {
        let state = state.clone();
        async move {
            ids(&state
                .room_recent_history("r", limit, Presence::Any)
                .await
                .unwrap())
        }
    };
    assert_eq!(recent(2).await, vec![5, 4]);
    assert_eq!(recent(100).await, vec![5, 4, 3, 2, 1]);
    assert!(recent(0).await.is_empty());
}

pub async fn set_history_max_size_trims_and_none_keeps_capacity(state: StateRef) {
    assert_eq!(
        state.room_set_history_max_size("r", Some(1)).await,
        Err(no_room("r"))
    );
    state.add_room("r", with_history(10)).await.unwrap();
    post_n(&state, "r", 5).await;
    let info = |state: StateRef| async move {
        let info = state.room_history_info("r", Presence::Any).await.unwrap();
        (
            info.history_size,
            info.history_max_size,
            info.last_message_id,
        )
    };

    state.room_set_history_max_size("r", Some(2)).await.unwrap();
    assert_eq!(info(state.clone()).await, (2, 2, 5));
    assert_eq!(history_get(&state, "r", 0, 10).await, vec![5, 4]);

    state.room_set_history_max_size("r", None).await.unwrap();
    assert_eq!(info(state.clone()).await, (2, 2, 5));
    assert_eq!(history_get(&state, "r", 0, 10).await, vec![5, 4]);

    state.room_set_history_max_size("r", Some(3)).await.unwrap();
    post_n(&state, "r", 2).await;
    assert_eq!(info(state.clone()).await, (3, 3, 7));
    assert_eq!(history_get(&state, "r", 0, 10).await, vec![7, 6, 5]);

    state.room_set_history_max_size("r", Some(0)).await.unwrap();
    assert_eq!(info(state.clone()).await, (0, 0, 7));
}

// ---- presence for reads (4.3) ----

pub async fn room_reads_check_room_then_presence_then_list(state: StateRef) {
    let member = Presence::Member(Some("u"));
    assert_eq!(
        state.room_get_list("r", "badlist", member).await,
        Err(no_room("r"))
    );
    state.add_room("r", owned("o", &[])).await.unwrap();
    assert_eq!(
        state.room_get_list("r", "badlist", member).await,
        Err(not_joined("r"))
    );
    join(&state, "r", "u", "s").await;
    assert_eq!(
        state.room_get_list("r", "badlist", member).await,
        Err(ChatServiceError::NoList("badlist".into()))
    );
    assert_eq!(
        state.room_get_list("r", "userlist", member).await.unwrap(),
        names(&["u"])
    );
}

/// Every presence-checked read with one presence, as `Ok(())` or its error.
async fn reads(state: &StateRef, presence: Presence<'_>) -> Vec<Result<()>> {
    vec![
        state
            .room_get_list("r", "whitelist", presence)
            .await
            .map(drop),
        state.room_owner("r", presence).await.map(drop),
        state.room_whitelist_only("r", presence).await.map(drop),
        state.room_notifications("r", presence).await.map(drop),
        state.room_user_seen("r", "u", presence).await.map(drop),
        state.room_history_info("r", presence).await.map(drop),
        state.room_recent_history("r", 10, presence).await.map(drop),
        state.room_history_get("r", 0, 10, presence).await.map(drop),
    ]
}

pub async fn room_reads_presence_rules(state: StateRef) {
    let missing = reads(&state, Presence::Any).await;
    assert!(
        missing.iter().all(|r| *r == Err(no_room("r"))),
        "{missing:?}"
    );

    state.add_room("r", owned("o", &["a"])).await.unwrap();
    join(&state, "r", "u", "s").await;
    let ok = vec![Ok(()); 8];
    let refused = vec![Err(not_joined("r")); 8];
    assert_eq!(reads(&state, Presence::Any).await, ok);
    assert_eq!(reads(&state, Presence::Member(Some("u"))).await, ok);
    assert_eq!(reads(&state, Presence::MemberOrAdmin(Some("u"))).await, ok);
    assert_eq!(reads(&state, Presence::MemberOrAdmin(Some("o"))).await, ok);
    assert_eq!(reads(&state, Presence::MemberOrAdmin(Some("a"))).await, ok);
    assert_eq!(
        reads(&state, Presence::MemberOrAdmin(Some("x"))).await,
        refused
    );
    assert_eq!(reads(&state, Presence::MemberOrAdmin(None)).await, refused);
    assert_eq!(reads(&state, Presence::Member(Some("o"))).await, refused);
    assert_eq!(reads(&state, Presence::Member(Some("a"))).await, refused);
    assert_eq!(reads(&state, Presence::Member(None)).await, refused);
}

pub async fn room_settings_setters(state: StateRef) {
    assert_eq!(state.room_set_owner("r", "n").await, Err(no_room("r")));
    assert_eq!(
        state.room_set_access_lists_updates("r", true).await,
        Err(no_room("r"))
    );
    assert_eq!(
        state.room_set_userlist_updates("r", true).await,
        Err(no_room("r"))
    );
    let config = RoomConfig {
        whitelist_only: true,
        ..owned("o", &[])
    };
    state.add_room("r", config).await.unwrap();
    state.room_set_owner("r", "n").await.unwrap();
    assert_eq!(
        state.room_owner("r", Presence::Any).await.unwrap(),
        Some("n".into())
    );
    assert!(state.room_access("r", "n").await.unwrap());
    assert!(!state.room_access("r", "o").await.unwrap());

    state
        .room_set_access_lists_updates("r", true)
        .await
        .unwrap();
    state.room_set_userlist_updates("r", true).await.unwrap();
    let info = state.room_notifications("r", Presence::Any).await.unwrap();
    assert!(info.enable_access_lists_updates && info.enable_userlist_updates);
    assert!(join(&state, "r", "n", "s").await.userlist_updates);
    state.room_set_userlist_updates("r", false).await.unwrap();
    state
        .room_set_access_lists_updates("r", false)
        .await
        .unwrap();
    let info = state.room_notifications("r", Presence::Any).await.unwrap();
    assert!(!info.enable_access_lists_updates && !info.enable_userlist_updates);
}

// ---- users ----

pub async fn add_user_has_user_delete_user(state: StateRef) {
    assert!(!state.has_user("u").await.unwrap());
    let config = UserConfig {
        whitelist: names(&["w"]),
        blacklist: names(&["b1", "b2"]),
        whitelist_only: true,
    };
    state.add_user("u", config).await.unwrap();
    assert!(state.has_user("u").await.unwrap());
    assert_eq!(
        state.add_user("u", UserConfig::default()).await,
        Err(ChatServiceError::UserExists("u".into()))
    );
    // The existing record is kept.
    assert!(state.direct_whitelist_only("u").await.unwrap());
    assert_eq!(
        state
            .direct_get_list("u", DirectList::Whitelist)
            .await
            .unwrap(),
        names(&["w"])
    );
    assert_eq!(
        sorted(
            state
                .direct_get_list("u", DirectList::Blacklist)
                .await
                .unwrap()
        ),
        names(&["b1", "b2"])
    );
    assert_eq!(state.user_nconnected("u").await.unwrap(), 0);

    state.delete_user("u").await.unwrap();
    assert!(!state.has_user("u").await.unwrap());
    assert_eq!(state.delete_user("u").await, Err(no_user("u")));
    // A new record starts with the default state.
    state.add_socket("u", "s", "i1").await.unwrap();
    assert!(!state.direct_whitelist_only("u").await.unwrap());
    assert!(
        state
            .direct_get_list("u", DirectList::Whitelist)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn delete_user_with_sockets_is_user_online(state: StateRef) {
    state.add_socket("u", "s", "i1").await.unwrap();
    assert_eq!(
        state.delete_user("u").await,
        Err(ChatServiceError::UserOnline("u".into()))
    );
    assert!(state.has_user("u").await.unwrap());
    state.remove_socket("u", "s", 1).await.unwrap();
    state.delete_user("u").await.unwrap();
    assert!(!state.has_user("u").await.unwrap());
}

pub async fn direct_lists_change_and_read(state: StateRef) {
    state.add_user("u", UserConfig::default()).await.unwrap();
    let list = |l| {
        let state = state.clone();
        async move { sorted(state.direct_get_list("u", l).await.unwrap()) }
    };
    state
        .direct_change_list(
            "u",
            DirectList::Whitelist,
            &names(&["a", "b", "a"]),
            ListOp::Add,
            10,
        )
        .await
        .unwrap();
    state
        .direct_change_list("u", DirectList::Blacklist, &names(&["c"]), ListOp::Add, 10)
        .await
        .unwrap();
    assert_eq!(list(DirectList::Whitelist).await, names(&["a", "b"]));
    assert_eq!(list(DirectList::Blacklist).await, names(&["c"]));
    assert!(
        state
            .direct_has_in_list("u", DirectList::Whitelist, "a")
            .await
            .unwrap()
    );
    assert!(
        !state
            .direct_has_in_list("u", DirectList::Blacklist, "a")
            .await
            .unwrap()
    );

    state
        .direct_change_list(
            "u",
            DirectList::Whitelist,
            &names(&["a", "ghost"]),
            ListOp::Remove,
            0,
        )
        .await
        .unwrap();
    assert_eq!(list(DirectList::Whitelist).await, names(&["b"]));
    assert_eq!(list(DirectList::Blacklist).await, names(&["c"]));
}

pub async fn direct_list_size_limit(state: StateRef) {
    state.add_user("u", UserConfig::default()).await.unwrap();
    let add = |list, items: &'static [&'static str]| {
        let state = state.clone();
        async move {
            state
                .direct_change_list("u", list, &names(items), ListOp::Add, 2)
                .await
        }
    };
    add(DirectList::Blacklist, &["a"]).await.unwrap();
    assert_eq!(
        add(DirectList::Blacklist, &["b", "c"]).await,
        Err(ChatServiceError::ListLimitExceeded("blacklist".into()))
    );
    // Present names count too: 1 + 2 > 2.
    assert_eq!(
        add(DirectList::Blacklist, &["a", "a"]).await,
        Err(ChatServiceError::ListLimitExceeded("blacklist".into()))
    );
    assert_eq!(
        state
            .direct_get_list("u", DirectList::Blacklist)
            .await
            .unwrap(),
        names(&["a"])
    );
    // Each list has its own limit.
    add(DirectList::Whitelist, &["x", "y"]).await.unwrap();
    assert_eq!(
        add(DirectList::Whitelist, &["z"]).await,
        Err(ChatServiceError::ListLimitExceeded("whitelist".into()))
    );
    add(DirectList::Blacklist, &["b"]).await.unwrap();
}

pub async fn direct_whitelist_mode(state: StateRef) {
    state.add_user("u", UserConfig::default()).await.unwrap();
    assert!(!state.direct_whitelist_only("u").await.unwrap());
    state.direct_set_whitelist_only("u", true).await.unwrap();
    assert!(state.direct_whitelist_only("u").await.unwrap());
    state.direct_set_whitelist_only("u", false).await.unwrap();
    assert!(!state.direct_whitelist_only("u").await.unwrap());
}

pub async fn direct_access_rules(state: StateRef) {
    let config = UserConfig {
        whitelist: names(&["w", "wb"]),
        blacklist: names(&["b", "wb"]),
        whitelist_only: false,
    };
    state.add_user("r", config).await.unwrap();
    assert!(state.direct_access("r", "x").await.unwrap());
    assert!(state.direct_access("r", "w").await.unwrap());
    assert!(!state.direct_access("r", "b").await.unwrap());
    assert!(!state.direct_access("r", "wb").await.unwrap());
    state.direct_set_whitelist_only("r", true).await.unwrap();
    assert!(!state.direct_access("r", "x").await.unwrap());
    assert!(state.direct_access("r", "w").await.unwrap());
    assert!(!state.direct_access("r", "wb").await.unwrap());
    assert_eq!(
        state.direct_access("ghost", "x").await,
        Err(no_user("ghost"))
    );
    // The same rules with the socket count, in one call; no sender: bypass.
    assert_eq!(state.direct_recipient("r", Some("x")).await, Ok((false, 0)));
    assert_eq!(state.direct_recipient("r", None).await, Ok((true, 0)));
    state.add_socket("r", "s1", "i1").await.unwrap();
    state.add_socket("r", "s2", "i1").await.unwrap();
    assert_eq!(state.direct_recipient("r", Some("w")).await, Ok((true, 2)));
    assert_eq!(state.direct_recipient("r", Some("b")).await, Ok((false, 2)));
    assert_eq!(
        state.direct_recipient("ghost", None).await,
        Err(no_user("ghost"))
    );
}

pub async fn user_queries_of_unknown_user_are_no_user(state: StateRef) {
    let err = Some(no_user("ghost"));
    let list = DirectList::Whitelist;
    assert_eq!(
        state
            .direct_change_list("ghost", list, &names(&["a"]), ListOp::Add, 10)
            .await
            .err(),
        err
    );
    assert_eq!(state.direct_get_list("ghost", list).await.err(), err);
    assert_eq!(
        state.direct_has_in_list("ghost", list, "a").await.err(),
        err
    );
    assert_eq!(state.direct_whitelist_only("ghost").await.err(), err);
    assert_eq!(
        state.direct_set_whitelist_only("ghost", true).await.err(),
        err
    );
    assert_eq!(state.user_nconnected("ghost").await.err(), err);
    assert_eq!(state.user_sockets("ghost").await.err(), err);
    assert_eq!(state.user_rooms("ghost").await.err(), err);
    assert!(!state.has_user("ghost").await.unwrap());
}

// ---- sockets and instances ----

pub async fn add_socket_counts_and_creates_user(state: StateRef) {
    assert_eq!(state.add_socket("u", "s1", "i1").await.unwrap(), 1);
    assert!(state.has_user("u").await.unwrap());
    assert_eq!(state.add_socket("u", "s2", "i2").await.unwrap(), 2);
    assert_eq!(state.add_socket("v", "s3", "i1").await.unwrap(), 1);
    assert_eq!(state.user_nconnected("u").await.unwrap(), 2);

    // An existing user keeps its direct state.
    let config = UserConfig {
        whitelist_only: true,
        ..UserConfig::default()
    };
    state.add_user("w", config).await.unwrap();
    assert_eq!(state.add_socket("w", "s4", "i1").await.unwrap(), 1);
    assert!(state.direct_whitelist_only("w").await.unwrap());
}

pub async fn user_sockets_and_rooms(state: StateRef) {
    state.add_room("r1", with_history(10)).await.unwrap();
    state.add_room("r2", with_history(10)).await.unwrap();
    state.add_user("idle", UserConfig::default()).await.unwrap();
    assert!(state.user_sockets("idle").await.unwrap().is_empty());
    assert!(state.user_rooms("idle").await.unwrap().is_empty());

    join(&state, "r1", "u", "s1").await;
    join(&state, "r2", "u", "s1").await;
    join(&state, "r1", "u", "s2").await;
    state.add_socket("u", "s3", "i2").await.unwrap();
    let sockets = state.user_sockets("u").await.unwrap();
    let mut got: Vec<(String, Vec<String>)> = sockets
        .into_iter()
        .map(|(id, rooms)| (id, sorted(rooms)))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("s1".to_string(), names(&["r1", "r2"])),
            ("s2".to_string(), names(&["r1"])),
            ("s3".to_string(), vec![]),
        ]
    );
    assert_eq!(
        sorted(state.user_rooms("u").await.unwrap()),
        names(&["r1", "r2"])
    );
}

pub async fn add_socket_again_keeps_its_rooms(state: StateRef) {
    state.add_room("r", with_history(10)).await.unwrap();
    join(&state, "r", "u", "s1").await;
    assert_eq!(state.add_socket("u", "s1", "i1").await.unwrap(), 1);
    let sockets = state.user_sockets("u").await.unwrap();
    assert_eq!(sockets["s1"], names(&["r"]));
}

pub async fn remove_socket_reports_rooms_and_counts(state: StateRef) {
    state.add_room("r1", with_history(10)).await.unwrap();
    let config = RoomConfig {
        enable_userlist_updates: true,
        ..with_history(10)
    };
    state.add_room("r2", config).await.unwrap();
    join(&state, "r1", "u", "s1").await;
    join(&state, "r2", "u", "s1").await;
    join(&state, "r1", "u", "s2").await;
    state.add_socket("u", "s3", "i1").await.unwrap();

    let mut removed = state.remove_socket("u", "s1", 100).await.unwrap().unwrap();
    removed.rooms.sort();
    assert_eq!(
        removed.rooms,
        vec![("r1".to_string(), 1, false), ("r2".to_string(), 0, true)]
    );
    assert_eq!(removed.nconnected, 2);
    assert_eq!(userlist(&state, "r1").await, names(&["u"]));
    assert_eq!(userlist(&state, "r2").await, Vec::<String>::new());
    assert_eq!(seen(&state, "r1", "u").await.timestamp, Some(1));
    assert_eq!(seen(&state, "r2", "u").await.timestamp, Some(100));
    assert_eq!(state.user_nconnected("u").await.unwrap(), 2);

    let removed = state.remove_socket("u", "s2", 200).await.unwrap().unwrap();
    assert_eq!(removed.rooms, vec![("r1".to_string(), 0, false)]);
    assert_eq!(removed.nconnected, 1);
    assert_eq!(userlist(&state, "r1").await, Vec::<String>::new());
    assert_eq!(seen(&state, "r1", "u").await.timestamp, Some(200));

    let removed = state.remove_socket("u", "s3", 300).await.unwrap().unwrap();
    assert!(removed.rooms.is_empty());
    assert_eq!(removed.nconnected, 0);
    // The user record stays; a second removal finds nothing to do.
    assert!(state.has_user("u").await.unwrap());
    assert!(state.remove_socket("u", "s3", 400).await.unwrap().is_none());
    assert!(state.user_sockets("u").await.unwrap().is_empty());
}

pub async fn instance_sockets_per_instance(state: StateRef) {
    let entry = |id: &str, user: &str| SocketEntry {
        id: id.to_string(),
        user: user.to_string(),
    };
    let of = |instance: &'static str| {
        let state = state.clone();
        async move {
            let mut sockets = state.instance_sockets(instance).await.unwrap();
            sockets.sort_by(|a, b| a.id.cmp(&b.id));
            sockets
        }
    };
    assert!(of("i1").await.is_empty());
    state.add_socket("u", "s1", "i1").await.unwrap();
    state.add_socket("v", "s2", "i1").await.unwrap();
    state.add_socket("u", "s3", "i2").await.unwrap();
    assert_eq!(of("i1").await, vec![entry("s1", "u"), entry("s2", "v")]);
    assert_eq!(of("i2").await, vec![entry("s3", "u")]);
    state.remove_socket("u", "s1", 1).await.unwrap();
    assert_eq!(of("i1").await, vec![entry("s2", "v")]);
    assert!(of("unknown").await.is_empty());
}

pub async fn rooms_owned_counts_rooms_owned_now(state: StateRef) {
    let owned = |owner: &str| RoomConfig {
        owner: Some(owner.to_string()),
        ..RoomConfig::default()
    };
    assert_eq!(state.rooms_owned("u").await.unwrap(), 0);
    state.add_room("r1", owned("u")).await.unwrap();
    state.add_room("r2", owned("u")).await.unwrap();
    state.add_room("r3", owned("v")).await.unwrap();
    state.add_room("r4", RoomConfig::default()).await.unwrap();
    assert_eq!(state.rooms_owned("u").await.unwrap(), 2);
    state
        .delete_room(
            "r1",
            Actor {
                user: None,
                bypass: true,
            },
        )
        .await
        .unwrap();
    state.room_set_owner("r3", "u").await.unwrap();
    assert_eq!(state.rooms_owned("u").await.unwrap(), 2);
    assert_eq!(state.rooms_owned("v").await.unwrap(), 0);
    // a room of the same name made again by someone else
    state
        .delete_room(
            "r2",
            Actor {
                user: None,
                bypass: true,
            },
        )
        .await
        .unwrap();
    state.add_room("r2", owned("v")).await.unwrap();
    assert_eq!(state.rooms_owned("u").await.unwrap(), 1);
    assert_eq!(state.rooms_owned("v").await.unwrap(), 1);
}

pub async fn heartbeats(state: StateRef) {
    use super::HeartbeatWrite::*;
    assert_eq!(state.heartbeat("i1").await.unwrap(), None);
    assert_eq!(state.set_heartbeat("i1", 5).await.unwrap(), Unknown);
    assert_eq!(state.set_heartbeat("i2", 6).await.unwrap(), Unknown);
    assert_eq!(state.heartbeat("i1").await.unwrap(), Some(5));
    assert_eq!(state.set_heartbeat("i1", 7).await.unwrap(), Known);
    assert_eq!(state.heartbeat("i1").await.unwrap(), Some(7));
    let mut instances = state.instances().await.unwrap();
    instances.sort();
    assert_eq!(instances, vec![("i1".into(), 7), ("i2".into(), 6)]);
    state.remove_instance("i1").await.unwrap();
    assert_eq!(state.heartbeat("i1").await.unwrap(), None);
    assert_eq!(state.heartbeat("i2").await.unwrap(), Some(6));
    assert_eq!(state.instances().await.unwrap(), vec![("i2".into(), 6)]);
    // forgotten: the next heartbeat finds the instance unknown
    assert_eq!(state.set_heartbeat("i1", 8).await.unwrap(), Unknown);
}

pub async fn recovery_is_claimed_once_and_only_for_stale_instances(state: StateRef) {
    use super::HeartbeatWrite::*;
    let ttl = Duration::from_secs(30);
    state.set_heartbeat("dead", 100).await.unwrap();
    state.set_heartbeat("live", 500).await.unwrap();
    // fresh or unknown instances cannot be claimed
    assert!(
        state
            .claim_recovery("live", 200, ttl)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        state
            .claim_recovery("nobody", 200, ttl)
            .await
            .unwrap()
            .is_none()
    );
    let claim = state.claim_recovery("dead", 200, ttl).await.unwrap();
    assert!(claim.is_some());
    // one claim at a time
    assert!(
        state
            .claim_recovery("dead", 200, ttl)
            .await
            .unwrap()
            .is_none()
    );
    // while claimed, the instance writes no heartbeat
    assert_eq!(
        state.set_heartbeat("dead", 300).await.unwrap(),
        BeingRecovered
    );
    assert_eq!(state.heartbeat("dead").await.unwrap(), Some(100));
    state.remove_instance("dead").await.unwrap();
    drop(claim);
    // the claim is released in the background (Redis): wait for it
    let mut written = state.set_heartbeat("dead", 400).await.unwrap();
    for _ in 0..100 {
        if written != BeingRecovered {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        written = state.set_heartbeat("dead", 400).await.unwrap();
    }
    assert_eq!(written, Unknown);
}

// ---- locks (14.4) ----

pub async fn lock_waits_for_the_same_pair_until_guard_drops(state: StateRef) {
    let first = tokio::time::timeout(SOON, state.lock("u", "r", TTL))
        .await
        .expect("first lock not taken at once")
        .unwrap();
    let (taken_tx, mut taken_rx) = tokio::sync::oneshot::channel();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let waiter = {
        let state = state.clone();
        tokio::spawn(async move {
            let guard = state.lock("u", "r", TTL).await;
            let _ = taken_tx.send(guard.is_ok());
            let _ = release_rx.await;
            drop(guard);
        })
    };
    // While the first guard lives, the second lock is not granted.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut taken_rx)
            .await
            .is_err(),
        "second lock granted while the first was held"
    );
    drop(first);
    let taken = tokio::time::timeout(SOON, taken_rx)
        .await
        .expect("second lock not granted after release")
        .unwrap();
    assert!(taken);
    // And now the second holder excludes a third.
    assert!(
        tokio::time::timeout(Duration::from_millis(100), state.lock("u", "r", TTL))
            .await
            .is_err()
    );
    release_tx.send(()).unwrap();
    tokio::time::timeout(SOON, waiter).await.unwrap().unwrap();
    tokio::time::timeout(SOON, state.lock("u", "r", TTL))
        .await
        .expect("lock not free after both guards dropped")
        .unwrap();
}

pub async fn lock_on_different_pairs_does_not_block(state: StateRef) {
    let _held = state.lock("u", "r", TTL).await.unwrap();
    for (user, room) in [("u", "r2"), ("u2", "r"), ("r", "u")] {
        let other = tokio::time::timeout(SOON, state.lock(user, room, TTL))
            .await
            .unwrap_or_else(|_| panic!("lock ({user}, {room}) blocked by (u, r)"));
        assert!(other.is_ok());
    }
}

pub async fn lock_can_be_retaken_many_times(state: StateRef) {
    for _ in 0..20 {
        let guard = tokio::time::timeout(SOON, state.lock("u", "r", TTL))
            .await
            .expect("lock not free after release")
            .unwrap();
        drop(guard);
    }
}

pub async fn ping_answers(state: StateRef) {
    state.ping().await.unwrap();
}

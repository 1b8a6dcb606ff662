//! Conformance cases of rooms: creation and deletion, access (4.2),
//! joining and leaving.

use super::helpers::*;

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
    for entry in &mut removed {
        entry.sockets.sort();
    }
    let removed_user = |user: &str, sockets: &[&str]| RemovedUser {
        user: user.to_string(),
        sockets: names(sockets),
    };
    assert_eq!(
        removed,
        vec![
            removed_user("u1", &["s1"]),
            removed_user("u2", &["s3", "s4"])
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

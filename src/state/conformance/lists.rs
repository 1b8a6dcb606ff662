//! Conformance cases of the access lists: who may change them (4.4), and
//! who a list or mode change removes (4.5).

use super::helpers::*;

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
        assert!(in_list(&state, "r", list, "x").await);
        change(&state, "r", user("o"), list, &["x"], ListOp::Remove)
            .await
            .unwrap();
        assert!(!in_list(&state, "r", list, "x").await);
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
    assert!(!in_list(&state, "r", "whitelist", "x").await);
    // Otherwise they may change the whitelist and blacklist.
    change(&state, "r", user("a"), "whitelist", &["x"], ListOp::Add)
        .await
        .unwrap();
    change(&state, "r", user("a"), "blacklist", &["y"], ListOp::Add)
        .await
        .unwrap();
    assert!(in_list(&state, "r", "whitelist", "x").await);
    assert!(in_list(&state, "r", "blacklist", "y").await);
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
    assert!(!in_list(&state, "r", "whitelist", "y").await);
}

pub async fn list_change_bypass_skips_permissions_only(state: StateRef) {
    state.add_room("r", owned("o", &["a"])).await.unwrap();
    change(&state, "r", BYPASS, "adminlist", &["z"], ListOp::Add)
        .await
        .unwrap();
    change(&state, "r", BYPASS, "blacklist", &["o"], ListOp::Add)
        .await
        .unwrap();
    assert!(in_list(&state, "r", "adminlist", "z").await);
    assert!(in_list(&state, "r", "blacklist", "o").await);
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
            &list_name("whitelist"),
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
                .room_change_list(
                    "r",
                    user("o"),
                    &list_name("blacklist"),
                    &names(items),
                    ListOp::Add,
                    3,
                )
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
            &list_name("blacklist"),
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

/// The owner is an admin: removing them from the whitelist of a
/// whitelist-only room (by bypass) does not remove them (4.5).
pub async fn whitelist_remove_keeps_the_owner_in_whitelist_only_mode(state: StateRef) {
    let config = RoomConfig {
        whitelist_only: true,
        whitelist: names(&["o", "u"]),
        ..owned("o", &[])
    };
    present_room(&state, config, &["o", "u"]).await;
    let removed = change(
        &state,
        "r",
        BYPASS,
        "whitelist",
        &["o", "u"],
        ListOp::Remove,
    )
    .await
    .unwrap()
    .removed_users;
    assert_eq!(removed, names(&["u"]));
    assert_eq!(
        get_list(&state, "r", "whitelist").await,
        Vec::<String>::new()
    );
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

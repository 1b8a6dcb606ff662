//! Conformance cases of room reads: the presence they require (4.3), their
//! error order; and the room settings.

use super::helpers::*;

pub async fn room_reads_check_room_then_presence_then_list(state: StateRef) {
    let member = Presence::Member(Some("u"));
    assert_eq!(
        state
            .room_get_list("r", &list_name("badlist"), member)
            .await,
        Err(no_room("r"))
    );
    state.add_room("r", owned("o", &[])).await.unwrap();
    assert_eq!(
        state
            .room_get_list("r", &list_name("badlist"), member)
            .await,
        Err(not_joined("r"))
    );
    join(&state, "r", "u", "s").await;
    assert_eq!(
        state
            .room_get_list("r", &list_name("badlist"), member)
            .await,
        Err(ChatServiceError::NoList("badlist".into()))
    );
    assert_eq!(
        state
            .room_get_list("r", &list_name("userlist"), member)
            .await
            .unwrap(),
        names(&["u"])
    );
}

pub async fn room_has_in_list_checks_room_then_list(state: StateRef) {
    let badlist = list_name("badlist");
    assert_eq!(
        state.room_has_in_list("r", &badlist, "u").await,
        Err(no_room("r"))
    );
    state.add_room("r", owned("o", &["a"])).await.unwrap();
    assert_eq!(
        state.room_has_in_list("r", &badlist, "u").await,
        Err(ChatServiceError::NoList("badlist".into()))
    );
    // No presence check, and the userlist is a list like the others.
    assert!(!in_list(&state, "r", "userlist", "u").await);
    join(&state, "r", "u", "s").await;
    assert!(in_list(&state, "r", "userlist", "u").await);
    assert!(in_list(&state, "r", "adminlist", "a").await);
    // The owner is an admin, not in the adminlist.
    assert!(!in_list(&state, "r", "adminlist", "o").await);
}

/// Every presence-checked read with one presence, as `Ok(())` or its error.
async fn reads(state: &StateRef, presence: Presence<'_>) -> Vec<Result<()>> {
    vec![
        state
            .room_get_list("r", &list_name("whitelist"), presence)
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

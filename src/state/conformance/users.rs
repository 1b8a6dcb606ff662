//! Conformance cases of users: records, direct lists and mode (13).

use super::helpers::*;

pub async fn add_user_has_user_delete_user(state: StateRef) {
    assert!(!state.has_user("u").await.unwrap());
    let config = UserConfig {
        whitelist: names(&["w"]),
        blacklist: names(&["b1", "b2"]),
        whitelist_only: true,
        ..UserConfig::default()
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
        ..UserConfig::default()
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
    assert_eq!(
        state.direct_recipient("r", Some("x")).await,
        Ok(recipient(false, 0))
    );
    assert_eq!(
        state.direct_recipient("r", None).await,
        Ok(recipient(true, 0))
    );
    state.add_socket("r", "s1", "i1").await.unwrap();
    state.add_socket("r", "s2", "i1").await.unwrap();
    assert_eq!(
        state.direct_recipient("r", Some("w")).await,
        Ok(recipient(true, 2))
    );
    assert_eq!(
        state.direct_recipient("r", Some("b")).await,
        Ok(recipient(false, 2))
    );
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

/// The users one has a stored conversation with: kept with the user (from
/// `addUser` on, changed like a direct list), gone with the record, and
/// no part of the direct access rules.
pub async fn conversations_are_a_user_list_no_access_rule_reads(state: StateRef) {
    let config = UserConfig {
        whitelist_only: true,
        conversations: names(&["a"]),
        ..UserConfig::default()
    };
    state.add_user("u", config).await.unwrap();
    let list = DirectList::Conversations;
    state
        .direct_change_list("u", list, &names(&["b", "a"]), ListOp::Add, usize::MAX)
        .await
        .unwrap();
    let get = || async { sorted(state.direct_get_list("u", list).await.unwrap()) };
    assert_eq!(get().await, names(&["a", "b"]));
    assert!(state.direct_has_in_list("u", list, "b").await.unwrap());
    // Whitelist-only with an empty whitelist: a partner may not write.
    assert!(!state.direct_access("u", "a").await.unwrap());
    state
        .direct_change_list("u", list, &names(&["a"]), ListOp::Remove, usize::MAX)
        .await
        .unwrap();
    assert_eq!(get().await, names(&["b"]));
    state.delete_user("u").await.unwrap();
    state.add_user("u", UserConfig::default()).await.unwrap();
    assert!(get().await.is_empty());
}

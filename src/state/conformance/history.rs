//! Conformance cases of room messages: ids, the history (8), the message
//! feed.

use super::helpers::*;

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

//! Conformance cases of sockets, instances, heartbeats, recovery claims,
//! and the (user, room) locks (14.4).

use super::helpers::*;

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
        vec![left_room("r1", 1, false), left_room("r2", 0, true)]
    );
    assert_eq!(removed.nconnected, 2);
    assert_eq!(userlist(&state, "r1").await, names(&["u"]));
    assert_eq!(userlist(&state, "r2").await, Vec::<String>::new());
    assert_eq!(seen(&state, "r1", "u").await.timestamp, Some(1));
    assert_eq!(seen(&state, "r2", "u").await.timestamp, Some(100));
    assert_eq!(state.user_nconnected("u").await.unwrap(), 2);

    let removed = state.remove_socket("u", "s2", 200).await.unwrap().unwrap();
    assert_eq!(removed.rooms, vec![left_room("r1", 0, false)]);
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
    use crate::state::HeartbeatWrite::*;
    assert_eq!(state.heartbeat("i1").await.unwrap(), None);
    assert_eq!(state.set_heartbeat("i1", 5).await.unwrap(), Unknown);
    assert_eq!(state.set_heartbeat("i2", 6).await.unwrap(), Unknown);
    assert_eq!(state.heartbeat("i1").await.unwrap(), Some(5));
    assert_eq!(state.set_heartbeat("i1", 7).await.unwrap(), Known);
    assert_eq!(state.heartbeat("i1").await.unwrap(), Some(7));
    let mut instances = state.instances().await.unwrap();
    instances.sort();
    assert_eq!(instances, vec![instance("i1", 7), instance("i2", 6)]);
    state.remove_instance("i1").await.unwrap();
    assert_eq!(state.heartbeat("i1").await.unwrap(), None);
    assert_eq!(state.heartbeat("i2").await.unwrap(), Some(6));
    assert_eq!(state.instances().await.unwrap(), vec![instance("i2", 6)]);
    // forgotten: the next heartbeat finds the instance unknown
    assert_eq!(state.set_heartbeat("i1", 8).await.unwrap(), Unknown);
}

pub async fn recovery_is_claimed_once_and_only_for_stale_instances(state: StateRef) {
    use crate::state::HeartbeatWrite::*;
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

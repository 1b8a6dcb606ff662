//! The memory engine's tests: the conformance suite without a store and
//! with one, the lock timeout, and the durable seam (replay of recorded
//! changes, commits awaited before a command answers, changes refused
//! while the store cannot write).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Map;

use super::recording::RecordingStore;
use crate::error::{ChatServiceError, Result};
use crate::state::durable::{Ack, Change, DurableStore, Snapshot};
use crate::state::*;

mod plain {
    use super::*;

    crate::state_conformance!(|| async { Arc::new(MemoryState::new()) as Arc<dyn State> });
}

/// The same cases with a store that folds every change as it comes (a
/// change it cannot apply fails the case) and acks after a yield.
mod recorded {
    use super::*;

    crate::state_conformance!(|| async {
        let store = Arc::new(RecordingStore::deferred());
        Arc::new(MemoryState::with_store(store).await.unwrap()) as Arc<dyn State>
    });
}

const TTL: Duration = Duration::from_secs(10);

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

fn names(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

const BYPASS: Actor<'static> = Actor {
    user: None,
    bypass: true,
};

pub(crate) async fn post(
    state: &MemoryState,
    room: &str,
    author: Option<&str>,
    text: &str,
) -> Result<Message> {
    let mut fields = Map::new();
    fields.insert("textMessage".into(), text.into());
    let message = NewMessage {
        author,
        require_member: author.is_some(),
        fields,
        timestamp: 1000,
    };
    state.room_add_message(room, message).await
}

/// Every kind of durable change, and presence around it.
pub(crate) async fn run_a_day(state: &MemoryState) {
    let config = RoomConfig {
        owner: Some("o".into()),
        adminlist: names(&["a"]),
        whitelist: names(&["w"]),
        history_max_size: 3,
        ..RoomConfig::default()
    };
    state.add_room("r", config).await.unwrap();
    state.add_room("gone", RoomConfig::default()).await.unwrap();
    state
        .add_room("again", RoomConfig::default())
        .await
        .unwrap();
    let user = UserConfig {
        whitelist: names(&["x"]),
        ..UserConfig::default()
    };
    state.add_user("d", user).await.unwrap();
    state
        .add_user("doomed", UserConfig::default())
        .await
        .unwrap();

    // Logins make users; joins set seen times.
    for (user, socket) in [("u", "s1"), ("u", "s2"), ("v", "s3"), ("o", "s4")] {
        state.add_socket(user, socket, "i1").await.unwrap();
    }
    for (user, socket, at) in [
        ("u", "s1", 10),
        ("u", "s2", 11),
        ("v", "s3", 12),
        ("o", "s4", 13),
    ] {
        state.room_join("r", user, socket, at).await.unwrap();
    }
    state.room_join("gone", "v", "s3", 14).await.unwrap();
    for i in 0..5 {
        post(state, "r", Some("u"), &format!("m{i}")).await.unwrap();
    }
    post(state, "again", None, "before").await.unwrap();

    // Lists, modes, settings.
    let whitelist = RoomListName::Known(RoomList::Whitelist);
    let blacklist = RoomListName::Known(RoomList::Blacklist);
    let adminlist = RoomListName::Known(RoomList::Adminlist);
    let o = Actor {
        user: Some("o"),
        bypass: false,
    };
    state
        .room_change_list(
            "r",
            o,
            &whitelist,
            &names(&["u", "y", "u"]),
            ListOp::Add,
            10,
        )
        .await
        .unwrap();
    state
        .room_change_list("r", o, &whitelist, &names(&["w"]), ListOp::Remove, 10)
        .await
        .unwrap();
    let change = state
        .room_change_list("r", BYPASS, &blacklist, &names(&["v"]), ListOp::Add, 10)
        .await
        .unwrap();
    assert_eq!(change.removed_users, names(&["v"]));
    state.room_remove_user("r", "v", 20).await.unwrap();
    state
        .room_change_list("r", o, &adminlist, &names(&["z"]), ListOp::Add, 10)
        .await
        .unwrap();
    // Refused changes record nothing.
    let refused = state
        .room_change_list("r", o, &blacklist, &names(&["p", "q"]), ListOp::Add, 2)
        .await;
    assert!(refused.is_err());
    state.room_set_whitelist_only("r", o, true).await.unwrap();
    state.room_set_owner("r", "n").await.unwrap();
    state.room_set_history_max_size("r", Some(2)).await.unwrap();
    state.room_set_history_max_size("r", None).await.unwrap();
    state
        .room_set_access_lists_updates("r", true)
        .await
        .unwrap();
    state.room_set_userlist_updates("r", true).await.unwrap();
    post(state, "r", Some("u"), "last").await.unwrap();

    // Leaving: the user's last socket sets the seen time.
    state.room_leave("r", "u", "s1", 30).await.unwrap();
    state.remove_socket("u", "s2", 31).await.unwrap();
    state.remove_socket("v", "s3", 32).await.unwrap();

    // Rooms and users go, and come again.
    state.delete_room("gone", BYPASS).await.unwrap();
    state.delete_room("again", BYPASS).await.unwrap();
    state
        .add_room("again", RoomConfig::default())
        .await
        .unwrap();
    state.delete_user("doomed").await.unwrap();
    state
        .add_user("doomed", UserConfig::default())
        .await
        .unwrap();

    // Direct lists and mode.
    let partners = DirectList::Conversations;
    state
        .direct_change_list("d", partners, &names(&["o"]), ListOp::Add, usize::MAX)
        .await
        .unwrap();
    let list = DirectList::Blacklist;
    state
        .direct_change_list("d", list, &names(&["b1", "b2"]), ListOp::Add, 10)
        .await
        .unwrap();
    state
        .direct_change_list("d", list, &names(&["b1"]), ListOp::Remove, 10)
        .await
        .unwrap();
    state
        .direct_change_list(
            "d",
            DirectList::Whitelist,
            &names(&["x"]),
            ListOp::Remove,
            10,
        )
        .await
        .unwrap();
    state.direct_set_whitelist_only("d", true).await.unwrap();

    // Presence only.
    state.set_heartbeat("i1", 100).await.unwrap();
    drop(state.lock("u", "r", TTL).await.unwrap());
}

#[tokio::test]
async fn recorded_changes_replayed_give_the_same_durable_state_and_no_presence() {
    let store = Arc::new(RecordingStore::new());
    let state = MemoryState::with_store(store.clone()).await.unwrap();
    run_a_day(&state).await;
    let durable = state.durable_snapshot();
    assert_eq!(store.snapshot(), durable);
    // Things happened that are worth comparing.
    let r = &durable.rooms.iter().find(|r| r.name == "r").unwrap();
    assert_eq!(r.last_message_id, 6);
    assert_eq!(r.history.len(), 2);
    assert!(r.config.whitelist_only);
    assert_eq!(r.config.owner.as_deref(), Some("n"));
    assert_eq!(r.seen.len(), 3, "{:?}", r.seen);
    assert!(durable.rooms.iter().all(|r| r.name != "gone"));
    assert_eq!(durable.users.len(), 5, "{:?}", durable.users);

    // A restart: the store's data into a fresh engine.
    let restarted = Arc::new(RecordingStore::holding(store.snapshot()));
    let again = MemoryState::with_store(restarted.clone()).await.unwrap();
    assert_eq!(again.durable_snapshot(), durable);
    assert!(restarted.changes().is_empty(), "loading records nothing");

    // Nobody is present anywhere.
    for room in ["r", "again"] {
        assert!(again.room_userlist(room).await.unwrap().is_empty());
    }
    let seen = again.room_user_seen("r", "o", Presence::Any).await.unwrap();
    assert_eq!(
        seen,
        UserSeen {
            joined: false,
            timestamp: Some(13),
        }
    );
    for user in ["u", "v", "o", "d"] {
        assert!(again.user_sockets(user).await.unwrap().is_empty());
        assert_eq!(again.user_nconnected(user).await.unwrap(), 0);
    }
    assert!(again.instance_sockets("i1").await.unwrap().is_empty());
    assert!(again.instances().await.unwrap().is_empty());
    assert_eq!(again.heartbeat("i1").await.unwrap(), None);
    assert_eq!(
        post(&again, "r", Some("o"), "x").await.err(),
        Some(ChatServiceError::NotJoined("r".into()))
    );

    // And it goes on from there.
    again.add_socket("n", "s9", "i2").await.unwrap();
    again.room_join("r", "n", "s9", 40).await.unwrap();
    let next = post(&again, "r", Some("n"), "after").await.unwrap();
    assert_eq!(message_id(&next), 7);
    assert_eq!(restarted.snapshot(), again.durable_snapshot());
}

#[tokio::test]
async fn changes_are_recorded_once_each_and_only_when_durable() {
    let store = Arc::new(RecordingStore::new());
    let state = MemoryState::with_store(store.clone()).await.unwrap();
    state.add_room("r", RoomConfig::default()).await.unwrap();
    state.add_socket("u", "s1", "i1").await.unwrap();
    state.add_socket("u", "s2", "i1").await.unwrap();
    state.room_join("r", "u", "s1", 1).await.unwrap();
    state.room_join("r", "u", "s2", 2).await.unwrap();
    state.room_join("r", "u", "s2", 3).await.unwrap();
    state.room_leave("r", "u", "s1", 4).await.unwrap();
    state.remove_socket("u", "s2", 5).await.unwrap();
    state.set_heartbeat("i1", 6).await.unwrap();
    let seen = |at| Change::Seen {
        room: "r".into(),
        user: "u".into(),
        at,
    };
    assert_eq!(
        store.changes(),
        vec![
            Change::RoomAdded {
                room: "r".into(),
                config: RoomConfig::default(),
            },
            Change::UserAdded {
                user: "u".into(),
                config: UserConfig::default(),
            },
            seen(1),
            seen(5),
        ]
    );
}

/// A store whose commits the test completes by hand.
#[derive(Default)]
struct GatedStore {
    gates: Mutex<Vec<tokio::sync::oneshot::Sender<Result<()>>>>,
}

impl GatedStore {
    /// Completes the oldest pending commit, waiting for it to be asked.
    async fn complete(&self, result: Result<()>) {
        loop {
            let gate = {
                let mut gates = self.gates.lock().unwrap();
                (!gates.is_empty()).then(|| gates.remove(0))
            };
            if let Some(gate) = gate {
                gate.send(result).unwrap();
                return;
            }
            tokio::task::yield_now().await;
        }
    }
}

#[async_trait::async_trait]
impl DurableStore for GatedStore {
    async fn load(&self) -> Result<Snapshot> {
        Ok(Snapshot::default())
    }

    fn record(&self, _change: Change) -> Ack {
        let (gate, committed) = tokio::sync::oneshot::channel();
        self.gates.lock().unwrap().push(gate);
        Ack::Pending(Box::pin(async move {
            committed
                .await
                .unwrap_or_else(|_| Err(ChatServiceError::internal("commit dropped")))
        }))
    }
}

#[tokio::test]
async fn commands_answer_after_the_commit_without_holding_the_room() {
    let store = Arc::new(GatedStore::default());
    let state = Arc::new(MemoryState::with_store(store.clone()).await.unwrap());
    let adding = tokio::spawn({
        let state = state.clone();
        async move { state.add_room("r", RoomConfig::default()).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!adding.is_finished(), "answered before the commit");
    store.complete(Ok(())).await;
    adding.await.unwrap().unwrap();

    let posting = tokio::spawn({
        let state = state.clone();
        async move { post(&state, "r", None, "hi").await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!posting.is_finished(), "answered before the commit");
    // The room is not locked while the commit is awaited.
    let info = state.room_history_info("r", Presence::Any).await.unwrap();
    assert_eq!(info.last_message_id, 1);
    // A failed commit is the command's error.
    let failure = ChatServiceError::internal("disk full");
    store.complete(Err(failure.clone())).await;
    assert_eq!(posting.await.unwrap().err(), Some(failure));
}

/// With a store that keeps the history, a room keeps only its newest
/// messages in memory; every read answers as an engine that keeps them
/// all, through appends, capacity changes and a restart.
#[tokio::test]
async fn reads_beyond_the_cache_answer_as_the_whole_history_would() {
    let whole = MemoryState::new();
    let store = Arc::new(RecordingStore::with_cache(3));
    let cached = MemoryState::with_store(store.clone()).await.unwrap();
    let config = RoomConfig {
        history_max_size: 8,
        ..RoomConfig::default()
    };
    for state in [&whole, &cached] {
        state.add_room("r", config.clone()).await.unwrap();
    }
    let mut seed = 20261205u64;
    let mut next = move |bound: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % bound
    };
    for step in 0..600 {
        match next(8) {
            0..=2 => {
                for state in [&whole, &cached] {
                    post(state, "r", None, &format!("m{step}")).await.unwrap();
                }
            }
            3 if step % 5 == 0 => {
                let size = Some(next(12) as usize);
                for state in [&whole, &cached] {
                    state.room_set_history_max_size("r", size).await.unwrap();
                }
            }
            4 | 5 => {
                let last = whole.room_history_info("r", Presence::Any).await;
                let id = last.unwrap().last_message_id.saturating_sub(next(14));
                let limit = next(12) as usize;
                let expected = whole.room_history_get("r", id, limit, Presence::Any).await;
                let got = cached.room_history_get("r", id, limit, Presence::Any).await;
                assert_eq!(got, expected, "roomHistoryGet {id} {limit} at step {step}");
            }
            _ => {
                let limit = next(12) as usize;
                let expected = whole.room_recent_history("r", limit, Presence::Any).await;
                let got = cached.room_recent_history("r", limit, Presence::Any).await;
                assert_eq!(got, expected, "roomRecentHistory {limit} at step {step}");
            }
        }
        assert_eq!(
            cached.room_history_info("r", Presence::Any).await,
            whole.room_history_info("r", Presence::Any).await
        );
    }
    let reads = store.reads();
    assert!(reads > 20, "only {reads} reads went beyond the cache");

    // A restart keeps none of the cache; reads still answer the same.
    let restarted = MemoryState::with_store(store).await.unwrap();
    let info = whole.room_history_info("r", Presence::Any).await.unwrap();
    assert_eq!(
        restarted
            .room_history_info("r", Presence::Any)
            .await
            .unwrap(),
        info
    );
    for id in 0..=info.last_message_id {
        assert_eq!(
            restarted.room_history_get("r", id, 5, Presence::Any).await,
            whole.room_history_get("r", id, 5, Presence::Any).await,
        );
    }
}

/// While the store cannot write, a command that would change durable data
/// is refused with the store's error before it changes anything (so what
/// waits unwritten stays bounded); its other errors come first, commands
/// that change nothing and reads work, presence going away is recorded;
/// once the store writes again, so does the engine.
#[tokio::test]
async fn while_the_store_cannot_write_changes_are_refused_before_they_are_made() {
    let store = Arc::new(RecordingStore::new());
    let state = MemoryState::with_store(store.clone()).await.unwrap();
    state.add_room("r", RoomConfig::default()).await.unwrap();
    state.add_user("d", UserConfig::default()).await.unwrap();
    for (user, socket) in [("u", "s1"), ("u", "s2"), ("v", "s3"), ("o", "s4")] {
        state.add_socket(user, socket, "i1").await.unwrap();
    }
    state.room_join("r", "u", "s1", 1).await.unwrap();
    state.room_join("r", "o", "s4", 2).await.unwrap();
    post(&state, "r", Some("u"), "before").await.unwrap();

    store.set_failing(true);
    let durable = state.durable_snapshot();
    let recorded = store.changes().len();
    let refused = Err(RecordingStore::failure());
    let whitelist = RoomListName::Known(RoomList::Whitelist);
    let some = names(&["x"]);
    assert_eq!(state.ping().await, refused);
    assert_eq!(state.add_room("new", RoomConfig::default()).await, refused);
    assert_eq!(
        post(&state, "r", Some("u"), "lost").await.map(|_| ()),
        refused
    );
    let listed = state
        .room_change_list("r", BYPASS, &whitelist, &some, ListOp::Add, 10)
        .await;
    assert_eq!(listed.map(|_| ()), refused);
    let unlisted = state
        .room_change_list("r", BYPASS, &whitelist, &some, ListOp::Remove, 10)
        .await;
    assert_eq!(unlisted.map(|_| ()), refused);
    let mode = state.room_set_whitelist_only("r", BYPASS, true).await;
    assert_eq!(mode.map(|_| ()), refused);
    assert_eq!(state.room_set_owner("r", "v").await, refused);
    assert_eq!(state.room_set_history_max_size("r", Some(1)).await, refused);
    assert_eq!(
        state.room_set_access_lists_updates("r", true).await,
        refused
    );
    assert_eq!(state.room_set_userlist_updates("r", true).await, refused);
    // v would enter the userlist, o's only socket would leave it.
    assert_eq!(
        state.room_join("r", "v", "s3", 3).await.map(|_| ()),
        refused
    );
    assert_eq!(
        state.room_leave("r", "o", "s4", 3).await.map(|_| ()),
        refused
    );
    assert_eq!(state.add_user("e", UserConfig::default()).await, refused);
    assert_eq!(state.delete_user("d").await, refused);
    let direct = state
        .direct_change_list("d", DirectList::Blacklist, &some, ListOp::Add, 10)
        .await;
    assert_eq!(direct, refused);
    assert_eq!(state.direct_set_whitelist_only("d", true).await, refused);
    // A login of a user nobody knows makes that user.
    assert_eq!(state.add_socket("w", "s5", "i1").await.map(|_| ()), refused);
    assert_eq!(state.delete_room("r", BYPASS).await.map(|_| ()), refused);

    // Errors of the command itself come first.
    assert_eq!(
        state.add_room("r", RoomConfig::default()).await,
        Err(ChatServiceError::RoomExists("r".into()))
    );
    assert_eq!(
        post(&state, "nowhere", None, "x").await.err(),
        Some(ChatServiceError::NoRoom("nowhere".into()))
    );
    assert_eq!(
        post(&state, "r", Some("v"), "x").await.err(),
        Some(ChatServiceError::NotJoined("r".into()))
    );
    let too_many = state
        .room_change_list("r", BYPASS, &whitelist, &names(&["a", "b"]), ListOp::Add, 1)
        .await;
    assert_eq!(
        too_many.err(),
        Some(ChatServiceError::ListLimitExceeded("whitelist".into()))
    );
    assert_eq!(
        state.delete_user("u").await,
        Err(ChatServiceError::UserOnline("u".into()))
    );

    // Commands that change nothing durable, and reads, work.
    let joined = state.room_join("r", "u", "s2", 4).await.unwrap();
    assert_eq!(joined.njoined, 2);
    let left = state.room_leave("r", "u", "s2", 5).await.unwrap();
    assert_eq!(left.njoined, 1);
    assert_eq!(state.add_socket("u", "s6", "i1").await.unwrap(), 3);
    state.room_set_history_max_size("r", None).await.unwrap();
    let info = state.room_history_info("r", Presence::Any).await.unwrap();
    assert_eq!(info.last_message_id, 1);
    assert_eq!(state.room_userlist("r").await.unwrap(), names(&["u", "o"]));
    assert_eq!(store.changes().len(), recorded, "refused changes recorded");
    assert_eq!(state.durable_snapshot(), durable, "refused changes made");

    // Presence going away is not refused: u's last socket in r.
    let removed = state.remove_socket("u", "s1", 6).await.unwrap().unwrap();
    assert_eq!(removed.rooms[0].njoined, 0);
    assert_eq!(state.room_userlist("r").await.unwrap(), names(&["o"]));
    assert_eq!(
        store.changes().last(),
        Some(&Change::Seen {
            room: "r".into(),
            user: "u".into(),
            at: 6,
        })
    );

    // Writing works again.
    store.set_failing(false);
    state.ping().await.unwrap();
    state.room_join("r", "v", "s3", 7).await.unwrap();
    let next = post(&state, "r", Some("v"), "after").await.unwrap();
    assert_eq!(message_id(&next), 2);
    state.add_socket("w", "s5", "i1").await.unwrap();
    assert_eq!(store.snapshot(), state.durable_snapshot());
}

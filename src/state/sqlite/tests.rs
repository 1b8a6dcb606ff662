//! The SQLite store's tests: the conformance suite on the memory engine
//! with a store on a temporary file, a restart (everything recorded comes
//! back, ids continue, nobody is present), group commit, and the files it
//! refuses to open.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;

use super::*;
use crate::state::durable::{Ack, Change, DurableStore, Snapshot};
use crate::state::memory::tests::{post, run_a_day};
use crate::state::*;

/// A directory of its own under the system's temp dir, removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "chat-service-sqlite-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub(crate) fn db(&self) -> PathBuf {
        self.0.join("chat.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn settings(path: &Path) -> SqliteSettings {
    SqliteSettings {
        path: path.to_path_buf(),
        synchronous: Synchronous::Normal,
        history_cache: 4,
    }
}

fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(&settings(path)).unwrap()
}

/// What the file holds, histories included (a store's `load` gives only
/// their sizes), read with a connection of its own.
fn file_contents(path: &Path) -> Snapshot {
    let db = rusqlite::Connection::open(path).unwrap();
    let mut snapshot = load::load(&db).unwrap();
    for room in &mut snapshot.rooms {
        room.history =
            load::history(&db, &room.name, room.last_message_id, room.history_size).unwrap();
    }
    snapshot
}

/// A store on a file of its own, which goes with it (the store first: its
/// writer closes the file before the directory is removed).
struct TempStore {
    store: SqliteStore,
    _dir: TempDir,
}

#[async_trait::async_trait]
impl DurableStore for TempStore {
    async fn load(&self) -> crate::error::Result<Snapshot> {
        self.store.load().await
    }

    fn record(&self, change: Change) -> Ack {
        self.store.record(change)
    }

    fn check(&self) -> crate::error::Result<()> {
        self.store.check()
    }

    fn history_cache(&self) -> Option<usize> {
        self.store.history_cache()
    }

    fn history(
        &self,
        room: &str,
        newest: u64,
        count: usize,
    ) -> futures::future::BoxFuture<'static, crate::error::Result<Vec<Message>>> {
        self.store.history(room, newest, count)
    }
}

mod conformance {
    use super::*;

    crate::state_conformance!(|| async {
        let dir = TempDir::new();
        let store = TempStore {
            store: open(&dir.db()),
            _dir: dir,
        };
        Arc::new(MemoryState::with_store(Arc::new(store)).await.unwrap()) as Arc<dyn State>
    });
}

#[tokio::test]
async fn a_restart_gives_back_everything_durable_and_no_presence() {
    let dir = TempDir::new();
    let state = MemoryState::with_store(Arc::new(open(&dir.db())))
        .await
        .unwrap();
    run_a_day(&state).await;
    let durable = state.full_snapshot().await;
    drop(state);

    // The file as a new store reads it.
    let store = Arc::new(open(&dir.db()));
    assert_eq!(file_contents(&dir.db()), durable);
    let again = MemoryState::with_store(store.clone()).await.unwrap();
    assert_eq!(again.full_snapshot().await, durable);
    let r = durable.rooms.iter().find(|r| r.name == "r").unwrap();
    assert_eq!(r.last_message_id, 6);
    assert_eq!(r.history.len(), 2);

    // Nobody is present, seen times are kept.
    assert!(again.room_userlist("r").await.unwrap().is_empty());
    let seen = again.room_user_seen("r", "o", Presence::Any).await.unwrap();
    assert_eq!(
        seen,
        UserSeen {
            joined: false,
            timestamp: Some(13),
        }
    );
    assert_eq!(again.user_nconnected("u").await.unwrap(), 0);

    // Ids go on where they were, and that is kept too.
    again.add_socket("n", "s9", "i2").await.unwrap();
    again.room_join("r", "n", "s9", 40).await.unwrap();
    let next = post(&again, "r", Some("n"), "after").await.unwrap();
    assert_eq!(message_id(&next), 7);
    let durable = again.full_snapshot().await;
    drop(again);
    drop(store);
    assert_eq!(file_contents(&dir.db()), durable);
}

#[tokio::test]
async fn messages_come_back_as_they_were_stored() {
    let dir = TempDir::new();
    let state = MemoryState::with_store(Arc::new(open(&dir.db())))
        .await
        .unwrap();
    let config = RoomConfig {
        history_max_size: 100,
        ..RoomConfig::default()
    };
    state.add_room("r", config).await.unwrap();
    let fields = json!({
        "textMessage": "é ✓ \u{1F600} \"quoted\" \\ \n",
        "float": 0.1, "big": 9007199254740993u64, "negative": -1.5e300,
        "nested": {"b": [1, null, true, {"z": "y"}], "a": {}},
    });
    let message = NewMessage {
        author: None,
        require_member: false,
        fields: fields.as_object().unwrap().clone(),
        timestamp: 1234,
    };
    let stored = state.room_add_message("r", message).await.unwrap();
    drop(state);
    let snapshot = file_contents(&dir.db());
    assert_eq!(snapshot.rooms[0].history, vec![stored.clone()]);
    // Key order too (the JSON a client gets).
    assert_eq!(
        serde_json::to_string(&*snapshot.rooms[0].history[0]).unwrap(),
        serde_json::to_string(&*stored).unwrap()
    );
}

#[tokio::test]
async fn history_keeps_the_newest_within_capacity() {
    let dir = TempDir::new();
    let store = Arc::new(open(&dir.db()));
    let state = MemoryState::with_store(store.clone()).await.unwrap();
    state.add_room("r", with_history(3)).await.unwrap();
    state.add_room("none", with_history(0)).await.unwrap();
    for i in 0..10 {
        post(&state, "r", None, &format!("m{i}")).await.unwrap();
        post(&state, "none", None, &format!("m{i}")).await.unwrap();
    }
    let ids = |snapshot: &Snapshot, room: &str| -> Vec<u64> {
        let room = snapshot.rooms.iter().find(|r| r.name == room).unwrap();
        room.history.iter().map(|m| message_id(m)).collect()
    };
    let snapshot = file_contents(&dir.db());
    assert_eq!(ids(&snapshot, "r"), vec![10, 9, 8]);
    assert_eq!(ids(&snapshot, "none"), Vec::<u64>::new());
    assert_eq!(snapshot.rooms[0].last_message_id, 10);
    state.room_set_history_max_size("r", Some(1)).await.unwrap();
    state.room_set_history_max_size("r", Some(5)).await.unwrap();
    post(&state, "r", None, "after").await.unwrap();
    let snapshot = file_contents(&dir.db());
    assert_eq!(ids(&snapshot, "r"), vec![11, 10]);
    assert_eq!(snapshot, state.full_snapshot().await);
}

fn with_history(history_max_size: usize) -> RoomConfig {
    RoomConfig {
        history_max_size,
        ..RoomConfig::default()
    }
}

/// Concurrent messages share transactions, and each command answers only
/// once its message is committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_messages_share_commits() {
    let dir = TempDir::new();
    let store = Arc::new(open(&dir.db()));
    let state = Arc::new(MemoryState::with_store(store.clone()).await.unwrap());
    state.add_room("r", with_history(10_000)).await.unwrap();
    let before = store.commits();
    const MESSAGES: usize = 2000;
    let tasks: Vec<_> = (0..MESSAGES)
        .map(|i| {
            let state = state.clone();
            tokio::spawn(async move { post(&state, "r", None, &format!("m{i}")).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let commits = store.commits() - before;
    assert!(
        commits < MESSAGES as u64 / 2,
        "{commits} commits for {MESSAGES} messages"
    );
    let snapshot = file_contents(&dir.db());
    assert_eq!(snapshot.rooms[0].history.len(), MESSAGES);
    assert_eq!(snapshot.rooms[0].last_message_id, MESSAGES as u64);
}

#[tokio::test]
async fn health_is_ok_while_writing_works() {
    let dir = TempDir::new();
    let state = MemoryState::with_store(Arc::new(open(&dir.db())))
        .await
        .unwrap();
    state.add_room("r", RoomConfig::default()).await.unwrap();
    state.ping().await.unwrap();
}

#[test]
fn one_store_per_file() {
    let dir = TempDir::new();
    let first = open(&dir.db());
    let second = SqliteStore::open(&settings(&dir.db())).err();
    assert_eq!(
        second,
        Some(OpenError::InUse {
            lock: lock_path(&dir.db())
        })
    );
    drop(first);
    open(&dir.db());
}

#[test]
fn a_file_that_is_not_a_database_is_refused() {
    let dir = TempDir::new();
    std::fs::write(
        dir.db(),
        "this is not a database, just some text\n".repeat(100),
    )
    .unwrap();
    let error = SqliteStore::open(&settings(&dir.db())).err().unwrap();
    assert!(
        matches!(&error, OpenError::NotOurs { .. }),
        "{error:?}: {error}"
    );
    assert_eq!(
        error.to_string(),
        "not a chat-service database (file is not a database)"
    );
}

#[test]
fn another_programs_database_is_refused() {
    let dir = TempDir::new();
    let db = rusqlite::Connection::open(dir.db()).unwrap();
    db.execute_batch("CREATE TABLE notes (text TEXT)").unwrap();
    drop(db);
    let error = SqliteStore::open(&settings(&dir.db())).err().unwrap();
    assert_eq!(
        error.to_string(),
        "not a chat-service database (an SQLite database of another program)"
    );

    let db = rusqlite::Connection::open(dir.db()).unwrap();
    db.pragma_update(None, "application_id", 7).unwrap();
    drop(db);
    let error = SqliteStore::open(&settings(&dir.db())).err().unwrap();
    assert_eq!(
        error.to_string(),
        "not a chat-service database (an SQLite database with application_id 0x7)"
    );
}

#[test]
fn a_newer_schema_version_is_refused() {
    let dir = TempDir::new();
    drop(open(&dir.db()));
    let db = rusqlite::Connection::open(dir.db()).unwrap();
    let version: i64 = db
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    assert_eq!(version, schema::latest_version());
    db.pragma_update(None, "user_version", version + 1).unwrap();
    drop(db);
    let error = SqliteStore::open(&settings(&dir.db())).err().unwrap();
    assert_eq!(
        error,
        OpenError::Newer {
            found: version + 1,
            known: version
        }
    );
}

#[test]
fn a_missing_directory_is_unusable() {
    let dir = TempDir::new();
    let path = dir.db().join("nowhere").join("chat.db");
    let error = SqliteStore::open(&settings(&path)).err().unwrap();
    assert!(matches!(error, OpenError::Unusable(_)), "{error:?}");
}

#[tokio::test]
async fn an_empty_file_becomes_a_database() {
    let dir = TempDir::new();
    std::fs::write(dir.db(), "").unwrap();
    let store = open(&dir.db());
    assert_eq!(store.load().await.unwrap(), Snapshot::default());
}

/// A full disk (SQLite's `max_page_count`): the commands whose commit fails
/// answer `internalError`, the state reports itself unhealthy and refuses
/// further changes before making them, and once writing works again
/// everything kept is written, in order, by itself.
#[tokio::test]
async fn a_full_disk_fails_commands_loses_nothing_and_recovers_by_itself() {
    let dir = TempDir::new();
    let store = Arc::new(open(&dir.db()));
    let state = MemoryState::with_store(store.clone()).await.unwrap();
    state.add_room("r", with_history(100_000)).await.unwrap();
    post(&state, "r", None, "before").await.unwrap();
    store.run_on_writer(|db| {
        let pages: i64 = db
            .pragma_query_value(None, "page_count", |row| row.get(0))
            .unwrap();
        db.pragma_update(None, "max_page_count", pages).unwrap();
    });
    let text = "x".repeat(2000);
    let (mut written, mut failed) = (0, 0);
    for _ in 0..200 {
        match post(&state, "r", None, &text).await {
            Ok(_) => written += 1,
            Err(error) => {
                assert!(
                    matches!(error, crate::error::ChatServiceError::Internal(_)),
                    "{error:?}"
                );
                assert!(error.message().contains("full"), "{}", error.message());
                failed += 1;
            }
        }
    }
    assert!(failed > 0, "the disk never got full");
    assert!(
        state.ping().await.is_err(),
        "healthy while nothing is written"
    );
    // What the engine kept is answered meanwhile: the messages written and
    // the one whose commit failed; the others were refused before taking
    // an id.
    let info = state.room_history_info("r", Presence::Any).await.unwrap();
    assert_eq!(info.last_message_id, 1 + written + 1);
    assert!(failed > 1, "only {failed} failed");

    store.run_on_writer(|db| {
        db.pragma_update(None, "max_page_count", 1_000_000_000i64)
            .unwrap();
    });
    let started = std::time::Instant::now();
    while state.ping().await.is_err() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "no recovery"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let next = post(&state, "r", None, "after").await.unwrap();
    let last = info.last_message_id + 1;
    assert_eq!(message_id(&next), last);
    let durable = state.full_snapshot().await;
    drop(state);
    drop(store);
    let snapshot = file_contents(&dir.db());
    assert_eq!(snapshot, durable);
    let ids: Vec<u64> = snapshot.rooms[0]
        .history
        .iter()
        .map(|m| message_id(m))
        .collect();
    assert_eq!(ids, (1..=last).rev().collect::<Vec<u64>>());
}

/// A restart reads no message back; reads beyond a room's cache come from
/// the file, newest first, exactly as they were, and ids go on.
#[tokio::test]
async fn history_beyond_the_cache_is_read_from_the_file() {
    let dir = TempDir::new();
    let state = MemoryState::with_store(Arc::new(open(&dir.db())))
        .await
        .unwrap();
    state.add_room("r", with_history(50)).await.unwrap();
    for i in 1..=60 {
        post(&state, "r", None, &format!("m{i}")).await.unwrap();
    }
    let before = state.full_snapshot().await;
    drop(state);

    let store = Arc::new(open(&dir.db()));
    assert!(store.load().await.unwrap().rooms[0].history.is_empty());
    let again = MemoryState::with_store(store).await.unwrap();
    let info = again.room_history_info("r", Presence::Any).await.unwrap();
    assert_eq!((info.history_size, info.last_message_id), (50, 60));
    let texts = |messages: Vec<Message>| -> Vec<String> {
        messages
            .iter()
            .map(|m| m["textMessage"].as_str().unwrap().to_string())
            .collect()
    };
    let page = again.room_history_get("r", 10, 5, Presence::Any).await;
    assert_eq!(texts(page.unwrap()), ["m15", "m14", "m13", "m12", "m11"]);
    // Trimmed ones are gone from the file too.
    let trimmed = again.room_history_get("r", 0, 5, Presence::Any).await;
    assert!(trimmed.unwrap().is_empty());
    assert_eq!(again.full_snapshot().await, before);
    let next = post(&again, "r", None, "next").await.unwrap();
    assert_eq!(message_id(&next), 61);
    let recent = again.room_recent_history("r", 3, Presence::Any).await;
    assert_eq!(texts(recent.unwrap()), ["next", "m60", "m59"]);
}

/// Reads of old messages while new ones are written: each answers every
/// message asked for, whether the file's readers or its writer serve it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_history_reads_during_writes_miss_nothing() {
    let dir = TempDir::new();
    let state = Arc::new(
        MemoryState::with_store(Arc::new(open(&dir.db())))
            .await
            .unwrap(),
    );
    state.add_room("r", with_history(100_000)).await.unwrap();
    for i in 1..=100 {
        post(&state, "r", None, &format!("m{i}")).await.unwrap();
    }
    // Many at once: more messages wait for a commit than a room caches.
    let writers: Vec<_> = (0..32)
        .map(|w| {
            let state = state.clone();
            tokio::spawn(async move {
                for i in 0..40 {
                    post(&state, "r", None, &format!("w{w} {i}")).await.unwrap();
                }
            })
        })
        .collect();
    let mut reads = 0u64;
    while writers.iter().any(|w| !w.is_finished()) || reads < 200 {
        let last = state.room_history_info("r", Presence::Any).await.unwrap();
        // The newest (maybe uncommitted) messages and old ones, in turn.
        let from = if reads.is_multiple_of(2) {
            last.last_message_id - 12
        } else {
            (reads * 7) % 90
        };
        let page = state.room_history_get("r", from, 10, Presence::Any).await;
        let ids: Vec<u64> = page.unwrap().iter().map(|m| message_id(m)).collect();
        assert_eq!(ids, ((from + 1)..=(from + 10)).rev().collect::<Vec<_>>());
        reads += 1;
    }
    for writer in writers {
        writer.await.unwrap();
    }
}

//! The conformance suite against a real `redis-server`, plus what only
//! Redis has: several instances on one store, concurrent ids, the stored
//! JSON, script reloading, lock expiry, connection failures.
//!
//! The harness starts one `redis-server` per test process, on a free
//! loopback port, without persistence, and gives every case its own key
//! prefix. A watchdog shell stops the server when the test process is
//! gone. Without `redis-server` the tests fail (scripts/test.sh installs
//! it); they never pass silently.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Map, json};

use super::lock::LockPolicy;
use super::*;
use crate::redis::RedisSettings;

static SERVER_PORT: OnceLock<u16> = OnceLock::new();
static PREFIXES: AtomicUsize = AtomicUsize::new(0);

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("no free loopback port");
    listener.local_addr().expect("bound address").port()
}

/// Starts `redis-server` on `port`, stopped when this process ends, and
/// waits until it answers PING.
fn start_redis(port: u16) {
    match Command::new("redis-server").arg("--version").output() {
        Ok(out) if out.status.success() => {}
        _ => panic!(
            "redis-server is needed by the Redis state tests and was not found \
             (install it: apt-get install redis-server; scripts/test.sh does)"
        ),
    }
    let dir = std::env::temp_dir();
    let watchdog = format!(
        "redis-server --port {port} --bind 127.0.0.1 --save '' --appendonly no \
         --dir '{}' & child=$!; \
         while kill -0 {parent} 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 0.2; done; \
         kill $child 2>/dev/null",
        dir.display(),
        parent = std::process::id(),
    );
    let mut watchdog = Command::new("sh")
        .args(["-c", &watchdog])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot run sh to start redis-server");
    // Reaps the watchdog if the server stops before this process does.
    std::thread::spawn(move || watchdog.wait());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !answers_ping(port) {
        assert!(
            Instant::now() < deadline,
            "redis-server on port {port} did not answer PING within 10 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn raw_command(port: u16, command: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    stream.write_all(command.as_bytes()).ok()?;
    let mut buf = [0u8; 64];
    let n = stream.read(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

fn answers_ping(port: u16) -> bool {
    raw_command(port, "PING\r\n").is_some_and(|reply| reply.starts_with("+PONG"))
}

/// The shared server of this test process.
fn server_port() -> u16 {
    *SERVER_PORT.get_or_init(|| {
        let port = free_port();
        start_redis(port);
        port
    })
}

fn settings(port: u16) -> RedisSettings {
    RedisSettings {
        url: format!("redis://127.0.0.1:{port}"),
        cluster: false,
        command_timeout: Duration::from_secs(5),
    }
}

fn unique_prefix() -> String {
    let n = PREFIXES.fetch_add(1, Ordering::Relaxed);
    format!("cstest{}-{n}", std::process::id())
}

async fn connect(prefix: &str) -> RedisState {
    RedisState::connect(&settings(server_port()), prefix)
        .await
        .expect("cannot connect to the test redis-server")
}

/// A state on a prefix no other case uses.
async fn fresh() -> RedisState {
    connect(&unique_prefix()).await
}

mod conformance {
    use super::*;

    crate::state_conformance!(|| async { Arc::new(fresh().await) as Arc<dyn State> });
}

async fn post(state: &RedisState, room: &str, fields: Map<String, Json>) -> Message {
    let message = NewMessage {
        author: None,
        require_member: false,
        fields,
        timestamp: 1000,
    };
    state.room_add_message(room, message).await.unwrap()
}

fn text(t: &str) -> Map<String, Json> {
    let mut fields = Map::new();
    fields.insert("textMessage".into(), json!(t));
    fields
}

fn with_history(max: usize) -> RoomConfig {
    RoomConfig {
        history_max_size: max,
        ..RoomConfig::default()
    }
}

#[tokio::test]
async fn two_instances_share_one_prefix_and_prefixes_are_apart() {
    let prefix = unique_prefix();
    let a = connect(&prefix).await;
    let b = connect(&prefix).await;
    let other = fresh().await;
    a.add_room("r", with_history(10)).await.unwrap();
    assert!(b.has_room("r").await.unwrap());
    assert!(!other.has_room("r").await.unwrap());
    a.add_socket("u", "s1", "i1").await.unwrap();
    b.add_socket("u", "s2", "i2").await.unwrap();
    assert_eq!(a.room_join("r", "u", "s1", 1).await.unwrap().njoined, 1);
    assert_eq!(b.room_join("r", "u", "s2", 2).await.unwrap().njoined, 2);
    assert_eq!(a.user_nconnected("u").await.unwrap(), 2);
    assert_eq!(b.room_userlist("r").await.unwrap(), vec!["u".to_string()]);
}

/// Messages posted at once are appended by one script call (append.rs);
/// each still gets its own answer, refusals included.
#[tokio::test]
async fn messages_appended_together_get_their_own_answers() {
    let state = fresh().await;
    state.add_room("open", with_history(10)).await.unwrap();
    state.add_room("members", with_history(10)).await.unwrap();
    state.add_socket("u", "s", "i").await.unwrap();
    state.room_join("members", "u", "s", 1).await.unwrap();
    let message = |author: &'static str, require_member: bool| NewMessage {
        author: Some(author),
        require_member,
        fields: text(author),
        timestamp: 1,
    };
    let posts = [
        ("open", message("x", false)),
        ("missing", message("x", false)),
        ("members", message("x", true)),
        ("members", message("u", true)),
        ("open", message("u", true)),
        ("open", message("y", false)),
    ];
    let answers = futures::future::join_all(
        posts
            .into_iter()
            .map(|(room, message)| state.room_add_message(room, message)),
    )
    .await;
    let answers: Vec<std::result::Result<u64, ChatServiceError>> = answers
        .into_iter()
        .map(|answer| answer.map(|message| message["id"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        answers,
        vec![
            Ok(1),
            Err(ChatServiceError::NoRoom("missing".into())),
            Err(ChatServiceError::NotJoined("members".into())),
            Ok(1),
            Err(ChatServiceError::NotJoined("open".into())),
            Ok(2),
        ]
    );
    let stored = state
        .room_recent_history("open", 10, Presence::Any)
        .await
        .unwrap();
    let texts: Vec<&str> = stored
        .iter()
        .map(|m| m["textMessage"].as_str().unwrap())
        .collect();
    assert_eq!(texts, vec!["y", "x"]);
}

#[tokio::test]
async fn concurrent_messages_get_unique_consecutive_ids() {
    let prefix = unique_prefix();
    let a = Arc::new(connect(&prefix).await);
    let b = Arc::new(connect(&prefix).await);
    a.add_room("r", with_history(30)).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..100 {
        let state = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            post(&state, "r", text(&format!("m{i}"))).await["id"]
                .as_u64()
                .unwrap()
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap());
    }
    ids.sort();
    assert_eq!(ids, (1..=100).collect::<Vec<u64>>());
    let info = a.room_history_info("r", Presence::Any).await.unwrap();
    assert_eq!((info.history_size, info.last_message_id), (30, 100));
    let stored = a
        .room_recent_history("r", 100, Presence::Any)
        .await
        .unwrap();
    let stored: Vec<u64> = stored.iter().map(|m| m["id"].as_u64().unwrap()).collect();
    assert_eq!(stored, (71..=100).rev().collect::<Vec<u64>>());
}

#[tokio::test]
async fn stored_messages_keep_key_order_and_js_numbers() {
    let state = fresh().await;
    state.add_room("r", with_history(5)).await.unwrap();
    let mut fields = Map::new();
    fields.insert("zeta".into(), json!(2.0));
    fields.insert("alpha".into(), json!({"y": 1.5, "b": [1e21, "é\u{1}"]}));
    fields.insert("author".into(), json!("u"));
    let message = post(&state, "r", fields).await;
    let raw: Vec<String> = state
        .client
        .lrange(&state.keys.room_key("r", "history"), 0, -1)
        .await
        .unwrap();
    assert_eq!(
        raw,
        vec![
            r#"{"zeta":2,"alpha":{"y":1.5,"b":[1e+21,"é\u0001"]},"author":"u","timestamp":1000,"id":1}"#
        ]
    );
    let read = state
        .room_recent_history("r", 1, Presence::Any)
        .await
        .unwrap();
    let keys: Vec<&String> = read[0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["zeta", "alpha", "author", "timestamp", "id"]);
    // What the command returns is the message as the memory state builds it.
    assert_eq!(
        serde_json::to_string(&*message).unwrap(),
        r#"{"zeta":2.0,"alpha":{"y":1.5,"b":[1e+21,"é\u0001"]},"author":"u","timestamp":1000,"id":1}"#
    );
}

#[tokio::test]
async fn scripts_are_reloaded_when_redis_lost_them() {
    let state = fresh().await;
    let () = state.client.script_flush(false).await.unwrap();
    state.add_room("r", with_history(5)).await.unwrap();
    assert_eq!(post(&state, "r", text("x")).await["id"], json!(1));
}

#[tokio::test]
async fn join_refused_by_the_user_side_is_undone() {
    let state = fresh().await;
    state.add_room("r", with_history(5)).await.unwrap();
    state.add_socket("u", "s1", "i1").await.unwrap();
    state.room_join("r", "u", "s1", 5).await.unwrap();
    state.room_leave("r", "u", "s1", 6).await.unwrap();
    assert_eq!(
        state.room_join("r", "u", "ghost", 9).await,
        Err(ChatServiceError::InvalidSocket("ghost".into()))
    );
    let seen = state.room_user_seen("r", "u", Presence::Any).await.unwrap();
    assert_eq!((seen.joined, seen.timestamp), (false, Some(6)));
    assert_eq!(
        state.room_join("r", "nobody", "s9", 9).await,
        Err(ChatServiceError::NoUser("nobody".into()))
    );
    let seen = state
        .room_user_seen("r", "nobody", Presence::Any)
        .await
        .unwrap();
    assert_eq!((seen.joined, seen.timestamp), (false, None));
    // The room's own records are clean: a real join counts from one.
    assert_eq!(
        state.room_join("r", "u", "s1", 10).await.unwrap().njoined,
        1
    );
}

#[tokio::test]
async fn users_without_sockets_finds_a_stale_mirror() {
    let state = fresh().await;
    state.add_room("r", with_history(5)).await.unwrap();
    state.add_socket("u", "s1", "i1").await.unwrap();
    state.room_join("r", "u", "s1", 1).await.unwrap();
    assert!(
        state
            .room_users_without_sockets("r")
            .await
            .unwrap()
            .is_empty()
    );
    // As if an instance died between the room and the user step.
    let key = format!("{}s1", state.keys.user_socket_prefix("u"));
    let _: i64 = state.client.srem(key, "r").await.unwrap();
    assert_eq!(
        state.room_users_without_sockets("r").await.unwrap(),
        vec!["u".to_string()]
    );
    let removed = state.room_remove_user("r", "u", 2).await.unwrap();
    assert_eq!(removed.sockets, vec!["s1".to_string()]);
    assert!(state.room_userlist("r").await.unwrap().is_empty());
}

#[tokio::test]
async fn lock_gives_up_with_timeout() {
    let mut state = fresh().await;
    state.set_lock_policy(LockPolicy {
        retries: 2,
        first_wait: Duration::from_millis(10),
    });
    let _held = state.lock("u", "r", Duration::from_secs(10)).await.unwrap();
    let started = Instant::now();
    let second = state.lock("u", "r", Duration::from_secs(10)).await;
    assert_eq!(second.err(), Some(ChatServiceError::Timeout));
    assert!(started.elapsed() >= Duration::from_millis(20));
}

#[tokio::test]
async fn expired_lock_is_taken_over_and_not_released_by_its_old_holder() {
    let mut state = fresh().await;
    state.set_lock_policy(LockPolicy {
        retries: 0,
        first_wait: Duration::from_millis(10),
    });
    let first = state
        .lock("u", "r", Duration::from_millis(100))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    let _second = state.lock("u", "r", Duration::from_secs(10)).await.unwrap();
    drop(first);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        state.lock("u", "r", Duration::from_secs(10)).await.err(),
        Some(ChatServiceError::Timeout)
    );
}

#[tokio::test]
async fn connect_fails_fast_when_redis_is_unreachable() {
    let port = free_port();
    let started = Instant::now();
    let mut opts = settings(port);
    opts.command_timeout = Duration::from_secs(2);
    let error = RedisState::connect(&opts, "x").await.err().unwrap();
    assert!(started.elapsed() < Duration::from_secs(4));
    let ChatServiceError::Internal(message) = error else {
        panic!("not an internal error: {error:?}");
    };
    let message = message.to_string();
    assert!(
        message.starts_with("Error: cannot connect to Redis at redis://127.0.0.1:"),
        "{message}"
    );
}

#[tokio::test]
async fn calls_fail_in_time_while_redis_is_down_and_recover_after() {
    let port = free_port();
    start_redis(port);
    let mut opts = settings(port);
    opts.command_timeout = Duration::from_secs(1);
    let state = RedisState::connect(&opts, "x").await.unwrap();
    state.add_room("r", with_history(5)).await.unwrap();
    // Stops the server (it loses everything, scripts included).
    let _ = raw_command(port, "SHUTDOWN NOSAVE\r\n");
    let started = Instant::now();
    let down = state.ping().await;
    assert!(
        matches!(&down, Err(ChatServiceError::Internal(m)) if m.to_string().starts_with("Error: Redis")),
        "{down:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    start_redis(port);
    let deadline = Instant::now() + Duration::from_secs(15);
    while state.ping().await.is_err() {
        assert!(Instant::now() < deadline, "client did not reconnect");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The restarted server lost the scripts: they are loaded again.
    state.add_room("r", with_history(5)).await.unwrap();
    assert_eq!(post(&state, "r", text("x")).await["id"], json!(1));
    let _ = raw_command(port, "SHUTDOWN NOSAVE\r\n");
}

/// The race `delete_room` guards against: a join between its room step and
/// its user step (under the (user, room) lock) while the room is deleted.
#[tokio::test]
async fn delete_room_waits_for_a_join_in_progress() {
    let state = Arc::new(fresh().await);
    state.add_room("r", with_history(5)).await.unwrap();
    state.add_socket("u", "s1", "i1").await.unwrap();
    let held = state.lock("u", "r", Duration::from_secs(10)).await.unwrap();
    let args = vec!["u".to_string(), "s1".to_string(), "1".to_string()];
    state
        .room_call(&SCRIPTS.room_join, "r", args, "")
        .await
        .unwrap();
    let deleting = {
        let state = state.clone();
        tokio::spawn(async move { state.delete_room("r", BYPASS).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    state
        .user_call(&SCRIPTS.user_join_room, "u", &["s1", "r"], "s1")
        .await
        .unwrap();
    drop(held);
    let removed = deleting.await.unwrap().unwrap();
    assert_eq!(removed, vec![removed_user("u", "s1")]);
    assert!(state.user_sockets("u").await.unwrap()["s1"].is_empty());
}

#[tokio::test]
async fn delete_room_does_not_wait_long_for_a_held_lock() {
    let state = fresh().await;
    state.add_room("r", with_history(5)).await.unwrap();
    state.add_socket("u", "s1", "i1").await.unwrap();
    state.room_join("r", "u", "s1", 1).await.unwrap();
    let _held = state.lock("u", "r", Duration::from_secs(10)).await.unwrap();
    let started = Instant::now();
    let removed = state.delete_room("r", BYPASS).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(removed, vec![removed_user("u", "s1")]);
    assert!(state.user_sockets("u").await.unwrap()["s1"].is_empty());
}

fn removed_user(user: &str, socket: &str) -> RemovedUser {
    RemovedUser {
        user: user.to_string(),
        sockets: vec![socket.to_string()],
    }
}

const BYPASS: Actor<'static> = Actor {
    user: None,
    bypass: true,
};

/// `userStateSync` must not read a failed userlist read as an empty
/// userlist: that removed present users from their rooms whenever Redis
/// failed at that moment. A userlist key of the wrong type makes every read
/// of it fail while the user's own records stay readable.
#[tokio::test]
async fn user_state_sync_fails_instead_of_removing_on_an_unreadable_userlist() {
    let state = fresh().await;
    state.add_room("r", with_history(5)).await.unwrap();
    // A socket of another instance, so the sync keeps it.
    state.add_socket("alice", "s1", "elsewhere").await.unwrap();
    state.room_join("r", "alice", "s1", 1).await.unwrap();
    let userlist = state.keys.room_key("r", "userlist");
    let reply = raw_command(server_port(), &format!("SET {userlist} x\r\n"));
    assert_eq!(reply.as_deref(), Some("+OK\r\n"));

    let (_svc, io) = socketioxide::SocketIo::builder().build_svc();
    let service = crate::ChatService::builder(crate::ServiceOptions::default())
        .state(Arc::new(state))
        .start(&io)
        .await
        .unwrap();
    let mut events = service.events().subscribe();
    let synced = service.user_state_sync("alice").await;
    assert!(
        matches!(synced, Err(ChatServiceError::Internal(_))),
        "{synced:?}"
    );
    // No removal was attempted (it would have failed and been reported).
    assert!(events.try_recv().is_err());
    let sockets = service.state().user_sockets("alice").await.unwrap();
    assert_eq!(sockets["s1"], ["r"]);
}

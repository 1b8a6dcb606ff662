//! Service-level tests through the public API: `execUserCommand` with its
//! contexts, the pipeline of protocol.md 2.2 (validation, hooks), custom
//! message formats, direct messages, list limits and the server API of
//! section 12. No network: the service runs on a socket.io server that is
//! never bound, and users "present" in a room are put there through the
//! state, as sockets living on another instance.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chat_service::error::Result;
use chat_service::hooks::RoomEvent;
use chat_service::state::now_ms;
use chat_service::{
    CallContext, ChatService, ChatServiceError, ExecInfo, Flow, Hooks, RoomInit, ServiceOptions,
    UserInit,
};
use serde_json::{Map, Value, json};
use socketioxide::SocketIo;

// ---- harness ----

/// Fails the test instead of hanging it.
async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(5), future)
        .await
        .expect("timed out")
}

async fn start_with(options: ServiceOptions, hooks: impl FnOnce(&mut Hooks)) -> ChatService {
    let (_svc, io) = SocketIo::builder().build_svc();
    within(ChatService::builder(options).hooks(hooks).start(&io))
        .await
        .unwrap()
}

async fn start() -> ChatService {
    start_with(ServiceOptions::default(), |_| {}).await
}

async fn start_hooked(hooks: impl FnOnce(&mut Hooks)) -> ChatService {
    start_with(ServiceOptions::default(), hooks).await
}

fn options(edit: impl FnOnce(&mut ServiceOptions)) -> ServiceOptions {
    let mut options = ServiceOptions::default();
    edit(&mut options);
    options
}

fn as_user(name: &str) -> CallContext {
    CallContext {
        user_name: Some(name.to_string()),
        ..CallContext::default()
    }
}

fn as_user_bypass(name: &str) -> CallContext {
    CallContext {
        bypass_permissions: true,
        ..as_user(name)
    }
}

fn anonymous_bypass() -> CallContext {
    CallContext {
        bypass_permissions: true,
        ..CallContext::default()
    }
}

/// `execUserCommand(context, command, ...args)`; `args` is a JSON array.
async fn exec(
    service: &ChatService,
    context: CallContext,
    command: &str,
    args: Value,
) -> Result<Vec<Value>> {
    let Value::Array(args) = args else {
        panic!("args must be an array")
    };
    within(service.exec_user_command(context, command, args)).await
}

/// Like `exec`, for a command expected to succeed with one value.
async fn exec_ok(service: &ChatService, context: CallContext, command: &str, args: Value) -> Value {
    let mut values = exec(service, context, command, args).await.unwrap();
    assert_eq!(values.len(), 1, "{command}: {values:?}");
    values.remove(0)
}

async fn add_user(service: &ChatService, name: &str) {
    service.add_user(name, UserInit::default()).await.unwrap();
}

async fn add_room(service: &ChatService, name: &str, owner: Option<&str>) {
    let init = RoomInit {
        owner: owner.map(str::to_string),
        ..RoomInit::default()
    };
    service.add_room(name, init).await.unwrap();
}

/// Puts `user` in `room`'s userlist through a socket of another instance.
async fn present(service: &ChatService, room: &str, user: &str, socket: &str) {
    let state = service.state();
    state
        .add_socket(user, socket, "other-instance")
        .await
        .unwrap();
    state.room_join(room, user, socket, now_ms()).await.unwrap();
}

/// Gives `user` a socket on another instance (online, not joined anywhere).
async fn online(service: &ChatService, user: &str, socket: &str) {
    service
        .state()
        .add_socket(user, socket, "other-instance")
        .await
        .unwrap();
}

async fn userlist(service: &ChatService, room: &str) -> Vec<String> {
    let mut users = service.state().room_userlist(room).await.unwrap();
    users.sort();
    users
}

fn ids(messages: &Value) -> Vec<u64> {
    messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect()
}

fn keys(message: &Value) -> Vec<&str> {
    message
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

/// What a hook saw of its `ExecInfo` (without the service itself).
#[derive(Debug, Clone)]
struct Seen {
    user_name: Option<String>,
    id: Option<String>,
    args: Vec<Value>,
    rest_args: Vec<Value>,
    bypass_permissions: Option<bool>,
    bypass_hooks: bool,
    is_local_call: bool,
    results: Option<Vec<Value>>,
    error: Option<ChatServiceError>,
    data: Map<String, Value>,
}

impl Seen {
    fn of(info: &ExecInfo) -> Self {
        Self {
            user_name: info.user_name.clone(),
            id: info.id.clone(),
            args: info.args.clone(),
            rest_args: info.rest_args.clone(),
            bypass_permissions: info.bypass_permissions,
            bypass_hooks: info.bypass_hooks,
            is_local_call: info.is_local_call,
            results: info.results.clone(),
            error: info.error.clone(),
            data: info.data.clone(),
        }
    }
}

type Log = Arc<Mutex<Vec<Seen>>>;

fn log() -> Log {
    Arc::default()
}

fn taken(log: &Log) -> Vec<Seen> {
    log.lock().unwrap().clone()
}

/// A before-hook that records what it sees and lets the command run.
fn record_before(hooks: &mut Hooks, command: &str, log: &Log) {
    let log = log.clone();
    hooks.before(command, move |info| {
        log.lock().unwrap().push(Seen::of(&info));
        async move { Ok(Flow::Continue(Box::new(info))) }
    });
}

/// An after-hook that records what it sees and keeps the outcome.
fn record_after(hooks: &mut Hooks, command: &str, log: &Log) {
    let log = log.clone();
    hooks.after(command, move |info| {
        log.lock().unwrap().push(Seen::of(&info));
        async move { Ok(None) }
    });
}

// ---- argument validation (2.2, 3) ----

#[tokio::test]
async fn missing_arguments_are_wrong_arguments_count() {
    let service = start().await;
    let error = exec(&service, anonymous_bypass(), "roomCreate", json!([]))
        .await
        .unwrap_err();
    assert_eq!(error, ChatServiceError::WrongArgumentsCount(2, 0));
    assert_eq!(
        error.to_wire_string(),
        "ChatServiceError: Expected 2 arguments, got 0"
    );
    let error = exec(&service, anonymous_bypass(), "roomCreate", json!(["r"]))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_wire_string(),
        "ChatServiceError: Expected 2 arguments, got 1"
    );
    assert!(!service.has_room("r").await.unwrap());
}

#[tokio::test]
async fn bad_argument_names_the_first_failing_position_and_value() {
    let service = start().await;
    let cases = [
        (
            "roomGetOwner",
            json!([null]),
            "ChatServiceError: Bad argument at position 0, value null",
        ),
        (
            "roomHistoryGet",
            json!(["r", "x", "y"]),
            "ChatServiceError: Bad argument at position 1, value \"x\"",
        ),
        (
            "roomAddToList",
            json!(["r", "whitelist", [1]]),
            "ChatServiceError: Bad argument at position 2, value [1]",
        ),
        (
            "roomMessage",
            json!(["r", {"textMessage": "x", "other": 1}]),
            "ChatServiceError: Bad argument at position 1, value {\"textMessage\":\"x\",\"other\":1}",
        ),
        (
            "roomCreate",
            json!([1, "no"]),
            "ChatServiceError: Bad argument at position 0, value 1",
        ),
    ];
    for (command, args, expected) in cases {
        let error = exec(&service, anonymous_bypass(), command, args)
            .await
            .unwrap_err();
        assert_eq!(error.code(), "badArgument");
        assert_eq!(error.to_wire_string(), expected);
    }
}

#[tokio::test]
async fn bad_argument_raw_object_form() {
    let service = start().await;
    let error = exec(
        &service,
        anonymous_bypass(),
        "roomSetWhitelistMode",
        json!(["r", "x"]),
    )
    .await
    .unwrap_err();
    assert_eq!(error, ChatServiceError::BadArgument(1, json!("x")));
    assert_eq!(
        error.to_raw_object().to_string(),
        r#"{"name":"ChatServiceError","code":"badArgument","args":[1,"x"]}"#
    );
}

#[tokio::test]
async fn number_checkers_reject_strings_negatives_and_zero_limit() {
    let service = start().await;
    add_room(&service, "r", None).await;
    let cases = [
        (json!(["r", "1", 1]), 1, json!("1")),
        (json!(["r", -1, 1]), 1, json!(-1)),
        (json!(["r", 0, 0]), 2, json!(0)),
        (json!(["r", 0, "1"]), 2, json!("1")),
    ];
    for (args, position, value) in cases {
        assert_eq!(
            exec(&service, anonymous_bypass(), "roomHistoryGet", args).await,
            Err(ChatServiceError::BadArgument(position, value))
        );
    }
    // Fractions pass.
    let got = exec_ok(
        &service,
        anonymous_bypass(),
        "roomHistoryGet",
        json!(["r", 0.5, 1.5]),
    )
    .await;
    assert_eq!(got, json!([]));
}

#[tokio::test]
async fn extra_arguments_are_cut_off_and_do_not_fail() {
    let service = start().await;
    let got = exec_ok(
        &service,
        anonymous_bypass(),
        "roomCreate",
        json!(["r", false, "extra", {"more": 1}]),
    )
    .await;
    assert_eq!(got, Value::Null);
    assert!(service.has_room("r").await.unwrap());
}

#[tokio::test]
async fn unknown_command_is_no_command() {
    let service = start().await;
    add_user(&service, "u").await;
    let error = exec(&service, as_user("u"), "noSuchCommand", json!([]))
        .await
        .unwrap_err();
    assert_eq!(error, ChatServiceError::NoCommand("noSuchCommand".into()));
    assert_eq!(
        error.to_wire_string(),
        "ChatServiceError: No such command noSuchCommand"
    );
    assert_eq!(
        service.check_arguments("noSuchCommand", vec![]).await,
        Err(ChatServiceError::NoCommand("noSuchCommand".into()))
    );
}

#[tokio::test]
async fn check_arguments_validates_without_running() {
    let service = start().await;
    service
        .check_arguments("roomCreate", vec![json!("r"), json!(true), json!("extra")])
        .await
        .unwrap();
    assert!(!service.has_room("r").await.unwrap());
    assert_eq!(
        service
            .check_arguments("roomCreate", vec![json!("r")])
            .await,
        Err(ChatServiceError::WrongArgumentsCount(2, 1))
    );
    assert_eq!(
        service
            .check_arguments("roomCreate", vec![json!("r"), json!(null)])
            .await,
        Err(ChatServiceError::BadArgument(1, Value::Null))
    );
}

#[tokio::test]
async fn system_message_needs_one_argument_of_any_value() {
    let service = start().await;
    add_user(&service, "u").await;
    let error = exec(&service, as_user("u"), "systemMessage", json!([]))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_wire_string(),
        "ChatServiceError: Expected 1 arguments, got 0"
    );
    for data in [json!(null), json!({"any": [1, "x"]}), json!("text")] {
        let got = exec_ok(&service, as_user("u"), "systemMessage", json!([data, 2])).await;
        assert_eq!(got, Value::Null);
    }
}

// ---- execUserCommand contexts (11) ----

#[tokio::test]
async fn exec_as_unknown_user_is_no_user() {
    let service = start().await;
    let error = exec(&service, as_user("ghost"), "listOwnSockets", json!([]))
        .await
        .unwrap_err();
    assert_eq!(error, ChatServiceError::NoUser("ghost".into()));
    assert_eq!(
        error.to_wire_string(),
        "ChatServiceError: No such user ghost"
    );
}

#[tokio::test]
async fn anonymous_bypass_room_create_makes_an_ownerless_room() {
    let service = start().await;
    exec_ok(
        &service,
        anonymous_bypass(),
        "roomCreate",
        json!(["r", false]),
    )
    .await;
    let owner = exec_ok(&service, anonymous_bypass(), "roomGetOwner", json!(["r"])).await;
    assert_eq!(owner, Value::Null);
    // The creator is not joined.
    assert!(userlist(&service, "r").await.is_empty());
}

#[tokio::test]
async fn room_create_by_a_user_needs_rooms_management_unless_bypass() {
    let service = start().await;
    add_user(&service, "u").await;
    assert_eq!(
        exec(&service, as_user("u"), "roomCreate", json!(["r", false])).await,
        Err(ChatServiceError::NotAllowed)
    );
    assert!(!service.has_room("r").await.unwrap());
    exec_ok(
        &service,
        as_user_bypass("u"),
        "roomCreate",
        json!(["r", true]),
    )
    .await;

    let managed = start_with(options(|o| o.enable_rooms_management = true), |_| {}).await;
    add_user(&managed, "u").await;
    exec_ok(&managed, as_user("u"), "roomCreate", json!(["r", true])).await;
    let owner = exec_ok(&managed, as_user("u"), "roomGetOwner", json!(["r"])).await;
    assert_eq!(owner, json!("u"));
    let mode = exec_ok(&managed, as_user("u"), "roomGetWhitelistMode", json!(["r"])).await;
    assert_eq!(mode, json!(true));
}

#[tokio::test]
async fn room_create_checks_the_name_then_existence() {
    let service = start().await;
    add_user(&service, "u").await;
    assert_eq!(
        exec(
            &service,
            as_user_bypass("u"),
            "roomCreate",
            json!(["a:b", false])
        )
        .await,
        Err(ChatServiceError::InvalidName(json!("a:b")))
    );
    exec_ok(
        &service,
        as_user_bypass("u"),
        "roomCreate",
        json!(["r", false]),
    )
    .await;
    let error = exec(
        &service,
        as_user_bypass("u"),
        "roomCreate",
        json!(["r", false]),
    )
    .await
    .unwrap_err();
    assert_eq!(
        error.to_wire_string(),
        "ChatServiceError: Room r already exists"
    );
}

#[tokio::test]
async fn room_delete_by_a_user_needs_ownership() {
    let service = start_with(options(|o| o.enable_rooms_management = true), |_| {}).await;
    add_user(&service, "o").await;
    add_user(&service, "x").await;
    exec_ok(&service, as_user("o"), "roomCreate", json!(["r", false])).await;
    assert_eq!(
        exec(&service, as_user("x"), "roomDelete", json!(["r"])).await,
        Err(ChatServiceError::NotAllowed)
    );
    assert_eq!(
        exec(&service, as_user("x"), "roomDelete", json!(["nope"])).await,
        Err(ChatServiceError::NoRoom("nope".into()))
    );
    exec_ok(&service, as_user("o"), "roomDelete", json!(["r"])).await;
    assert!(!service.has_room("r").await.unwrap());
}

#[tokio::test]
async fn room_join_and_leave_without_id_are_no_socket() {
    let service = start().await;
    add_user(&service, "u").await;
    add_room(&service, "r", None).await;
    for command in ["roomJoin", "roomLeave"] {
        let error = exec(&service, as_user_bypass("u"), command, json!(["r"]))
            .await
            .unwrap_err();
        assert_eq!(error, ChatServiceError::NoSocket(command.into()));
        assert_eq!(
            error.to_wire_string(),
            format!("ChatServiceError: Command {command} requires a valid socket")
        );
    }
}

/// As the original's `User.exec`: the socket check comes with the command
/// check, before validation and hooks.
#[tokio::test]
async fn room_join_and_leave_without_id_are_no_socket_before_validation_and_hooks() {
    let (before, after) = (log(), log());
    let service = start_hooked(|h| {
        for command in ["roomJoin", "roomLeave"] {
            record_before(h, command, &before);
            record_after(h, command, &after);
        }
    })
    .await;
    add_user(&service, "u").await;
    for command in ["roomJoin", "roomLeave"] {
        for args in [json!([]), json!([1]), json!(["nope"])] {
            assert_eq!(
                exec(&service, as_user("u"), command, args).await,
                Err(ChatServiceError::NoSocket(command.into())),
                "{command}"
            );
        }
    }
    assert!(taken(&before).is_empty());
    assert!(taken(&after).is_empty());
}

#[tokio::test]
async fn room_join_of_a_socket_not_connected_here_is_invalid_socket_and_rolled_back() {
    let service = start().await;
    add_room(&service, "r", None).await;
    online(&service, "u", "remote-socket").await;
    let context = CallContext {
        id: Some("remote-socket".into()),
        ..as_user("u")
    };
    let error = exec(&service, context, "roomJoin", json!(["r"]))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        ChatServiceError::InvalidSocket("remote-socket".into())
    );
    assert_eq!(
        error.to_wire_string(),
        "ChatServiceError: Socket remote-socket is not connected"
    );
    assert!(userlist(&service, "r").await.is_empty());
    let sockets = service.state().user_sockets("u").await.unwrap();
    assert!(sockets["remote-socket"].is_empty());
}

#[tokio::test]
async fn room_join_access_is_not_bypassable() {
    let service = start().await;
    let init = RoomInit {
        blacklist: Some(vec!["u".into()]),
        ..RoomInit::default()
    };
    service.add_room("r", init).await.unwrap();
    online(&service, "u", "s1").await;
    let context = CallContext {
        id: Some("s1".into()),
        ..as_user_bypass("u")
    };
    assert_eq!(
        exec(&service, context, "roomJoin", json!(["r"])).await,
        Err(ChatServiceError::NotAllowed)
    );
    assert!(userlist(&service, "r").await.is_empty());
}

#[tokio::test]
async fn room_leave_of_a_room_the_socket_is_not_in_returns_njoined() {
    let service = start().await;
    add_room(&service, "r", None).await;
    present(&service, "r", "u", "s1").await;
    online(&service, "u", "s2").await;
    let context = CallContext {
        id: Some("s2".into()),
        ..as_user("u")
    };
    let got = exec_ok(&service, context.clone(), "roomLeave", json!(["r"])).await;
    assert_eq!(got, json!(1));
    assert_eq!(userlist(&service, "r").await, vec!["u"]);
    assert_eq!(
        exec(&service, context, "roomLeave", json!(["nope"])).await,
        Err(ChatServiceError::NoRoom("nope".into()))
    );
}

#[tokio::test]
async fn room_message_with_bypass_and_no_join_gets_increasing_ids() {
    let service = start().await;
    add_user(&service, "u").await;
    add_room(&service, "r", None).await;
    for expected in 1..=3 {
        let id = exec_ok(
            &service,
            as_user_bypass("u"),
            "roomMessage",
            json!(["r", {"textMessage": "hi"}]),
        )
        .await;
        assert_eq!(id, json!(expected));
    }
    let history = exec_ok(
        &service,
        as_user_bypass("u"),
        "roomRecentHistory",
        json!(["r"]),
    )
    .await;
    assert_eq!(ids(&history), vec![3, 2, 1]);
    assert_eq!(history[0]["author"], json!("u"));
}

#[tokio::test]
async fn room_message_without_join_is_not_joined_even_for_the_owner() {
    let service = start().await;
    add_user(&service, "o").await;
    add_room(&service, "r", Some("o")).await;
    let error = exec(
        &service,
        as_user("o"),
        "roomMessage",
        json!(["r", {"textMessage": "hi"}]),
    )
    .await
    .unwrap_err();
    assert_eq!(
        error.to_wire_string(),
        "ChatServiceError: Not joined to room r"
    );
    // Admins may still read without joining.
    let info = exec_ok(&service, as_user("o"), "roomHistoryInfo", json!(["r"])).await;
    assert_eq!(info["lastMessageId"], json!(0));
}

#[tokio::test]
async fn room_message_by_a_present_user() {
    let service = start().await;
    add_room(&service, "r", None).await;
    present(&service, "r", "u", "s1").await;
    let id = exec_ok(
        &service,
        as_user("u"),
        "roomMessage",
        json!(["r", {"textMessage": "hi"}]),
    )
    .await;
    assert_eq!(id, json!(1));
    let history = exec_ok(&service, as_user("u"), "roomRecentHistory", json!(["r"])).await;
    assert_eq!(history[0]["textMessage"], json!("hi"));
}

#[tokio::test]
async fn anonymous_message_has_no_author() {
    let service = start().await;
    add_room(&service, "r", None).await;
    exec_ok(
        &service,
        anonymous_bypass(),
        "roomMessage",
        json!(["r", {"textMessage": "hi"}]),
    )
    .await;
    let history = exec_ok(
        &service,
        anonymous_bypass(),
        "roomRecentHistory",
        json!(["r"]),
    )
    .await;
    assert_eq!(keys(&history[0]), vec!["textMessage", "timestamp", "id"]);
}

#[tokio::test]
async fn bypass_lifts_the_history_get_cap() {
    let service = start_with(options(|o| o.history_max_get_messages = 2), |_| {}).await;
    add_user(&service, "o").await;
    add_room(&service, "r", Some("o")).await;
    for _ in 0..3 {
        exec_ok(
            &service,
            anonymous_bypass(),
            "roomMessage",
            json!(["r", {"textMessage": "m"}]),
        )
        .await;
    }
    let capped = exec_ok(
        &service,
        as_user("o"),
        "roomHistoryGet",
        json!(["r", 0, 10]),
    )
    .await;
    assert_eq!(ids(&capped), vec![2, 1]);
    let uncapped = exec_ok(
        &service,
        as_user_bypass("o"),
        "roomHistoryGet",
        json!(["r", 0, 10]),
    )
    .await;
    assert_eq!(ids(&uncapped), vec![3, 2, 1]);
    // The recent history keeps the cap.
    let recent = exec_ok(
        &service,
        as_user_bypass("o"),
        "roomRecentHistory",
        json!(["r"]),
    )
    .await;
    assert_eq!(ids(&recent), vec![3, 2]);
    let info = exec_ok(&service, as_user("o"), "roomHistoryInfo", json!(["r"])).await;
    assert_eq!(
        info,
        json!({"historySize": 3, "historyMaxSize": 10000, "historyMaxGetMessages": 2, "lastMessageId": 3})
    );
}

#[tokio::test]
async fn bypass_lifts_the_presence_check_of_reads() {
    let service = start().await;
    add_user(&service, "u").await;
    add_room(&service, "r", None).await;
    let reads = [
        ("roomGetAccessList", json!(["r", "whitelist"])),
        ("roomGetOwner", json!(["r"])),
        ("roomGetWhitelistMode", json!(["r"])),
        ("roomRecentHistory", json!(["r"])),
        ("roomHistoryGet", json!(["r", 0, 10])),
        ("roomHistoryInfo", json!(["r"])),
        ("roomNotificationsInfo", json!(["r"])),
        ("roomUserSeen", json!(["r", "u"])),
    ];
    for (command, args) in reads {
        assert_eq!(
            exec(&service, as_user("u"), command, args.clone()).await,
            Err(ChatServiceError::NotJoined("r".into())),
            "{command}"
        );
        exec_ok(&service, as_user_bypass("u"), command, args).await;
    }
}

#[tokio::test]
async fn room_user_seen_and_notifications_info() {
    let service = start_with(options(|o| o.enable_userlist_updates = true), |_| {}).await;
    add_room(&service, "r", None).await;
    let before = now_ms();
    present(&service, "r", "u", "s1").await;
    let seen = exec_ok(&service, as_user("u"), "roomUserSeen", json!(["r", "u"])).await;
    assert_eq!(seen["joined"], json!(true));
    let at = seen["timestamp"].as_i64().unwrap();
    assert!(at >= before && at <= now_ms());
    let never = exec_ok(&service, as_user("u"), "roomUserSeen", json!(["r", "x"])).await;
    assert_eq!(never, json!({"joined": false, "timestamp": null}));
    let info = exec_ok(
        &service,
        as_user("u"),
        "roomNotificationsInfo",
        json!(["r"]),
    )
    .await;
    assert_eq!(
        info.to_string(),
        r#"{"enableUserlistUpdates":true,"enableAccessListsUpdates":false}"#
    );
}

#[tokio::test]
async fn list_own_sockets_lists_sockets_with_their_rooms() {
    let service = start().await;
    add_room(&service, "r", None).await;
    present(&service, "r", "u", "s1").await;
    online(&service, "u", "s2").await;
    let sockets = exec_ok(&service, as_user("u"), "listOwnSockets", json!([])).await;
    assert_eq!(sockets, json!({"s1": ["r"], "s2": []}));
    add_user(&service, "idle").await;
    let none = exec_ok(&service, as_user("idle"), "listOwnSockets", json!([])).await;
    assert_eq!(none, json!({}));
}

// ---- hooks (2.2, 10) ----

#[tokio::test]
async fn before_hook_reply_skips_the_command_and_the_after_hook() {
    let after = log();
    let service = start_hooked(|h| {
        h.before("roomCreate", |_| async {
            Ok(Flow::Reply(vec![json!("asdf"), json!(2)]))
        });
        record_after(h, "roomCreate", &after);
    })
    .await;
    let got = exec(
        &service,
        anonymous_bypass(),
        "roomCreate",
        json!(["r", false]),
    )
    .await;
    assert_eq!(got, Ok(vec![json!("asdf"), json!(2)]));
    assert!(!service.has_room("r").await.unwrap());
    assert!(taken(&after).is_empty());
}

#[tokio::test]
async fn before_hook_error_is_returned_and_nothing_else_runs() {
    let after = log();
    let service = start_hooked(|h| {
        h.before("roomCreate", |_| async {
            Err(ChatServiceError::custom("myCode", vec![json!("q")]))
        });
        record_after(h, "roomCreate", &after);
    })
    .await;
    let error = exec(
        &service,
        anonymous_bypass(),
        "roomCreate",
        json!(["r", false]),
    )
    .await
    .unwrap_err();
    assert_eq!(error.to_wire_string(), "ChatServiceError: myCode");
    assert_eq!(
        error.to_raw_object().to_string(),
        r#"{"name":"ChatServiceError","code":"myCode","args":["q"]}"#
    );
    assert!(!service.has_room("r").await.unwrap());
    assert!(taken(&after).is_empty());
}

#[tokio::test]
async fn before_hook_may_replace_the_arguments() {
    let service = start_hooked(|h| {
        h.before("roomCreate", |mut info| async move {
            info.args[0] = json!("replaced");
            Ok(Flow::Continue(Box::new(info)))
        });
    })
    .await;
    exec_ok(
        &service,
        anonymous_bypass(),
        "roomCreate",
        json!(["r", false]),
    )
    .await;
    assert!(service.has_room("replaced").await.unwrap());
    assert!(!service.has_room("r").await.unwrap());
}

#[tokio::test]
async fn after_hook_sees_the_results_and_keeps_the_outcome() {
    let after = log();
    let service = start_hooked(|h| record_after(h, "roomMessage", &after)).await;
    add_room(&service, "r", None).await;
    let id = exec_ok(
        &service,
        anonymous_bypass(),
        "roomMessage",
        json!(["r", {"textMessage": "x"}]),
    )
    .await;
    assert_eq!(id, json!(1));
    let seen = taken(&after);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].results, Some(vec![json!(1)]));
    assert_eq!(seen[0].error, None);
}

#[tokio::test]
async fn after_hook_sees_the_error_and_may_turn_it_into_success() {
    let after = log();
    let service = start_hooked(|h| {
        let after = after.clone();
        h.after("roomGetOwner", move |info| {
            after.lock().unwrap().push(Seen::of(&info));
            async { Ok(Some(vec![json!("recovered")])) }
        });
    })
    .await;
    let got = exec(
        &service,
        anonymous_bypass(),
        "roomGetOwner",
        json!(["nope"]),
    )
    .await;
    assert_eq!(got, Ok(vec![json!("recovered")]));
    let seen = taken(&after);
    assert_eq!(seen[0].error, Some(ChatServiceError::NoRoom("nope".into())));
    assert_eq!(seen[0].results, None);
}

#[tokio::test]
async fn after_hook_may_return_several_values() {
    let service = start_hooked(|h| {
        h.after("listOwnSockets", |info| async move {
            let result = info.results.unwrap().remove(0);
            Ok(Some(vec![result, json!(true)]))
        });
    })
    .await;
    add_user(&service, "u").await;
    let got = exec(&service, as_user("u"), "listOwnSockets", json!([])).await;
    assert_eq!(got, Ok(vec![json!({}), json!(true)]));
}

#[tokio::test]
async fn after_hook_returning_nothing_or_an_empty_list_keeps_the_outcome() {
    let service = start_hooked(|h| {
        h.after("roomCreate", |_| async { Ok(Some(vec![])) });
        h.after("roomGetOwner", |_| async { Ok(None) });
    })
    .await;
    exec_ok(
        &service,
        anonymous_bypass(),
        "roomCreate",
        json!(["r", false]),
    )
    .await;
    assert_eq!(
        exec(
            &service,
            anonymous_bypass(),
            "roomGetOwner",
            json!(["nope"])
        )
        .await,
        Err(ChatServiceError::NoRoom("nope".into()))
    );
}

#[tokio::test]
async fn after_hook_error_is_returned_after_the_command_ran() {
    let service = start_hooked(|h| {
        h.after("roomCreate", |_| async {
            Err(ChatServiceError::internal("boom"))
        });
    })
    .await;
    let error = exec(
        &service,
        anonymous_bypass(),
        "roomCreate",
        json!(["r", false]),
    )
    .await
    .unwrap_err();
    assert_eq!(error.to_wire_string(), "Error: boom");
    assert!(service.has_room("r").await.unwrap());
}

#[tokio::test]
async fn bypass_hooks_skips_both_hooks() {
    let (before, after) = (log(), log());
    let service = start_hooked(|h| {
        record_before(h, "roomCreate", &before);
        record_after(h, "roomCreate", &after);
    })
    .await;
    let context = CallContext {
        bypass_hooks: true,
        ..anonymous_bypass()
    };
    exec_ok(&service, context, "roomCreate", json!(["r", false])).await;
    assert!(service.has_room("r").await.unwrap());
    assert!(taken(&before).is_empty());
    assert!(taken(&after).is_empty());
    // Without the flag they run.
    exec_ok(
        &service,
        anonymous_bypass(),
        "roomCreate",
        json!(["r2", false]),
    )
    .await;
    assert_eq!((taken(&before).len(), taken(&after).len()), (1, 1));
}

#[tokio::test]
async fn validation_errors_skip_the_hooks() {
    let (before, after) = (log(), log());
    let service = start_hooked(|h| {
        record_before(h, "roomCreate", &before);
        record_after(h, "roomCreate", &after);
    })
    .await;
    assert_eq!(
        exec(&service, anonymous_bypass(), "roomCreate", json!(["r"])).await,
        Err(ChatServiceError::WrongArgumentsCount(2, 1))
    );
    assert!(taken(&before).is_empty());
    assert!(taken(&after).is_empty());
}

#[tokio::test]
async fn exec_info_of_a_server_call() {
    let (before, after) = (log(), log());
    let service = start_hooked(|h| {
        let log = before.clone();
        h.before("roomCreate", move |mut info| {
            log.lock().unwrap().push(Seen::of(&info));
            info.data.insert("k".into(), json!("v"));
            async move { Ok(Flow::Continue(Box::new(info))) }
        });
        record_after(h, "roomCreate", &after);
        record_before(h, "listOwnSockets", &before);
    })
    .await;
    add_user(&service, "u").await;
    let context = CallContext {
        id: Some("sock".into()),
        is_local_call: false,
        ..as_user_bypass("u")
    };
    exec_ok(
        &service,
        context,
        "roomCreate",
        json!(["r", false, "extra", 2]),
    )
    .await;
    let seen = taken(&before).remove(0);
    assert_eq!(seen.user_name.as_deref(), Some("u"));
    assert_eq!(seen.id.as_deref(), Some("sock"));
    assert_eq!(seen.args, vec![json!("r"), json!(false)]);
    assert_eq!(seen.rest_args, vec![json!("extra"), json!(2)]);
    assert_eq!(seen.bypass_permissions, Some(true));
    assert!(!seen.bypass_hooks);
    assert!(seen.is_local_call);
    assert_eq!((seen.results, seen.error), (None, None));
    assert!(seen.data.is_empty());

    let seen = taken(&after).remove(0);
    assert_eq!(seen.data.get("k"), Some(&json!("v")));
    assert_eq!(seen.results, Some(vec![Value::Null]));
    assert_eq!(seen.rest_args, vec![json!("extra"), json!(2)]);

    exec_ok(&service, as_user("u"), "listOwnSockets", json!([])).await;
    let seen = taken(&before).remove(1);
    assert_eq!(seen.bypass_permissions, Some(false));
    assert!(seen.rest_args.is_empty());
    assert_eq!(seen.id, None);
}

// ---- custom message formats (3.2) ----

#[tokio::test]
async fn room_messages_checker_accepts_custom_objects_with_nested_values() {
    let checked: Arc<Mutex<Vec<Value>>> = Arc::default();
    let service = start_hooked(|h| {
        let checked = checked.clone();
        h.room_messages_checker(move |message| {
            checked.lock().unwrap().push(message);
            async { Ok(()) }
        });
    })
    .await;
    add_room(&service, "r", None).await;
    let message = json!({
        "kind": "file",
        "payload": {"bytes": {"type": "Buffer", "data": [1, 2]}, "list": [1, null, "x"]},
    });
    exec_ok(
        &service,
        anonymous_bypass(),
        "roomMessage",
        json!(["r", message.clone()]),
    )
    .await;
    assert_eq!(*checked.lock().unwrap(), vec![message.clone()]);
    let history = exec_ok(
        &service,
        anonymous_bypass(),
        "roomRecentHistory",
        json!(["r"]),
    )
    .await;
    assert_eq!(
        keys(&history[0]),
        vec!["kind", "payload", "timestamp", "id"]
    );
    assert_eq!(history[0]["payload"], message["payload"]);
}

#[tokio::test]
async fn message_checker_error_replaces_bad_argument() {
    let before = log();
    let service = start_hooked(|h| {
        h.room_messages_checker(|message| async move {
            if message.get("ok").is_some() {
                Ok(())
            } else {
                Err(ChatServiceError::custom("badMessage", vec![]))
            }
        });
        record_before(h, "roomMessage", &before);
    })
    .await;
    add_room(&service, "r", None).await;
    let error = exec(
        &service,
        anonymous_bypass(),
        "roomMessage",
        json!(["r", {"textMessage": "x"}]),
    )
    .await
    .unwrap_err();
    assert_eq!(error, ChatServiceError::custom("badMessage", vec![]));
    // The checker runs during validation: no hook ran, nothing stored.
    assert!(taken(&before).is_empty());
    let info = exec_ok(
        &service,
        anonymous_bypass(),
        "roomHistoryInfo",
        json!(["r"]),
    )
    .await;
    assert_eq!(info["lastMessageId"], json!(0));
    assert_eq!(
        service
            .check_arguments("roomMessage", vec![json!("r"), json!({"x": 1})])
            .await,
        Err(ChatServiceError::custom("badMessage", vec![]))
    );
}

#[tokio::test]
async fn custom_format_still_requires_an_object() {
    let service = start_hooked(|h| h.room_messages_checker(|_| async { Ok(()) })).await;
    add_room(&service, "r", None).await;
    for message in [json!("text"), json!(null), json!([1])] {
        assert_eq!(
            exec(
                &service,
                anonymous_bypass(),
                "roomMessage",
                json!(["r", message.clone()])
            )
            .await,
            Err(ChatServiceError::BadArgument(1, message))
        );
    }
}

#[tokio::test]
async fn default_format_accepts_only_a_text_message() {
    let service = start().await;
    add_room(&service, "r", None).await;
    for message in [
        json!({"textMessage": "x", "other": 1}),
        json!({"textMessage": "x", "author": "a"}),
        json!({"textMessage": 1}),
        json!({}),
    ] {
        assert_eq!(
            exec(
                &service,
                anonymous_bypass(),
                "roomMessage",
                json!(["r", message.clone()])
            )
            .await,
            Err(ChatServiceError::BadArgument(1, message))
        );
    }
    exec_ok(
        &service,
        anonymous_bypass(),
        "roomMessage",
        json!(["r", {"textMessage": ""}]),
    )
    .await;
}

#[tokio::test]
async fn direct_messages_checker_enables_a_custom_direct_format() {
    let service = start_with(options(|o| o.enable_direct_messages = true), |h| {
        h.direct_messages_checker(|message| async move {
            match message.get("body") {
                Some(_) => Ok(()),
                None => Err(ChatServiceError::custom("noBody", vec![])),
            }
        });
    })
    .await;
    add_user(&service, "u1").await;
    online(&service, "u2", "s2").await;
    let sent = exec_ok(
        &service,
        as_user("u1"),
        "directMessage",
        json!(["u2", {"body": [1, 2]}]),
    )
    .await;
    assert_eq!(keys(&sent), vec!["body", "timestamp", "author"]);
    assert_eq!(
        exec(
            &service,
            as_user("u1"),
            "directMessage",
            json!(["u2", {"textMessage": "x"}])
        )
        .await,
        Err(ChatServiceError::custom("noBody", vec![]))
    );
    // Room messages keep the default format.
    assert_eq!(
        service
            .check_arguments("roomMessage", vec![json!("r"), json!({"body": 1})])
            .await,
        Err(ChatServiceError::BadArgument(1, json!({"body": 1})))
    );
}

// ---- message processing (3.2, 5.6) ----

#[tokio::test]
async fn room_message_fields_and_key_order() {
    let service = start().await;
    add_user(&service, "u").await;
    add_room(&service, "r", None).await;
    let before = now_ms();
    exec_ok(
        &service,
        as_user_bypass("u"),
        "roomMessage",
        json!(["r", {"textMessage": "hi"}]),
    )
    .await;
    let history = exec_ok(
        &service,
        as_user_bypass("u"),
        "roomRecentHistory",
        json!(["r"]),
    )
    .await;
    let message = &history[0];
    assert_eq!(
        keys(message),
        vec!["textMessage", "author", "timestamp", "id"]
    );
    assert_eq!(message["author"], json!("u"));
    assert_eq!(message["id"], json!(1));
    let at = message["timestamp"].as_i64().unwrap();
    assert!(at >= before && at <= now_ms());
}

#[tokio::test]
async fn room_message_replaces_client_id_timestamp_and_author() {
    let service = start_hooked(|h| h.room_messages_checker(|_| async { Ok(()) })).await;
    add_user(&service, "u").await;
    add_room(&service, "r", None).await;
    let message = json!({"author": "fake", "id": 99, "textMessage": "hi", "timestamp": 5});
    let id = exec_ok(
        &service,
        as_user_bypass("u"),
        "roomMessage",
        json!(["r", message]),
    )
    .await;
    assert_eq!(id, json!(1));
    let history = exec_ok(
        &service,
        as_user_bypass("u"),
        "roomRecentHistory",
        json!(["r"]),
    )
    .await;
    let stored = &history[0];
    assert_eq!(
        keys(stored),
        vec!["author", "textMessage", "timestamp", "id"]
    );
    assert_eq!(stored["author"], json!("u"));
    assert_eq!(stored["id"], json!(1));
    assert_ne!(stored["timestamp"], json!(5));
}

#[tokio::test]
async fn anonymous_message_keeps_the_author_it_carries() {
    let service = start_hooked(|h| h.room_messages_checker(|_| async { Ok(()) })).await;
    add_room(&service, "r", None).await;
    exec_ok(
        &service,
        anonymous_bypass(),
        "roomMessage",
        json!(["r", {"textMessage": "hi", "author": "bot"}]),
    )
    .await;
    let history = exec_ok(
        &service,
        anonymous_bypass(),
        "roomRecentHistory",
        json!(["r"]),
    )
    .await;
    assert_eq!(history[0]["author"], json!("bot"));
    assert_eq!(
        keys(&history[0]),
        vec!["textMessage", "author", "timestamp", "id"]
    );
}

// ---- direct messages (5.1) ----

async fn direct_service() -> ChatService {
    let service = start_with(options(|o| o.enable_direct_messages = true), |_| {}).await;
    add_user(&service, "u1").await;
    service
}

async fn dm(service: &ChatService, context: CallContext, to: &str) -> Result<Vec<Value>> {
    exec(
        service,
        context,
        "directMessage",
        json!([to, {"textMessage": "dm"}]),
    )
    .await
}

#[tokio::test]
async fn direct_message_needs_enable_direct_messages_even_with_bypass() {
    let service = start().await;
    add_user(&service, "u1").await;
    online(&service, "u2", "s2").await;
    assert_eq!(
        dm(&service, as_user_bypass("u1"), "u2").await,
        Err(ChatServiceError::NotAllowed)
    );
    // The direct list commands work regardless.
    exec_ok(
        &service,
        as_user("u1"),
        "directAddToList",
        json!(["blacklist", ["x"]]),
    )
    .await;
}

#[tokio::test]
async fn direct_message_delivered_to_an_online_user() {
    let service = direct_service().await;
    online(&service, "u2", "s2").await;
    let before = now_ms();
    let message = exec_ok(
        &service,
        as_user("u1"),
        "directMessage",
        json!(["u2", {"textMessage": "dm"}]),
    )
    .await;
    assert_eq!(keys(&message), vec!["textMessage", "timestamp", "author"]);
    assert_eq!(message["author"], json!("u1"));
    let at = message["timestamp"].as_i64().unwrap();
    assert!(at >= before && at <= now_ms());
}

#[tokio::test]
async fn direct_message_to_an_unknown_user_is_no_user() {
    let service = direct_service().await;
    let error = dm(&service, as_user_bypass("u1"), "ghost")
        .await
        .unwrap_err();
    assert_eq!(
        error.to_wire_string(),
        "ChatServiceError: No such user ghost"
    );
}

#[tokio::test]
async fn direct_message_to_an_offline_known_user_is_no_user_online() {
    let service = direct_service().await;
    add_user(&service, "u2").await;
    let error = dm(&service, as_user("u1"), "u2").await.unwrap_err();
    assert_eq!(
        error.to_wire_string(),
        "ChatServiceError: No such user online u2"
    );
}

#[tokio::test]
async fn direct_message_blacklisted_sender_is_not_allowed_unless_bypass() {
    let service = direct_service().await;
    online(&service, "u2", "s2").await;
    exec_ok(
        &service,
        as_user("u2"),
        "directAddToList",
        json!(["blacklist", ["u1"]]),
    )
    .await;
    assert_eq!(
        dm(&service, as_user("u1"), "u2").await,
        Err(ChatServiceError::NotAllowed)
    );
    assert!(dm(&service, as_user_bypass("u1"), "u2").await.is_ok());
}

#[tokio::test]
async fn direct_message_whitelist_only_recipient() {
    let service = direct_service().await;
    add_user(&service, "u3").await;
    online(&service, "u2", "s2").await;
    exec_ok(
        &service,
        as_user("u2"),
        "directSetWhitelistMode",
        json!([true]),
    )
    .await;
    exec_ok(
        &service,
        as_user("u2"),
        "directAddToList",
        json!(["whitelist", ["u3"]]),
    )
    .await;
    assert_eq!(
        dm(&service, as_user("u1"), "u2").await,
        Err(ChatServiceError::NotAllowed)
    );
    assert!(dm(&service, as_user("u3"), "u2").await.is_ok());
    // The permission check comes before the online check.
    add_user(&service, "off").await;
    exec_ok(
        &service,
        as_user("off"),
        "directSetWhitelistMode",
        json!([true]),
    )
    .await;
    assert_eq!(
        dm(&service, as_user("u1"), "off").await,
        Err(ChatServiceError::NotAllowed)
    );
}

#[tokio::test]
async fn direct_message_to_oneself_is_not_allowed_even_with_bypass() {
    let service = direct_service().await;
    online(&service, "u1", "s1").await;
    assert_eq!(
        dm(&service, as_user_bypass("u1"), "u1").await,
        Err(ChatServiceError::NotAllowed)
    );
}

#[tokio::test]
async fn direct_lists_through_commands() {
    let service = direct_service().await;
    exec_ok(
        &service,
        as_user("u1"),
        "directAddToList",
        json!(["whitelist", ["a", "b"]]),
    )
    .await;
    exec_ok(
        &service,
        as_user("u1"),
        "directRemoveFromList",
        json!(["whitelist", ["a", "ghost"]]),
    )
    .await;
    let list = exec_ok(
        &service,
        as_user("u1"),
        "directGetAccessList",
        json!(["whitelist"]),
    )
    .await;
    assert_eq!(list, json!(["b"]));
    assert!(
        service
            .user_has_in_list("u1", "whitelist", "b")
            .await
            .unwrap()
    );
    for command in ["directAddToList", "directRemoveFromList"] {
        assert_eq!(
            exec(
                &service,
                as_user("u1"),
                command,
                json!(["whitelist", ["x", "u1"]])
            )
            .await,
            Err(ChatServiceError::NotAllowed),
            "{command}"
        );
        let error = exec(
            &service,
            as_user("u1"),
            command,
            json!(["adminlist", ["x"]]),
        )
        .await
        .unwrap_err();
        assert_eq!(
            error.to_wire_string(),
            "ChatServiceError: No such list adminlist"
        );
    }
    let mode = exec_ok(&service, as_user("u1"), "directGetWhitelistMode", json!([])).await;
    assert_eq!(mode, json!(false));
}

// ---- list limits (4.4, 5.1) ----

#[tokio::test]
async fn room_list_size_limit_option() {
    let service = start_with(options(|o| o.room_list_size_limit = 2), |_| {}).await;
    add_user(&service, "o").await;
    add_room(&service, "r", Some("o")).await;
    let add = |names: Value| {
        let service = service.clone();
        async move {
            exec(
                &service,
                as_user("o"),
                "roomAddToList",
                json!(["r", "whitelist", names]),
            )
            .await
        }
    };
    add(json!(["a"])).await.unwrap();
    let error = add(json!(["a", "b"])).await.unwrap_err();
    assert_eq!(
        error.to_wire_string(),
        "ChatServiceError: Exceeded whitelist size limit"
    );
    assert!(
        !service
            .room_has_in_list("r", "whitelist", "b")
            .await
            .unwrap()
    );
    add(json!(["b"])).await.unwrap();
    // Bypass does not lift the limit.
    assert_eq!(
        exec(
            &service,
            anonymous_bypass(),
            "roomAddToList",
            json!(["r", "blacklist", ["x", "y", "z"]])
        )
        .await,
        Err(ChatServiceError::ListLimitExceeded("blacklist".into()))
    );
}

#[tokio::test]
async fn direct_list_size_limit_option() {
    let service = start_with(options(|o| o.direct_list_size_limit = 1), |_| {}).await;
    add_user(&service, "u").await;
    exec_ok(
        &service,
        as_user("u"),
        "directAddToList",
        json!(["blacklist", ["a"]]),
    )
    .await;
    for names in [json!(["b"]), json!(["a"])] {
        assert_eq!(
            exec(
                &service,
                as_user("u"),
                "directAddToList",
                json!(["blacklist", names])
            )
            .await,
            Err(ChatServiceError::ListLimitExceeded("blacklist".into()))
        );
    }
}

// ---- access changes through commands (4.4, 4.5) ----

#[tokio::test]
async fn blacklisting_a_present_user_removes_them() {
    let left: Arc<Mutex<Vec<RoomEvent>>> = Arc::default();
    let service = start_hooked(|h| {
        let left = left.clone();
        h.on_leave(move |_, event| {
            left.lock().unwrap().push(event);
            async { Ok(()) }
        });
    })
    .await;
    add_user(&service, "o").await;
    add_room(&service, "r", Some("o")).await;
    present(&service, "r", "u", "s1").await;
    present(&service, "r", "v", "s2").await;
    exec_ok(
        &service,
        as_user("o"),
        "roomAddToList",
        json!(["r", "blacklist", ["u"]]),
    )
    .await;
    assert_eq!(userlist(&service, "r").await, vec!["v"]);
    let left = left.lock().unwrap().clone();
    assert_eq!(left.len(), 1);
    assert_eq!((left[0].id.as_str(), left[0].njoined), ("s1", 0));
    assert!(!service.has_room_access("r", "u").await.unwrap());
}

#[tokio::test]
async fn room_list_changes_follow_the_check_order() {
    let service = start().await;
    for name in ["o", "a", "x"] {
        add_user(&service, name).await;
    }
    let init = RoomInit {
        owner: Some("o".into()),
        adminlist: Some(vec!["a".into()]),
        ..RoomInit::default()
    };
    service.add_room("r", init).await.unwrap();
    let change = |user: &str, list: &str| {
        let (service, context) = (service.clone(), as_user(user));
        let args = json!(["r", list, ["n"]]);
        async move { exec(&service, context, "roomAddToList", args).await }
    };
    let not_allowed = Err(ChatServiceError::NotAllowed);
    assert_eq!(change("o", "userlist").await, not_allowed);
    assert_eq!(change("a", "adminlist").await, not_allowed);
    assert_eq!(change("x", "badlist").await, not_allowed);
    assert_eq!(
        change("a", "badlist").await,
        Err(ChatServiceError::NoList("badlist".into()))
    );
    assert!(change("a", "whitelist").await.is_ok());
    assert_eq!(
        exec(
            &service,
            as_user("a"),
            "roomRemoveFromList",
            json!(["r", "blacklist", ["o"]])
        )
        .await,
        not_allowed
    );
    assert_eq!(
        exec(
            &service,
            as_user_bypass("x"),
            "roomAddToList",
            json!(["r", "userlist", ["n"]])
        )
        .await,
        not_allowed
    );
    let list = exec_ok(
        &service,
        as_user("a"),
        "roomGetAccessList",
        json!(["r", "whitelist"]),
    )
    .await;
    assert_eq!(list, json!(["n"]));
}

// ---- server API (12) ----

#[tokio::test]
async fn delete_room_runs_the_room_delete_hooks_and_removes_present_users() {
    let (before, after) = (log(), log());
    let left: Arc<Mutex<Vec<RoomEvent>>> = Arc::default();
    let service = start_hooked(|h| {
        record_before(h, "roomDelete", &before);
        record_after(h, "roomDelete", &after);
        let left = left.clone();
        h.on_leave(move |_, event| {
            left.lock().unwrap().push(event);
            async { Ok(()) }
        });
    })
    .await;
    add_room(&service, "r", Some("o")).await;
    present(&service, "r", "u", "s1").await;
    within(service.delete_room("r")).await.unwrap();
    assert!(!service.has_room("r").await.unwrap());

    let seen = taken(&before).remove(0);
    assert_eq!(seen.user_name, None);
    assert_eq!(seen.bypass_permissions, Some(true));
    assert_eq!(seen.args, vec![json!("r")]);
    assert_eq!(taken(&after)[0].results, Some(vec![Value::Null]));
    let left = left.lock().unwrap().clone();
    assert_eq!((left[0].room_name.as_str(), left[0].njoined), ("r", 0));
    let sockets = service.state().user_sockets("u").await.unwrap();
    assert!(sockets["s1"].is_empty());
}

#[tokio::test]
async fn delete_room_of_a_missing_room_is_no_room() {
    let service = start().await;
    assert_eq!(
        within(service.delete_room("r")).await,
        Err(ChatServiceError::NoRoom("r".into()))
    );
}

#[tokio::test]
async fn has_room_access_follows_the_access_rules() {
    let service = start().await;
    assert!(!service.has_room_access("missing", "u").await.unwrap());
    let init = RoomInit {
        owner: Some("o".into()),
        whitelist_only: Some(true),
        whitelist: Some(vec!["w".into(), "wb".into()]),
        blacklist: Some(vec!["wb".into(), "o".into()]),
        ..RoomInit::default()
    };
    service.add_room("r", init).await.unwrap();
    assert!(service.has_room_access("r", "o").await.unwrap());
    assert!(service.has_room_access("r", "w").await.unwrap());
    assert!(!service.has_room_access("r", "wb").await.unwrap());
    assert!(!service.has_room_access("r", "x").await.unwrap());
}

#[tokio::test]
async fn has_direct_access_follows_the_direct_lists() {
    let service = start().await;
    let init = UserInit {
        blacklist: vec!["b".into()],
        ..UserInit::default()
    };
    service.add_user("r", init).await.unwrap();
    assert!(service.has_direct_access("r", "x").await.unwrap());
    assert!(!service.has_direct_access("r", "b").await.unwrap());
    assert!(!service.has_direct_access("r", "r").await.unwrap());
    assert!(!service.has_direct_access("ghost", "x").await.unwrap());
}

#[tokio::test]
async fn list_queries_report_missing_rooms_users_and_lists() {
    let service = start().await;
    let init = RoomInit {
        adminlist: Some(vec!["a".into()]),
        ..RoomInit::default()
    };
    service.add_room("r", init).await.unwrap();
    present(&service, "r", "u", "s1").await;
    assert!(
        service
            .room_has_in_list("r", "adminlist", "a")
            .await
            .unwrap()
    );
    assert!(
        service
            .room_has_in_list("r", "userlist", "u")
            .await
            .unwrap()
    );
    assert!(
        !service
            .room_has_in_list("r", "whitelist", "a")
            .await
            .unwrap()
    );
    assert_eq!(
        service.room_has_in_list("nope", "adminlist", "a").await,
        Err(ChatServiceError::NoRoom("nope".into()))
    );
    assert_eq!(
        service.room_has_in_list("r", "badlist", "a").await,
        Err(ChatServiceError::NoList("badlist".into()))
    );
    assert_eq!(
        service.user_has_in_list("ghost", "whitelist", "a").await,
        Err(ChatServiceError::NoUser("ghost".into()))
    );
    assert_eq!(
        service.user_has_in_list("u", "userlist", "a").await,
        Err(ChatServiceError::NoList("userlist".into()))
    );
    assert!(
        !service
            .user_has_in_list("u", "blacklist", "a")
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn change_room_history_max_size_trims_and_an_invalid_size_keeps_capacity() {
    let service = start().await;
    add_room(&service, "r", None).await;
    for _ in 0..3 {
        exec_ok(
            &service,
            anonymous_bypass(),
            "roomMessage",
            json!(["r", {"textMessage": "m"}]),
        )
        .await;
    }
    let info = || {
        let service = service.clone();
        async move {
            exec_ok(
                &service,
                anonymous_bypass(),
                "roomHistoryInfo",
                json!(["r"]),
            )
            .await
        }
    };
    service
        .change_room_history_max_size("r", &json!(2))
        .await
        .unwrap();
    let got = info().await;
    assert_eq!(
        (got["historySize"].clone(), got["historyMaxSize"].clone()),
        (json!(2), json!(2))
    );
    for invalid in [json!(-1), json!("5"), json!(null)] {
        service
            .change_room_history_max_size("r", &invalid)
            .await
            .unwrap();
        let got = info().await;
        assert_eq!(got["historyMaxSize"], json!(2), "{invalid}");
        assert_eq!(got["historySize"], json!(2), "{invalid}");
    }
    let history = exec_ok(
        &service,
        anonymous_bypass(),
        "roomHistoryGet",
        json!(["r", 0, 10]),
    )
    .await;
    assert_eq!(ids(&history), vec![3, 2]);
    assert_eq!(
        service
            .change_room_history_max_size("nope", &json!(1))
            .await,
        Err(ChatServiceError::NoRoom("nope".into()))
    );
}

#[tokio::test]
async fn added_rooms_take_the_option_defaults() {
    let service = start_with(
        options(|o| {
            o.history_max_size = 0;
            o.enable_access_lists_updates = true;
        }),
        |_| {},
    )
    .await;
    add_room(&service, "r", None).await;
    let id = exec_ok(
        &service,
        anonymous_bypass(),
        "roomMessage",
        json!(["r", {"textMessage": "m"}]),
    )
    .await;
    assert_eq!(id, json!(1));
    let info = exec_ok(
        &service,
        anonymous_bypass(),
        "roomHistoryInfo",
        json!(["r"]),
    )
    .await;
    assert_eq!(
        (info["historySize"].clone(), info["historyMaxSize"].clone()),
        (json!(0), json!(0))
    );
    let notifications = exec_ok(
        &service,
        anonymous_bypass(),
        "roomNotificationsInfo",
        json!(["r"]),
    )
    .await;
    assert_eq!(notifications["enableAccessListsUpdates"], json!(true));
}

#[tokio::test]
async fn add_user_and_add_room_check_names_and_existence() {
    let service = start().await;
    let error = service
        .add_user("a{b", UserInit::default())
        .await
        .unwrap_err();
    assert_eq!(
        error.to_wire_string(),
        "ChatServiceError: String a{b contains invalid characters"
    );
    assert_eq!(
        service.add_room("", RoomInit::default()).await,
        Err(ChatServiceError::InvalidName(json!("")))
    );
    add_user(&service, "u").await;
    assert!(service.has_user("u").await.unwrap());
    assert_eq!(
        service.add_user("u", UserInit::default()).await,
        Err(ChatServiceError::UserExists("u".into()))
    );
    add_room(&service, "r", None).await;
    assert_eq!(
        service.add_room("r", RoomInit::default()).await,
        Err(ChatServiceError::RoomExists("r".into()))
    );
}

#[tokio::test]
async fn delete_user_needs_an_offline_known_user() {
    let service = start().await;
    online(&service, "u", "s1").await;
    assert_eq!(
        service.delete_user("u").await,
        Err(ChatServiceError::UserOnline("u".into()))
    );
    assert_eq!(
        service.delete_user("ghost").await,
        Err(ChatServiceError::NoUser("ghost".into()))
    );
    add_user(&service, "off").await;
    service.delete_user("off").await.unwrap();
    assert!(!service.has_user("off").await.unwrap());
}

#[tokio::test]
async fn change_room_owner_and_notification_settings() {
    let service = start().await;
    add_room(&service, "r", None).await;
    service.change_room_owner("r", "n").await.unwrap();
    service
        .change_access_lists_updates("r", true)
        .await
        .unwrap();
    service.change_userlist_updates("r", true).await.unwrap();
    add_user(&service, "n").await;
    let owner = exec_ok(&service, as_user("n"), "roomGetOwner", json!(["r"])).await;
    assert_eq!(owner, json!("n"));
    let info = exec_ok(
        &service,
        as_user("n"),
        "roomNotificationsInfo",
        json!(["r"]),
    )
    .await;
    assert_eq!(
        info,
        json!({"enableUserlistUpdates": true, "enableAccessListsUpdates": true})
    );
    assert_eq!(
        service.change_room_owner("nope", "n").await,
        Err(ChatServiceError::NoRoom("nope".into()))
    );
}

#[tokio::test]
async fn instance_heartbeat_is_written_at_start() {
    let before = now_ms();
    let service = start().await;
    let own = service.get_instance_heartbeat(None).await.unwrap().unwrap();
    assert!(own >= before && own <= now_ms());
    let by_id = service
        .get_instance_heartbeat(Some(service.instance_id()))
        .await
        .unwrap();
    assert_eq!(by_id, Some(own));
    assert_eq!(
        service
            .get_instance_heartbeat(Some("unknown"))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn close_twice_is_fine_and_runs_on_close_once() {
    let closes: Arc<Mutex<Vec<Option<ChatServiceError>>>> = Arc::default();
    let service = start_hooked(|h| {
        let closes = closes.clone();
        h.on_close(move |_, error| {
            closes.lock().unwrap().push(error);
            async { Ok(()) }
        });
    })
    .await;
    within(service.close()).await.unwrap();
    within(service.close()).await.unwrap();
    assert_eq!(*closes.lock().unwrap(), vec![None]);
    assert!(service.is_closed());
}

#[tokio::test]
async fn close_fails_with_the_on_close_error() {
    let service = start_hooked(|h| {
        h.on_close(|_, _| async { Err(ChatServiceError::internal("close failed")) });
    })
    .await;
    assert_eq!(
        within(service.close()).await,
        Err(ChatServiceError::internal("close failed"))
    );
    // Later calls resolve at once.
    within(service.close()).await.unwrap();
}

// ---- behaviours fixed after review ----

#[tokio::test]
async fn before_hook_empty_reply_runs_the_command() {
    let service = start_hooked(|h| {
        h.before("roomCreate", |_| async { Ok(Flow::Reply(vec![])) });
    })
    .await;
    let got = exec(
        &service,
        anonymous_bypass(),
        "roomCreate",
        json!(["r", false]),
    )
    .await;
    assert_eq!(got, Ok(vec![Value::Null]));
    assert!(service.has_room("r").await.unwrap());
}

#[tokio::test]
async fn an_empty_user_name_is_an_anonymous_call() {
    let service = start().await;
    let context = CallContext {
        bypass_permissions: true,
        ..as_user("")
    };
    exec_ok(&service, context, "roomCreate", json!(["r", false])).await;
    let owner = exec_ok(&service, anonymous_bypass(), "roomGetOwner", json!(["r"])).await;
    assert_eq!(owner, Value::Null);
}

#[tokio::test]
async fn room_join_with_a_joined_socket_of_another_instance_leaves_it_joined() {
    let service = start().await;
    add_room(&service, "r", None).await;
    present(&service, "r", "u", "remote-socket").await;
    let context = CallContext {
        id: Some("remote-socket".into()),
        ..as_user("u")
    };
    let error = exec(&service, context, "roomJoin", json!(["r"]))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        ChatServiceError::InvalidSocket("remote-socket".into())
    );
    assert_eq!(userlist(&service, "r").await, vec!["u".to_string()]);
    let sockets = service.state().user_sockets("u").await.unwrap();
    assert_eq!(sockets["remote-socket"], vec!["r".to_string()]);
}

#[tokio::test]
async fn room_join_of_a_remote_socket_checks_access_first() {
    let service = start().await;
    let init = RoomInit {
        blacklist: Some(vec!["u".into()]),
        ..RoomInit::default()
    };
    service.add_room("r", init).await.unwrap();
    online(&service, "u", "remote-socket").await;
    let context = CallContext {
        id: Some("remote-socket".into()),
        ..as_user("u")
    };
    let error = exec(&service, context, "roomJoin", json!(["r"])).await;
    assert_eq!(error, Err(ChatServiceError::NotAllowed));
}

// ---- push and presence (interface.md 4.1) ----

#[tokio::test]
async fn is_user_online_sees_sockets_of_other_instances_and_is_false_for_unknown_users() {
    let service = start().await;
    assert!(!within(service.is_user_online("ghost")).await.unwrap());
    add_user(&service, "offline").await;
    assert!(!within(service.is_user_online("offline")).await.unwrap());
    online(&service, "u", "remote-socket").await;
    assert!(within(service.is_user_online("u")).await.unwrap());
    service
        .state()
        .remove_socket("u", "remote-socket", now_ms())
        .await
        .unwrap();
    assert!(!within(service.is_user_online("u")).await.unwrap());
}

#[tokio::test]
async fn emit_to_user_counts_the_users_sockets_on_every_instance() {
    let service = start().await;
    let hello = [json!("hello"), json!({ "n": 1 })];
    online(&service, "u", "remote-1").await;
    online(&service, "u", "remote-2").await;
    assert_eq!(
        within(service.emit_to_user("u", "news", &hello)).await,
        Ok(2)
    );
    add_user(&service, "offline").await;
    assert_eq!(service.emit_to_user("offline", "news", &hello).await, Ok(0));
    assert_eq!(service.emit_to_user("ghost", "news", &[]).await, Ok(0));
}

#[tokio::test]
async fn emit_to_socket_is_false_for_a_socket_connected_nowhere() {
    let service = start().await;
    // The state knows it, but no instance holds it: nobody would get it.
    online(&service, "u", "remote-socket").await;
    for id in [
        "remote-socket",
        "AAAAAAAAAAAAAAAA",
        "/chat-service#AAAAAAAAAAAAAAAA",
        "",
    ] {
        assert_eq!(
            within(service.emit_to_socket(id, "news", &[])).await,
            Ok(false),
            "{id}"
        );
    }
}

#[tokio::test]
async fn emit_to_room_needs_the_room_and_emit_to_all_needs_nothing() {
    let service = start().await;
    assert_eq!(
        service.emit_to_room("nor", "news", &[]).await,
        Err(ChatServiceError::NoRoom("nor".into()))
    );
    add_room(&service, "r", None).await;
    assert_eq!(within(service.emit_to_room("r", "news", &[])).await, Ok(()));
    assert_eq!(
        within(service.emit_to_all("news", &[json!(1)])).await,
        Ok(())
    );
}

#[tokio::test]
async fn push_calls_refuse_empty_and_reserved_event_names_at_the_events_position() {
    let service = start().await;
    add_room(&service, "r", None).await;
    online(&service, "u", "remote-socket").await;
    let notifications = [
        "loginConfirmed",
        "loginRejected",
        "socketConnectEcho",
        "socketDisconnectEcho",
        "roomJoinedEcho",
        "roomLeftEcho",
        "roomUserJoined",
        "roomUserLeft",
        "roomMessage",
        "roomAccessRemoved",
        "roomAccessListAdded",
        "roomAccessListRemoved",
        "roomModeChanged",
        "directMessage",
        "directMessageEcho",
        "systemMessage",
    ];
    let socket_io = ["", "connect", "connect_error", "disconnect", "error"];
    fn bad<T>(pos: usize, event: &str) -> Result<T> {
        Err(ChatServiceError::BadArgument(pos, json!(event)))
    }
    for event in notifications.into_iter().chain(socket_io) {
        assert_eq!(service.emit_to_user("u", event, &[]).await, bad(1, event));
        assert_eq!(
            service.emit_to_socket("remote-socket", event, &[]).await,
            bad(1, event)
        );
        assert_eq!(service.emit_to_room("r", event, &[]).await, bad(1, event));
        assert_eq!(service.emit_to_all(event, &[]).await, bad(0, event));
    }
    // Checked before the room: a refused name on a missing room.
    assert_eq!(
        service.emit_to_room("nor", "roomMessage", &[]).await,
        Err(ChatServiceError::BadArgument(1, json!("roomMessage")))
    );
    // Names near the reserved ones are the application's.
    for event in ["roommessage", "roomMessage ", "message", "connected"] {
        assert_eq!(service.emit_to_all(event, &[]).await, Ok(()), "{event}");
    }
}

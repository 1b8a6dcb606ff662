//! What commands and disconnect processing send, checked through a
//! recording `Notify`: the echoes and notifications of protocol.md 6 and 7
//! for join, leave, room messages, access removal and disconnect, with
//! their targets (who gets them, who is left out) and argument order.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{Value, json};

use super::{Caller, Command, CommandHooks, Ctx};
use crate::delivery::{self, Deliveries};
use crate::error::{ChatServiceError, Result};
use crate::events::Events;
use crate::notify::recording::{Recording, Sent, To};
use crate::options::{Formats, ServiceOptions};
use crate::presence;
use crate::service::hooks::{DisconnectInfo, RoomEvent};
use crate::state::{MemoryState, RoomConfig, State};

struct NoHooks;

impl CommandHooks for NoHooks {
    fn on_join(&self, _: RoomEvent) -> Option<BoxFuture<'static, Result<()>>> {
        None
    }
    fn on_leave(&self, _: RoomEvent) -> Option<BoxFuture<'static, Result<()>>> {
        None
    }
    fn on_disconnect(&self, _: DisconnectInfo) -> Option<BoxFuture<'static, Result<()>>> {
        None
    }
}

/// A memory state, a recording `Notify` and a running delivery task.
struct Harness {
    state: Arc<MemoryState>,
    notify: Arc<Recording>,
    options: ServiceOptions,
    deliveries: Arc<Deliveries>,
    events: Events,
}

const ROOM: &str = "room";

impl Harness {
    /// A room owned by `owner` with userlist and access-list updates on.
    async fn new(owner: &str) -> Self {
        let state = Arc::new(MemoryState::new());
        let notify = Arc::new(Recording::default());
        let deliveries = Arc::new(Deliveries::default());
        let feed = state.message_feed().await.unwrap();
        tokio::spawn(delivery::run(
            notify.clone(),
            Arc::downgrade(&deliveries),
            feed,
        ));
        let config = RoomConfig {
            owner: Some(owner.into()),
            enable_userlist_updates: true,
            enable_access_lists_updates: true,
            history_max_size: 10,
            ..RoomConfig::default()
        };
        state.add_room(ROOM, config).await.unwrap();
        Self {
            state,
            notify,
            options: ServiceOptions::default(),
            deliveries,
            events: Events::default(),
        }
    }

    fn cx<'a>(&'a self, user: &'a str, id: &'a str) -> Ctx<'a> {
        self.cx_of(Caller {
            user: Some(user),
            id: Some(id),
            ..Caller::default()
        })
    }

    fn cx_of<'a>(&'a self, caller: Caller<'a>) -> Ctx<'a> {
        Ctx {
            state: &*self.state,
            notify: &*self.notify,
            options: &self.options,
            hooks: &NoHooks,
            deliveries: &self.deliveries,
            events: &self.events,
            caller,
        }
    }

    /// A socket of `user` connected to this instance.
    async fn connect(&self, user: &str, id: &str) {
        self.state.add_socket(user, id, "here").await.unwrap();
        self.notify.connect(id);
    }

    /// A socket of `user` connected to another instance.
    async fn connect_remote(&self, user: &str, id: &str) {
        self.state.add_socket(user, id, "there").await.unwrap();
        self.notify.connect_remote(id);
    }

    /// `roomJoin` as `execUserCommand({userName: user, id})` runs it.
    async fn server_join(&self, user: &str, id: &str) -> Result<Value> {
        let caller = Caller {
            user: Some(user),
            id: Some(id),
            bypass: false,
            is_local_call: true,
        };
        let command = Command::parse("roomJoin", &[json!(ROOM)], &Formats::default())?;
        command.apply(&self.cx_of(caller)).await
    }

    async fn run(&self, user: &str, id: &str, name: &str, args: Value) -> Result<Value> {
        let Value::Array(args) = args else {
            panic!("arguments are an array")
        };
        let command = Command::parse(name, &args, &Formats::default())?;
        command.apply(&self.cx(user, id)).await
    }

    /// A socket of `user` connected and joined to the room, with nothing
    /// recorded yet.
    async fn joined(&self, user: &str, id: &str) {
        self.connect(user, id).await;
        self.run(user, id, "roomJoin", json!([ROOM])).await.unwrap();
        self.notify.take();
    }

    /// `run`, which must succeed, then what it sent (taken out).
    async fn sent_by(&self, user: &str, id: &str, name: &str, args: Value) -> Vec<Sent> {
        self.run(user, id, name, args).await.unwrap();
        self.notify.take()
    }
}

fn sent(to: To, event: &str, args: Value) -> Sent {
    let Value::Array(args) = args else {
        panic!("arguments are an array")
    };
    Sent {
        to,
        event: event.into(),
        args,
    }
}

fn room() -> To {
    To::Room(ROOM.into())
}

fn user(name: &str, except: Option<&str>) -> To {
    To::User {
        name: name.into(),
        except: except.map(Into::into),
    }
}

#[tokio::test]
async fn join_tells_the_room_once_and_echoes_to_the_users_other_sockets() {
    let h = Harness::new("owner").await;
    h.connect("alice", "a1").await;
    h.connect("alice", "a2").await;

    let first = h.sent_by("alice", "a1", "roomJoin", json!([ROOM])).await;
    assert_eq!(
        first,
        [
            sent(room(), "roomUserJoined", json!([ROOM, "alice"])),
            sent(
                user("alice", Some("a1")),
                "roomJoinedEcho",
                json!([ROOM, "a1", 1])
            ),
        ]
    );
    assert_eq!(h.notify.channels("a1"), [ROOM]);

    // The user is present already: no second roomUserJoined.
    let second = h.sent_by("alice", "a2", "roomJoin", json!([ROOM])).await;
    assert_eq!(
        second,
        [sent(
            user("alice", Some("a2")),
            "roomJoinedEcho",
            json!([ROOM, "a2", 2])
        )]
    );

    // Joined already: nothing at all.
    assert_eq!(
        h.sent_by("alice", "a2", "roomJoin", json!([ROOM])).await,
        []
    );
}

#[tokio::test]
async fn a_server_join_of_another_instances_socket_subscribes_it_there_and_tells_everyone() {
    let h = Harness::new("owner").await;
    h.joined("bob", "b1").await;
    h.connect("alice", "a1").await;
    h.connect_remote("alice", "a2").await;

    assert_eq!(h.server_join("alice", "a2").await.unwrap(), json!(1));
    assert_eq!(
        h.notify.take(),
        [
            sent(room(), "roomUserJoined", json!([ROOM, "alice"])),
            // Server calls echo to all the user's sockets (protocol.md 11).
            sent(
                user("alice", None),
                "roomJoinedEcho",
                json!([ROOM, "a2", 1])
            ),
        ]
    );
    assert_eq!(h.notify.channels("a2"), [ROOM]);
    assert!(h.notify.channels("a1").is_empty());
    let sockets = h.state.user_sockets("alice").await.unwrap();
    assert_eq!(sockets["a2"], [ROOM]);

    // Errors as for a local join, and nothing changes.
    h.run(
        "owner",
        "o1",
        "roomAddToList",
        json!([ROOM, "blacklist", ["carol"]]),
    )
    .await
    .unwrap();
    h.connect_remote("carol", "c1").await;
    h.notify.take();
    assert_eq!(
        h.server_join("carol", "c1").await.unwrap_err(),
        ChatServiceError::NotAllowed
    );
    assert!(h.notify.channels("c1").is_empty());
    // A socket no instance holds.
    assert_eq!(
        h.server_join("alice", "gone").await.unwrap_err(),
        ChatServiceError::InvalidSocket("gone".into())
    );
    assert_eq!(h.notify.take(), []);
    assert_eq!(h.state.room_userlist(ROOM).await.unwrap(), ["bob", "alice"]);
    assert!(
        !h.state
            .user_sockets("alice")
            .await
            .unwrap()
            .contains_key("gone")
    );
}

#[tokio::test]
async fn leave_echoes_and_tells_the_room_on_every_socket_leave() {
    let h = Harness::new("owner").await;
    h.joined("alice", "a1").await;
    h.joined("alice", "a2").await;

    let left = h.sent_by("alice", "a1", "roomLeave", json!([ROOM])).await;
    assert_eq!(
        left,
        [
            sent(
                user("alice", Some("a1")),
                "roomLeftEcho",
                json!([ROOM, "a1", 1])
            ),
            sent(room(), "roomUserLeft", json!([ROOM, "alice"])),
        ]
    );
    assert!(h.notify.channels("a1").is_empty());
    assert_eq!(h.notify.channels("a2"), [ROOM]);

    // Not joined: the ack only.
    assert_eq!(
        h.sent_by("alice", "a1", "roomLeave", json!([ROOM])).await,
        []
    );
}

#[tokio::test]
async fn room_message_goes_to_the_room_before_the_ack() {
    let h = Harness::new("owner").await;
    h.joined("alice", "a1").await;

    let ack = h
        .run(
            "alice",
            "a1",
            "roomMessage",
            json!([ROOM, {"textMessage": "hi"}]),
        )
        .await
        .unwrap();
    assert_eq!(ack, json!(1));
    let out = h.notify.take();
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].to, room());
    assert_eq!(out[0].event, "roomMessage");
    assert_eq!(out[0].args[0], json!(ROOM));
    let message = &out[0].args[1];
    assert_eq!(message["textMessage"], "hi");
    assert_eq!(message["author"], "alice");
    assert_eq!(message["id"], 1);
    assert!(message["timestamp"].is_i64());
}

#[tokio::test]
async fn access_removal_unsubscribes_and_tells_the_user_and_the_room() {
    let h = Harness::new("owner").await;
    h.connect("owner", "o1").await;
    h.joined("bob", "b1").await;
    h.joined("bob", "b2").await;

    let out = h
        .sent_by(
            "owner",
            "o1",
            "roomAddToList",
            json!([ROOM, "blacklist", ["bob"]]),
        )
        .await;
    assert_eq!(
        out,
        [
            sent(
                room(),
                "roomAccessListAdded",
                json!([ROOM, "blacklist", ["bob"]])
            ),
            sent(user("bob", None), "roomAccessRemoved", json!([ROOM])),
            sent(room(), "roomUserLeft", json!([ROOM, "bob"])),
        ]
    );
    assert!(h.notify.channels("b1").is_empty());
    assert!(h.notify.channels("b2").is_empty());
    let userlist = h.state.room_userlist(ROOM).await.unwrap();
    assert!(userlist.is_empty(), "{userlist:?}");
}

#[tokio::test]
async fn disconnect_leaves_rooms_and_tells_the_remaining_sockets() {
    let h = Harness::new("owner").await;
    h.joined("alice", "a1").await;
    h.connect("alice", "a2").await;

    // a1 goes: it was alice's only socket in the room.
    presence::cleanup(&h.cx("alice", "a1"), "alice", "a1", Some("transport close")).await;
    assert_eq!(
        h.notify.take(),
        [
            sent(
                user("alice", Some("a1")),
                "roomLeftEcho",
                json!([ROOM, "a1", 0])
            ),
            sent(room(), "roomUserLeft", json!([ROOM, "alice"])),
            sent(
                user("alice", Some("a1")),
                "socketDisconnectEcho",
                json!(["a1", 1])
            ),
        ]
    );
    assert!(h.notify.channels("a1").is_empty());

    // Cleanup runs once per socket, however often it is asked for.
    presence::cleanup(&h.cx("alice", "a1"), "alice", "a1", Some("transport close")).await;
    assert_eq!(h.notify.take(), []);
}

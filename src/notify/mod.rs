//! The one way out of the service: [`Notify`], what commands, presence and
//! message delivery use to reach sockets — notifications (protocol.md 6)
//! and the room channel subscriptions that decide who gets them. The
//! socket.io server implements it ([`socketio::Sockets`], reaching other
//! instances through the Redis adapter and the cluster bus); tests record
//! what goes out with [`recording::Recording`].
//!
//! The notifications several places send are typed methods here, each
//! with its exact event name and argument order.

#[cfg(test)]
pub(crate) mod recording;
pub(crate) mod socketio;

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::error::Result;
use crate::state::FeedMessage;

/// Where a notification goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target<'a> {
    /// A room channel.
    Room(&'a str),
    /// All sockets of a user, but `except`.
    User {
        name: &'a str,
        except: Option<&'a str>,
    },
    /// One socket.
    Socket(&'a str),
    /// Every socket of the namespace.
    All,
}

/// The events the service sends itself (protocol.md 6), then those
/// socket.io clients emit on a socket for their own lifecycle (4.x, then
/// 2.x): the push API (interface.md 4.1) refuses them all, so that a
/// backend can neither forge a service notification nor make a client
/// believe it connected, disconnected or failed.
const RESERVED_EVENTS: &[&str] = &[
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
    "conversations",
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
    "connect_timeout",
    "connecting",
    "error",
    "reconnect",
    "reconnect_attempt",
    "reconnect_error",
    "reconnect_failed",
    "reconnecting",
    "ping",
    "pong",
];

/// Whether an application may send an event of this name to clients: not
/// empty and not reserved (see [`RESERVED_EVENTS`]).
pub(crate) fn is_application_event(event: &str) -> bool {
    !event.is_empty() && !RESERVED_EVENTS.contains(&event)
}

/// Notifications out, and the room channels sockets are subscribed to.
#[async_trait]
pub(crate) trait Notify: Send + Sync {
    /// Sends `event(args...)` to a target, on every instance. Delivery
    /// failures (a socket gone meanwhile) are not the sender's error.
    async fn emit(&self, target: Target<'_>, event: &str, args: &[Value]);

    /// Delivers `roomMessage(room, message)` to this instance's sockets in
    /// the room: each instance delivers the state's message feed itself.
    async fn deliver_room_message(&self, room: &str, message: &FeedMessage);

    /// Whether the socket is connected to this instance.
    fn is_local(&self, id: &str) -> bool;

    /// Whether a logged-in socket of this id is connected to any instance.
    async fn is_logged_in_anywhere(&self, id: &str) -> Result<bool>;

    /// Subscribes a socket of any instance to a room's channel (another
    /// instance's through the cluster bus, by the instance holding it);
    /// `invalidSocket` if no instance confirms it holds the socket.
    async fn join(&self, id: &str, room: &str) -> Result<()>;

    /// Unsubscribes a socket from a room's channel if it is connected here;
    /// returns whether it was.
    fn leave_local(&self, id: &str, room: &str) -> bool;

    /// Unsubscribes a socket of any instance from a room's channel.
    async fn leave(&self, id: &str, room: &str);
}

impl dyn Notify + '_ {
    /// `roomUserJoined(room, user)` to the room.
    pub(crate) async fn room_user_joined(&self, room: &str, user: &str) {
        self.emit(
            Target::Room(room),
            "roomUserJoined",
            &[json!(room), json!(user)],
        )
        .await;
    }

    /// `roomUserLeft(room, user)` to the room.
    pub(crate) async fn room_user_left(&self, room: &str, user: &str) {
        self.emit(
            Target::Room(room),
            "roomUserLeft",
            &[json!(room), json!(user)],
        )
        .await;
    }

    /// `roomJoinedEcho(room, id, njoined)` to the user's sockets but `except`.
    pub(crate) async fn room_joined_echo(
        &self,
        user: &str,
        except: Option<&str>,
        room: &str,
        id: &str,
        njoined: usize,
    ) {
        self.membership_echo("roomJoinedEcho", user, except, room, id, njoined)
            .await;
    }

    /// `roomLeftEcho(room, id, njoined)` to the user's sockets but `except`.
    pub(crate) async fn room_left_echo(
        &self,
        user: &str,
        except: Option<&str>,
        room: &str,
        id: &str,
        njoined: usize,
    ) {
        self.membership_echo("roomLeftEcho", user, except, room, id, njoined)
            .await;
    }

    async fn membership_echo(
        &self,
        event: &str,
        user: &str,
        except: Option<&str>,
        room: &str,
        id: &str,
        njoined: usize,
    ) {
        let target = Target::User { name: user, except };
        self.emit(target, event, &[json!(room), json!(id), json!(njoined)])
            .await;
    }

    /// `conversations([{user, room}...])` (this server's extension): the
    /// stored conversations a user has (`state::conversations`), with the
    /// other user and the room of each; sent at login to a user who has
    /// any, and to both users' sockets when one is made.
    pub(crate) async fn conversations(&self, target: Target<'_>, list: &[(&str, &str)]) {
        let list: Vec<Value> = list
            .iter()
            .map(|(user, room)| json!({"user": user, "room": room}))
            .collect();
        self.emit(target, "conversations", &[Value::Array(list)])
            .await;
    }

    /// A new conversation, to the sockets of both its users.
    pub(crate) async fn conversation_opened(&self, room: &str, a: &str, b: &str) {
        for (user, other) in [(a, b), (b, a)] {
            let target = Target::User {
                name: user,
                except: None,
            };
            self.conversations(target, &[(other, room)]).await;
        }
    }

    /// `roomAccessRemoved(room)` to all the user's sockets.
    pub(crate) async fn room_access_removed(&self, user: &str, room: &str) {
        let target = Target::User {
            name: user,
            except: None,
        };
        self.emit(target, "roomAccessRemoved", &[json!(room)]).await;
    }

    /// `socketConnectEcho(id, nconnected)` to the user's other sockets.
    pub(crate) async fn socket_connect_echo(&self, user: &str, id: &str, nconnected: usize) {
        let target = Target::User {
            name: user,
            except: Some(id),
        };
        self.emit(target, "socketConnectEcho", &[json!(id), json!(nconnected)])
            .await;
    }

    /// `socketDisconnectEcho(id, nconnected)` to the user's remaining sockets.
    pub(crate) async fn socket_disconnect_echo(&self, user: &str, id: &str, nconnected: usize) {
        let target = Target::User {
            name: user,
            except: Some(id),
        };
        self.emit(
            target,
            "socketDisconnectEcho",
            &[json!(id), json!(nconnected)],
        )
        .await;
    }
}

//! The socket.io side of [`Notify`](super::Notify): this instance's
//! socket.io server as the service sees it — the channels it broadcasts to,
//! socket ids, channel subscriptions, and what the server API reaches
//! directly (handshakes, bound handlers, disconnects).
//!
//! Channels: a room's channel is the room name; a user's channel is
//! `echo:<user>` and a socket's `socket:<id>` (room and user names cannot
//! contain `:`, so no room name reaches a socket or user channel), so
//! "everyone but this socket" and "this socket" are ordinary broadcasts
//! that reach every instance.
//!
//! Socket ids are the ids each client generation knows its socket by:
//! socket.io v2 clients compute `/chat-service#<engine.io id>` themselves,
//! v4 clients take the bare id of the server's CONNECT reply.

mod server;
mod socket_data;

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use socketioxide::adapter::Adapter;
use socketioxide::socket::Sid;
use socketioxide::{ProtocolVersion, SocketIo};

use super::{Notify, Target};
use crate::cluster::ClusterBus;
use crate::error::{ChatServiceError, Result};
use crate::state::FeedMessage;
use server::{Broadcast, Payload, Server, SocketServer};
pub use socket_data::Handshake;
pub(crate) use socket_data::{AuthPayload, CustomHandlers, LoggedIn};

/// A logged-in socket of this instance, as the transport knows it.
#[derive(Debug, Clone)]
pub(crate) struct LocalSocket {
    pub id: String,
    pub user: String,
    /// The rooms it is subscribed to.
    pub rooms: Vec<String>,
}

/// Emits notifications and moves sockets between channels.
#[derive(Clone)]
pub(crate) struct Sockets {
    server: Arc<dyn SocketServer>,
    namespace: Arc<str>,
    /// Reaches sockets of other instances (`join`, `leave`).
    bus: ClusterBus,
}

/// The channel of a user's sockets.
pub(crate) fn user_channel(user: &str) -> String {
    format!("echo:{user}")
}

/// The channel of one socket.
pub(crate) fn socket_channel(id: &str) -> String {
    format!("socket:{id}")
}

impl Sockets {
    pub fn new<A: Adapter>(io: SocketIo<A>, namespace: &str, bus: ClusterBus) -> Self {
        Self {
            server: Arc::new(Server::new(io, namespace)),
            namespace: namespace.into(),
            bus,
        }
    }

    /// The service's id of a socket, the one its client knows it by:
    /// namespace-prefixed (`/chat-service#<engine.io id>`) for socket.io v2
    /// clients, as they compute it, the bare id for v4 clients, which take
    /// it from the CONNECT reply.
    pub fn socket_id(&self, sid: Sid, protocol: ProtocolVersion) -> String {
        match protocol {
            ProtocolVersion::V4 => format!("{}#{}", self.namespace, sid),
            ProtocolVersion::V5 => sid.to_string(),
        }
    }

    fn sid(&self, id: &str) -> Option<Sid> {
        id.strip_prefix(&*self.namespace)
            .and_then(|rest| rest.strip_prefix('#'))
            .unwrap_or(id)
            .parse()
            .ok()
    }

    async fn send(&self, target: Target<'_>, event: &str, payload: Payload<'_>) {
        let channel;
        let except;
        let broadcast = match target {
            Target::Room(room) => Broadcast::to(room),
            Target::Socket(id) => {
                channel = socket_channel(id);
                Broadcast::to(&channel)
            }
            Target::User { name, except: id } => {
                channel = user_channel(name);
                except = id.map(socket_channel);
                Broadcast {
                    except: except.as_deref(),
                    ..Broadcast::to(&channel)
                }
            }
            Target::All => Broadcast::all(),
        };
        self.server.emit(broadcast, event, payload).await;
    }

    /// The channel a server-API channel name means: a socket id stands for
    /// its socket's channel (in the original, socket ids are channels).
    fn api_channel<'a>(&self, channel: &'a str) -> std::borrow::Cow<'a, str> {
        match self.sid(channel) {
            Some(_) => socket_channel(channel).into(),
            None => channel.into(),
        }
    }

    /// `emitToChannel`: sends `event(args...)` to every socket of a
    /// channel (a room name, `echo:<user>`, a socket id).
    pub async fn emit_to_channel(&self, channel: &str, event: &str, args: &[Value]) {
        let channel = self.api_channel(channel);
        self.server
            .emit(Broadcast::to(&channel), event, Payload::Args(args))
            .await;
    }

    /// `sendToChannel`: the same, leaving out the socket `except_id`.
    pub async fn send_to_channel(
        &self,
        except_id: &str,
        channel: &str,
        event: &str,
        args: &[Value],
    ) {
        let channel = self.api_channel(channel);
        let except = socket_channel(except_id);
        let broadcast = Broadcast {
            except: Some(&except),
            ..Broadcast::to(&channel)
        };
        self.server
            .emit(broadcast, event, Payload::Args(args))
            .await;
    }

    /// `bindHandler`: answers a custom request event on one socket, with the
    /// same `(error, ...results)` acks as commands. `noSocket` if the socket
    /// is not connected here.
    pub fn bind_handler<F, Fut>(&self, id: &str, event: &str, handler: F) -> Result<()>
    where
        F: Fn(Vec<Value>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<Vec<Value>>> + Send + 'static,
    {
        let handlers = self
            .sid(id)
            .and_then(|sid| self.server.custom_handlers(sid))
            .ok_or_else(|| ChatServiceError::NoSocket(event.to_string()))?;
        handlers.insert(event, handler);
        Ok(())
    }

    /// Subscribes a local socket to several channels at once.
    pub fn join_all(&self, id: &str, channels: Vec<String>) -> Result<()> {
        match self.sid(id) {
            Some(sid) if self.server.join(sid, channels) => Ok(()),
            _ => Err(ChatServiceError::InvalidSocket(id.to_string())),
        }
    }

    /// Disconnects every socket of a user, on every instance.
    pub async fn disconnect_user(&self, user: &str) {
        self.server.disconnect_channel(&user_channel(user)).await;
    }

    /// What is known of a socket's handshake (`getHandshakeData`).
    pub fn handshake(&self, id: &str) -> Handshake {
        self.sid(id)
            .and_then(|sid| self.server.handshake(sid))
            .unwrap_or_default()
    }

    /// Disconnects a local socket (namespace-level disconnect).
    pub fn disconnect(&self, id: &str) {
        if let Some(sid) = self.sid(id) {
            self.server.disconnect(sid);
        }
    }

    /// This instance's logged-in sockets with their rooms (room channels
    /// are the channels whose names have no `:`).
    pub fn local_sockets(&self) -> Vec<LocalSocket> {
        self.server
            .logged_in()
            .into_iter()
            .map(|(socket, channels)| LocalSocket {
                id: socket.id,
                user: socket.user,
                rooms: channels.into_iter().filter(|c| !c.contains(':')).collect(),
            })
            .collect()
    }

    /// Closes every connection of this instance.
    pub async fn close(&self) {
        self.server.close().await;
    }
}

#[async_trait]
impl Notify for Sockets {
    /// Whether the socket is connected to this instance.
    fn is_local(&self, id: &str) -> bool {
        self.sid(id)
            .is_some_and(|sid| self.server.is_connected(sid))
    }

    /// Sends `event(args...)` to a target. Delivery failures (a socket
    /// gone meanwhile) are not the sender's error.
    async fn emit(&self, target: Target<'_>, event: &str, args: &[Value]) {
        self.send(target, event, Payload::Args(args)).await;
    }

    /// Delivers `roomMessage(room, message)` to this instance's sockets in
    /// the room: the hot path of room messages, which serializes the stored
    /// message once, without copying it (stored JSON text goes out as it
    /// is). Each instance delivers the messages of the state's feed itself.
    async fn deliver_room_message(&self, room: &str, message: &FeedMessage) {
        let broadcast = Broadcast {
            local: true,
            ..Broadcast::to(room)
        };
        let payload = match message {
            FeedMessage::Stored(message) => Payload::Message(room, message),
            FeedMessage::Json { text, .. } => Payload::Json(room, text),
        };
        self.server.emit(broadcast, "roomMessage", payload).await;
    }

    /// Subscribes a local socket to a channel; `invalidSocket` otherwise.
    /// Its own channel, joined at login, has a member somewhere.
    async fn is_logged_in_anywhere(&self, id: &str) -> Result<bool> {
        if self.sid(id).is_none() {
            return Ok(false);
        }
        self.server.has_members(&socket_channel(id)).await
    }

    async fn join(&self, id: &str, room: &str) -> Result<()> {
        if self.is_local(id) {
            return self.join_all(id, vec![room.to_string()]);
        }
        match self.bus.room_join_socket(id, room).await? {
            true => Ok(()),
            false => Err(ChatServiceError::InvalidSocket(id.to_string())),
        }
    }

    /// Unsubscribes a socket from a channel if it is connected here;
    /// returns whether it was (other instances: see the cluster bus).
    fn leave_local(&self, id: &str, room: &str) -> bool {
        match self.sid(id) {
            Some(sid) if self.server.is_connected(sid) => {
                self.server.leave(sid, room);
                true
            }
            _ => false,
        }
    }

    async fn leave(&self, id: &str, room: &str) {
        if self.leave_local(id, room) {
            return;
        }
        if let Err(error) = self.bus.room_leave_socket(id, room).await {
            tracing::warn!(%id, %room, %error, "roomLeaveSocket failed");
        }
    }
}

//! The socket.io binding: the channels the service broadcasts to, socket
//! ids, and (in `connection`) what happens when a socket connects, sends a
//! request or goes away.
//!
//! Channels: a room's channel is the room name; a user's channel is
//! `echo:<user>` (names cannot contain `:`); each socket is also alone in a
//! channel named by its id, so "everyone but this socket" and "this
//! socket" are ordinary broadcasts that reach every instance.

pub mod connection;
mod head;
pub mod legacy;
mod notify;
mod server;

use std::sync::Arc;

use serde_json::Value;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::socket::Sid;

use crate::error::{ChatServiceError, Result};
use crate::state::FeedMessage;
use server::{Broadcast, Payload, Server, SocketServer};

/// Where a notification goes.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// A room channel.
    Room(&'a str),
    /// All sockets of a user, but `except`.
    User {
        name: &'a str,
        except: Option<&'a str>,
    },
    /// One socket.
    Socket(&'a str),
}

/// Emits notifications and moves sockets between channels.
#[derive(Clone)]
pub struct Transport {
    server: Arc<dyn SocketServer>,
    namespace: Arc<str>,
}

/// The channel of a user's sockets.
pub fn user_channel(user: &str) -> String {
    format!("echo:{user}")
}

impl Transport {
    pub fn new<A: Adapter>(io: SocketIo<A>, namespace: &str) -> Self {
        Self {
            server: Arc::new(Server::new(io, namespace)),
            namespace: namespace.into(),
        }
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The service's socket id: namespace-prefixed, as socket.io 2 makes
    /// them (`/chat-service#<engine.io id>`).
    pub fn socket_id(&self, sid: Sid) -> String {
        format!("{}#{}", self.namespace, sid)
    }

    fn sid(&self, id: &str) -> Option<Sid> {
        id.strip_prefix(&*self.namespace)?
            .strip_prefix('#')?
            .parse()
            .ok()
    }

    /// Whether the socket is connected to this instance.
    pub fn is_local(&self, id: &str) -> bool {
        self.sid(id)
            .is_some_and(|sid| self.server.is_connected(sid))
    }

    /// Sends `event(args...)` to a target. Delivery failures (a socket
    /// gone meanwhile) are not the sender's error.
    pub async fn emit(&self, target: Target<'_>, event: &str, args: &[Value]) {
        self.send(target, event, Payload::Args(args)).await;
    }

    /// Delivers `roomMessage(room, message)` to this instance's sockets in
    /// the room: the hot path of room messages, which serializes the stored
    /// message once, without copying it (stored JSON text goes out as it
    /// is). Each instance delivers the messages of the state's feed itself.
    pub async fn deliver_room_message(&self, room: &str, message: &FeedMessage) {
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

    async fn send(&self, target: Target<'_>, event: &str, payload: Payload<'_>) {
        let user;
        let broadcast = match target {
            Target::Room(channel) | Target::Socket(channel) => Broadcast::to(channel),
            Target::User { name, except } => {
                user = user_channel(name);
                Broadcast {
                    except,
                    ..Broadcast::to(&user)
                }
            }
        };
        self.server.emit(broadcast, event, payload).await;
    }

    /// `emitToChannel`: sends `event(args...)` to every socket of a
    /// channel (a room name, `echo:<user>`, a socket id).
    pub async fn emit_to_channel(&self, channel: &str, event: &str, args: &[Value]) {
        self.emit(Target::Room(channel), event, args).await;
    }

    /// `sendToChannel`: the same, leaving out the socket `except_id`.
    pub async fn send_to_channel(
        &self,
        except_id: &str,
        channel: &str,
        event: &str,
        args: &[Value],
    ) {
        let broadcast = Broadcast {
            except: Some(except_id),
            ..Broadcast::to(channel)
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

    /// Subscribes a local socket to a channel; `invalidSocket` otherwise.
    pub fn join(&self, id: &str, channel: &str) -> Result<()> {
        self.join_all(id, vec![channel.to_string()])
    }

    /// Subscribes a local socket to several channels at once.
    pub fn join_all(&self, id: &str, channels: Vec<String>) -> Result<()> {
        match self.sid(id) {
            Some(sid) if self.server.join(sid, channels) => Ok(()),
            _ => Err(ChatServiceError::InvalidSocket(id.to_string())),
        }
    }

    /// Unsubscribes a socket from a channel if it is connected here;
    /// returns whether it was (other instances: see the cluster bus).
    pub fn leave_local(&self, id: &str, channel: &str) -> bool {
        match self.sid(id) {
            Some(sid) if self.server.is_connected(sid) => {
                self.server.leave(sid, channel);
                true
            }
            _ => false,
        }
    }

    /// Disconnects every socket of a user, on every instance.
    pub async fn disconnect_user(&self, user: &str) {
        self.server.disconnect_channel(&user_channel(user)).await;
    }

    /// What is known of a socket's handshake (`getHandshakeData`).
    pub fn handshake(&self, id: &str) -> connection::Handshake {
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

    /// Closes every connection of this instance.
    pub async fn close(&self) {
        self.server.close().await;
    }
}

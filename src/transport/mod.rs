//! The socket.io binding: the channels the service broadcasts to, socket
//! ids, and (in `connection`) what happens when a socket connects, sends a
//! request or goes away.
//!
//! Channels: a room's channel is the room name; a user's channel is
//! `echo:<user>` (names cannot contain `:`); each socket is also alone in a
//! channel named by its id, so "everyone but this socket" and "this
//! socket" are ordinary broadcasts that reach every instance.

pub mod connection;
pub mod legacy;
mod notify;

use serde_json::Value;
use socketioxide::SocketIo;
use socketioxide::extract::SocketRef;
use socketioxide::operators::BroadcastOperators;
use socketioxide::socket::Sid;

use crate::error::{ChatServiceError, Result};
use crate::json::{Wire, WireArgs};

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
    io: SocketIo,
    namespace: std::sync::Arc<str>,
}

/// The channel of a user's sockets.
pub fn user_channel(user: &str) -> String {
    format!("echo:{user}")
}

impl Transport {
    pub fn new(io: SocketIo, namespace: &str) -> Self {
        Self {
            io,
            namespace: namespace.into(),
        }
    }

    pub fn io(&self) -> &SocketIo {
        &self.io
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

    /// The socket with this id, if it is connected to this instance.
    pub fn socket(&self, id: &str) -> Option<SocketRef> {
        let sid = self.sid(id)?;
        self.io.of(&*self.namespace)?.get_socket(sid)
    }

    pub fn is_local(&self, id: &str) -> bool {
        self.socket(id).is_some_and(|s| s.connected())
    }

    /// Sends `event(args...)` to a target. Delivery failures (a socket
    /// gone meanwhile) are not the sender's error.
    pub async fn emit(&self, target: Target<'_>, event: &str, args: &[Value]) {
        let Some(ops) = self.operators(target) else {
            return;
        };
        if let Err(error) = ops.emit(event, &WireArgs(args)).await {
            tracing::debug!(%event, %error, "notification not delivered");
        }
    }

    fn operators(&self, target: Target<'_>) -> Option<BroadcastOperators> {
        let ops = self.io.of(&*self.namespace)?;
        Some(match target {
            Target::Room(room) => ops.to(room.to_string()),
            Target::User { name, except } => {
                let ops = ops.to(user_channel(name));
                match except {
                    Some(id) => ops.except(id.to_string()),
                    None => ops,
                }
            }
            Target::Socket(id) => ops.to(id.to_string()),
        })
    }

    /// Sends `event(room, message)`: the hot path of room messages, which
    /// serializes the stored message once, without copying it.
    pub async fn emit_message(&self, target: Target<'_>, event: &str, room: &str, message: &Value) {
        let Some(ops) = self.operators(target) else {
            return;
        };
        if let Err(error) = ops.emit(event, &(room, Wire(message))).await {
            tracing::debug!(%event, %error, "notification not delivered");
        }
    }

    /// Subscribes a local socket to a channel; `invalidSocket` otherwise.
    pub fn join(&self, id: &str, channel: &str) -> Result<()> {
        match self.socket(id) {
            Some(socket) if socket.connected() => {
                socket.join(channel.to_string());
                Ok(())
            }
            _ => Err(ChatServiceError::InvalidSocket(id.to_string())),
        }
    }

    /// Unsubscribes a socket from a channel, if it is connected here.
    pub fn leave(&self, id: &str, channel: &str) {
        if let Some(socket) = self.socket(id) {
            socket.leave(channel.to_string());
        }
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
        let Some(ops) = self.io.of(&*self.namespace) else {
            return;
        };
        let ops = ops.to(channel.to_string()).except(except_id.to_string());
        if let Err(error) = ops.emit(event, &WireArgs(args)).await {
            tracing::debug!(%event, %error, "notification not delivered");
        }
    }

    /// `bindHandler`: answers a custom request event on one socket, with the
    /// same `(error, ...results)` acks as commands. `noSocket` if the socket
    /// is not connected here.
    pub fn bind_handler<F, Fut>(&self, id: &str, event: &str, handler: F) -> Result<()>
    where
        F: Fn(Vec<Value>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<Vec<Value>>> + Send + 'static,
    {
        let socket = self
            .socket(id)
            .ok_or_else(|| ChatServiceError::NoSocket(event.to_string()))?;
        let handlers = match socket.extensions.get::<connection::CustomHandlers>() {
            Some(handlers) => handlers,
            None => {
                let handlers = connection::CustomHandlers::default();
                socket.extensions.insert(handlers.clone());
                handlers
            }
        };
        handlers.insert(event, handler);
        Ok(())
    }

    /// Disconnects every socket of a user, on every instance.
    pub async fn disconnect_user(&self, user: &str) {
        if let Some(ops) = self.io.of(&*self.namespace)
            && let Err(error) = ops.to(user_channel(user)).disconnect().await
        {
            tracing::debug!(%user, %error, "disconnecting a user's sockets failed");
        }
    }

    /// What is known of a socket's handshake (`getHandshakeData`).
    pub fn handshake(&self, id: &str) -> connection::Handshake {
        let Some(socket) = self.socket(id) else {
            return connection::Handshake::default();
        };
        let parts = socket.req_parts().clone();
        let query = parts
            .uri
            .query()
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                    .collect()
            })
            .unwrap_or_default();
        connection::Handshake {
            is_connected: socket.connected(),
            query,
            headers: parts.headers.clone(),
            auth: socket
                .extensions
                .get::<connection::AuthPayload>()
                .map(|a| a.0),
            parts: Some(parts),
        }
    }

    /// Disconnects a local socket (namespace-level disconnect).
    pub fn disconnect(&self, id: &str) {
        if let Some(socket) = self.socket(id)
            && let Err(error) = socket.disconnect()
        {
            tracing::debug!(%id, %error, "disconnect failed");
        }
    }
}

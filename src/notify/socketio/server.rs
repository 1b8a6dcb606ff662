//! The socket.io server behind an object-safe trait, so that one service
//! runs unchanged on socketioxide's in-process adapter and on the Redis
//! adapter (whose `SocketIo<A>` is a different type).

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;
use socketioxide::BroadcastError;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;

use super::socket_data::{AuthPayload, CustomHandlers, Handshake, LoggedIn};
use crate::error::{ChatServiceError, Result};
use crate::json::{Wire, WireArgs};

/// Where a broadcast goes: a channel to include (none: every socket of the
/// namespace), one socket channel to leave out, and whether it stays on
/// this instance.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Broadcast<'a> {
    pub to: Option<&'a str>,
    pub except: Option<&'a str>,
    /// Only this instance's sockets (the others get it on their own).
    pub local: bool,
}

impl<'a> Broadcast<'a> {
    pub fn to(to: &'a str) -> Self {
        Self {
            to: Some(to),
            ..Self::all()
        }
    }

    pub fn all() -> Self {
        Self {
            to: None,
            except: None,
            local: false,
        }
    }
}

/// The arguments of an emitted event.
#[derive(Clone, Copy)]
pub(crate) enum Payload<'a> {
    /// Any arguments.
    Args(&'a [Value]),
    /// `(room, message)`: serialized from the stored message, not a copy.
    Message(&'a str, &'a Value),
    /// `(room, message)` with the message's stored JSON text, written as it is.
    Json(&'a str, &'a RawValue),
}

impl Serialize for Payload<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Payload::Args(args) => WireArgs(args).serialize(serializer),
            Payload::Message(room, message) => (room, Wire(message)).serialize(serializer),
            Payload::Json(room, message) => (room, message).serialize(serializer),
        }
    }
}

/// What the service needs of a socket.io server.
#[async_trait]
pub(crate) trait SocketServer: Send + Sync + 'static {
    /// Emits to every socket of `to` but those of `except`, on every
    /// instance unless `local`.
    async fn emit(&self, broadcast: Broadcast<'_>, event: &str, payload: Payload<'_>);
    /// Whether any socket of any instance is subscribed to `channel`.
    async fn has_members(&self, channel: &str) -> Result<bool>;
    /// Subscribes a local socket to channels; `false` if it is not here.
    fn join(&self, sid: Sid, channels: Vec<String>) -> bool;
    /// Unsubscribes a local socket from a channel.
    fn leave(&self, sid: Sid, channel: &str);
    fn is_connected(&self, sid: Sid) -> bool;
    /// Disconnects a local socket.
    fn disconnect(&self, sid: Sid);
    /// Disconnects every socket of a channel, on every instance.
    async fn disconnect_channel(&self, channel: &str);
    fn handshake(&self, sid: Sid) -> Option<Handshake>;
    /// The custom request handlers of a local socket (created on demand).
    fn custom_handlers(&self, sid: Sid) -> Option<CustomHandlers>;
    /// This instance's logged-in sockets, each with its channels.
    fn logged_in(&self) -> Vec<(LoggedIn, Vec<String>)>;
    /// Closes every connection.
    async fn close(&self);
}

/// A `SocketIo` with any adapter, serving one namespace.
pub(crate) struct Server<A: Adapter> {
    io: SocketIo<A>,
    namespace: Arc<str>,
}

impl<A: Adapter> Server<A> {
    pub fn new(io: SocketIo<A>, namespace: &str) -> Self {
        Self {
            io,
            namespace: namespace.into(),
        }
    }

    fn socket(&self, sid: Sid) -> Option<SocketRef<A>> {
        self.io.of(&*self.namespace)?.get_socket(sid)
    }
}

#[async_trait]
impl<A: Adapter> SocketServer for Server<A> {
    async fn emit(&self, broadcast: Broadcast<'_>, event: &str, payload: Payload<'_>) {
        let Some(ops) = self.io.of(&*self.namespace) else {
            return;
        };
        let to = |local: bool| {
            let mut ops = ops.clone();
            if let Some(to) = broadcast.to {
                ops = ops.to(to.to_string());
            }
            if let Some(except) = broadcast.except {
                ops = ops.except(except.to_string());
            }
            if local { ops.local() } else { ops }
        };
        match to(broadcast.local).emit(event, &payload).await {
            Ok(()) => {}
            Err(error @ BroadcastError::Adapter(_)) => {
                // The other instances did not get it (Redis unreachable),
                // and the adapter sends nothing locally once the remote
                // part failed: this instance's sockets still get it. Not
                // logged above debug: every notification of every request
                // fails while Redis is down (counted, and /health says so).
                crate::metrics::redis_error();
                tracing::debug!(%event, %error, "notification not sent to other instances");
                if let Err(error) = to(true).emit(event, &payload).await {
                    tracing::debug!(%event, %error, "notification not delivered");
                }
            }
            // A socket that went away meanwhile: not the sender's problem.
            Err(error) => tracing::debug!(%event, %error, "notification not delivered"),
        }
    }

    async fn has_members(&self, channel: &str) -> Result<bool> {
        let Some(ops) = self.io.of(&*self.namespace) else {
            return Ok(false);
        };
        let channel = ops.to(channel.to_string());
        // Asking the other instances is a round trip through Redis (and a
        // wait for every instance's answer): not needed for a local socket.
        if !channel.clone().sockets().is_empty() {
            return Ok(true);
        }
        match channel.fetch_sockets().await {
            Ok(sockets) => Ok(!sockets.is_empty()),
            Err(error) => {
                crate::metrics::redis_error();
                Err(ChatServiceError::internal(format!(
                    "cannot ask the other instances: {error}"
                )))
            }
        }
    }

    fn join(&self, sid: Sid, channels: Vec<String>) -> bool {
        match self.socket(sid) {
            Some(socket) if socket.connected() => {
                socket.join(channels);
                true
            }
            _ => false,
        }
    }

    fn leave(&self, sid: Sid, channel: &str) {
        if let Some(socket) = self.socket(sid) {
            socket.leave(channel.to_string());
        }
    }

    fn is_connected(&self, sid: Sid) -> bool {
        self.socket(sid).is_some_and(|s| s.connected())
    }

    fn disconnect(&self, sid: Sid) {
        if let Some(socket) = self.socket(sid)
            && let Err(error) = socket.disconnect()
        {
            tracing::debug!(%sid, %error, "disconnect failed");
        }
    }

    async fn disconnect_channel(&self, channel: &str) {
        if let Some(ops) = self.io.of(&*self.namespace)
            && let Err(error) = ops.to(channel.to_string()).disconnect().await
        {
            tracing::debug!(%channel, %error, "disconnecting a channel failed");
        }
    }

    fn handshake(&self, sid: Sid) -> Option<Handshake> {
        let socket = self.socket(sid)?;
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
        Some(Handshake {
            is_connected: socket.connected(),
            query,
            headers: parts.headers.clone(),
            auth: socket.extensions.get::<AuthPayload>().map(|a| a.0),
            parts: Some(parts),
        })
    }

    fn custom_handlers(&self, sid: Sid) -> Option<CustomHandlers> {
        let socket = self.socket(sid)?;
        Some(match socket.extensions.get::<CustomHandlers>() {
            Some(handlers) => handlers,
            None => {
                let handlers = CustomHandlers::default();
                socket.extensions.insert(handlers.clone());
                handlers
            }
        })
    }

    fn logged_in(&self) -> Vec<(LoggedIn, Vec<String>)> {
        let Some(ops) = self.io.of(&*self.namespace) else {
            return Vec::new();
        };
        ops.sockets()
            .into_iter()
            .filter(|socket| socket.connected())
            .filter_map(|socket| {
                let logged_in = socket.extensions.get::<LoggedIn>()?;
                let channels = socket.rooms().into_iter().map(String::from).collect();
                Some((logged_in, channels))
            })
            .collect()
    }

    async fn close(&self) {
        self.io.close().await;
    }
}

//! The server API calls that reach sockets directly (protocol.md 10, 12):
//! handshake data for `onConnect`, emitting to channels, custom request
//! handlers.

use serde_json::Value;

use super::ChatService;
use crate::error::Result;
pub use crate::notify::socketio::Handshake;

impl ChatService {
    /// `transport.getHandshakeData(id)`: what is known of a socket's
    /// connection (an empty record for a socket not connected here).
    pub fn handshake(&self, id: &str) -> Handshake {
        self.sockets().handshake(id)
    }

    /// `emitToChannel`: sends `event(args...)` to every socket of a
    /// channel (a room name, `echo:<user>`, a socket id).
    pub async fn emit_to_channel(&self, channel: &str, event: &str, args: &[Value]) {
        self.sockets().emit_to_channel(channel, event, args).await;
    }

    /// `sendToChannel`: the same, leaving out the socket `except_id`.
    pub async fn send_to_channel(
        &self,
        except_id: &str,
        channel: &str,
        event: &str,
        args: &[Value],
    ) {
        self.sockets()
            .send_to_channel(except_id, channel, event, args)
            .await;
    }

    /// `bindHandler`: answers a custom request event on one socket, with
    /// the same `(error, ...results)` acks as commands. `noSocket` if the
    /// socket is not connected here.
    pub fn bind_handler<F, Fut>(&self, id: &str, event: &str, handler: F) -> Result<()>
    where
        F: Fn(Vec<Value>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<Vec<Value>>> + Send + 'static,
    {
        self.sockets().bind_handler(id, event, handler)
    }
}

//! The server API calls that reach sockets directly (protocol.md 10, 12):
//! handshake data for `onConnect`, emitting to channels, custom request
//! handlers; and the push and presence calls for backends (interface.md
//! 4.1), which work whatever instance holds the sockets.

use serde_json::{Value, json};

use super::ChatService;
use crate::error::{ChatServiceError, Result};
pub use crate::notify::socketio::Handshake;
use crate::notify::{Target, is_application_event};

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

    /// `isUserOnline`: whether the user has a connected socket on any
    /// instance; `false` for unknown users.
    pub async fn is_user_online(&self, user: &str) -> Result<bool> {
        Ok(self.user_socket_count(user).await? > 0)
    }

    /// `emitToUser`: sends `event(args...)` to every socket of the user;
    /// returns how many that is (`0` when offline). `badArgument` (at 1)
    /// for an event name the service reserves.
    pub async fn emit_to_user(&self, user: &str, event: &str, args: &[Value]) -> Result<usize> {
        check_event(1, event)?;
        let sockets = self.user_socket_count(user).await?;
        if sockets > 0 {
            let target = Target::User {
                name: user,
                except: None,
            };
            self.notify().emit(target, event, args).await;
        }
        Ok(sockets)
    }

    /// `emitToSocket`: sends `event(args...)` to one socket; `true` when it
    /// was connected. `badArgument` (at 1) for a reserved event name.
    pub async fn emit_to_socket(&self, id: &str, event: &str, args: &[Value]) -> Result<bool> {
        check_event(1, event)?;
        let connected = self.notify().is_logged_in_anywhere(id).await?;
        if connected {
            self.notify().emit(Target::Socket(id), event, args).await;
        }
        Ok(connected)
    }

    /// `emitToRoom`: sends `event(args...)` to every socket joined to the
    /// room; `noRoom`, and `badArgument` (at 1) for a reserved event name.
    pub async fn emit_to_room(&self, room: &str, event: &str, args: &[Value]) -> Result<()> {
        check_event(1, event)?;
        if !self.state().has_room(room).await? {
            return Err(ChatServiceError::NoRoom(room.to_string()));
        }
        self.notify().emit(Target::Room(room), event, args).await;
        Ok(())
    }

    /// `emitToAll`: sends `event(args...)` to every connected socket of the
    /// namespace; `badArgument` (at 0) for a reserved event name.
    pub async fn emit_to_all(&self, event: &str, args: &[Value]) -> Result<()> {
        check_event(0, event)?;
        self.notify().emit(Target::All, event, args).await;
        Ok(())
    }

    /// The user's sockets on every instance (the state records them all);
    /// `0` for an unknown user.
    async fn user_socket_count(&self, user: &str) -> Result<usize> {
        match self.state().user_nconnected(user).await {
            Err(ChatServiceError::NoUser(_)) => Ok(0),
            other => other,
        }
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

/// An event name the push calls may send, else `badArgument` at `pos`.
fn check_event(pos: usize, event: &str) -> Result<()> {
    if is_application_event(event) {
        Ok(())
    } else {
        Err(ChatServiceError::BadArgument(pos, json!(event)))
    }
}

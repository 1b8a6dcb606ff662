//! The server notifications of protocol.md 6 that several places send,
//! each with its exact event name and argument order.

use serde_json::json;

use super::{Target, Transport};

impl Transport {
    /// `roomUserJoined(room, user)` to the room.
    pub async fn room_user_joined(&self, room: &str, user: &str) {
        self.emit(
            Target::Room(room),
            "roomUserJoined",
            &[json!(room), json!(user)],
        )
        .await;
    }

    /// `roomUserLeft(room, user)` to the room.
    pub async fn room_user_left(&self, room: &str, user: &str) {
        self.emit(
            Target::Room(room),
            "roomUserLeft",
            &[json!(room), json!(user)],
        )
        .await;
    }

    /// `roomJoinedEcho(room, id, njoined)` to the user's sockets but `except`.
    pub async fn room_joined_echo(
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
    pub async fn room_left_echo(
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

    /// `roomAccessRemoved(room)` to all the user's sockets.
    pub async fn room_access_removed(&self, user: &str, room: &str) {
        let target = Target::User {
            name: user,
            except: None,
        };
        self.emit(target, "roomAccessRemoved", &[json!(room)]).await;
    }

    /// `socketConnectEcho(id, nconnected)` to the user's other sockets.
    pub async fn socket_connect_echo(&self, user: &str, id: &str, nconnected: usize) {
        let target = Target::User {
            name: user,
            except: Some(id),
        };
        self.emit(target, "socketConnectEcho", &[json!(id), json!(nconnected)])
            .await;
    }

    /// `socketDisconnectEcho(id, nconnected)` to the user's remaining sockets.
    pub async fn socket_disconnect_echo(&self, user: &str, id: &str, nconnected: usize) {
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

//! Room lifecycle and membership: `roomCreate`, `roomDelete`, `roomJoin`,
//! `roomLeave`, and the removal of users who lost access (protocol.md 4.5).

use serde_json::{Value, json};

use super::Cmd;
use super::{Ctx, args};
use crate::error::{ChatServiceError, Result};
use crate::events::ServiceEvent;
use crate::metrics;
use crate::options::Formats;
use crate::service::hooks::RoomEvent;
use crate::state::{RoomConfig, conversations, is_valid_name, now_ms};

pub struct RoomCreate {
    pub room: String,
    pub whitelist_only: bool,
}

impl Cmd for RoomCreate {
    const ARITY: usize = 2;
    fn parse(a: &[Value], _: &Formats) -> Result<Self> {
        Ok(Self {
            room: args::string(a, 0)?,
            whitelist_only: args::boolean(a, 1)?,
        })
    }
    async fn apply(self, cx: &Ctx<'_>) -> Result<Value> {
        let options = cx.options;
        if !options.enable_rooms_management && !cx.bypass() {
            return Err(ChatServiceError::NotAllowed);
        }
        if !is_valid_name(&self.room) {
            return Err(ChatServiceError::InvalidName(Value::String(self.room)));
        }
        let max_rooms = options.limits.max_rooms_per_user;
        if let Some(user) = cx.user()
            && max_rooms > 0
            && !cx.bypass()
            && cx.state.rooms_owned(user).await? >= max_rooms
        {
            metrics::limited("max_rooms_per_user");
            return Err(ChatServiceError::NotAllowed);
        }
        let config = RoomConfig {
            owner: cx.user().map(str::to_owned),
            whitelist_only: self.whitelist_only,
            ..RoomConfig::defaults(cx.options)
        };
        cx.state.add_room(&self.room, config).await?;
        metrics::room_created();
        Ok(Value::Null)
    }
}

room_command!(RoomDelete, |cx, room| {
    if !cx.options.enable_rooms_management && !cx.bypass() {
        return Err(ChatServiceError::NotAllowed);
    }
    let removed = cx.state.delete_room(room, cx.actor()).await?;
    metrics::room_deleted();
    for removed in removed {
        // The channel is being emptied: no `roomUserLeft` here.
        after_removal(cx, room, &removed.user, &removed.sockets, false).await;
    }
    Ok(Value::Null)
});

room_command!(RoomJoin, |cx, room| {
    let Some(id) = cx.id() else {
        return Err(ChatServiceError::NoSocket("roomJoin".into()));
    };
    let user = cx.require_user()?;
    let _lock = cx.lock(user, room).await?;
    if !cx.notify.is_local(id) && !cx.notify.is_logged_in_anywhere(id).await? {
        // A socket no instance holds: leave its state alone.
        if !cx.state.room_access(room, user).await? {
            return Err(ChatServiceError::NotAllowed);
        }
        return Err(ChatServiceError::InvalidSocket(id.to_string()));
    }
    let joined = match cx.state.room_join(room, user, id, now_ms()).await {
        // A stored conversation of the user's is made when first joined.
        Err(error @ ChatServiceError::NoRoom(_)) => match conversations::partner(room, user) {
            Some(partner) => {
                open_conversation(cx, user, partner).await?;
                cx.state.room_join(room, user, id, now_ms()).await?
            }
            None => return Err(error),
        },
        joined => joined?,
    };
    // A socket of another instance (an `execUserCommand` for it here, this
    // server's extension of protocol.md 14.5) is subscribed by the instance
    // holding it before anyone is told, so the notifications reach it too.
    if let Err(error) = cx.notify.join(id, room).await {
        rollback_join(cx, room, user, id).await;
        return Err(error);
    }
    if joined.already {
        return Ok(json!(joined.njoined));
    }
    let event = RoomEvent {
        id: id.to_string(),
        room_name: room.to_string(),
        njoined: joined.njoined,
    };
    if let Some(on_join) = cx.hooks.on_join(event)
        && let Err(error) = on_join.await
    {
        rollback_join(cx, room, user, id).await;
        return Err(error);
    }
    if joined.njoined == 1 && joined.userlist_updates {
        cx.notify.room_user_joined(room, user).await;
    }
    cx.notify
        .room_joined_echo(user, cx.join_echo_except(), room, id, joined.njoined)
        .await;
    metrics::socket_joined_room();
    Ok(json!(joined.njoined))
});

/// Makes the conversation of `user` and `partner` if it is not there, and
/// tells both when it is new.
async fn open_conversation(cx: &Ctx<'_>, user: &str, partner: &str) -> Result<()> {
    let config = RoomConfig::defaults(cx.options);
    let opened = conversations::open(cx.state, user, partner, config).await?;
    if opened.created {
        cx.notify
            .conversation_opened(&opened.room, user, partner)
            .await;
    }
    Ok(())
}

/// Undoes a join: state and channel, on whichever instance the socket is.
/// (The original left the socket in the channel, receiving the room's
/// messages while not joined: fixed.)
async fn rollback_join(cx: &Ctx<'_>, room: &str, user: &str, id: &str) {
    cx.notify.leave(id, room).await;
    if let Err(error) = cx.state.room_leave(room, user, id, now_ms()).await {
        cx.events.send(ServiceEvent::StoreConsistencyFailure {
            error,
            user_name: user.to_string(),
            op_type: "userRooms",
            room_name: Some(room.to_string()),
            id: Some(id.to_string()),
        });
    }
}

room_command!(RoomLeave, |cx, room| {
    let Some(id) = cx.id() else {
        return Err(ChatServiceError::NoSocket("roomLeave".into()));
    };
    let user = cx.require_user()?;
    let _lock = cx.lock(user, room).await?;
    let left = cx.state.room_leave(room, user, id, now_ms()).await?;
    cx.notify.leave(id, room).await;
    if left.was_joined {
        metrics::sockets_left_rooms(1);
        cx.notify
            .room_left_echo(user, cx.join_echo_except(), room, id, left.njoined)
            .await;
        // On every socket-level leave, even if the user is still present
        // (protocol.md 15.3).
        if left.userlist_updates {
            cx.notify.room_user_left(room, user).await;
        }
        cx.run_on_leave(id, room, left.njoined).await;
    }
    Ok(json!(left.njoined))
});

/// Removes users who lost access to a room (4.5), each under its lock.
/// Errors per user are reported and swallowed, as the protocol says.
pub(crate) async fn remove_users(cx: &Ctx<'_>, room: &str, users: &[String]) {
    for user in users {
        if let Err(error) = remove_user(cx, room, user).await {
            cx.events.send(ServiceEvent::StoreConsistencyFailure {
                error,
                user_name: user.clone(),
                op_type: "roomUserlist",
                room_name: Some(room.to_string()),
                id: None,
            });
        }
    }
}

async fn remove_user(cx: &Ctx<'_>, room: &str, user: &str) -> Result<()> {
    let _lock = cx.lock(user, room).await?;
    let removed = cx.state.room_remove_user(room, user, now_ms()).await?;
    after_removal(cx, room, user, &removed.sockets, removed.userlist_updates).await;
    Ok(())
}

/// Unsubscribes a removed user's sockets and tells them (4.5 step 2).
async fn after_removal(
    cx: &Ctx<'_>,
    room: &str,
    user: &str,
    sockets: &[String],
    userlist_updates: bool,
) {
    if sockets.is_empty() {
        return;
    }
    metrics::sockets_left_rooms(sockets.len());
    for id in sockets {
        cx.notify.leave(id, room).await;
        cx.run_on_leave(id, room, 0).await;
    }
    cx.notify.room_access_removed(user, room).await;
    if userlist_updates {
        cx.notify.room_user_left(room, user).await;
    }
}

//! Sockets coming and going: the disconnect cleanup of protocol.md 7.3,
//! and the recovery calls that repair presence after failures
//! (`userStateSync`, `roomStateSync`, `instanceRecovery`).

use futures::StreamExt;

use crate::commands::rooms::remove_users;
use crate::commands::{Caller, Ctx};
use crate::dispatch::{self, ServiceHooks};
use crate::error::Result;
use crate::events::ServiceEvent;
use crate::service::ChatService;
use crate::service::hooks::DisconnectInfo;
use crate::state::now_ms;

/// Full disconnect processing of one socket (7.3), while the service
/// tracks it as work in flight.
pub(crate) async fn socket_gone(
    service: &ChatService,
    user: &str,
    id: &str,
    disconnected: Option<&str>,
) {
    let _running = service.track();
    let hooks = ServiceHooks(service);
    let cx = dispatch::context(service, &hooks, Caller::default());
    cleanup(&cx, user, id, disconnected).await;
}

/// Full disconnect processing of one socket (7.3). `onDisconnect` runs
/// only for sockets that really disconnected here (not for recovery):
/// `disconnected` is then why (socket.io's reason, `transport close`…).
pub(crate) async fn cleanup(cx: &Ctx<'_>, user: &str, id: &str, disconnected: Option<&str>) {
    let removed = match cx.state.remove_socket(user, id, now_ms()).await {
        Ok(Some(removed)) => removed,
        // Already cleaned up (recovery and a late disconnect raced).
        Ok(None) => return,
        Err(error) => {
            cx.events.send(ServiceEvent::StoreConsistencyFailure {
                error,
                user_name: user.to_string(),
                op_type: "userSockets",
                room_name: None,
                id: Some(id.to_string()),
            });
            if let Some(reason) = disconnected {
                let info = DisconnectInfo {
                    id: id.to_string(),
                    user_name: user.to_string(),
                    reason: reason.to_string(),
                    ..DisconnectInfo::default()
                };
                run_disconnect_hook(cx, info).await;
            }
            return;
        }
    };
    crate::metrics::socket_removed(removed.nconnected, removed.rooms.len());
    let notify = cx.notify;
    for left in &removed.rooms {
        let (room, njoined) = (&left.room, left.njoined);
        notify.leave_local(id, room);
        cx.run_on_leave(id, room, njoined).await;
        notify
            .room_left_echo(user, Some(id), room, id, njoined)
            .await;
        if njoined == 0 && left.userlist_updates {
            notify.room_user_left(room, user).await;
        }
    }
    notify
        .socket_disconnect_echo(user, id, removed.nconnected)
        .await;
    if let Some(reason) = disconnected {
        let (rooms_removed, joined_sockets) = removed
            .rooms
            .into_iter()
            .map(|left| (left.room, left.njoined))
            .unzip();
        let info = DisconnectInfo {
            id: id.to_string(),
            user_name: user.to_string(),
            reason: reason.to_string(),
            nconnected: Some(removed.nconnected),
            rooms_removed,
            joined_sockets,
        };
        run_disconnect_hook(cx, info).await;
    }
}

async fn run_disconnect_hook(cx: &Ctx<'_>, info: DisconnectInfo) {
    let id = info.id.clone();
    if let Some(on_disconnect) = cx.hooks.on_disconnect(info)
        && let Err(error) = on_disconnect.await
    {
        tracing::debug!(%id, %error, "onDisconnect failed (ignored)");
    }
}

impl ChatService {
    /// `userStateSync`: drops this instance's dead sockets of the user
    /// from the state, then removes the user from rooms their remaining
    /// sockets are joined to but whose userlist lacks them.
    pub async fn user_state_sync(&self, user: &str) -> Result<()> {
        user_state_sync(self, user).await
    }

    /// `roomStateSync`: removes from the room every present user who has
    /// no joined socket or no longer has access.
    pub async fn room_state_sync(&self, room: &str) -> Result<()> {
        room_state_sync(self, room).await
    }

    /// `instanceRecovery`: full disconnect processing (without
    /// `onDisconnect`) of every socket the state records for a dead
    /// instance.
    pub async fn instance_recovery(&self, instance: &str) -> Result<()> {
        instance_sockets_gone(self, instance, None).await
    }
}

async fn user_state_sync(service: &ChatService, user: &str) -> Result<()> {
    let state = service.state();
    state.user_nconnected(user).await?;
    let local = state.instance_sockets(service.instance_id()).await?;
    for socket in local.iter().filter(|s| s.user == user) {
        if !service.notify().is_local(&socket.id) {
            state.remove_socket(user, &socket.id, now_ms()).await?;
        }
    }
    let sockets = state.user_sockets(user).await?;
    let mut rooms = sockets.values();
    let Some(first) = rooms.next() else {
        return Ok(());
    };
    let common: Vec<String> = first
        .iter()
        .filter(|room| sockets.values().all(|r| r.contains(room)))
        .cloned()
        .collect();
    let hooks = ServiceHooks(service);
    let cx = dispatch::context(service, &hooks, Caller::default());
    for room in common {
        // A room deleted meanwhile has no userlist to repair; any other
        // failure is the caller's: read as empty, it would remove the
        // user from a room they are in.
        let userlist = match state.room_userlist(&room).await {
            Err(crate::error::ChatServiceError::NoRoom(_)) => continue,
            userlist => userlist?,
        };
        if !userlist.iter().any(|u| u == user) {
            remove_users(&cx, &room, &[user.to_string()]).await;
        }
    }
    Ok(())
}

async fn room_state_sync(service: &ChatService, room: &str) -> Result<()> {
    let state = service.state();
    let mut stale = state.room_users_without_sockets(room).await?;
    for user in state.room_userlist(room).await? {
        if !stale.contains(&user) && !state.room_access(room, &user).await? {
            stale.push(user);
        }
    }
    let hooks = ServiceHooks(service);
    let cx = dispatch::context(service, &hooks, Caller::default());
    remove_users(&cx, room, &stale).await;
    Ok(())
}

/// How many sockets are cleaned up at once when an instance's sockets
/// go together (graceful close, recovery): each takes a few state round
/// trips, and thousands one after the other would outlast `closeTimeout`.
const CLEANUPS_AT_ONCE: usize = 64;

/// Full disconnect processing of every socket the state records for an
/// instance; `disconnected` (the reason) for this instance's own sockets
/// at a graceful close, which really disconnect.
pub(crate) async fn instance_sockets_gone(
    service: &ChatService,
    instance: &str,
    disconnected: Option<&str>,
) -> Result<()> {
    let sockets = service.state().instance_sockets(instance).await?;
    futures::stream::iter(sockets)
        .for_each_concurrent(CLEANUPS_AT_ONCE, |socket| async move {
            socket_gone(service, &socket.user, &socket.id, disconnected).await;
        })
        .await;
    Ok(())
}

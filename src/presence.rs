//! Sockets coming and going: the disconnect cleanup of protocol.md 7.3,
//! and the recovery calls that repair presence after failures
//! (`userStateSync`, `roomStateSync`, `instanceRecovery`).

use futures::StreamExt;

use crate::commands::now_ms;
use crate::commands::rooms::remove_users;
use crate::error::Result;
use crate::events::ServiceEvent;
use crate::hooks::DisconnectInfo;
use crate::service::ChatService;

/// Full disconnect processing of one socket (7.3). `onDisconnect` runs
/// only for sockets that really disconnected here (not for recovery).
pub async fn socket_gone(service: &ChatService, user: &str, id: &str, run_on_disconnect: bool) {
    let _running = service.track();
    let removed = match service.state().remove_socket(user, id, now_ms()).await {
        Ok(Some(removed)) => removed,
        // Already cleaned up (recovery and a late disconnect raced).
        Ok(None) => return,
        Err(error) => {
            service
                .events()
                .send(ServiceEvent::StoreConsistencyFailure {
                    error,
                    user_name: user.to_string(),
                    op_type: "userSockets",
                    room_name: None,
                    id: Some(id.to_string()),
                });
            if run_on_disconnect {
                run_disconnect_hook(
                    service,
                    DisconnectInfo {
                        id: id.to_string(),
                        ..DisconnectInfo::default()
                    },
                )
                .await;
            }
            return;
        }
    };
    crate::metrics::socket_removed(removed.nconnected, removed.rooms.len());
    let transport = service.transport();
    for (room, njoined, userlist_updates) in &removed.rooms {
        transport.leave_local(id, room);
        service.run_on_leave(id, room, *njoined).await;
        transport
            .room_left_echo(user, Some(id), room, id, *njoined)
            .await;
        if *njoined == 0 && *userlist_updates {
            transport.room_user_left(room, user).await;
        }
    }
    transport
        .socket_disconnect_echo(user, id, removed.nconnected)
        .await;
    if run_on_disconnect {
        let (rooms_removed, joined_sockets) = removed
            .rooms
            .into_iter()
            .map(|(room, n, _)| (room, n))
            .unzip();
        run_disconnect_hook(
            service,
            DisconnectInfo {
                id: id.to_string(),
                nconnected: Some(removed.nconnected),
                rooms_removed,
                joined_sockets,
            },
        )
        .await;
    }
}

async fn run_disconnect_hook(service: &ChatService, info: DisconnectInfo) {
    if let Some(on_disconnect) = &service.hooks().on_disconnect {
        let id = info.id.clone();
        if let Err(error) = on_disconnect(service.clone(), info).await {
            tracing::debug!(%id, %error, "onDisconnect failed (ignored)");
        }
    }
}

/// `userStateSync`: drops this instance's dead sockets of the user from
/// the state, then removes the user from rooms their remaining sockets are
/// joined to but whose userlist lacks them.
pub async fn user_state_sync(service: &ChatService, user: &str) -> Result<()> {
    let state = service.state();
    state.user_nconnected(user).await?;
    let local = state.instance_sockets(service.instance_id()).await?;
    for socket in local.iter().filter(|s| s.user == user) {
        if !service.transport().is_local(&socket.id) {
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
    for room in common {
        let userlist = state.room_userlist(&room).await.unwrap_or_default();
        if !userlist.iter().any(|u| u == user) {
            remove_users(service, &room, &[user.to_string()]).await;
        }
    }
    Ok(())
}

/// `roomStateSync`: removes from the room every present user who has no
/// joined socket or no longer has access.
pub async fn room_state_sync(service: &ChatService, room: &str) -> Result<()> {
    let state = service.state();
    let mut stale = state.room_users_without_sockets(room).await?;
    for user in state.room_userlist(room).await? {
        if !stale.contains(&user) && !state.room_access(room, &user).await? {
            stale.push(user);
        }
    }
    remove_users(service, room, &stale).await;
    Ok(())
}

/// How many sockets are cleaned up at once when an instance's sockets
/// go together (graceful close, recovery): each takes a few state round
/// trips, and thousands one after the other would outlast `closeTimeout`.
const CLEANUPS_AT_ONCE: usize = 64;

/// `instanceRecovery`: full disconnect processing (without
/// `onDisconnect`) of every socket the state records for a dead instance.
pub async fn instance_recovery(service: &ChatService, instance: &str) -> Result<()> {
    instance_sockets_gone(service, instance, false).await
}

/// Full disconnect processing of every socket the state records for an
/// instance; `run_on_disconnect` for this instance's own sockets at a
/// graceful close, which really disconnect.
pub async fn instance_sockets_gone(
    service: &ChatService,
    instance: &str,
    run_on_disconnect: bool,
) -> Result<()> {
    let sockets = service.state().instance_sockets(instance).await?;
    futures::stream::iter(sockets)
        .for_each_concurrent(CLEANUPS_AT_ONCE, |socket| async move {
            socket_gone(service, &socket.user, &socket.id, run_on_disconnect).await;
        })
        .await;
    Ok(())
}

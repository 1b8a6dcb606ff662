//! Heartbeats and what they keep true in a cluster (protocol.md 12.3, 14.5):
//! every `heartbeatRate` this instance writes its heartbeat, recovers the
//! instances whose heartbeat is older than `heartbeatTimeout` (exactly one
//! live instance recovers each: the state hands out the claim), and
//! registers its own sockets again if the state no longer knows it.
//!
//! An instance the state forgot was either recovered by another one while
//! it was cut off from the store, or the store lost its data (a Redis
//! restarted without persistence, `FLUSHALL`, a failover to an empty
//! replica). Either way its sockets are still connected, and the state must
//! know every connected socket: each is registered again (its other
//! sockets get `socketConnectEcho`) and rejoins the rooms it is subscribed
//! to through `roomJoin`; a room it may no longer join (or that is gone)
//! is left, with `roomAccessRemoved` to that socket, as when access is
//! removed.

use std::time::Duration;

use futures::StreamExt;
use serde_json::json;

use crate::dispatch;
use crate::error::Result;
use crate::metrics;
use crate::notify::socketio::LocalSocket;
use crate::notify::{Notify, Target};
use crate::service::ChatService;
use crate::service::hooks::CallContext;
use crate::state::{HeartbeatWrite, now_ms};

/// How long a recovery claim holds if its holder dies mid-way (then
/// another instance recovers what is left).
const RECOVERY_CLAIM_TTL: Duration = Duration::from_secs(60);

/// Sockets registered again at once.
const REGISTRATIONS_AT_ONCE: usize = 64;

/// One heartbeat: write it, register this instance's sockets again if the
/// state forgot it, recover dead instances. `failing` carries whether the
/// last one failed, so that an outage is logged when it starts and ends,
/// not at every beat.
pub(crate) async fn beat(service: &ChatService, failing: &mut bool) {
    if service.is_closed() {
        return;
    }
    let written = service
        .state()
        .set_heartbeat(service.instance_id(), now_ms())
        .await;
    let outcome = match written {
        Ok(HeartbeatWrite::Known) => Ok(()),
        Ok(HeartbeatWrite::Unknown) => {
            register_again(service).await;
            Ok(())
        }
        // Another instance is recovering this one: once it is done, the
        // next heartbeat finds this instance unknown and registers again.
        Ok(HeartbeatWrite::BeingRecovered) => {
            tracing::warn!(
                "another instance is recovering this one (it found the heartbeat stale)"
            );
            Ok(())
        }
        Err(error) => Err(error),
    };
    let outcome = match outcome {
        Ok(()) => recover_dead_instances(service).await,
        Err(error) => Err(error),
    };
    match outcome {
        Err(error) if !*failing => {
            *failing = true;
            tracing::warn!(%error, "heartbeat failed (logged again once it works)");
        }
        Ok(()) if *failing => {
            *failing = false;
            tracing::warn!("heartbeat works again");
        }
        _ => {}
    }
}

/// Recovers every other instance whose heartbeat is stale, unless another
/// live instance claimed it first.
async fn recover_dead_instances(service: &ChatService) -> Result<()> {
    let state = service.state();
    let timeout =
        i64::try_from(service.options().heartbeat_timeout.as_millis()).unwrap_or(i64::MAX);
    let stale_before = now_ms().saturating_sub(timeout);
    for known in state.instances().await? {
        let (instance, last) = (known.id, known.heartbeat);
        if instance == service.instance_id() || last >= stale_before {
            continue;
        }
        let Some(_claim) = state
            .claim_recovery(&instance, stale_before, RECOVERY_CLAIM_TTL)
            .await?
        else {
            continue;
        };
        let sockets = state.instance_sockets(&instance).await?.len();
        tracing::info!(
            %instance,
            last_heartbeat = last,
            sockets,
            "recovering an instance whose heartbeat is stale"
        );
        service.instance_recovery(&instance).await?;
        state.remove_instance(&instance).await?;
        metrics::instance_recovered();
    }
    Ok(())
}

/// Registers every logged-in socket of this instance again (module doc).
pub(crate) async fn register_again(service: &ChatService) {
    let sockets = service.sockets().local_sockets();
    tracing::warn!(
        sockets = sockets.len(),
        "the state no longer knows this instance (recovered by another while cut off, or the store lost its data): registering its sockets again"
    );
    metrics::sockets_reregistered();
    futures::stream::iter(sockets)
        .for_each_concurrent(REGISTRATIONS_AT_ONCE, |socket| {
            register_socket(service, socket)
        })
        .await;
}

async fn register_socket(service: &ChatService, socket: LocalSocket) {
    let LocalSocket { id, user, rooms } = socket;
    let sockets = service.sockets();
    let notify: &dyn Notify = sockets;
    let nconnected = match service
        .state()
        .add_socket(&user, &id, service.instance_id())
        .await
    {
        Ok(nconnected) => nconnected,
        Err(error) => {
            tracing::warn!(%id, %error, "registering a socket again failed; disconnecting it");
            sockets.disconnect(&id);
            return;
        }
    };
    metrics::socket_added(nconnected);
    notify.socket_connect_echo(&user, &id, nconnected).await;
    for room in rooms {
        let context = CallContext {
            user_name: Some(user.clone()),
            id: Some(id.clone()),
            bypass_hooks: true,
            bypass_permissions: false,
            is_local_call: true,
        };
        let joined = dispatch::execute(service, context, "roomJoin", vec![json!(room)]).await;
        if joined.is_err() {
            notify.leave_local(&id, &room);
            notify
                .emit(Target::Socket(&id), "roomAccessRemoved", &[json!(room)])
                .await;
        }
    }
}

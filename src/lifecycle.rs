//! Starting and closing an instance (protocol.md 12.2): `start` runs
//! `onStart`, takes the message feed, binds the namespace, writes the first
//! heartbeat and spawns the background tasks; `close` drains and cleans up
//! so the other instances see every socket go.

use std::sync::Arc;

use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide_core::adapter::DefinedAdapter;

use crate::cluster::{ClusterBus, NamespaceInit};
use crate::delivery;
use crate::error::{ChatServiceError, Result};
use crate::events::ServiceEvent;
use crate::heartbeat;
use crate::notify::Notify;
use crate::notify::socketio::Sockets;
use crate::presence;
use crate::service::{ChatService, ChatServiceBuilder, Parts};
use crate::state::{MemoryState, now_ms};
use crate::transport;

impl ChatServiceBuilder {
    /// Starts the service on a socket.io server: runs `onStart`, binds the
    /// namespace, writes the first heartbeat. Connections are accepted
    /// from then on.
    pub async fn start<A>(self, io: &SocketIo<A>) -> Result<ChatService>
    where
        A: Adapter + DefinedAdapter,
        A::InitRes: NamespaceInit,
    {
        let bus = self
            .bus
            .unwrap_or_else(|| ClusterBus::local(self.options.bus_ack_timeout));
        let service = ChatService::new(Parts {
            sockets: Sockets::new(io.clone(), &self.options.namespace, bus.clone()),
            state: self.state.unwrap_or_else(|| Arc::new(MemoryState::new())),
            options: self.options,
            hooks: self.hooks,
            events: self.events,
            bus,
        });
        if let Some(on_start) = &service.hooks().on_start {
            on_start(service.clone()).await?;
        }
        let feed = service.state().message_feed().await?;
        let notify: Arc<dyn Notify> = Arc::new(service.sockets().clone());
        service.spawn_task(delivery::run(
            notify,
            Arc::downgrade(service.deliveries()),
            feed,
        ));
        // Sockets this instance id left behind when it last stopped
        // without closing (a crash): nobody else recovers them, as the
        // id's heartbeat is fresh again from now on.
        service.instance_recovery(service.instance_id()).await?;
        transport::connection::bind(&service, io).await?;
        service.write_heartbeat().await?;
        service.spawn_heartbeat();
        service.events().send(ServiceEvent::Ready);
        Ok(service)
    }
}

impl ChatService {
    /// Graceful close (protocol.md 12.2): disconnects every local socket,
    /// waits for running commands and cleanups (at most `closeTimeout`),
    /// runs `onClose`, forgets this instance. Later calls return at once.
    pub async fn close(&self) -> Result<()> {
        if !self.mark_closed() {
            return Ok(());
        }
        let deadline = self.options().close_timeout;
        let drained = tokio::time::timeout(deadline, async {
            // Requests arriving from now on are refused (`connection`);
            // the running ones finish first.
            self.wait_idle().await;
            // Every local socket's full disconnect processing, while the
            // transport still reaches the other instances (protocol.md
            // 14.5): closing socket.io first would drop those
            // notifications. The sockets' own disconnect handlers then
            // find nothing left to do.
            let instance = self.instance_id();
            if let Err(error) =
                presence::instance_sockets_gone(self, instance, Some("server shutting down")).await
            {
                tracing::warn!(%error, "disconnect processing at close failed");
            }
            self.sockets().close().await;
            self.wait_idle().await;
        })
        .await;
        // Only now: a `roomMessage` still running waits for its delivery.
        self.stop_tasks();
        // Sockets whose disconnect cleanup has not run by now (a handler
        // not yet started, or timed out) are cleaned up here; the state
        // makes sure no socket is processed twice.
        if let Err(error) = self.instance_recovery(self.instance_id()).await {
            tracing::warn!(%error, "cleaning up this instance's sockets failed");
        }
        let error = drained
            .is_err()
            .then(|| ChatServiceError::internal("Server operation timeout"));
        let closed = match &self.hooks().on_close {
            Some(on_close) => on_close(self.clone(), error).await,
            None => error.map_or(Ok(()), Err),
        };
        if let Err(error) = self.state().remove_instance(self.instance_id()).await {
            tracing::warn!(%error, "could not remove this instance from the state");
        }
        self.events()
            .send(ServiceEvent::Closed(closed.clone().err()));
        closed
    }

    async fn write_heartbeat(&self) -> Result<()> {
        self.state()
            .set_heartbeat(self.instance_id(), now_ms())
            .await
            .map(drop)
    }

    fn spawn_heartbeat(&self) {
        let weak = self.downgrade();
        let rate = self.options().heartbeat_rate;
        self.spawn_task(async move {
            let mut ticker = tokio::time::interval(rate);
            ticker.tick().await;
            let mut failing = false;
            loop {
                ticker.tick().await;
                let Some(service) = weak.upgrade() else { break };
                heartbeat::beat(&service, &mut failing).await;
            }
        });
    }
}

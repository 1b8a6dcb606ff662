//! `ChatService`: a running instance's parts — options, state, sockets,
//! hooks, events, the cluster bus, message deliveries — and the server API
//! calls that only read or change the state (protocol.md 12).
//!
//! The handle sits low in the layering so that every layer above can hand
//! it to the hooks (which receive the service, as in the original). The
//! methods that need a layer above live with that layer: `execUserCommand`
//! and `deleteRoom` in `dispatch`, the recovery calls in `presence`,
//! starting and closing in `lifecycle`.

mod builder;
mod conversations;
pub mod hooks;
mod socket_api;
mod state_api;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use futures::future::BoxFuture;
use tokio::sync::Notify as Wakeup;

use crate::cluster::ClusterBus;
use crate::cluster::bus::BusHandler;
use crate::delivery::Deliveries;
use crate::events::{Events, ServiceEvent};
use crate::notify::Notify;
use crate::notify::socketio::Sockets;
use crate::options::{Formats, MessageFormat, ServiceOptions};
use crate::state::State;
pub use builder::{ChatServiceBuilder, RoomInit, UserInit};
use hooks::Hooks;
pub use socket_api::Handshake;

/// A running chat service; cheap to clone.
#[derive(Clone)]
pub struct ChatService(Arc<Inner>);

struct Inner {
    options: ServiceOptions,
    state: Arc<dyn State>,
    sockets: Sockets,
    hooks: Hooks,
    formats: Formats,
    running: Running,
    closed: AtomicBool,
    /// Background tasks (heartbeat, message delivery), stopped by `close`.
    tasks: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
    events: Events,
    bus: ClusterBus,
    deliveries: Arc<Deliveries>,
}

impl BusHandler for Inner {
    fn leave_local(&self, socket: &str, room: &str) -> BoxFuture<'static, bool> {
        let left = self.sockets.leave_local(socket, room);
        Box::pin(std::future::ready(left))
    }

    fn join_local(&self, socket: &str, room: &str) -> BoxFuture<'static, bool> {
        let joined = self
            .sockets
            .join_all(socket, vec![room.to_string()])
            .is_ok();
        Box::pin(std::future::ready(joined))
    }
}

/// Counts commands and disconnect cleanups in flight, so `close` can wait
/// for them.
#[derive(Default)]
struct Running {
    count: AtomicUsize,
    idle: Wakeup,
}

/// Marks one unit of work in flight for as long as it lives.
pub(crate) struct RunningGuard(ChatService);

impl Drop for RunningGuard {
    fn drop(&mut self) {
        let running = &self.0.0.running;
        if running.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            running.idle.notify_waiters();
            if self.0.is_closed() {
                self.0.events().send(ServiceEvent::CommandsFinished);
            }
        }
    }
}

/// What a new instance is made of (`ChatServiceBuilder::start`).
pub(crate) struct Parts {
    pub options: ServiceOptions,
    pub state: Arc<dyn State>,
    pub sockets: Sockets,
    pub hooks: Hooks,
    pub events: Events,
    pub bus: ClusterBus,
}

impl ChatService {
    pub fn builder(options: ServiceOptions) -> ChatServiceBuilder {
        ChatServiceBuilder::new(options)
    }

    /// A service of these parts, not started; the bus reaches its sockets.
    pub(crate) fn new(parts: Parts) -> Self {
        let schemas = &parts.options.message_schemas;
        let formats = Formats {
            room: MessageFormat {
                custom: parts.hooks.room_messages_checker.is_some(),
                schema: schemas.room.clone(),
            },
            direct: MessageFormat {
                custom: parts.hooks.direct_messages_checker.is_some(),
                schema: schemas.direct.clone(),
            },
            max_message_bytes: parts.options.limits.max_message_bytes,
        };
        let service = ChatService(Arc::new(Inner {
            options: parts.options,
            state: parts.state,
            sockets: parts.sockets,
            hooks: parts.hooks,
            formats,
            running: Running::default(),
            closed: AtomicBool::new(false),
            tasks: std::sync::Mutex::new(Vec::new()),
            events: parts.events,
            bus: parts.bus,
            deliveries: Arc::default(),
        }));
        let handler: Arc<dyn BusHandler> = service.0.clone();
        service.0.bus.set_handler(Arc::downgrade(&handler));
        service
    }

    pub fn options(&self) -> &ServiceOptions {
        &self.0.options
    }

    pub fn state(&self) -> &dyn State {
        &*self.0.state
    }

    /// What this instance has delivered of the message feed.
    pub(crate) fn deliveries(&self) -> &Arc<Deliveries> {
        &self.0.deliveries
    }

    /// This instance's socket.io server.
    pub(crate) fn sockets(&self) -> &Sockets {
        &self.0.sockets
    }

    /// The way out, as commands and presence see it.
    pub(crate) fn notify(&self) -> &dyn Notify {
        &self.0.sockets
    }

    pub fn hooks(&self) -> &Hooks {
        &self.0.hooks
    }

    /// Where instance events go; `subscribe()` to receive them.
    pub fn events(&self) -> &Events {
        &self.0.events
    }

    /// The cluster bus (`clusterBus`): application events to every instance.
    pub fn bus(&self) -> &ClusterBus {
        &self.0.bus
    }

    pub(crate) fn formats(&self) -> &Formats {
        &self.0.formats
    }

    /// This instance's id in the cluster.
    pub fn instance_id(&self) -> &str {
        &self.0.options.instance_id
    }

    pub fn is_closed(&self) -> bool {
        self.0.closed.load(Ordering::Acquire)
    }

    /// Marks the service closed; `false` if it already was.
    pub(crate) fn mark_closed(&self) -> bool {
        !self.0.closed.swap(true, Ordering::AcqRel)
    }

    pub(crate) fn track(&self) -> RunningGuard {
        self.0.running.count.fetch_add(1, Ordering::AcqRel);
        RunningGuard(self.clone())
    }

    /// Waits until no command or cleanup is in flight.
    pub(crate) async fn wait_idle(&self) {
        let running = &self.0.running;
        loop {
            let idle = running.idle.notified();
            if running.count.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }

    /// Runs a background task until `stop_tasks`.
    pub(crate) fn spawn_task(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let task = tokio::spawn(task);
        if let Ok(mut tasks) = self.0.tasks.lock() {
            tasks.push(task);
        }
    }

    pub(crate) fn stop_tasks(&self) {
        if let Ok(mut tasks) = self.0.tasks.lock() {
            tasks.drain(..).for_each(|task| task.abort());
        }
    }

    /// A handle that does not keep the service alive (background tasks).
    pub(crate) fn downgrade(&self) -> WeakChatService {
        WeakChatService(Arc::downgrade(&self.0))
    }
}

/// See [`ChatService::downgrade`].
pub(crate) struct WeakChatService(std::sync::Weak<Inner>);

impl WeakChatService {
    pub fn upgrade(&self) -> Option<ChatService> {
        self.0.upgrade().map(ChatService)
    }
}

impl std::fmt::Debug for ChatService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatService")
            .field("instance_id", &self.instance_id())
            .finish_non_exhaustive()
    }
}

//! The chat service instance: its options, state, transport and hooks, how
//! it starts and closes, and the server-side API of protocol.md 11-12
//! (`execUserCommand`, `addRoom`, `deleteUser`, the recovery calls …).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde::Deserialize;
use serde_json::Value;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide_core::adapter::DefinedAdapter;
use tokio::sync::Notify;

use crate::cluster::ClusterBus;
use crate::cluster::bus::BusHandler;
use crate::commands::{self, Formats, is_valid_name, now_ms};
use crate::delivery::{self, Deliveries};
use crate::dispatch::{self, CallContext};
use crate::error::{ChatServiceError, Result};
use crate::events::{Events, ServiceEvent, TimedLock};
use crate::hooks::{BoxFuture, Hooks};
use crate::options::ServiceOptions;
use crate::presence;
use crate::state::{DirectList, MemoryState, RoomConfig, State, UserConfig};
use crate::transport::connection::NamespaceInit;
use crate::transport::{self, Transport};

/// A running chat service; cheap to clone.
#[derive(Clone)]
pub struct ChatService(Arc<Inner>);

struct Inner {
    options: ServiceOptions,
    state: Arc<dyn State>,
    transport: Transport,
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
    fn leave_local(&self, socket: &str, room: &str) -> BoxFuture<bool> {
        let left = self.transport.leave_local(socket, room);
        Box::pin(std::future::ready(left))
    }
}

/// Counts commands and disconnect cleanups in flight, so `close` can wait
/// for them.
#[derive(Default)]
struct Running {
    count: AtomicUsize,
    idle: Notify,
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

/// Optional room settings of `addRoom` (protocol.md 12); missing ones take
/// the service defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RoomInit {
    pub owner: Option<String>,
    pub whitelist_only: Option<bool>,
    pub whitelist: Option<Vec<String>>,
    pub blacklist: Option<Vec<String>>,
    pub adminlist: Option<Vec<String>>,
    pub history_max_size: Option<usize>,
    pub enable_access_lists_updates: Option<bool>,
    pub enable_userlist_updates: Option<bool>,
}

/// Optional user settings of `addUser`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UserInit {
    pub whitelist: Vec<String>,
    pub blacklist: Vec<String>,
    pub whitelist_only: bool,
}

/// Builds a service: options, state and hooks, then `start`.
pub struct ChatServiceBuilder {
    options: ServiceOptions,
    state: Option<Arc<dyn State>>,
    hooks: Hooks,
    events: Events,
    bus: Option<ClusterBus>,
}

impl ChatServiceBuilder {
    pub fn new(options: ServiceOptions) -> Self {
        Self {
            options,
            state: None,
            hooks: Hooks::default(),
            events: Events::default(),
            bus: None,
        }
    }

    /// Uses this cluster bus instead of an in-process one.
    pub fn bus(mut self, bus: ClusterBus) -> Self {
        self.bus = Some(bus);
        self
    }

    /// Instance events from the start on (`Ready` included).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<ServiceEvent> {
        self.events.subscribe()
    }

    /// Uses this state instead of a fresh `MemoryState`.
    pub fn state(mut self, state: Arc<dyn State>) -> Self {
        self.state = Some(state);
        self
    }

    /// Sets hooks: `builder.hooks(|h| h.on_connect(...))`.
    pub fn hooks(mut self, configure: impl FnOnce(&mut Hooks)) -> Self {
        configure(&mut self.hooks);
        self
    }

    /// Starts the service on a socket.io server: runs `onStart`, binds the
    /// namespace, writes the first heartbeat. Connections are accepted
    /// from then on.
    pub async fn start<A>(self, io: &SocketIo<A>) -> Result<ChatService>
    where
        A: Adapter + DefinedAdapter,
        A::InitRes: NamespaceInit,
    {
        let formats = Formats {
            room_custom: self.hooks.room_messages_checker.is_some(),
            direct_custom: self.hooks.direct_messages_checker.is_some(),
            max_message_bytes: self.options.limits.max_message_bytes,
        };
        let bus = self
            .bus
            .unwrap_or_else(|| ClusterBus::local(self.options.bus_ack_timeout));
        let service = ChatService(Arc::new(Inner {
            transport: Transport::new(io.clone(), &self.options.namespace),
            state: self.state.unwrap_or_else(|| Arc::new(MemoryState::new())),
            options: self.options,
            hooks: self.hooks,
            formats,
            running: Running::default(),
            closed: AtomicBool::new(false),
            tasks: std::sync::Mutex::new(Vec::new()),
            events: self.events,
            bus,
            deliveries: Arc::default(),
        }));
        let handler: Arc<dyn BusHandler> = service.0.clone();
        service.0.bus.set_handler(Arc::downgrade(&handler));
        if let Some(on_start) = &service.hooks().on_start {
            on_start(service.clone()).await?;
        }
        let feed = service.state().message_feed().await?;
        service.spawn_task(delivery::run(
            service.transport().clone(),
            Arc::downgrade(&service.0.deliveries),
            feed,
        ));
        // Sockets this instance id left behind when it last stopped
        // without closing (a crash): nobody else recovers them, as the
        // id's heartbeat is fresh again from now on.
        presence::instance_recovery(&service, service.instance_id()).await?;
        transport::connection::bind(&service, io).await?;
        service.write_heartbeat().await?;
        service.spawn_heartbeat();
        service.events().send(ServiceEvent::Ready);
        Ok(service)
    }
}

impl ChatService {
    pub fn builder(options: ServiceOptions) -> ChatServiceBuilder {
        ChatServiceBuilder::new(options)
    }

    pub fn options(&self) -> &ServiceOptions {
        &self.0.options
    }

    pub fn state(&self) -> &dyn State {
        &*self.0.state
    }

    /// What this instance has delivered of the message feed.
    pub fn deliveries(&self) -> &Deliveries {
        &self.0.deliveries
    }

    pub fn transport(&self) -> &Transport {
        &self.0.transport
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

    /// Unsubscribes a socket of any instance from a room's channel: here
    /// directly, elsewhere through the cluster bus (`roomLeaveSocket`).
    pub(crate) async fn leave_channel(&self, id: &str, room: &str) {
        if self.transport().leave_local(id, room) {
            return;
        }
        if let Err(error) = self.bus().room_leave_socket(id, room).await {
            tracing::warn!(%id, %room, %error, "roomLeaveSocket failed");
        }
    }

    /// Takes the (user, room) lock of protocol.md 14.4.
    pub(crate) async fn lock(&self, user: &str, room: &str) -> Result<TimedLock> {
        let ttl = self.options().lock_ttl;
        let guard = self.state().lock(user, room, ttl).await?;
        Ok(TimedLock::new(
            guard,
            ttl,
            user,
            room,
            self.events().clone(),
        ))
    }

    pub(crate) fn formats(&self) -> Formats {
        self.0.formats
    }

    /// This instance's id in the cluster.
    pub fn instance_id(&self) -> &str {
        &self.0.options.instance_id
    }

    pub fn is_closed(&self) -> bool {
        self.0.closed.load(Ordering::Acquire)
    }

    pub(crate) fn track(&self) -> RunningGuard {
        self.0.running.count.fetch_add(1, Ordering::AcqRel);
        RunningGuard(self.clone())
    }

    /// The settings of a room created without explicit ones.
    pub(crate) fn default_room_config(&self) -> RoomConfig {
        let options = self.options();
        RoomConfig {
            history_max_size: options.history_max_size,
            enable_access_lists_updates: options.enable_access_lists_updates,
            enable_userlist_updates: options.enable_userlist_updates,
            ..RoomConfig::default()
        }
    }

    /// Runs `onLeave`; its errors are ignored by the protocol.
    pub(crate) async fn run_on_leave(&self, id: &str, room: &str, njoined: usize) {
        if let Some(on_leave) = &self.hooks().on_leave {
            let event = crate::hooks::RoomEvent {
                id: id.to_string(),
                room_name: room.to_string(),
                njoined,
            };
            if let Err(error) = on_leave(self.clone(), event).await {
                tracing::debug!(%id, %room, %error, "onLeave failed (ignored)");
            }
        }
    }

    async fn write_heartbeat(&self) -> Result<()> {
        self.state()
            .set_heartbeat(self.instance_id(), now_ms())
            .await
            .map(drop)
    }

    fn spawn_task(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let task = tokio::spawn(task);
        if let Ok(mut tasks) = self.0.tasks.lock() {
            tasks.push(task);
        }
    }

    fn spawn_heartbeat(&self) {
        let weak = Arc::downgrade(&self.0);
        let rate = self.options().heartbeat_rate;
        self.spawn_task(async move {
            let mut ticker = tokio::time::interval(rate);
            ticker.tick().await;
            let mut failing = false;
            loop {
                ticker.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                let service = ChatService(inner);
                crate::heartbeat::beat(&service, &mut failing).await;
            }
        });
    }

    // ---- server-side API (protocol.md 12) ----

    /// `execUserCommand(context, command, ...args)`: runs a command as a
    /// user (or anonymously), through the same pipeline as client requests.
    pub async fn exec_user_command(
        &self,
        mut context: CallContext,
        command: &str,
        args: Vec<Value>,
    ) -> Result<Vec<Value>> {
        context.is_local_call = true;
        if context.user_name.as_deref() == Some("") {
            // As in the original, an empty name is an anonymous call.
            context.user_name = None;
        }
        if let Some(user) = &context.user_name
            && !self.state().has_user(user).await?
        {
            return Err(ChatServiceError::NoUser(user.clone()));
        }
        if commands::arity(command).is_none() {
            return Err(ChatServiceError::NoCommand(command.to_string()));
        }
        // As the original's `User.exec`: before validation and hooks.
        if context.id.is_none() && matches!(command, "roomJoin" | "roomLeave") {
            return Err(ChatServiceError::NoSocket(command.to_string()));
        }
        let _running = self.track();
        dispatch::execute(self, context, command, args).await
    }

    /// `checkArguments(command, ...args)`: validation only.
    pub async fn check_arguments(&self, command: &str, args: Vec<Value>) -> Result<()> {
        dispatch::check_arguments(self, command, args).await
    }

    pub async fn add_user(&self, name: &str, init: UserInit) -> Result<()> {
        if !is_valid_name(name) {
            return Err(ChatServiceError::InvalidName(Value::String(
                name.to_string(),
            )));
        }
        let config = UserConfig {
            whitelist: init.whitelist,
            blacklist: init.blacklist,
            whitelist_only: init.whitelist_only,
        };
        self.state().add_user(name, config).await
    }

    pub async fn delete_user(&self, name: &str) -> Result<()> {
        self.state().delete_user(name).await
    }

    pub async fn has_user(&self, name: &str) -> Result<bool> {
        self.state().has_user(name).await
    }

    pub async fn user_has_in_list(&self, user: &str, list: &str, item: &str) -> Result<bool> {
        if !self.state().has_user(user).await? {
            return Err(ChatServiceError::NoUser(user.to_string()));
        }
        let list = DirectList::parse(list)?;
        self.state().direct_has_in_list(user, list, item).await
    }

    /// `false` for the same user or an unknown recipient.
    pub async fn has_direct_access(&self, recipient: &str, sender: &str) -> Result<bool> {
        if recipient == sender {
            return Ok(false);
        }
        match self.state().direct_access(recipient, sender).await {
            Err(ChatServiceError::NoUser(_)) => Ok(false),
            other => other,
        }
    }

    /// Disconnects every socket of the user, on every instance.
    pub async fn disconnect_user_sockets(&self, user: &str) -> Result<()> {
        self.transport().disconnect_user(user).await;
        Ok(())
    }

    pub async fn add_room(&self, name: &str, init: RoomInit) -> Result<()> {
        if !is_valid_name(name) {
            return Err(ChatServiceError::InvalidName(Value::String(
                name.to_string(),
            )));
        }
        let defaults = self.default_room_config();
        let config = RoomConfig {
            owner: init.owner,
            whitelist_only: init.whitelist_only.unwrap_or(false),
            whitelist: init.whitelist.unwrap_or_default(),
            blacklist: init.blacklist.unwrap_or_default(),
            adminlist: init.adminlist.unwrap_or_default(),
            history_max_size: init.history_max_size.unwrap_or(defaults.history_max_size),
            enable_access_lists_updates: init
                .enable_access_lists_updates
                .unwrap_or(defaults.enable_access_lists_updates),
            enable_userlist_updates: init
                .enable_userlist_updates
                .unwrap_or(defaults.enable_userlist_updates),
        };
        self.state().add_room(name, config).await?;
        crate::metrics::room_created();
        Ok(())
    }

    /// Runs `roomDelete` as an anonymous bypass call (its hooks run).
    pub async fn delete_room(&self, name: &str) -> Result<()> {
        let context = CallContext {
            bypass_permissions: true,
            ..CallContext::default()
        };
        self.exec_user_command(context, "roomDelete", vec![Value::String(name.to_string())])
            .await
            .map(|_| ())
    }

    pub async fn has_room(&self, name: &str) -> Result<bool> {
        self.state().has_room(name).await
    }

    pub async fn room_has_in_list(&self, room: &str, list: &str, item: &str) -> Result<bool> {
        self.state().room_has_in_list(room, list, item).await
    }

    /// `false` if the room does not exist.
    pub async fn has_room_access(&self, room: &str, user: &str) -> Result<bool> {
        match self.state().room_access(room, user).await {
            Err(ChatServiceError::NoRoom(_)) => Ok(false),
            other => other,
        }
    }

    pub async fn change_room_owner(&self, room: &str, owner: &str) -> Result<()> {
        self.state().room_set_owner(room, owner).await
    }

    /// A size that is not a non-negative number keeps the capacity (and
    /// still trims), as the original's memory state does.
    pub async fn change_room_history_max_size(&self, room: &str, size: &Value) -> Result<()> {
        let size = size
            .as_f64()
            .filter(|n| n.is_finite() && *n >= 0.0)
            .map(|n| n.trunc() as usize);
        self.state().room_set_history_max_size(room, size).await
    }

    pub async fn change_access_lists_updates(&self, room: &str, on: bool) -> Result<()> {
        self.state().room_set_access_lists_updates(room, on).await
    }

    pub async fn change_userlist_updates(&self, room: &str, on: bool) -> Result<()> {
        self.state().room_set_userlist_updates(room, on).await
    }

    /// The last heartbeat of an instance (this one by default).
    pub async fn get_instance_heartbeat(&self, instance: Option<&str>) -> Result<Option<i64>> {
        self.state()
            .heartbeat(instance.unwrap_or(self.instance_id()))
            .await
    }

    pub async fn user_state_sync(&self, user: &str) -> Result<()> {
        presence::user_state_sync(self, user).await
    }

    pub async fn room_state_sync(&self, room: &str) -> Result<()> {
        presence::room_state_sync(self, room).await
    }

    pub async fn instance_recovery(&self, instance: &str) -> Result<()> {
        presence::instance_recovery(self, instance).await
    }

    /// Graceful close (protocol.md 12.2): disconnects every local socket,
    /// waits for running commands and cleanups (at most `closeTimeout`),
    /// runs `onClose`, forgets this instance. Later calls return at once.
    pub async fn close(&self) -> Result<()> {
        if self.0.closed.swap(true, Ordering::AcqRel) {
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
            if let Err(error) = presence::instance_sockets_gone(self, instance, true).await {
                tracing::warn!(%error, "disconnect processing at close failed");
            }
            self.transport().close().await;
            self.wait_idle().await;
        })
        .await;
        // Only now: a `roomMessage` still running waits for its delivery.
        if let Ok(mut tasks) = self.0.tasks.lock() {
            tasks.drain(..).for_each(|task| task.abort());
        }
        // Sockets whose disconnect cleanup has not run by now (a handler
        // not yet started, or timed out) are cleaned up here; the state
        // makes sure no socket is processed twice.
        if let Err(error) = presence::instance_recovery(self, self.instance_id()).await {
            tracing::warn!(%error, "cleaning up this instance's sockets failed");
        }
        let error = drained
            .is_err()
            .then(|| ChatServiceError::internal("Error: Server operation timeout"));
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

    async fn wait_idle(&self) {
        let running = &self.0.running;
        loop {
            let idle = running.idle.notified();
            if running.count.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }
}

impl std::fmt::Debug for ChatService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatService")
            .field("instance_id", &self.instance_id())
            .finish_non_exhaustive()
    }
}

//! The cluster bus (protocol.md 14.3): messages every instance receives,
//! the sender included. The service uses it to make a socket of another
//! instance leave a room (`roomLeaveSocket`, answered by `socketRoomLeft`
//! from the instance holding the socket) and, this server's extension
//! (protocol.md 14.5), join one (`roomJoinSocket`, answered by
//! `socketRoomJoined`); applications may send their own events with `emit`
//! and listen with `on`.
//!
//! With one instance the bus is in-process; with Redis it is a pub/sub
//! channel named after the service's key prefix.

use std::sync::{Arc, Weak};
use std::time::Duration;

use dashmap::DashMap;
use fred::clients::{Client, SubscriberClient};
use fred::prelude::{ClientLike, EventInterface, PubsubInterface};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::error::Result;
use crate::redis::{RedisSettings, ensure_connected, next_message, redis_error};

type Listener = Arc<dyn Fn(Vec<Value>) -> BoxFuture<'static, ()> + Send + Sync>;

/// A bus message on the wire.
#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    ev: String,
    args: Vec<Value>,
}

/// What the bus does with the built-in messages; the service implements
/// it (kept as a trait so the bus does not reach up into the service).
pub(crate) trait BusHandler: Send + Sync + 'static {
    /// Unsubscribes `socket` from `room` if it is connected here; returns
    /// whether it was.
    fn leave_local(&self, socket: &str, room: &str) -> BoxFuture<'static, bool>;
    /// Subscribes `socket` to `room` if it is connected here; returns
    /// whether it was.
    fn join_local(&self, socket: &str, room: &str) -> BoxFuture<'static, bool>;
}

/// A request to the instance holding a socket, and that instance's answer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum SocketRequest {
    Leave,
    Join,
}

impl SocketRequest {
    fn of(event: &str) -> Option<Self> {
        match event {
            "roomLeaveSocket" => Some(Self::Leave),
            "roomJoinSocket" => Some(Self::Join),
            _ => None,
        }
    }

    fn of_answer(event: &str) -> Option<Self> {
        match event {
            "socketRoomLeft" => Some(Self::Leave),
            "socketRoomJoined" => Some(Self::Join),
            _ => None,
        }
    }

    fn event(self) -> &'static str {
        match self {
            Self::Leave => "roomLeaveSocket",
            Self::Join => "roomJoinSocket",
        }
    }

    fn answer(self) -> &'static str {
        match self {
            Self::Leave => "socketRoomLeft",
            Self::Join => "socketRoomJoined",
        }
    }
}

enum Medium {
    Local,
    Redis {
        publisher: Client,
        /// Kept for `connected`; the reading task owns another handle.
        subscriber: SubscriberClient,
        channel: String,
    },
}

struct Inner {
    medium: Medium,
    listeners: DashMap<String, Vec<Listener>>,
    /// (request, socket, room) -> whoever waits for its answer.
    waiting: DashMap<(SocketRequest, String, String), Vec<oneshot::Sender<()>>>,
    ack_timeout: Duration,
    handler: std::sync::OnceLock<Weak<dyn BusHandler>>,
    timeouts: std::sync::atomic::AtomicU64,
}

/// See the module documentation.
#[derive(Clone)]
pub struct ClusterBus(Arc<Inner>);

impl ClusterBus {
    /// The bus of a single instance.
    pub fn local(ack_timeout: Duration) -> Self {
        Self::with_medium(Medium::Local, ack_timeout)
    }

    /// A bus over Redis pub/sub on the channel `<prefix>:bus`.
    pub async fn redis(
        settings: &RedisSettings,
        prefix: &str,
        ack_timeout: Duration,
    ) -> Result<Self> {
        let publisher = settings
            .builder()?
            .build()
            .map_err(|e| redis_error("Redis client", e))?;
        settings.connect(&publisher).await?;
        let channel = format!("{prefix}:bus");
        let subscriber = settings.subscriber(&channel, "the cluster bus").await?;
        let bus = Self::with_medium(
            Medium::Redis {
                publisher,
                subscriber: subscriber.clone(),
                channel: channel.clone(),
            },
            ack_timeout,
        );
        let weak = Arc::downgrade(&bus.0);
        let mut messages = subscriber.message_rx();
        tokio::spawn(async move {
            // Keep the subscriber alive as long as the loop runs.
            let _subscriber = subscriber;
            while let Some(message) = next_message(&mut messages, "cluster bus").await {
                if *message.channel != *channel {
                    continue;
                }
                let Some(inner) = weak.upgrade() else { break };
                let Some(text) = message.value.as_str() else {
                    continue;
                };
                match serde_json::from_str::<Envelope>(&text) {
                    Ok(envelope) => ClusterBus(inner).receive(envelope),
                    Err(error) => tracing::warn!(%error, "malformed cluster bus message"),
                }
            }
        });
        Ok(bus)
    }

    fn with_medium(medium: Medium, ack_timeout: Duration) -> Self {
        Self(Arc::new(Inner {
            medium,
            listeners: DashMap::new(),
            waiting: DashMap::new(),
            ack_timeout,
            handler: std::sync::OnceLock::new(),
            timeouts: std::sync::atomic::AtomicU64::new(0),
        }))
    }

    /// Connects the built-in messages to the service (once, at start).
    pub(crate) fn set_handler(&self, handler: Weak<dyn BusHandler>) {
        let _ = self.0.handler.set(handler);
    }

    /// Whether the bus's Redis connections are up (always true in-process).
    /// After Redis comes back each connection reconnects on its own
    /// schedule; until both are up, other instances' messages are lost.
    pub fn connected(&self) -> bool {
        match &self.0.medium {
            Medium::Local => true,
            Medium::Redis {
                publisher,
                subscriber,
                ..
            } => publisher.is_connected() && subscriber.is_connected(),
        }
    }

    /// How many `roomLeaveSocket` and `roomJoinSocket` waits ended without
    /// an answer.
    pub fn ack_timeouts(&self) -> u64 {
        self.0.timeouts.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sends `event(args...)` to every instance, this one included.
    pub async fn emit(&self, event: &str, args: Vec<Value>) -> Result<()> {
        let envelope = Envelope {
            ev: event.to_string(),
            args,
        };
        match &self.0.medium {
            Medium::Local => {
                self.receive(envelope);
                Ok(())
            }
            Medium::Redis {
                publisher, channel, ..
            } => {
                ensure_connected(publisher)?;
                let payload = serde_json::to_string(&envelope)?;
                publisher
                    .publish::<(), _, _>(channel.as_str(), payload)
                    .await
                    .map_err(|e| redis_error("cluster bus", e))
            }
        }
    }

    /// Listens to an application event of the bus.
    pub fn on<F, Fut>(&self, event: &str, listener: F)
    where
        F: Fn(Vec<Value>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let listener: Listener = Arc::new(move |args| Box::pin(listener(args)));
        self.0
            .listeners
            .entry(event.to_string())
            .or_default()
            .push(listener);
    }

    /// Makes a socket of any instance leave a room's channel, waiting at
    /// most the bus ack timeout for the instance holding it to confirm.
    pub async fn room_leave_socket(&self, socket: &str, room: &str) -> Result<()> {
        if self.is_local() {
            // One instance: the caller already knows the socket is not here.
            return Ok(());
        }
        if !self.ask_holder(SocketRequest::Leave, socket, room).await? {
            tracing::warn!(%socket, %room, "no instance confirmed roomLeaveSocket in time");
        }
        Ok(())
    }

    /// Makes a socket of another instance join a room's channel there;
    /// whether the instance holding it confirmed within the bus ack
    /// timeout (`false` at once with one instance).
    pub async fn room_join_socket(&self, socket: &str, room: &str) -> Result<bool> {
        if self.is_local() {
            return Ok(false);
        }
        self.ask_holder(SocketRequest::Join, socket, room).await
    }

    fn is_local(&self) -> bool {
        matches!(self.0.medium, Medium::Local)
    }

    /// Sends `request` for a socket to every instance and waits at most the
    /// ack timeout for the answer of the one holding it; whether it came.
    async fn ask_holder(&self, request: SocketRequest, socket: &str, room: &str) -> Result<bool> {
        let (done, confirmed) = oneshot::channel();
        let key = (request, socket.to_string(), room.to_string());
        self.0.waiting.entry(key.clone()).or_default().push(done);
        let sent = self
            .emit(request.event(), vec![json!(socket), json!(room)])
            .await;
        let outcome = match sent {
            Ok(()) => match tokio::time::timeout(self.0.ack_timeout, confirmed).await {
                Ok(_) => Ok(true),
                Err(_) => {
                    self.0
                        .timeouts
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    crate::metrics::bus_timeout();
                    Ok(false)
                }
            },
            Err(error) => Err(error),
        };
        if let Some(mut waiters) = self.0.waiting.get_mut(&key) {
            waiters.retain(|w| !w.is_closed());
        }
        self.0
            .waiting
            .remove_if(&key, |_, waiters| waiters.is_empty());
        outcome
    }

    /// Handles a received message (spawned: the bus never waits on it).
    fn receive(&self, envelope: Envelope) {
        let bus = self.clone();
        // Boxed: dispatching may emit, and emitting (in-process) receives.
        let dispatch: BoxFuture<'static, ()> =
            Box::pin(async move { bus.dispatch(envelope).await });
        tokio::spawn(dispatch);
    }

    async fn dispatch(&self, Envelope { ev, args }: Envelope) {
        if let Some(request) = SocketRequest::of(&ev) {
            self.answer(request, &args).await;
        } else if let Some(request) = SocketRequest::of_answer(&ev)
            && let (Some(socket), Some(room)) = (arg_str(&args, 0), arg_str(&args, 1))
            && let Some((_, waiters)) =
                self.0
                    .waiting
                    .remove(&(request, socket.to_string(), room.to_string()))
        {
            for waiter in waiters {
                let _ = waiter.send(());
            }
        }
        let listeners = self
            .0
            .listeners
            .get(&ev)
            .map(|l| l.clone())
            .unwrap_or_default();
        for listener in listeners {
            listener(args.clone()).await;
        }
    }
}

impl ClusterBus {
    /// Does `request` if the socket is connected here, and says so.
    async fn answer(&self, request: SocketRequest, args: &[Value]) {
        let (Some(socket), Some(room)) = (arg_str(args, 0), arg_str(args, 1)) else {
            return;
        };
        let Some(handler) = self.0.handler.get().and_then(Weak::upgrade) else {
            return;
        };
        let done = match request {
            SocketRequest::Leave => handler.leave_local(socket, room).await,
            SocketRequest::Join => handler.join_local(socket, room).await,
        };
        if done && let Err(error) = self.emit(request.answer(), args.to_vec()).await {
            tracing::warn!(%error, "cannot confirm {}", request.event());
        }
    }
}

fn arg_str(args: &[Value], pos: usize) -> Option<&str> {
    args.get(pos).and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Holder(&'static str);

    impl BusHandler for Holder {
        fn leave_local(&self, socket: &str, _room: &str) -> BoxFuture<'static, bool> {
            let here = socket == self.0;
            Box::pin(async move { here })
        }
        fn join_local(&self, socket: &str, room: &str) -> BoxFuture<'static, bool> {
            self.leave_local(socket, room)
        }
    }

    #[tokio::test]
    async fn local_bus_delivers_application_events_to_listeners() {
        let bus = ClusterBus::local(Duration::from_secs(1));
        let (tx, rx) = oneshot::channel();
        let tx = std::sync::Mutex::new(Some(tx));
        bus.on("hello", move |args| {
            if let Some(tx) = tx.lock().ok().and_then(|mut t| t.take()) {
                let _ = tx.send(args);
            }
            async {}
        });
        bus.emit("hello", vec![json!(1), json!("x")]).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), rx)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, vec![json!(1), json!("x")]);
    }

    #[tokio::test]
    async fn room_leave_socket_on_one_instance_does_not_wait() {
        let bus = ClusterBus::local(Duration::from_secs(30));
        let holder: Arc<dyn BusHandler> = Arc::new(Holder("elsewhere"));
        bus.set_handler(Arc::downgrade(&holder));
        tokio::time::timeout(Duration::from_secs(5), bus.room_leave_socket("s1", "r"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(bus.ack_timeouts(), 0);
    }

    #[tokio::test]
    async fn room_join_socket_on_one_instance_is_refused_at_once() {
        let bus = ClusterBus::local(Duration::from_secs(30));
        let holder: Arc<dyn BusHandler> = Arc::new(Holder("s1"));
        bus.set_handler(Arc::downgrade(&holder));
        let confirmed =
            tokio::time::timeout(Duration::from_secs(5), bus.room_join_socket("s1", "r"))
                .await
                .unwrap()
                .unwrap();
        assert!(!confirmed);
    }

    #[tokio::test]
    async fn socket_requests_are_confirmed_only_by_the_holder() {
        for (request, answer) in [
            ("roomLeaveSocket", "socketRoomLeft"),
            ("roomJoinSocket", "socketRoomJoined"),
        ] {
            let bus = ClusterBus::local(Duration::from_secs(30));
            let holder: Arc<dyn BusHandler> = Arc::new(Holder("s1"));
            bus.set_handler(Arc::downgrade(&holder));
            let confirmed = Arc::new(tokio::sync::Notify::new());
            let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
            let (notify, record) = (confirmed.clone(), seen.clone());
            bus.on(answer, move |args| {
                if let Ok(mut seen) = record.lock() {
                    seen.push(args);
                }
                notify.notify_one();
                async {}
            });
            // The test runtime runs spawned tasks in order: the non-holder's
            // message is handled before the holder's confirmation arrives.
            bus.emit(request, vec![json!("s2"), json!("r")])
                .await
                .unwrap();
            bus.emit(request, vec![json!("s1"), json!("r")])
                .await
                .unwrap();
            tokio::time::timeout(Duration::from_secs(5), confirmed.notified())
                .await
                .unwrap();
            assert_eq!(*seen.lock().unwrap(), vec![vec![json!("s1"), json!("r")]]);
        }
    }
}

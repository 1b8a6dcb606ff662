//! The extension points for Rust users (protocol.md 10): connection and
//! lifecycle hooks, per-command before/after hooks, and custom message
//! format checkers. All hooks are async closures.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::ChatService;
use crate::error::{ChatServiceError, Result};

/// A boxed future, as hooks return.
pub type BoxFuture<T> = futures::future::BoxFuture<'static, T>;

/// What `onConnect` returns: a user name and the auth data for
/// `loginConfirmed`, or `None` for "no login" (`noLogin`).
pub type Login = Option<(Value, Map<String, Value>)>;

/// Who runs a command: a client request or an `execUserCommand` context.
#[derive(Debug, Clone, Default)]
pub struct CallContext {
    /// The acting user; `None` for anonymous server calls.
    pub user_name: Option<String>,
    /// The socket id (request socket, or the server call's `id`).
    pub id: Option<String>,
    pub bypass_hooks: bool,
    pub bypass_permissions: bool,
    /// `true` for `execUserCommand`.
    pub is_local_call: bool,
}

impl CallContext {
    /// A request from a connected socket.
    pub fn socket(user_name: &str, id: &str) -> Self {
        Self {
            user_name: Some(user_name.to_string()),
            id: Some(id.to_string()),
            ..Self::default()
        }
    }
}

/// What command hooks see (protocol.md 10.1).
#[derive(Clone)]
pub struct ExecInfo {
    pub server: ChatService,
    pub user_name: Option<String>,
    pub id: Option<String>,
    /// The validated arguments; a before-hook may replace them.
    pub args: Vec<Value>,
    /// Arguments beyond the command's arity.
    pub rest_args: Vec<Value>,
    /// `None` for client requests.
    pub bypass_permissions: Option<bool>,
    pub bypass_hooks: bool,
    pub is_local_call: bool,
    /// In after-hooks: `[result]` on success.
    pub results: Option<Vec<Value>>,
    /// In after-hooks: the command's error.
    pub error: Option<ChatServiceError>,
    /// Scratch space shared by the before- and after-hook of one call.
    pub data: Map<String, Value>,
}

/// What a before hook decides.
pub enum Flow {
    /// Run the command with these (possibly replaced) exec data.
    Continue(Box<ExecInfo>),
    /// Skip the command and ack with these values; an empty list runs the
    /// command after all.
    Reply(Vec<Value>),
}

/// `onJoin` / `onLeave` data.
#[derive(Debug, Clone)]
pub struct RoomEvent {
    pub id: String,
    pub room_name: String,
    pub njoined: usize,
}

/// `onDisconnect` data (7.3 step 6); only `id` is set when cleanup failed.
#[derive(Debug, Clone, Default)]
pub struct DisconnectInfo {
    pub id: String,
    pub nconnected: Option<usize>,
    pub rooms_removed: Vec<String>,
    pub joined_sockets: Vec<usize>,
}

type ConnectHook = Arc<dyn Fn(ChatService, String) -> BoxFuture<Result<Login>> + Send + Sync>;
type RoomHook = Arc<dyn Fn(ChatService, RoomEvent) -> BoxFuture<Result<()>> + Send + Sync>;
type DisconnectHook =
    Arc<dyn Fn(ChatService, DisconnectInfo) -> BoxFuture<Result<()>> + Send + Sync>;
type ServiceHook = Arc<dyn Fn(ChatService) -> BoxFuture<Result<()>> + Send + Sync>;
type CloseHook =
    Arc<dyn Fn(ChatService, Option<ChatServiceError>) -> BoxFuture<Result<()>> + Send + Sync>;
type BeforeHook = Arc<dyn Fn(ExecInfo) -> BoxFuture<Result<Flow>> + Send + Sync>;
type AfterHook = Arc<dyn Fn(ExecInfo) -> BoxFuture<Result<Option<Vec<Value>>>> + Send + Sync>;
/// A custom message format checker.
pub(crate) type Checker = Arc<dyn Fn(Value) -> BoxFuture<Result<()>> + Send + Sync>;

/// Every hook a service may have; build it with the `ChatServiceBuilder`.
#[derive(Default, Clone)]
pub struct Hooks {
    pub(crate) on_connect: Option<ConnectHook>,
    pub(crate) on_disconnect: Option<DisconnectHook>,
    pub(crate) on_join: Option<RoomHook>,
    pub(crate) on_leave: Option<RoomHook>,
    pub(crate) on_start: Option<ServiceHook>,
    pub(crate) on_close: Option<CloseHook>,
    pub(crate) before: HashMap<String, BeforeHook>,
    pub(crate) after: HashMap<String, AfterHook>,
    pub(crate) room_messages_checker: Option<Checker>,
    pub(crate) direct_messages_checker: Option<Checker>,
}

impl Hooks {
    pub fn on_connect<F, Fut>(&mut self, f: F)
    where
        F: Fn(ChatService, String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Login>> + Send + 'static,
    {
        self.on_connect = Some(Arc::new(move |s, id| Box::pin(f(s, id))));
    }

    pub fn on_disconnect<F, Fut>(&mut self, f: F)
    where
        F: Fn(ChatService, DisconnectInfo) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        self.on_disconnect = Some(Arc::new(move |s, d| Box::pin(f(s, d))));
    }

    pub fn on_join<F, Fut>(&mut self, f: F)
    where
        F: Fn(ChatService, RoomEvent) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        self.on_join = Some(Arc::new(move |s, e| Box::pin(f(s, e))));
    }

    pub fn on_leave<F, Fut>(&mut self, f: F)
    where
        F: Fn(ChatService, RoomEvent) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        self.on_leave = Some(Arc::new(move |s, e| Box::pin(f(s, e))));
    }

    pub fn on_start<F, Fut>(&mut self, f: F)
    where
        F: Fn(ChatService) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        self.on_start = Some(Arc::new(move |s| Box::pin(f(s))));
    }

    pub fn on_close<F, Fut>(&mut self, f: F)
    where
        F: Fn(ChatService, Option<ChatServiceError>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        self.on_close = Some(Arc::new(move |s, e| Box::pin(f(s, e))));
    }

    /// `<command>Before`.
    pub fn before<F, Fut>(&mut self, command: &str, f: F)
    where
        F: Fn(ExecInfo) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Flow>> + Send + 'static,
    {
        self.before
            .insert(command.to_string(), Arc::new(move |i| Box::pin(f(i))));
    }

    /// `<command>After`: `Some(values)` replaces the outcome.
    pub fn after<F, Fut>(&mut self, command: &str, f: F)
    where
        F: Fn(ExecInfo) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<Vec<Value>>>> + Send + 'static,
    {
        self.after
            .insert(command.to_string(), Arc::new(move |i| Box::pin(f(i))));
    }

    /// Enables a custom room message format checked by `f`.
    pub fn room_messages_checker<F, Fut>(&mut self, f: F)
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        self.room_messages_checker = Some(Arc::new(move |m| Box::pin(f(m))));
    }

    /// Enables a custom direct message format checked by `f`.
    pub fn direct_messages_checker<F, Fut>(&mut self, f: F)
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        self.direct_messages_checker = Some(Arc::new(move |m| Box::pin(f(m))));
    }
}

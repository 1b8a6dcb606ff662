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

/// `onDisconnect` data (7.3 step 6); only `id`, `user_name` and `reason`
/// are set when cleanup failed.
#[derive(Debug, Clone, Default)]
pub struct DisconnectInfo {
    pub id: String,
    /// The socket's user (not in the original's data; the HTTP
    /// `disconnect` hook sends it).
    pub user_name: String,
    /// Why the socket went, as socket.io names it (`transport close`,
    /// `client namespace disconnect`, `server shutting down`, …).
    pub reason: String,
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

    /// Adds a `<command>Before` that runs after the one already set, if
    /// any: it gets the exec data the first one continued with, and a
    /// reply of the first one skips it. Without one set, the same as
    /// [`Hooks::before`]. (The HTTP hooks join the Rust ones this way.)
    pub fn add_before<F, Fut>(&mut self, command: &str, f: F)
    where
        F: Fn(ExecInfo) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Flow>> + Send + 'static,
    {
        let added: BeforeHook = Arc::new(move |i| Box::pin(f(i)));
        let hook = match self.before.remove(command) {
            None => added,
            Some(first) => Arc::new(move |info: ExecInfo| -> BoxFuture<Result<Flow>> {
                let (first, added) = (first.clone(), added.clone());
                Box::pin(async move {
                    // An empty reply goes on with the data as it came.
                    let start = info.clone();
                    match first(info).await? {
                        Flow::Reply(values) if !values.is_empty() => Ok(Flow::Reply(values)),
                        Flow::Reply(_) => added(start).await,
                        Flow::Continue(next) => added(*next).await,
                    }
                })
            }),
        };
        self.before.insert(command.to_string(), hook);
    }

    /// Adds a `<command>After` that runs before the one already set, if
    /// any, which then sees the outcome it left (its replacement in
    /// `results` or `error`) and has the last word: the hooks added
    /// nest inside the ones set before, as the before-hooks do.
    pub fn add_after<F, Fut>(&mut self, command: &str, f: F)
    where
        F: Fn(ExecInfo) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<Vec<Value>>>> + Send + 'static,
    {
        let added: AfterHook = Arc::new(move |i| Box::pin(f(i)));
        let hook = match self.after.remove(command) {
            None => added,
            Some(outer) => Arc::new(
                move |mut info: ExecInfo| -> BoxFuture<Result<Option<Vec<Value>>>> {
                    let (outer, added) = (outer.clone(), added.clone());
                    Box::pin(async move {
                        let replaced = match added(info.clone()).await {
                            Ok(Some(values)) if !values.is_empty() => {
                                info.results = Some(values.clone());
                                info.error = None;
                                Some(Ok(values))
                            }
                            Ok(_) => None,
                            Err(error) => {
                                info.results = None;
                                info.error = Some(error.clone());
                                Some(Err(error))
                            }
                        };
                        match outer(info).await? {
                            Some(values) if !values.is_empty() => Ok(Some(values)),
                            _ => replaced.transpose(),
                        }
                    })
                },
            ),
        };
        self.after.insert(command.to_string(), hook);
    }

    /// Adds an `onDisconnect` that runs after the one already set, if
    /// any; both run whatever the other does.
    pub fn add_on_disconnect<F, Fut>(&mut self, f: F)
    where
        F: Fn(ChatService, DisconnectInfo) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        let added: DisconnectHook = Arc::new(move |s, d| Box::pin(f(s, d)));
        self.on_disconnect = Some(match self.on_disconnect.take() {
            None => added,
            Some(first) => Arc::new(
                move |service, info: DisconnectInfo| -> BoxFuture<Result<()>> {
                    let (first, added) = (first.clone(), added.clone());
                    Box::pin(async move {
                        let outcome = first(service.clone(), info.clone()).await;
                        let added = added(service, info).await;
                        outcome.and(added)
                    })
                },
            ),
        });
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

//! chat-service: a socket.io room-messaging server, drop-in compatible with
//! the Node.js `chat-service` 1.0.0 protocol.
//!
//! Data flows one way, and each module uses only those below it (the
//! README's layout table lists them in this order):
//!
//! - the binary's assembly: `server` (HTTP and socket.io on one port),
//!   `http`, `config`, `auth`;
//! - `lifecycle`: starting and closing an instance; `heartbeat`;
//! - `transport`: inbound socket events — login, requests, disconnects;
//! - `presence`: disconnect processing and the recovery calls;
//! - `hooks_http`: the hooks over HTTP, installed as Rust hooks;
//! - `dispatch`: the one path of every command (validation, hooks);
//! - `commands`: the 24 commands, each seeing only a narrow context;
//! - `service`: the `ChatService` handle, its hooks, the state-only API;
//! - `delivery`: the state's message feed out to this instance's sockets;
//! - `notify`: the one way out (notifications, channel subscriptions),
//!   implemented over socket.io;
//! - `cluster`: what several instances share (bus, Redis adapter);
//! - `events`, `state`, `redis`, and the foundations `options`, `schema`,
//!   `metrics`, `json`, `error`.

pub mod auth;
pub mod cluster;
pub(crate) mod commands;
pub mod config;
pub(crate) mod delivery;
pub(crate) mod dispatch;
pub mod error;
pub mod events;
pub(crate) mod heartbeat;
pub mod hooks_http;
pub mod http;
pub(crate) mod json;
pub(crate) mod lifecycle;
pub(crate) mod log_budget;
pub(crate) mod metrics;
pub(crate) mod notify;
pub mod options;
pub(crate) mod presence;
pub mod redis;
pub mod schema;
pub mod server;
mod service;
pub mod state;
pub mod transport;

pub use error::ChatServiceError;
pub use events::ServiceEvent;
pub use options::ServiceOptions;
pub use service::hooks::{self, CallContext, ExecInfo, Flow, Hooks};
pub use service::{ChatService, ChatServiceBuilder, Handshake, RoomInit, UserInit};

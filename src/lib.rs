//! chat-service: a socket.io room-messaging server, drop-in compatible with
//! the Node.js `chat-service` 1.0.0 protocol.
//!
//! Data flows one way: a socket event (`transport`) goes through the
//! dispatcher (`dispatch`: validation, hooks) to a command (`commands`),
//! which reads and changes the `state` and emits notifications through
//! the `transport`. Room messages take one more step: the state publishes
//! them on its feed and `delivery` hands them to the `transport` in order.

pub mod auth;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod delivery;
pub mod dispatch;
pub mod error;
pub mod events;
pub mod heartbeat;
pub mod hooks;
pub mod http;
pub mod json;
pub mod metrics;
pub mod options;
pub mod presence;
pub mod server;
pub mod service;
pub mod state;
pub mod transport;

pub use dispatch::{CallContext, ExecInfo};
pub use error::ChatServiceError;
pub use events::ServiceEvent;
pub use hooks::{Flow, Hooks};
pub use options::ServiceOptions;
pub use service::{ChatService, ChatServiceBuilder, RoomInit, UserInit};

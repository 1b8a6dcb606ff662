//! Several instances, one service: the Redis connection settings they
//! share, the socket.io Redis adapter that carries broadcasts between them,
//! and the cluster bus for what must happen on another instance
//! (protocol.md 14).

pub mod adapter;
pub mod bus;
pub mod driver;
pub mod redis;

pub use bus::ClusterBus;

//! Inbound: what arrives from socket.io clients. `connection` logs a socket
//! in, reads its requests (`incoming`, under the `limits`) and hands them to
//! the dispatcher, and runs its disconnect processing when it goes away;
//! `head` hands socketioxide's service to the HTTP server
//! ([`socket_io_http`]), with the request heads socket.io keeps copied out
//! of hyper's buffers. What leaves goes through `crate::notify`.
//! socket.io v2 clients (engine.io v3) come in on the same port: the
//! vendored parser reads their CONNECT packets (vendor/README.md, patch 06).

pub(crate) mod connection;
mod head;
pub(crate) mod incoming;
mod limits;

pub use head::{SocketIoHttp, socket_io_http};

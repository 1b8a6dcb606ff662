//! Inbound: what arrives from socket.io clients. `connection` logs a socket
//! in, reads its requests (`incoming`, under the `limits`) and hands them to
//! the dispatcher, and runs its disconnect processing when it goes away;
//! `legacy` lets socket.io v2 clients (engine.io v3) in on the same port,
//! `head` answers HEAD requests. What leaves goes through `crate::notify`.

pub(crate) mod connection;
mod head;
pub(crate) mod incoming;
pub mod legacy;
mod limits;

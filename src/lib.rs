//! chat-service: a socket.io room-messaging server, drop-in compatible with
//! the Node.js `chat-service` 1.0.0 protocol.

pub mod transport;

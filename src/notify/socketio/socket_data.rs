//! What a socket carries in its extensions, for the service to find it
//! again: its login, its connection handshake, the request handlers an
//! application bound to it.

use std::sync::Arc;

use dashmap::DashMap;
use futures::future::BoxFuture;
use serde_json::{Map, Value};

use crate::error::Result;

/// The socket.io v5 `auth` payload a socket connected with, kept for the
/// `onConnect` hook (see `ChatService::handshake`).
#[derive(Debug, Clone)]
pub struct AuthPayload(pub Value);

pub(crate) type CustomHandler =
    Arc<dyn Fn(Vec<Value>) -> BoxFuture<'static, Result<Vec<Value>>> + Send + Sync>;

/// Request handlers an application bound to one socket (`bindHandler`).
#[derive(Clone, Default)]
pub struct CustomHandlers(Arc<DashMap<String, CustomHandler>>);

impl CustomHandlers {
    pub(crate) fn insert<F, Fut>(&self, event: &str, handler: F)
    where
        F: Fn(Vec<Value>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<Vec<Value>>> + Send + 'static,
    {
        let handler: CustomHandler = Arc::new(move |args| Box::pin(handler(args)));
        self.0.insert(event.to_string(), handler);
    }

    pub(crate) fn get(&self, event: &str) -> Option<CustomHandler> {
        self.0.get(event).map(|h| h.clone())
    }
}

/// The user and service id of a logged-in socket, kept on the socket.
#[derive(Debug, Clone)]
pub struct LoggedIn {
    pub user: String,
    pub id: String,
}

/// What `onConnect` can learn about a socket's connection.
#[derive(Debug, Clone, Default)]
pub struct Handshake {
    pub is_connected: bool,
    /// The handshake query (engine.io URL), percent-decoded.
    pub query: Map<String, Value>,
    pub headers: http::HeaderMap,
    /// The socket.io v5 `auth` payload, if any.
    pub auth: Option<Value>,
    pub parts: Option<http::request::Parts>,
}

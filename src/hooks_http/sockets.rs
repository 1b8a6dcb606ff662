//! `connect` and `disconnect` over HTTP. `connect` is the service's
//! `onConnect` (it replaces `--auth`): the backend sees the handshake and
//! names the user, and a failed call rejects the login (fails closed).
//! `disconnect` is told who went and why; its answer is ignored.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::backend::{Answer, Backend, bad_answer};
use super::request;
use crate::error::{ChatServiceError, Result};
use crate::service::ChatService;
use crate::service::hooks::{DisconnectInfo, Hooks, Login};

const CONNECT: &str = "connect";
const DISCONNECT: &str = "disconnect";

pub(super) fn install_connect(hooks: &mut Hooks, backend: Arc<Backend>) {
    hooks.on_connect(move |service, id| {
        let backend = backend.clone();
        async move { connect(&backend, &service, id).await }
    });
}

pub(super) fn install_disconnect(hooks: &mut Hooks, backend: Arc<Backend>) {
    hooks.add_on_disconnect(move |service, info| {
        let backend = backend.clone();
        async move { disconnect(&backend, &service, info).await }
    });
}

/// `{"user", "auth"}` logs in (the name then checked as any login's:
/// missing is `noLogin`); `{"error"}` rejects.
async fn connect(backend: &Backend, service: &ChatService, id: String) -> Result<Login> {
    let handshake = service.handshake(&id);
    if handshake.parts.is_none() {
        return Err(ChatServiceError::NoSocket("connection".into()));
    }
    let headers: Map<String, Value> = handshake
        .headers
        .keys()
        .map(|name| {
            // Repeated headers joined as Node.js joins most of them.
            let values: Vec<String> = handshake
                .headers
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect();
            (name.as_str().to_string(), Value::String(values.join(", ")))
        })
        .collect();
    let mut body = request(CONNECT, service, Some(id));
    body.insert("query".into(), Value::Object(handshake.query));
    body.insert("headers".into(), Value::Object(headers));
    body.insert("auth".into(), handshake.auth.unwrap_or(Value::Null));
    let mut answer = backend.call(CONNECT, &Value::Object(body)).await?;
    let auth = match answer.remove("auth") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(auth)) => auth,
        Some(_) => return Err(bad_answer(CONNECT, "auth not an object")),
    };
    if let Some(error) = Answer::error(CONNECT, &mut answer)? {
        return Err(error);
    }
    Ok(Some((answer.remove("user").unwrap_or(Value::Null), auth)))
}

async fn disconnect(backend: &Backend, service: &ChatService, info: DisconnectInfo) -> Result<()> {
    let mut body = request(DISCONNECT, service, Some(info.id));
    body.insert("user".into(), info.user_name.into());
    body.insert("reason".into(), info.reason.into());
    backend
        .call(DISCONNECT, &Value::Object(body))
        .await
        .map(drop)
}

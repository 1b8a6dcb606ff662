//! A socket's life on the service namespace: login (protocol.md 1.2), its
//! requests (one fallback handler dispatches every command), and its
//! disconnect.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::FutureExt;
use serde_json::{Map, Value};
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, SocketRef, TryData};
use socketioxide::socket::DisconnectReason;
use socketioxide::{ProtocolVersion, SocketIo};
use socketioxide_core::adapter::DefinedAdapter;

use super::incoming::Incoming;
use super::limits::{RateLimit, log_rejected_login};
use crate::cluster::NamespaceInit;
use crate::commands;
use crate::dispatch;
use crate::error::{ChatServiceError, Result};
use crate::json::WireArgs;
use crate::metrics;
use crate::notify::Target;
use crate::notify::socketio::{
    AuthPayload, CustomHandlers, LoggedIn, socket_channel, user_channel,
};
use crate::presence;
use crate::service::ChatService;
use crate::service::hooks::CallContext;
use crate::state::{is_valid_name, now_ms};

/// Binds the service to its namespace (and the root namespace, which
/// socket.io v2 clients always connect to), once the adapter is ready.
pub async fn bind<A>(service: &ChatService, io: &SocketIo<A>) -> Result<()>
where
    A: Adapter + DefinedAdapter,
    A::InitRes: NamespaceInit,
{
    io.ns("/", async |_: SocketRef<A>| {}).finish().await?;
    let service = service.clone();
    io.ns(
        service.options().namespace.clone(),
        move |socket: SocketRef<A>, TryData(auth): TryData<Value>| {
            let service = service.clone();
            async move {
                // socket.io 2 clients (protocol 4) have no auth payload,
                // though socketioxide reads one as `{}`.
                if let Ok(auth) = auth
                    && socket.protocol() == ProtocolVersion::V5
                {
                    socket.extensions.insert(AuthPayload(auth));
                }
                login(service, socket).await;
            }
        },
    )
    .finish()
    .await
}

async fn login<A: Adapter>(service: ChatService, socket: SocketRef<A>) {
    if service.is_closed() {
        // Closing: no new users (protocol.md 12.2 "stop accepting").
        if let Err(error) = socket.disconnect() {
            tracing::debug!(%error, "disconnect while closing failed");
        }
        return;
    }
    let id = service.sockets().socket_id(socket.id, socket.protocol());
    match register(&service, &socket, &id).await {
        Ok((user, mut auth)) => {
            let raw_user = Value::String(user.clone());
            socket.extensions.insert(LoggedIn {
                user: user.clone(),
                id: id.clone(),
            });
            listen(&service, &socket, user.clone(), id.clone());
            auth.insert("id".into(), Value::String(id.clone()));
            if let Err(error) = socket.emit(
                "loginConfirmed",
                &WireArgs(&[raw_user, Value::Object(auth)]),
            ) {
                tracing::debug!(%error, "loginConfirmed not sent");
            }
            tell_conversations(&service, &id, &user).await;
        }
        Err(error) => {
            metrics::login_rejected(&error);
            let peer = socket
                .req_parts()
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|info| info.0);
            log_rejected_login(&error, peer);
            let rendered = error.render(service.options().use_raw_error_objects);
            if let Err(error) = socket.emit("loginRejected", &WireArgs(&[rendered])) {
                tracing::debug!(%error, "loginRejected not sent");
            }
            if let Err(error) = socket.disconnect() {
                tracing::debug!(%error, "disconnect after loginRejected failed");
            }
        }
    }
}

/// `conversations(list)` to a socket that logged in, if its user has
/// stored conversations (a message may wait in one); users without any
/// (every client of the original protocol) get no such event.
async fn tell_conversations(service: &ChatService, id: &str, user: &str) {
    match service.conversations(user).await {
        Ok(list) if !list.is_empty() => {
            let list: Vec<(&str, &str)> = list
                .iter()
                .map(|(partner, room)| (partner.as_str(), room.as_str()))
                .collect();
            service
                .notify()
                .conversations(Target::Socket(id), &list)
                .await;
        }
        Ok(_) => {}
        Err(error) => tracing::debug!(%error, "conversations not read at login"),
    }
}

/// Login steps 1-8: the hook, the name rules, the state, the channels.
async fn register<A: Adapter>(
    service: &ChatService,
    socket: &SocketRef<A>,
    id: &str,
) -> Result<(String, Map<String, Value>)> {
    let login = match &service.hooks().on_connect {
        Some(on_connect) => AssertUnwindSafe(on_connect(service.clone(), id.to_string()))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Err(ChatServiceError::internal("onConnect panicked")))?,
        None => None,
    };
    let Some((name, auth)) = login else {
        return Err(ChatServiceError::NoLogin);
    };
    let user = user_name(name)?;
    let state = service.state();
    let nconnected = state.add_socket(&user, id, service.instance_id()).await?;
    metrics::socket_added(nconnected);
    let max_sockets = service.options().limits.max_sockets_per_user;
    let refused = if max_sockets > 0 && nconnected > max_sockets {
        metrics::limited("max_sockets_per_user");
        Some(ChatServiceError::TooManySockets(user.clone()))
    } else if !socket.connected() {
        Some(ChatServiceError::NoSocket("connection".into()))
    } else {
        None
    };
    if let Some(error) = refused {
        if let Some(removed) = state.remove_socket(&user, id, now_ms()).await? {
            metrics::socket_removed(removed.nconnected, removed.rooms.len());
        }
        return Err(error);
    }
    socket.join([user_channel(&user), socket_channel(id)]);
    metrics::socket_logged_in();
    service
        .notify()
        .socket_connect_echo(&user, id, nconnected)
        .await;
    Ok((user, auth))
}

/// Login steps 3-4: a falsy name is no login; anything else must be a
/// valid name string.
fn user_name(name: Value) -> Result<String> {
    let falsy = match &name {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        _ => false,
    };
    if falsy {
        return Err(ChatServiceError::NoLogin);
    }
    match name {
        Value::String(s) if is_valid_name(&s) => Ok(s),
        other => Err(ChatServiceError::InvalidName(other)),
    }
}

/// Step 7: the request handler and the disconnect handler.
fn listen<A: Adapter>(service: &ChatService, socket: &SocketRef<A>, user: String, id: String) {
    let requests = service.clone();
    let (request_user, request_id) = (user.clone(), id.clone());
    let rate = RateLimit::new(service.options().limits.rate_limit);
    socket.on_fallback(
        move |socket: SocketRef<A>, incoming: Incoming, ack: AckSender<A>| {
            let service = requests.clone();
            let context = CallContext::socket(&request_user, &request_id);
            let allowed = rate.as_ref().is_none_or(RateLimit::take);
            async move {
                // A name that is not a string is no command nor handler.
                let Some(event) = incoming.event.as_deref() else {
                    return;
                };
                if !allowed {
                    // Unknown events over the limit are dropped as ever.
                    if commands::arity(event).is_some() {
                        metrics::limited("rate_limit");
                        send_ack(&service, event, Err(ChatServiceError::RateLimited), ack);
                    }
                    return;
                }
                if commands::arity(event).is_some() {
                    request(service, context, incoming, ack).await;
                } else if let Some(handler) = socket
                    .extensions
                    .get::<CustomHandlers>()
                    .and_then(|h| h.get(event))
                {
                    let outcome = match unread(&incoming) {
                        Some(error) => Err(error),
                        None => handler(incoming.args).await,
                    };
                    send_ack(&service, event, outcome, ack);
                }
                // Any other event is ignored without a reply, as with the original.
            }
        },
    );
    // The socket may have gone before its disconnect handler existed: the
    // cleanup then runs here, and the flag makes sure it runs once.
    let cleaned = Arc::new(AtomicBool::new(false));
    let service = service.clone();
    let cleanup = move |reason: &'static str| {
        let (service, user, id, cleaned) =
            (service.clone(), user.clone(), id.clone(), cleaned.clone());
        async move {
            if !cleaned.swap(true, Ordering::AcqRel) {
                metrics::socket_disconnected();
                presence::socket_gone(&service, &user, &id, Some(reason)).await;
            }
        }
    };
    let on_disconnect = cleanup.clone();
    socket.on_disconnect(move |reason: DisconnectReason| on_disconnect(reason_name(reason)));
    if !socket.connected() {
        // Its reason is gone with it; the likeliest one.
        tokio::spawn(cleanup("transport close"));
    }
}

/// A disconnect reason as socket.io's server names it, the words a
/// Node.js backend knows (the HTTP `disconnect` hook sends it).
fn reason_name(reason: DisconnectReason) -> &'static str {
    match reason {
        DisconnectReason::TransportClose => "transport close",
        DisconnectReason::MultipleHttpPollingError | DisconnectReason::TransportError => {
            "transport error"
        }
        DisconnectReason::PacketParsingError => "parse error",
        DisconnectReason::HeartbeatTimeout => "ping timeout",
        DisconnectReason::ClientNSDisconnect => "client namespace disconnect",
        DisconnectReason::ServerNSDisconnect => "server namespace disconnect",
        DisconnectReason::ClosingServer => "server shutting down",
    }
}

/// One client request: dispatch, then exactly one ack.
async fn request<A: Adapter>(
    service: ChatService,
    context: CallContext,
    incoming: Incoming,
    ack: AckSender<A>,
) {
    let Some(event) = incoming.event.as_deref() else {
        return;
    };
    let _running = service.track();
    let refused = closing(&service).or_else(|| unread(&incoming)).or_else(|| {
        let deep = incoming.too_deep.first()?;
        dispatch::unreadable_argument(
            &service,
            event,
            &incoming.args,
            deep.position,
            deep.json.clone(),
        )
    });
    let outcome = match refused {
        Some(error) => {
            let outcome = Err(error);
            metrics::command_done(
                commands::metric_label(event),
                &outcome,
                std::time::Duration::ZERO,
            );
            outcome
        }
        None => AssertUnwindSafe(dispatch::execute(&service, context, event, incoming.args))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| {
                tracing::error!(%event, "command panicked");
                Err(ChatServiceError::internal("internal error"))
            }),
    };
    send_ack(&service, event, outcome, ack);
}

/// The answer to requests that arrive while the service closes: their
/// socket is about to be cleaned up (a command run now could leave it
/// behind in a room).
fn closing(service: &ChatService) -> Option<ChatServiceError> {
    service
        .is_closed()
        .then(|| ChatServiceError::internal("the server is shutting down"))
}

/// The answer to a request whose arguments could not be read at all (no
/// JavaScript client sends such a packet).
fn unread(incoming: &Incoming) -> Option<ChatServiceError> {
    incoming
        .unreadable
        .then(|| ChatServiceError::internal("the request's arguments cannot be read"))
}

/// Acks `(null, ...values)` or `(error, null)`.
fn send_ack<A: Adapter>(
    service: &ChatService,
    event: &str,
    outcome: Result<Vec<Value>>,
    ack: AckSender<A>,
) {
    let reply = match outcome {
        Ok(mut values) => {
            if values.is_empty() {
                values.push(Value::Null);
            }
            values.insert(0, Value::Null);
            values
        }
        Err(error) => vec![
            error.render(service.options().use_raw_error_objects),
            Value::Null,
        ],
    };
    if let Err(error) = ack.send(&WireArgs(&reply)) {
        tracing::debug!(%event, %error, "ack not sent");
    }
}

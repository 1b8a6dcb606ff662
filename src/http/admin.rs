//! The admin API (interface.md 4): the server-side API over HTTP for
//! backends not written in Rust. `POST /api/{method}` with a JSON array of
//! arguments, behind a bearer token.

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use crate::commands::args;
use crate::error::{ChatServiceError, Result};
use crate::service::hooks::CallContext;
use crate::service::{ChatService, RoomInit, UserInit};

/// The HTTP status of an error code.
fn status(error: &ChatServiceError) -> StatusCode {
    use ChatServiceError::*;
    match error {
        BadArgument(..)
        | WrongArgumentsCount(..)
        | InvalidName(_)
        | NoList(_)
        | NoCommand(_)
        | ListLimitExceeded(_) => StatusCode::BAD_REQUEST,
        RoomExists(_) | UserExists(_) => StatusCode::CONFLICT,
        Timeout => StatusCode::GATEWAY_TIMEOUT,
        RateLimited => StatusCode::TOO_MANY_REQUESTS,
        Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

fn error_response(error: &ChatServiceError) -> Response {
    let body = json!({"error": {
        "name": "ChatServiceError",
        "code": error.code(),
        "args": error.args(),
        "message": error.message(),
    }});
    (status(error), Json(body)).into_response()
}

fn authorized(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| same_secret(given.as_bytes(), token.as_bytes()))
}

/// Compares the SHA-256 digests of both, every byte, so that response
/// times tell nothing of the token: neither how much of it matched nor its
/// length.
fn same_secret(given: &[u8], token: &[u8]) -> bool {
    use ring::digest::{SHA256, digest};
    let (given, token) = (digest(&SHA256, given), digest(&SHA256, token));
    given
        .as_ref()
        .iter()
        .zip(token.as_ref())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// The largest admin request body read (axum's default body limit).
const MAX_BODY: usize = 2 * 1024 * 1024;

/// `POST /api/{method}`: the body is read only once the admin API is on,
/// the token right and the method known.
pub async fn handle(
    State(app): State<AppState>,
    Path(method): Path<String>,
    request: Request,
) -> Response {
    let Some(token) = app.admin_token.as_deref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !authorized(request.headers(), token) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
        )
            .into_response();
    }
    if !METHODS.contains(&method.as_str()) {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": {"message": format!("No such method {method}")}})),
        )
            .into_response();
    }
    let body = match axum::body::to_bytes(request.into_body(), MAX_BODY).await {
        Ok(body) => body,
        Err(error) => {
            let too_large = std::error::Error::source(&error)
                .is_some_and(|e| e.is::<http_body_util::LengthLimitError>());
            let status = if too_large {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            };
            return status.into_response();
        }
    };
    let args = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Array(args)) => args,
        Ok(other) => return error_response(&ChatServiceError::BadArgument(0, other)),
        Err(_) => {
            let text = String::from_utf8_lossy(&body).into_owned();
            return error_response(&ChatServiceError::BadArgument(0, Value::String(text)));
        }
    };
    let Some(service) = app.service() else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    match call(service, &method, args).await {
        Ok(result) => Json(json!({ "result": result })).into_response(),
        Err(error) => error_response(&error),
    }
}

const METHODS: &[&str] = &[
    "addRoom",
    "deleteRoom",
    "hasRoom",
    "addUser",
    "deleteUser",
    "hasUser",
    "execUserCommand",
    "disconnectUserSockets",
    "changeRoomOwner",
    "changeRoomHistoryMaxSize",
    "changeAccessListsUpdates",
    "changeUserlistUpdates",
    "roomHasInList",
    "userHasInList",
    "hasRoomAccess",
    "hasDirectAccess",
    "instanceRecovery",
    "userStateSync",
    "roomStateSync",
    "getInstanceHeartbeat",
    "isUserOnline",
    "emitToUser",
    "emitToSocket",
    "emitToRoom",
    "emitToAll",
    "openConversation",
];

/// Requires at least `n` arguments.
fn arity(a: &[Value], n: usize) -> Result<()> {
    if a.len() < n {
        return Err(ChatServiceError::WrongArgumentsCount(n, a.len()));
    }
    Ok(())
}

/// An optional settings object (`state?`); `null` or absent is the default.
fn settings<T: serde::de::DeserializeOwned + Default>(a: &[Value], pos: usize) -> Result<T> {
    match a.get(pos) {
        None | Some(Value::Null) => Ok(T::default()),
        Some(value @ Value::Object(_)) => serde_json::from_value(value.clone())
            .map_err(|_| ChatServiceError::bad_argument(pos, value)),
        Some(value) => Err(ChatServiceError::bad_argument(pos, value)),
    }
}

/// The `context` of `execUserCommand`: a user name, a bypass flag, or an
/// object `{userName?, id?, bypassHooks?, bypassPermissions?}`.
fn call_context(value: &Value) -> Result<CallContext> {
    match value {
        Value::String(user) => Ok(CallContext {
            user_name: Some(user.clone()),
            ..CallContext::default()
        }),
        Value::Bool(bypass) => Ok(CallContext {
            bypass_permissions: *bypass,
            ..CallContext::default()
        }),
        Value::Object(map) => {
            let text = |key: &str| map.get(key).and_then(Value::as_str).map(str::to_owned);
            let flag = |key: &str| map.get(key).and_then(Value::as_bool).unwrap_or(false);
            Ok(CallContext {
                user_name: text("userName"),
                id: text("id"),
                bypass_hooks: flag("bypassHooks"),
                bypass_permissions: flag("bypassPermissions"),
                is_local_call: true,
            })
        }
        other => Err(ChatServiceError::bad_argument(0, other)),
    }
}

async fn call(service: &ChatService, method: &str, a: Vec<Value>) -> Result<Value> {
    let s = |pos| args::string(&a, pos);
    let b = |pos| args::boolean(&a, pos);
    let unit = |r: Result<()>| r.map(|()| Value::Null);
    // The `...data` of the push calls: every argument from `pos` on.
    let rest = |pos: usize| a.get(pos..).unwrap_or_default();
    match method {
        "addRoom" => {
            arity(&a, 1)?;
            unit(service.add_room(&s(0)?, settings::<RoomInit>(&a, 1)?).await)
        }
        "deleteRoom" => unit(service.delete_room(&s(0)?).await),
        "hasRoom" => Ok(json!(service.has_room(&s(0)?).await?)),
        "addUser" => {
            arity(&a, 1)?;
            unit(service.add_user(&s(0)?, settings::<UserInit>(&a, 1)?).await)
        }
        "deleteUser" => unit(service.delete_user(&s(0)?).await),
        "hasUser" => Ok(json!(service.has_user(&s(0)?).await?)),
        "execUserCommand" => {
            arity(&a, 2)?;
            let context = call_context(&a[0])?;
            let command = s(1)?;
            let results = service
                .exec_user_command(context, &command, a[2..].to_vec())
                .await?;
            Ok(Value::Array(results))
        }
        "disconnectUserSockets" => unit(service.disconnect_user_sockets(&s(0)?).await),
        "changeRoomOwner" => unit(service.change_room_owner(&s(0)?, &s(1)?).await),
        "changeRoomHistoryMaxSize" => {
            arity(&a, 2)?;
            unit(service.change_room_history_max_size(&s(0)?, &a[1]).await)
        }
        "changeAccessListsUpdates" => {
            unit(service.change_access_lists_updates(&s(0)?, b(1)?).await)
        }
        "changeUserlistUpdates" => unit(service.change_userlist_updates(&s(0)?, b(1)?).await),
        "roomHasInList" => Ok(json!(
            service.room_has_in_list(&s(0)?, &s(1)?, &s(2)?).await?
        )),
        "userHasInList" => Ok(json!(
            service.user_has_in_list(&s(0)?, &s(1)?, &s(2)?).await?
        )),
        "hasRoomAccess" => Ok(json!(service.has_room_access(&s(0)?, &s(1)?).await?)),
        "hasDirectAccess" => Ok(json!(service.has_direct_access(&s(0)?, &s(1)?).await?)),
        "instanceRecovery" => unit(service.instance_recovery(&s(0)?).await),
        "userStateSync" => unit(service.user_state_sync(&s(0)?).await),
        "roomStateSync" => unit(service.room_state_sync(&s(0)?).await),
        "getInstanceHeartbeat" => {
            let instance = match a.first() {
                None | Some(Value::Null) => None,
                Some(_) => Some(s(0)?),
            };
            Ok(json!(
                service.get_instance_heartbeat(instance.as_deref()).await?
            ))
        }
        "isUserOnline" => Ok(json!(service.is_user_online(&s(0)?).await?)),
        "emitToUser" => Ok(json!(service.emit_to_user(&s(0)?, &s(1)?, rest(2)).await?)),
        "emitToSocket" => Ok(json!(
            service.emit_to_socket(&s(0)?, &s(1)?, rest(2)).await?
        )),
        "emitToRoom" => unit(service.emit_to_room(&s(0)?, &s(1)?, rest(2)).await),
        "emitToAll" => unit(service.emit_to_all(&s(0)?, rest(1)).await),
        "openConversation" => Ok(json!(service.open_conversation(&s(0)?, &s(1)?).await?)),
        _ => Err(ChatServiceError::NoCommand(method.to_string())),
    }
}

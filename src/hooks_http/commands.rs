//! `<command>:before` and `<command>:after` over HTTP: the request bodies
//! and the answers of interface.md 7. A before-hook fails closed (a failed
//! call acks `internalError`), an after-hook open (a failed call keeps the
//! command's outcome).

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::backend::{Answer, Backend};
use crate::error::Result;
use crate::service::hooks::{ExecInfo, Flow, Hooks};

pub(super) fn install_before(hooks: &mut Hooks, command: &'static str, backend: Arc<Backend>) {
    let hook: Arc<str> = format!("{command}:before").into();
    hooks.add_before(command, move |info| {
        let (backend, hook) = (backend.clone(), hook.clone());
        async move { before(&backend, &hook, command, info).await }
    });
}

pub(super) fn install_after(hooks: &mut Hooks, command: &'static str, backend: Arc<Backend>) {
    let hook: Arc<str> = format!("{command}:after").into();
    hooks.add_after(command, move |info| {
        let (backend, hook) = (backend.clone(), hook.clone());
        async move { after(&backend, &hook, command, info).await }
    });
}

/// `{}` goes on; `{"args"}` goes on with them (the dispatcher validates
/// them again); `{"result"}` replies instead of running (an empty list
/// runs the command, as a Rust hook's empty reply); `{"error"}` fails.
async fn before(backend: &Backend, hook: &str, command: &str, mut info: ExecInfo) -> Result<Flow> {
    let body = request(hook, command, &info);
    let answer = Answer::read(hook, backend.call(hook, &Value::Object(body)).await?)?;
    if let Some(error) = answer.error {
        return Err(error);
    }
    if let Some(values) = answer.result {
        return Ok(Flow::Reply(values));
    }
    if let Some(args) = answer.args {
        info.args = args;
    }
    Ok(Flow::Continue(Box::new(info)))
}

/// `{}` keeps the outcome; `{"result"}` or `{"error"}` replaces it. A
/// failed call keeps it too (logged and counted by the backend).
async fn after(
    backend: &Backend,
    hook: &str,
    command: &str,
    info: ExecInfo,
) -> Result<Option<Vec<Value>>> {
    let mut body = request(hook, command, &info);
    match (&info.results, &info.error) {
        (_, Some(error)) => {
            let error =
                json!({"code": error.code(), "args": error.args(), "message": error.message()});
            body.insert("error".into(), error);
        }
        (results, None) => {
            let results = results.clone().unwrap_or_default();
            body.insert("result".into(), Value::Array(results));
        }
    }
    let answer = backend
        .call(hook, &Value::Object(body))
        .await
        .and_then(|answer| Answer::read(hook, answer));
    match answer {
        Ok(Answer {
            error: Some(error), ..
        }) => Err(error),
        Ok(answer) => Ok(answer.result),
        Err(_) => Ok(None),
    }
}

/// The fields every command hook sends: `hook`, `instanceId`, `id`,
/// `user`, `command`, `args`, `bypassPermissions`.
fn request(hook: &str, command: &str, info: &ExecInfo) -> Map<String, Value> {
    let mut body = super::request(hook, &info.server, info.id.clone());
    body.insert("user".into(), info.user_name.clone().into());
    body.insert("command".into(), command.into());
    body.insert("args".into(), Value::Array(info.args.clone()));
    body.insert("bypassPermissions".into(), info.bypass_permissions.into());
    body
}

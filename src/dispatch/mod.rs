//! The one path every command takes, from a socket or from the server API
//! (protocol.md 2.2): argument split and validation, the custom message
//! checker, the before-hook, the command, the after-hook.

mod hooks;
mod server_calls;

use std::time::Instant;

use serde_json::{Map, Value};
use tracing::Instrument;

use crate::commands::{self, Caller, Command, Ctx};
use crate::error::{ChatServiceError, Result};
use crate::metrics;
use crate::service::ChatService;
use crate::service::hooks::{CallContext, ExecInfo, Flow};
pub(crate) use hooks::ServiceHooks;

/// Splits and validates arguments, running the custom message checkers.
/// Returns the parsed command, the arguments and the rest.
async fn validate(
    service: &ChatService,
    name: &str,
    mut args: Vec<Value>,
) -> Result<(Command, Vec<Value>, Vec<Value>)> {
    let arity =
        commands::arity(name).ok_or_else(|| ChatServiceError::NoCommand(name.to_string()))?;
    if args.len() < arity {
        return Err(ChatServiceError::WrongArgumentsCount(arity, args.len()));
    }
    let rest = args.split_off(arity);
    let command = Command::parse(name, &args, service.formats())?;
    if let Some((message, checker)) = command.custom_message(service.hooks()) {
        checker(message.clone()).await?;
    }
    Ok((command, args, rest))
}

/// The validation error of a request whose argument at `position` could
/// not be read (nested too deeply; `json` is its text): `badArgument` at
/// that position unless the count or an earlier position fails first, as
/// validation reports the first failure. `None` if the argument is beyond
/// the command's arity (it is cut off, as extra arguments are).
pub(crate) fn unreadable_argument(
    service: &ChatService,
    name: &str,
    args: &[Value],
    position: usize,
    json: String,
) -> Option<ChatServiceError> {
    let arity = commands::arity(name)?;
    if position >= arity {
        return None;
    }
    if args.len() < arity {
        return Some(ChatServiceError::WrongArgumentsCount(arity, args.len()));
    }
    // Positions before this one are checked as usual; missing arguments
    // read as `null`, so a failure at `position` or later is this one.
    Some(
        match Command::parse(name, &args[..position], service.formats()) {
            Err(error @ ChatServiceError::BadArgument(earlier, _)) if earlier < position => error,
            _ => ChatServiceError::BadArgument(position, Value::String(json)),
        },
    )
}

/// `checkArguments`: validation only.
async fn check_arguments(service: &ChatService, name: &str, args: Vec<Value>) -> Result<()> {
    validate(service, name, args).await.map(|_| ())
}

/// Runs one command through the whole pipeline; the result is the list of
/// ack values after `null`. Measured (`crate::metrics`: count by outcome,
/// latency) and traced in a `command` span with the command's name, user
/// and room. The span is at debug level: at info the fmt subscriber
/// formatted its fields for every command, ~5 % of the server's CPU in a
/// room-message fan-out.
pub(crate) async fn execute(
    service: &ChatService,
    context: CallContext,
    name: &str,
    args: Vec<Value>,
) -> Result<Vec<Value>> {
    let room = name
        .starts_with("room")
        .then(|| args.first().and_then(Value::as_str))
        .flatten();
    let span = tracing::debug_span!("command", name, user = context.user_name.as_deref(), room);
    let started = Instant::now();
    let outcome = pipeline(service, context, name, args)
        .instrument(span)
        .await;
    metrics::command_done(commands::metric_label(name), &outcome, started.elapsed());
    outcome
}

async fn pipeline(
    service: &ChatService,
    context: CallContext,
    name: &str,
    args: Vec<Value>,
) -> Result<Vec<Value>> {
    let (command, args, rest_args) = validate(service, name, args).await?;
    let hooks = service.hooks();
    let before = (!context.bypass_hooks)
        .then(|| hooks.before.get(name))
        .flatten();
    let after = (!context.bypass_hooks)
        .then(|| hooks.after.get(name))
        .flatten();
    if before.is_none() && after.is_none() {
        return run(service, &context, command).await.map(|v| vec![v]);
    }

    let mut info = ExecInfo {
        server: service.clone(),
        user_name: context.user_name.clone(),
        id: context.id.clone(),
        args,
        rest_args,
        bypass_permissions: context.is_local_call.then_some(context.bypass_permissions),
        bypass_hooks: context.bypass_hooks,
        is_local_call: context.is_local_call,
        results: None,
        error: None,
        data: Map::new(),
    };
    let mut command = Some(command);
    if let Some(before) = before {
        // An empty reply lets the command run, as in the original; the
        // hook took `info` by value, so keep what it started from.
        let start = info.clone();
        match before(info).await? {
            Flow::Reply(values) if !values.is_empty() => return Ok(values),
            Flow::Reply(_) => info = start,
            Flow::Continue(next) => {
                info = *next;
                if info.args != start.args {
                    command = Some(Command::parse(name, &info.args, service.formats())?);
                }
            }
        }
    }
    let outcome = match command {
        Some(command) => run(service, &context, command).await,
        None => Err(ChatServiceError::internal("missing command")),
    };
    let Some(after) = after else {
        return outcome.map(|v| vec![v]);
    };
    match &outcome {
        Ok(value) => info.results = Some(vec![value.clone()]),
        Err(error) => info.error = Some(error.clone()),
    }
    match after(info).await? {
        Some(values) if !values.is_empty() => Ok(values),
        _ => outcome.map(|v| vec![v]),
    }
}

/// The parts of a service a command or a disconnect cleanup sees, for a
/// caller; `hooks` hands the service to the hooks.
pub(crate) fn context<'a>(
    service: &'a ChatService,
    hooks: &'a ServiceHooks<'a>,
    caller: Caller<'a>,
) -> Ctx<'a> {
    Ctx {
        state: service.state(),
        notify: service.notify(),
        options: service.options(),
        hooks,
        deliveries: service.deliveries(),
        events: service.events(),
        caller,
    }
}

async fn run(service: &ChatService, context: &CallContext, command: Command) -> Result<Value> {
    let hooks = ServiceHooks(service);
    let caller = Caller {
        user: context.user_name.as_deref(),
        id: context.id.as_deref(),
        bypass: context.bypass_permissions,
        is_local_call: context.is_local_call,
    };
    let cx = self::context(service, &hooks, caller);
    // Boxed so the futures of all 24 commands are not laid out inline in
    // every caller's future (deep nesting otherwise overflows the
    // compiler's layout depth).
    let apply: std::pin::Pin<Box<dyn std::future::Future<Output = Result<Value>> + Send + '_>> =
        Box::pin(command.apply(&cx));
    apply.await
}

//! Direct messaging: `directMessage` and the per-user lists and mode
//! (protocol.md 5.1).

use serde_json::{Map, Value, json};

use super::{Cmd, string_array};
use super::{Ctx, args};
use crate::error::{ChatServiceError, Result};
use crate::notify::Target;
use crate::options::Formats;
use crate::state::now_ms;
use crate::state::{DirectList, ListOp};

/// The direct lists are the caller's own: anonymous calls have none.
fn owner<'a>(cx: &'a Ctx<'_>) -> Result<&'a str> {
    cx.user().ok_or(ChatServiceError::NotAllowed)
}

pub struct DirectAddToList {
    pub list: String,
    pub names: Vec<String>,
}

pub struct DirectRemoveFromList {
    pub list: String,
    pub names: Vec<String>,
}

async fn change_list(cx: &Ctx<'_>, list: &str, names: &[String], op: ListOp) -> Result<Value> {
    let user = owner(cx)?;
    let list = DirectList::parse(list)?;
    if names.iter().any(|n| n == user) {
        return Err(ChatServiceError::NotAllowed);
    }
    let limit = cx.options.direct_list_size_limit;
    cx.state
        .direct_change_list(user, list, names, op, limit)
        .await?;
    Ok(Value::Null)
}

fn parse_list_change(a: &[Value]) -> Result<(String, Vec<String>)> {
    Ok((args::string(a, 0)?, args::strings(a, 1)?))
}

impl Cmd for DirectAddToList {
    const ARITY: usize = 2;
    fn parse(a: &[Value], _: &Formats) -> Result<Self> {
        let (list, names) = parse_list_change(a)?;
        Ok(Self { list, names })
    }
    async fn apply(self, cx: &Ctx<'_>) -> Result<Value> {
        change_list(cx, &self.list, &self.names, ListOp::Add).await
    }
}

impl Cmd for DirectRemoveFromList {
    const ARITY: usize = 2;
    fn parse(a: &[Value], _: &Formats) -> Result<Self> {
        let (list, names) = parse_list_change(a)?;
        Ok(Self { list, names })
    }
    async fn apply(self, cx: &Ctx<'_>) -> Result<Value> {
        change_list(cx, &self.list, &self.names, ListOp::Remove).await
    }
}

pub struct DirectGetAccessList {
    pub list: String,
}

impl Cmd for DirectGetAccessList {
    const ARITY: usize = 1;
    fn parse(a: &[Value], _: &Formats) -> Result<Self> {
        Ok(Self {
            list: args::string(a, 0)?,
        })
    }
    async fn apply(self, cx: &Ctx<'_>) -> Result<Value> {
        let user = owner(cx)?;
        let list = DirectList::parse(&self.list)?;
        Ok(string_array(cx.state.direct_get_list(user, list).await?))
    }
}

pub struct DirectGetWhitelistMode;

impl Cmd for DirectGetWhitelistMode {
    const ARITY: usize = 0;
    fn parse(_: &[Value], _: &Formats) -> Result<Self> {
        Ok(Self)
    }
    async fn apply(self, cx: &Ctx<'_>) -> Result<Value> {
        let user = owner(cx)?;
        Ok(json!(cx.state.direct_whitelist_only(user).await?))
    }
}

pub struct DirectSetWhitelistMode {
    pub whitelist_only: bool,
}

impl Cmd for DirectSetWhitelistMode {
    const ARITY: usize = 1;
    fn parse(a: &[Value], _: &Formats) -> Result<Self> {
        Ok(Self {
            whitelist_only: args::boolean(a, 0)?,
        })
    }
    async fn apply(self, cx: &Ctx<'_>) -> Result<Value> {
        let user = owner(cx)?;
        cx.state
            .direct_set_whitelist_only(user, self.whitelist_only)
            .await?;
        Ok(Value::Null)
    }
}

pub struct DirectMessage {
    pub to: String,
    pub message: Map<String, Value>,
}

/// A direct message as delivered: client fields, then `timestamp`, then
/// `author` (an `author` the client sent keeps its place).
fn process(mut fields: Map<String, Value>, author: Option<&str>) -> Value {
    fields.shift_remove("id");
    fields.shift_remove("timestamp");
    fields.insert("timestamp".into(), json!(now_ms()));
    if let Some(author) = author {
        fields.insert("author".into(), json!(author));
    }
    Value::Object(fields)
}

impl Cmd for DirectMessage {
    const ARITY: usize = 2;
    fn parse(a: &[Value], formats: &Formats) -> Result<Self> {
        Ok(Self {
            to: args::string(a, 0)?,
            message: args::message(a, 1, &formats.direct, formats.max_message_bytes)?,
        })
    }
    async fn apply(self, cx: &Ctx<'_>) -> Result<Value> {
        if !cx.options.enable_direct_messages {
            return Err(ChatServiceError::NotAllowed);
        }
        let message = process(self.message, cx.user());
        let state = cx.state;
        if cx.user() == Some(self.to.as_str()) {
            state.user_nconnected(&self.to).await?;
            return Err(ChatServiceError::NotAllowed);
        }
        let sender = (!cx.bypass()).then(|| cx.user().unwrap_or_default());
        let recipient = state.direct_recipient(&self.to, sender).await?;
        if !recipient.access {
            return Err(ChatServiceError::NotAllowed);
        }
        if recipient.nconnected == 0 {
            return Err(ChatServiceError::NoUserOnline(self.to));
        }
        let recipient = Target::User {
            name: &self.to,
            except: None,
        };
        cx.notify
            .emit(recipient, "directMessage", std::slice::from_ref(&message))
            .await;
        crate::metrics::direct_message_delivered();
        if let Some(user) = cx.user() {
            let echo = Target::User {
                name: user,
                except: cx.echo_except(),
            };
            cx.notify
                .emit(
                    echo,
                    "directMessageEcho",
                    &[json!(self.to), message.clone()],
                )
                .await;
        }
        Ok(message)
    }
}

//! The caller's own sockets: `listOwnSockets` and `systemMessage`.

use serde_json::{Map, Value};

use super::{Cmd, string_array};
use super::{Ctx, args};
use crate::error::Result;
use crate::notify::Target;
use crate::options::Formats;

pub struct ListOwnSockets;

impl Cmd for ListOwnSockets {
    const ARITY: usize = 0;
    fn parse(_: &[Value], _: &Formats) -> Result<Self> {
        Ok(Self)
    }
    async fn apply(self, cx: &Ctx<'_>) -> Result<Value> {
        let Some(user) = cx.user() else {
            return Ok(Value::Object(Map::new()));
        };
        let sockets = cx.state.user_sockets(user).await?;
        Ok(Value::Object(
            sockets
                .into_iter()
                .map(|(id, rooms)| (id, string_array(rooms)))
                .collect(),
        ))
    }
}

pub struct SystemMessage {
    pub data: Value,
}

impl Cmd for SystemMessage {
    const ARITY: usize = 1;
    fn parse(a: &[Value], _: &Formats) -> Result<Self> {
        Ok(Self {
            data: args::any(a, 0),
        })
    }
    async fn apply(self, cx: &Ctx<'_>) -> Result<Value> {
        if let Some(user) = cx.user() {
            let others = Target::User {
                name: user,
                except: cx.echo_except(),
            };
            cx.notify
                .emit(others, "systemMessage", std::slice::from_ref(&self.data))
                .await;
        }
        Ok(Value::Null)
    }
}

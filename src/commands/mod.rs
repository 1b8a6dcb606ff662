//! The 24 client commands, one type each with `parse` (from validated
//! socket.io arguments) and `apply`, grouped by family:
//! - `rooms`: lifecycle, join and leave, and the removal machinery;
//! - `room_access`: lists, modes and room reads;
//! - `room_history`: messages and history;
//! - `direct`: direct messages and their lists;
//! - `user`: the caller's own sockets and system messages.

/// A command whose one argument is a room name: the struct, its parse, and
/// `apply` from the given body (`room` bound to the name).
macro_rules! room_command {
    ($(#[$doc:meta])* $name:ident, |$cx:ident, $room:ident| $body:block) => {
        $(#[$doc])*
        pub struct $name {
            pub room: String,
        }

        impl $crate::commands::Cmd for $name {
            const ARITY: usize = 1;
            fn parse(a: &[serde_json::Value], _: &$crate::options::Formats) -> $crate::error::Result<Self> {
                Ok(Self {
                    room: $crate::commands::args::string(a, 0)?,
                })
            }
            async fn apply(self, $cx: &$crate::commands::Ctx<'_>) -> $crate::error::Result<serde_json::Value> {
                let $room = self.room.as_str();
                $body
            }
        }
    };
}

pub(crate) mod args;
mod context;
mod direct;
mod room_access;
mod room_history;
pub(crate) mod rooms;
#[cfg(test)]
mod tests;
mod user;

use std::future::Future;

use serde_json::Value;

use crate::error::{ChatServiceError, Result};
use crate::options::Formats;
use crate::service::hooks::{Checker, Hooks};
pub(crate) use context::{Caller, CommandHooks, Ctx};

/// One client command.
pub(crate) trait Cmd: Sized {
    /// The number of arguments (checkers).
    const ARITY: usize;
    /// Reads the arguments; `badArgument` on the first that fails.
    fn parse(args: &[Value], formats: &Formats) -> Result<Self>;
    /// Runs the command; the value is the ack's data.
    fn apply(self, cx: &Ctx<'_>) -> impl Future<Output = Result<Value>> + Send;
}

macro_rules! commands {
    ($($name:literal => $variant:ident($ty:ty),)*) => {
        /// A parsed client command.
        pub enum Command {
            $($variant($ty),)*
        }

        /// Every command name, as clients send it.
        pub const NAMES: &[&str] = &[$($name,)*];

        /// The command's name as a metric label: `unknown` for a name
        /// that is no command (any string a client sends).
        pub fn metric_label(name: &str) -> &'static str {
            NAMES.iter().find(|n| **n == name).copied().unwrap_or("unknown")
        }

        /// The arity of a command, `None` if there is no such command.
        pub fn arity(name: &str) -> Option<usize> {
            match name {
                $($name => Some(<$ty as Cmd>::ARITY),)*
                _ => None,
            }
        }

        impl Command {
            pub fn parse(name: &str, args: &[Value], formats: &Formats) -> Result<Self> {
                match name {
                    $($name => <$ty as Cmd>::parse(args, formats).map(Command::$variant),)*
                    _ => Err(ChatServiceError::NoCommand(name.to_string())),
                }
            }

            pub async fn apply(self, cx: &Ctx<'_>) -> Result<Value> {
                match self {
                    $(Command::$variant(command) => command.apply(cx).await,)*
                }
            }
        }
    };
}

commands! {
    "directAddToList" => DirectAddToList(direct::DirectAddToList),
    "directGetAccessList" => DirectGetAccessList(direct::DirectGetAccessList),
    "directGetWhitelistMode" => DirectGetWhitelistMode(direct::DirectGetWhitelistMode),
    "directMessage" => DirectMessage(direct::DirectMessage),
    "directRemoveFromList" => DirectRemoveFromList(direct::DirectRemoveFromList),
    "directSetWhitelistMode" => DirectSetWhitelistMode(direct::DirectSetWhitelistMode),
    "listOwnSockets" => ListOwnSockets(user::ListOwnSockets),
    "roomAddToList" => RoomAddToList(room_access::RoomAddToList),
    "roomCreate" => RoomCreate(rooms::RoomCreate),
    "roomDelete" => RoomDelete(rooms::RoomDelete),
    "roomGetAccessList" => RoomGetAccessList(room_access::RoomGetAccessList),
    "roomGetOwner" => RoomGetOwner(room_access::RoomGetOwner),
    "roomGetWhitelistMode" => RoomGetWhitelistMode(room_access::RoomGetWhitelistMode),
    "roomHistoryGet" => RoomHistoryGet(room_history::RoomHistoryGet),
    "roomHistoryInfo" => RoomHistoryInfo(room_history::RoomHistoryInfo),
    "roomJoin" => RoomJoin(rooms::RoomJoin),
    "roomLeave" => RoomLeave(rooms::RoomLeave),
    "roomMessage" => RoomMessage(room_history::RoomMessage),
    "roomNotificationsInfo" => RoomNotificationsInfo(room_access::RoomNotificationsInfo),
    "roomRecentHistory" => RoomRecentHistory(room_history::RoomRecentHistory),
    "roomRemoveFromList" => RoomRemoveFromList(room_access::RoomRemoveFromList),
    "roomSetWhitelistMode" => RoomSetWhitelistMode(room_access::RoomSetWhitelistMode),
    "roomUserSeen" => RoomUserSeen(room_access::RoomUserSeen),
    "systemMessage" => SystemMessage(user::SystemMessage),
}

impl Command {
    /// The message to run through a custom format checker, if any.
    pub fn custom_message<'h>(&self, hooks: &'h Hooks) -> Option<(Value, &'h Checker)> {
        match self {
            Command::RoomMessage(c) => hooks
                .room_messages_checker
                .as_ref()
                .map(|checker| (Value::Object(c.message.clone()), checker)),
            Command::DirectMessage(c) => hooks
                .direct_messages_checker
                .as_ref()
                .map(|checker| (Value::Object(c.message.clone()), checker)),
            _ => None,
        }
    }
}

/// A list of strings as a JSON array.
pub(crate) fn string_array(items: Vec<String>) -> Value {
    Value::Array(items.into_iter().map(Value::String).collect())
}

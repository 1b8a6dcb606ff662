//! Room access lists and modes (`roomAddToList`, `roomRemoveFromList`,
//! `roomSetWhitelistMode`) and the room reads (`roomGetAccessList`,
//! `roomGetOwner`, `roomGetWhitelistMode`, `roomNotificationsInfo`,
//! `roomUserSeen`).

use serde_json::{Value, json};

use super::rooms::remove_users;
use super::{Cmd, string_array};
use super::{Ctx, args};
use crate::error::Result;
use crate::notify::Target;
use crate::options::Formats;
use crate::state::{AccessChange, ListOp, RoomListName};

/// Notifies an access change, then removes who lost access (5.8).
async fn finish_access_change(
    cx: &Ctx<'_>,
    room: &str,
    change: AccessChange,
    event: &str,
    args: &[Value],
) {
    if change.access_lists_updates {
        cx.notify.emit(Target::Room(room), event, args).await;
    }
    remove_users(cx, room, &change.removed_users).await;
}

pub struct RoomAddToList {
    pub room: String,
    pub list: RoomListName,
    pub names: Vec<String>,
}

pub struct RoomRemoveFromList {
    pub room: String,
    pub list: RoomListName,
    pub names: Vec<String>,
}

fn parse_list_change(a: &[Value]) -> Result<(String, RoomListName, Vec<String>)> {
    Ok((
        args::string(a, 0)?,
        args::string(a, 1)?.into(),
        args::strings(a, 2)?,
    ))
}

async fn change_list(
    cx: &Ctx<'_>,
    room: String,
    list: RoomListName,
    names: Vec<String>,
    op: ListOp,
) -> Result<Value> {
    let limit = cx.options.room_list_size_limit;
    let change = cx
        .state
        .room_change_list(&room, cx.actor(), &list, &names, op, limit)
        .await?;
    let event = match op {
        ListOp::Add => "roomAccessListAdded",
        ListOp::Remove => "roomAccessListRemoved",
    };
    let args = [
        json!(room),
        json!(list.as_str()),
        super::string_array(names),
    ];
    finish_access_change(cx, &room, change, event, &args).await;
    Ok(Value::Null)
}

impl Cmd for RoomAddToList {
    const ARITY: usize = 3;
    fn parse(a: &[Value], _: &Formats) -> Result<Self> {
        let (room, list, names) = parse_list_change(a)?;
        Ok(Self { room, list, names })
    }
    async fn apply(self, cx: &Ctx<'_>) -> Result<Value> {
        change_list(cx, self.room, self.list, self.names, ListOp::Add).await
    }
}

impl Cmd for RoomRemoveFromList {
    const ARITY: usize = 3;
    fn parse(a: &[Value], _: &Formats) -> Result<Self> {
        let (room, list, names) = parse_list_change(a)?;
        Ok(Self { room, list, names })
    }
    async fn apply(self, cx: &Ctx<'_>) -> Result<Value> {
        change_list(cx, self.room, self.list, self.names, ListOp::Remove).await
    }
}

pub struct RoomSetWhitelistMode {
    pub room: String,
    pub whitelist_only: bool,
}

impl Cmd for RoomSetWhitelistMode {
    const ARITY: usize = 2;
    fn parse(a: &[Value], _: &Formats) -> Result<Self> {
        Ok(Self {
            room: args::string(a, 0)?,
            whitelist_only: args::boolean(a, 1)?,
        })
    }
    async fn apply(self, cx: &Ctx<'_>) -> Result<Value> {
        let change = cx
            .state
            .room_set_whitelist_only(&self.room, cx.actor(), self.whitelist_only)
            .await?;
        let args = [json!(self.room), json!(self.whitelist_only)];
        finish_access_change(cx, &self.room, change, "roomModeChanged", &args).await;
        Ok(Value::Null)
    }
}

pub struct RoomGetAccessList {
    pub room: String,
    pub list: RoomListName,
}

impl Cmd for RoomGetAccessList {
    const ARITY: usize = 2;
    fn parse(a: &[Value], _: &Formats) -> Result<Self> {
        Ok(Self {
            room: args::string(a, 0)?,
            list: args::string(a, 1)?.into(),
        })
    }
    async fn apply(self, cx: &Ctx<'_>) -> Result<Value> {
        let state = cx.state;
        let list = state
            .room_get_list(&self.room, &self.list, cx.read_presence())
            .await?;
        Ok(string_array(list))
    }
}

room_command!(RoomGetOwner, |cx, room| {
    let owner = cx.state.room_owner(room, cx.read_presence()).await?;
    Ok(owner.map_or(Value::Null, Value::String))
});

room_command!(RoomGetWhitelistMode, |cx, room| {
    let mode = cx
        .state
        .room_whitelist_only(room, cx.read_presence())
        .await?;
    Ok(json!(mode))
});

room_command!(RoomNotificationsInfo, |cx, room| {
    let info = cx
        .state
        .room_notifications(room, cx.read_presence())
        .await?;
    Ok(json!({
        "enableUserlistUpdates": info.enable_userlist_updates,
        "enableAccessListsUpdates": info.enable_access_lists_updates,
    }))
});

pub struct RoomUserSeen {
    pub room: String,
    pub user: String,
}

impl Cmd for RoomUserSeen {
    const ARITY: usize = 2;
    fn parse(a: &[Value], _: &Formats) -> Result<Self> {
        Ok(Self {
            room: args::string(a, 0)?,
            user: args::string(a, 1)?,
        })
    }
    async fn apply(self, cx: &Ctx<'_>) -> Result<Value> {
        let seen = cx
            .state
            .room_user_seen(&self.room, &self.user, cx.read_presence())
            .await?;
        Ok(json!({"joined": seen.joined, "timestamp": seen.timestamp}))
    }
}

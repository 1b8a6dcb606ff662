//! The access rules of rooms and direct messages (protocol.md 4.2-4.5,
//! 13), once, as pure functions over what a store holds: every in-process
//! store uses these. The Redis state keeps its own copy in Lua
//! (`redis/lua/room_common.lua` and the scripts), where the check must run
//! inside the script that changes; the conformance suite holds both to the
//! same cases.
//!
//! Presence is asked for with a closure (`present`), since a store may keep
//! the userlist apart from the room's durable record.

use super::{Actor, DirectList, ListOp, Presence, RoomList, RoomListName};
use crate::error::{ChatServiceError, Result};

/// What the rules read of a room's durable record.
pub(crate) trait RoomAcl {
    fn owner(&self) -> Option<&str>;
    fn whitelist_only(&self) -> bool;
    /// Whether `name` is in an access list (never asked of the userlist).
    fn in_list(&self, list: RoomList, name: &str) -> bool;
}

/// What the rules read of a user's direct-messaging record.
pub(crate) trait DirectAcl {
    fn whitelist_only(&self) -> bool;
    fn in_list(&self, list: DirectList, name: &str) -> bool;
}

/// The owner or a name in the adminlist.
pub(crate) fn is_admin(room: &impl RoomAcl, user: &str) -> bool {
    room.owner() == Some(user) || room.in_list(RoomList::Adminlist, user)
}

/// 4.2: admins always; then not blacklisted, and whitelisted in
/// whitelist-only mode.
pub(crate) fn has_access(room: &impl RoomAcl, user: &str) -> bool {
    if is_admin(room, user) {
        return true;
    }
    if room.in_list(RoomList::Blacklist, user) {
        return false;
    }
    !room.whitelist_only() || room.in_list(RoomList::Whitelist, user)
}

/// 4.3, room reads: `notJoined` unless the presence they require holds.
pub(crate) fn check_presence(
    room: &impl RoomAcl,
    room_name: &str,
    presence: Presence<'_>,
    present: impl Fn(&str) -> bool,
) -> Result<()> {
    let allowed = match presence {
        Presence::Any => true,
        Presence::Member(user) => user.is_some_and(present),
        Presence::MemberOrAdmin(user) => user.is_some_and(|u| present(u) || is_admin(room, u)),
    };
    if allowed {
        Ok(())
    } else {
        Err(ChatServiceError::NotJoined(room_name.to_string()))
    }
}

/// 4.3, `roomMessage`: the author must be present (admins are not
/// exempt) unless the call bypasses permissions.
pub(crate) fn check_author(
    room_name: &str,
    author: Option<&str>,
    require_member: bool,
    present: impl Fn(&str) -> bool,
) -> Result<()> {
    if require_member && !author.is_some_and(present) {
        return Err(ChatServiceError::NotJoined(room_name.to_string()));
    }
    Ok(())
}

/// 4.4, `roomDelete`: the owner only, unless bypassed.
pub(crate) fn check_delete(room: &impl RoomAcl, actor: Actor<'_>) -> Result<()> {
    if actor.bypass || actor.user.is_some_and(|user| room.owner() == Some(user)) {
        Ok(())
    } else {
        Err(ChatServiceError::NotAllowed)
    }
}

/// 4.4, `roomSetWhitelistMode`: admins, or bypass.
pub(crate) fn check_mode_change(room: &impl RoomAcl, actor: Actor<'_>) -> Result<()> {
    if actor.bypass || actor.user.is_some_and(|user| is_admin(room, user)) {
        Ok(())
    } else {
        Err(ChatServiceError::NotAllowed)
    }
}

/// 4.4, list changes, in the protocol's order: the userlist never; bypass
/// and the owner always; then not the adminlist, only admins, and no name
/// equal to the owner; only then `noList`. Gives the list to change.
pub(crate) fn check_list_change(
    room: &impl RoomAcl,
    actor: Actor<'_>,
    list: &RoomListName,
    names: &[String],
) -> Result<RoomList> {
    if *list == RoomListName::Known(RoomList::Userlist) {
        return Err(ChatServiceError::NotAllowed);
    }
    if !actor.bypass {
        let user = actor.user.ok_or(ChatServiceError::NotAllowed)?;
        if room.owner() != Some(user) {
            if *list == RoomListName::Known(RoomList::Adminlist)
                || !room.in_list(RoomList::Adminlist, user)
            {
                return Err(ChatServiceError::NotAllowed);
            }
            if let Some(owner) = room.owner()
                && names.iter().any(|name| name == owner)
            {
                return Err(ChatServiceError::NotAllowed);
            }
        }
    }
    list.known()
}

/// 4.4 and 13, the size limit of an addition: the present size plus every
/// requested name (present ones and duplicates too) within `limit`.
pub(crate) fn check_list_limit(
    size: usize,
    names: &[String],
    limit: usize,
    list_name: &str,
) -> Result<()> {
    if size + names.len() > limit {
        return Err(ChatServiceError::ListLimitExceeded(list_name.to_string()));
    }
    Ok(())
}

/// 4.5, who a list change removes, read after the change: the present
/// non-admins among the names (once each) of a blacklist addition, or of a
/// whitelist removal in whitelist-only mode; nobody otherwise.
pub(crate) fn removed_by_list_change(
    room: &impl RoomAcl,
    list: RoomList,
    op: ListOp,
    names: &[String],
    present: impl Fn(&str) -> bool,
) -> Vec<String> {
    let losing = match (list, op) {
        (RoomList::Blacklist, ListOp::Add) => true,
        (RoomList::Whitelist, ListOp::Remove) => room.whitelist_only(),
        _ => false,
    };
    let mut out: Vec<String> = Vec::new();
    if losing {
        for name in names {
            if present(name) && !is_admin(room, name) && !out.contains(name) {
                out.push(name.clone());
            }
        }
    }
    out
}

/// 4.5, who a whitelist mode change removes: setting it removes every
/// present user in neither the whitelist nor the adminlist, the owner too
/// unless listed; clearing it removes nobody.
pub(crate) fn removed_by_whitelist_mode<'a>(
    room: &impl RoomAcl,
    mode: bool,
    userlist: impl IntoIterator<Item = &'a String>,
) -> Vec<String> {
    if !mode {
        return Vec::new();
    }
    userlist
        .into_iter()
        .filter(|user| {
            !room.in_list(RoomList::Whitelist, user) && !room.in_list(RoomList::Adminlist, user)
        })
        .cloned()
        .collect()
}

/// 13, whether `sender` may write to a user: not blacklisted, and
/// whitelisted in whitelist-only mode. Without a sender (a bypassing
/// call), always.
pub(crate) fn has_direct_access(recipient: &impl DirectAcl, sender: Option<&str>) -> bool {
    sender.is_none_or(|sender| {
        !recipient.in_list(DirectList::Blacklist, sender)
            && (!recipient.whitelist_only() || recipient.in_list(DirectList::Whitelist, sender))
    })
}

//! List names and list operations, typed: the room lists (4.1), a room list
//! name as a command reads it, the direct-messaging lists (13).

use crate::error::{ChatServiceError, Result};

/// A room list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RoomList {
    Adminlist,
    Whitelist,
    Blacklist,
    /// The present users: read like the others, never changed by a list
    /// command (4.4), and not durable (it is presence).
    Userlist,
}

impl RoomList {
    /// `noList` for a name that is not a room list.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "adminlist" => Ok(Self::Adminlist),
            "whitelist" => Ok(Self::Whitelist),
            "blacklist" => Ok(Self::Blacklist),
            "userlist" => Ok(Self::Userlist),
            _ => Err(ChatServiceError::NoList(name.to_string())),
        }
    }

    /// The protocol's name of the list.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Adminlist => "adminlist",
            Self::Whitelist => "whitelist",
            Self::Blacklist => "blacklist",
            Self::Userlist => "userlist",
        }
    }
}

/// A room list name as a command read it from its arguments: a known list,
/// or the unknown name itself.
///
/// Commands parse the name where they read their arguments, but an unknown
/// name is carried to the state instead of being refused there, because
/// the protocol reports `noList` late: room reads check `noRoom`, then the
/// caller's presence, then the list (5.7); list changes check `noRoom`,
/// then the permissions, then the list (4.4: a non-admin naming a bad list
/// gets `notAllowed`, an admin `noList`). Only the state can run the checks
/// that come first, so only it turns `Unknown` into `noList`
/// ([`RoomListName::known`]), at the point the protocol says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomListName {
    Known(RoomList),
    Unknown(String),
}

impl RoomListName {
    pub fn parse(name: &str) -> Self {
        RoomList::parse(name).map_or_else(|_| Self::Unknown(name.to_string()), Self::Known)
    }

    /// The list, or `noList` with the name.
    pub fn known(&self) -> Result<RoomList> {
        match self {
            Self::Known(list) => Ok(*list),
            Self::Unknown(name) => Err(ChatServiceError::NoList(name.clone())),
        }
    }

    /// The name as the client sent it (a known name has one spelling).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Known(list) => list.as_str(),
            Self::Unknown(name) => name,
        }
    }
}

impl From<String> for RoomListName {
    fn from(name: String) -> Self {
        RoomList::parse(&name).map_or(Self::Unknown(name), Self::Known)
    }
}

impl From<RoomList> for RoomListName {
    fn from(list: RoomList) -> Self {
        Self::Known(list)
    }
}

/// A direct-messaging list. Direct commands report `noList` before
/// anything the state checks (5.1), so they parse the name up front.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DirectList {
    Whitelist,
    Blacklist,
    /// Not an access list: the users this one has a stored conversation
    /// with (`conversations.rs`). Kept with the user like the others, but
    /// no client command names it: `parse` does not know it.
    Conversations,
}

impl DirectList {
    /// `noList` for a name that is not a direct list.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "whitelist" => Ok(Self::Whitelist),
            "blacklist" => Ok(Self::Blacklist),
            _ => Err(ChatServiceError::NoList(name.to_string())),
        }
    }

    /// The protocol's name of the list.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Whitelist => "whitelist",
            Self::Blacklist => "blacklist",
            Self::Conversations => "conversations",
        }
    }
}

/// Add to or remove from a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListOp {
    Add,
    Remove,
}

//! What `State` operations take and give back, besides lists and messages:
//! room and user settings, who acts, the presence a read requires, and one
//! named result type per operation that reports more than one value.

use crate::options::ServiceOptions;

/// The state of a room as `addRoom` gives it (protocol.md 4.1).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoomConfig {
    pub owner: Option<String>,
    pub whitelist_only: bool,
    pub whitelist: Vec<String>,
    pub blacklist: Vec<String>,
    pub adminlist: Vec<String>,
    pub history_max_size: usize,
    pub enable_access_lists_updates: bool,
    pub enable_userlist_updates: bool,
}

impl RoomConfig {
    /// The settings of a room created without explicit ones.
    pub fn defaults(options: &ServiceOptions) -> Self {
        Self {
            history_max_size: options.history_max_size,
            enable_access_lists_updates: options.enable_access_lists_updates,
            enable_userlist_updates: options.enable_userlist_updates,
            ..Self::default()
        }
    }
}

/// The direct-messaging state of a user, as `addUser` gives it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserConfig {
    pub whitelist: Vec<String>,
    pub blacklist: Vec<String>,
    pub whitelist_only: bool,
    /// The users this one has a stored conversation with
    /// ([`DirectList::Conversations`](super::DirectList::Conversations)).
    pub conversations: Vec<String>,
}

/// Who acts on a room, and whether permission checks are bypassed.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub user: Option<&'a str>,
    pub bypass: bool,
}

/// Which presence a room read requires (protocol.md 4.3).
#[derive(Debug, Clone, Copy)]
pub enum Presence<'a> {
    /// No check (`bypassPermissions`).
    Any,
    /// The user must be in the userlist.
    Member(Option<&'a str>),
    /// The user must be in the userlist or an admin.
    MemberOrAdmin(Option<&'a str>),
}

/// What a successful access change leaves to notify.
#[derive(Debug, Clone, Default)]
pub struct AccessChange {
    /// Present users who lost access and must be removed (4.5).
    pub removed_users: Vec<String>,
    /// The room's `enableAccessListsUpdates`.
    pub access_lists_updates: bool,
}

/// A present user of a deleted room, with their sockets that were joined
/// to it (`delete_room`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RemovedUser {
    pub user: String,
    pub sockets: Vec<String>,
}

/// Result of adding a socket to a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Joined {
    /// The user's sockets joined to the room, this one included.
    pub njoined: usize,
    /// The socket was joined before the call.
    pub already: bool,
    /// The room's `enableUserlistUpdates`.
    pub userlist_updates: bool,
}

/// Result of removing a socket from a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Left {
    /// The user's sockets still joined to the room.
    pub njoined: usize,
    /// The socket was joined before the call.
    pub was_joined: bool,
    /// The room's `enableUserlistUpdates`.
    pub userlist_updates: bool,
}

/// The rooms a disconnected socket leaves.
#[derive(Debug, Clone, Default)]
pub struct SocketRemoved {
    /// Each room the socket was joined to.
    pub rooms: Vec<LeftRoom>,
    /// The user's sockets left.
    pub nconnected: usize,
}

/// A room a removed socket was joined to (`SocketRemoved`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LeftRoom {
    pub room: String,
    /// The user's sockets still joined to the room.
    pub njoined: usize,
    /// The room's `enableUserlistUpdates` (`false` if the room is gone).
    pub userlist_updates: bool,
}

/// A user's sockets joined to a room, as removed from it.
#[derive(Debug, Clone, Default)]
pub struct UserRemoved {
    pub sockets: Vec<String>,
    pub userlist_updates: bool,
}

/// What `directMessage` needs to know of its recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recipient {
    /// The sender may write to them.
    pub access: bool,
    /// Their sockets, on every instance.
    pub nconnected: usize,
}

/// `roomHistoryInfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryInfo {
    pub history_size: usize,
    pub history_max_size: usize,
    pub last_message_id: u64,
}

/// `roomNotificationsInfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotificationsInfo {
    pub enable_userlist_updates: bool,
    pub enable_access_lists_updates: bool,
}

/// `roomUserSeen`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserSeen {
    pub joined: bool,
    pub timestamp: Option<i64>,
}

/// A socket the state records, with its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketEntry {
    pub id: String,
    pub user: String,
}

/// An instance with a heartbeat (`instances`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Instance {
    pub id: String,
    /// Its last heartbeat, in ms since the epoch.
    pub heartbeat: i64,
}

/// What a heartbeat write found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeartbeatWrite {
    /// Written; the instance was known.
    Known,
    /// Written; the instance was not known (its first heartbeat, or the
    /// state forgot it).
    Unknown,
    /// Not written: another instance is recovering this one.
    BeingRecovered,
}

/// A held (user, room) lock or recovery claim; dropping it releases it.
pub struct LockGuard(#[allow(dead_code)] Box<dyn Send + Sync>);

impl LockGuard {
    pub fn new(inner: impl Send + Sync + 'static) -> Self {
        Self(Box::new(inner))
    }
}

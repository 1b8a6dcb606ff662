//! The state interface: everything the service stores (rooms, their lists
//! and history, users, their direct lists, sockets and presence, heartbeats,
//! locks) behind one async trait.
//!
//! Operations are shaped after commands, not after fields: each one checks
//! what the command must check and changes what it must change in a single
//! call, so a shared store can run it atomically in one round trip.

mod memory;
mod redis;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use indexmap::IndexMap;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::error::{ChatServiceError, Result};
use crate::options::ServiceOptions;

pub use memory::MemoryState;
pub use redis::RedisState;

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
}

/// A room list name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomList {
    Adminlist,
    Whitelist,
    Blacklist,
    Userlist,
}

impl RoomList {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "adminlist" => Ok(Self::Adminlist),
            "whitelist" => Ok(Self::Whitelist),
            "blacklist" => Ok(Self::Blacklist),
            "userlist" => Ok(Self::Userlist),
            _ => Err(ChatServiceError::NoList(name.to_string())),
        }
    }
}

/// A direct-messaging list name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectList {
    Whitelist,
    Blacklist,
}

impl DirectList {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "whitelist" => Ok(Self::Whitelist),
            "blacklist" => Ok(Self::Blacklist),
            _ => Err(ChatServiceError::NoList(name.to_string())),
        }
    }
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

/// Add to or remove from a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListOp {
    Add,
    Remove,
}

/// A stored, processed room message (with `author`, `timestamp`, `id`).
pub type Message = Arc<Value>;

/// What a successful access change leaves to notify.
#[derive(Debug, Clone, Default)]
pub struct AccessChange {
    /// Present users who lost access and must be removed (4.5).
    pub removed_users: Vec<String>,
    /// The room's `enableAccessListsUpdates`.
    pub access_lists_updates: bool,
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
    /// Each room the socket was joined to, with the user's remaining joined
    /// sockets there and the room's `enableUserlistUpdates` (`false` if the
    /// room is gone).
    pub rooms: Vec<(String, usize, bool)>,
    /// The user's sockets left.
    pub nconnected: usize,
}

/// A user's sockets joined to a room, as removed from it.
#[derive(Debug, Clone, Default)]
pub struct UserRemoved {
    pub sockets: Vec<String>,
    pub userlist_updates: bool,
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

/// A held (user, room) lock; dropping it releases the lock.
pub struct LockGuard(#[allow(dead_code)] Box<dyn Send + Sync>);

impl LockGuard {
    pub fn new(inner: impl Send + Sync + 'static) -> Self {
        Self(Box::new(inner))
    }
}

/// Milliseconds since the Unix epoch, as JS `Date.now()`.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The name rule of protocol.md 1.3: non-empty, no C0 control character,
/// no DEL, none of `:` `{` `}`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c <= '\u{1f}' || c == '\u{7f}' || matches!(c, ':' | '{' | '}'))
}

/// The id the state gave a stored message.
pub fn message_id(message: &Value) -> u64 {
    message.get("id").and_then(Value::as_u64).unwrap_or(0)
}

/// A room message as the state stored it, on its way to every instance's
/// sockets.
#[derive(Debug, Clone)]
pub struct Published {
    pub room: String,
    pub message: FeedMessage,
}

/// A message on the feed: the stored value (memory state), or the stored
/// JSON text (Redis state), which goes to the sockets as it is instead of
/// being parsed and written again for every message.
#[derive(Debug, Clone)]
pub enum FeedMessage {
    Stored(Message),
    Json { text: Box<RawValue>, id: u64 },
}

impl FeedMessage {
    pub fn id(&self) -> u64 {
        match self {
            FeedMessage::Stored(message) => message_id(message),
            FeedMessage::Json { id, .. } => *id,
        }
    }
}

/// The room messages a state stores, each room's in id order: the one path
/// by which every instance delivers room messages to its sockets, so that
/// a member receives a room's messages in the order of their ids whichever
/// instance (or concurrent command) appended them.
pub type MessageFeed = futures::stream::BoxStream<'static, Published>;

/// Room message settings the caller supplies to `room_add_message`.
pub struct NewMessage<'a> {
    pub author: Option<&'a str>,
    /// `false` with `bypassPermissions`.
    pub require_member: bool,
    /// The client's fields, `id`/`timestamp` already stripped, `author` set.
    pub fields: Map<String, Value>,
    pub timestamp: i64,
}

/// Everything the service stores. See the module doc for the shape of the
/// operations; each returns the protocol error its command expects.
#[async_trait]
pub trait State: Send + Sync + 'static {
    // ---- rooms ----
    /// `roomExists` if present.
    async fn add_room(&self, name: &str, config: RoomConfig) -> Result<()>;
    /// Removes a room (owner check unless `actor.bypass`; `notAllowed`,
    /// `noRoom`), returning each present user's sockets that were joined.
    async fn delete_room(&self, name: &str, actor: Actor<'_>)
    -> Result<Vec<(String, Vec<String>)>>;
    async fn has_room(&self, name: &str) -> Result<bool>;
    /// Access check of 4.2 (`noRoom` if missing).
    async fn room_access(&self, room: &str, user: &str) -> Result<bool>;
    /// `noRoom`, then `noList`.
    async fn room_has_in_list(&self, room: &str, list: &str, item: &str) -> Result<bool>;
    /// `noRoom`, presence, then `noList`.
    async fn room_get_list(
        &self,
        room: &str,
        list: &str,
        presence: Presence<'_>,
    ) -> Result<Vec<String>>;
    async fn room_owner(&self, room: &str, presence: Presence<'_>) -> Result<Option<String>>;
    async fn room_whitelist_only(&self, room: &str, presence: Presence<'_>) -> Result<bool>;
    async fn room_notifications(
        &self,
        room: &str,
        presence: Presence<'_>,
    ) -> Result<NotificationsInfo>;
    async fn room_user_seen(
        &self,
        room: &str,
        user: &str,
        presence: Presence<'_>,
    ) -> Result<UserSeen>;
    async fn room_history_info(&self, room: &str, presence: Presence<'_>) -> Result<HistoryInfo>;
    /// The newest `limit` stored messages, newest first.
    async fn room_recent_history(
        &self,
        room: &str,
        limit: usize,
        presence: Presence<'_>,
    ) -> Result<Vec<Message>>;
    /// Stored messages with ids in `id+1 ..= id+limit`, newest first (8).
    async fn room_history_get(
        &self,
        room: &str,
        id: u64,
        limit: usize,
        presence: Presence<'_>,
    ) -> Result<Vec<Message>>;
    /// Appends a message: next id, trims the history; returns it processed.
    /// Appends a message and publishes it on the message feed.
    async fn room_add_message(&self, room: &str, message: NewMessage<'_>) -> Result<Message>;
    /// The feed of every room message appended from now on, by any
    /// instance. A service takes it once, at start.
    async fn message_feed(&self) -> Result<MessageFeed>;
    /// List change with the permission checks of 4.4 and the removals of 4.5.
    async fn room_change_list(
        &self,
        room: &str,
        actor: Actor<'_>,
        list: &str,
        names: &[String],
        op: ListOp,
        limit: usize,
    ) -> Result<AccessChange>;
    async fn room_set_whitelist_only(
        &self,
        room: &str,
        actor: Actor<'_>,
        mode: bool,
    ) -> Result<AccessChange>;
    async fn room_set_owner(&self, room: &str, owner: &str) -> Result<()>;
    /// `None` keeps the capacity (invalid size) but still trims.
    async fn room_set_history_max_size(&self, room: &str, size: Option<usize>) -> Result<()>;
    async fn room_set_access_lists_updates(&self, room: &str, on: bool) -> Result<()>;
    async fn room_set_userlist_updates(&self, room: &str, on: bool) -> Result<()>;
    /// Joins a socket (access check of 4.2, userlist and seen time).
    async fn room_join(&self, room: &str, user: &str, socket: &str, now: i64) -> Result<Joined>;
    /// Removes a socket from a room (userlist and seen time when it was the
    /// user's last).
    async fn room_leave(&self, room: &str, user: &str, socket: &str, now: i64) -> Result<Left>;
    /// Removes a user from a room: all their joined sockets and the
    /// userlist entry (4.5 / 5.4).
    async fn room_remove_user(&self, room: &str, user: &str, now: i64) -> Result<UserRemoved>;
    /// How many rooms `user` owns (for `--max-rooms-per-user`).
    async fn rooms_owned(&self, user: &str) -> Result<usize>;
    /// The present users (userlist) of a room.
    async fn room_userlist(&self, room: &str) -> Result<Vec<String>>;
    /// For `roomStateSync`: users in the userlist with no joined socket.
    async fn room_users_without_sockets(&self, room: &str) -> Result<Vec<String>>;

    // ---- users ----
    /// `userExists` if present.
    async fn add_user(&self, name: &str, config: UserConfig) -> Result<()>;
    /// `noUser`, `userOnline`.
    async fn delete_user(&self, name: &str) -> Result<()>;
    async fn has_user(&self, name: &str) -> Result<bool>;
    async fn direct_change_list(
        &self,
        user: &str,
        list: DirectList,
        names: &[String],
        op: ListOp,
        limit: usize,
    ) -> Result<()>;
    async fn direct_get_list(&self, user: &str, list: DirectList) -> Result<Vec<String>>;
    async fn direct_has_in_list(&self, user: &str, list: DirectList, item: &str) -> Result<bool>;
    async fn direct_whitelist_only(&self, user: &str) -> Result<bool>;
    async fn direct_set_whitelist_only(&self, user: &str, mode: bool) -> Result<()>;
    /// Whether `sender` may message `recipient` (blacklist / whitelist mode);
    /// `noUser` if the recipient is unknown.
    async fn direct_access(&self, recipient: &str, sender: &str) -> Result<bool>;
    /// What `directMessage` checks of its recipient, in one call: whether
    /// `sender` may write to them (always, without a sender: bypass), and
    /// how many sockets they have. `noUser` if unknown.
    async fn direct_recipient(
        &self,
        recipient: &str,
        sender: Option<&str>,
    ) -> Result<(bool, usize)>;
    /// The user's number of sockets (all instances); `noUser` if unknown.
    async fn user_nconnected(&self, user: &str) -> Result<usize>;
    /// Every socket of the user with its joined rooms.
    async fn user_sockets(&self, user: &str) -> Result<IndexMap<String, Vec<String>>>;
    /// The rooms any socket of the user is joined to.
    async fn user_rooms(&self, user: &str) -> Result<Vec<String>>;

    // ---- sockets and instances ----
    /// Registers a socket of `user` on `instance`, creating the user record
    /// if needed (registering it again changes nothing); returns the user's
    /// socket count.
    async fn add_socket(&self, user: &str, socket: &str, instance: &str) -> Result<usize>;
    /// Unregisters a socket: leaves its rooms (userlists and seen times for
    /// users who left), returns the rooms and counts (7.3).
    /// `None` if the socket was not registered (already removed): cleanup
    /// must run once per socket even when recovery races a disconnect.
    async fn remove_socket(
        &self,
        user: &str,
        socket: &str,
        now: i64,
    ) -> Result<Option<SocketRemoved>>;
    /// The sockets the state records for an instance.
    async fn instance_sockets(&self, instance: &str) -> Result<Vec<SocketEntry>>;
    /// Writes an instance's heartbeat, unless another instance is
    /// recovering it (then nothing is written). Says whether the state
    /// still knew the instance: an instance that finds itself unknown after
    /// its first heartbeat was recovered by another while cut off, or the
    /// store lost its data, and must register its sockets again.
    async fn set_heartbeat(&self, instance: &str, now: i64) -> Result<HeartbeatWrite>;
    async fn heartbeat(&self, instance: &str) -> Result<Option<i64>>;
    /// Every instance with a heartbeat, and its last one.
    async fn instances(&self) -> Result<Vec<(String, i64)>>;
    /// Takes the right to recover `instance`, if its heartbeat is older than
    /// `stale_before` and no one else holds it (for `ttl`, or until the guard
    /// is dropped); while it is held the instance cannot write heartbeats.
    async fn claim_recovery(
        &self,
        instance: &str,
        stale_before: i64,
        ttl: std::time::Duration,
    ) -> Result<Option<LockGuard>>;
    /// Forgets an instance (its heartbeat) at shutdown or once recovered.
    async fn remove_instance(&self, instance: &str) -> Result<()>;

    // ---- locks ----
    /// Takes the (user, room) lock, waiting with retries; `timeout` if it
    /// cannot be had.
    async fn lock(&self, user: &str, room: &str, ttl: std::time::Duration) -> Result<LockGuard>;

    /// Whether the store answers (for `/health`).
    async fn ping(&self) -> Result<()> {
        Ok(())
    }
}

//! The state interface: everything the service stores (rooms, their lists
//! and history, users, their direct lists, sockets and presence, heartbeats,
//! locks) behind one async trait, [`State`].
//!
//! Operations are shaped after commands, not after fields: each one checks
//! what the command must check and changes what it must change in a single
//! call, so a shared store can run it atomically in one round trip.
//!
//! # Durable data and presence
//!
//! What a store holds is of two kinds. Durable data must survive a restart:
//! rooms (owner, lists, modes, settings), their history with its ids and
//! the users' seen times, users (direct lists and mode). Presence must not:
//! sockets, userlists, heartbeats, instances, locks; after a restart nobody
//! is joined anywhere.
//!
//! `State` stays the one seam the commands call, across both kinds, rather
//! than a durable trait and a presence trait called one after the other:
//! many commands check one kind and change the other (a join checks the
//! room's access lists and enters its userlist; a message checks the
//! userlist and appends to the history; a blacklist addition changes a
//! list and reads who is present to remove them). A shared store such as
//! Redis must do each of those atomically in one round trip; two traits
//! would make two round trips with a race between them (a user joining
//! between the access check and the userlist change).
//!
//! The split lives inside the implementations instead. The memory engine
//! (`memory/`) keeps its durable records and its presence in separate
//! types, and hands every durable change, as a typed [`Change`], to an
//! optional [`DurableStore`], which also gives its data back at start: a
//! store that persists implements only that trait, and `MemoryState` stays
//! the engine that checks, changes and answers: the SQLite state is the
//! engine with a [`SqliteStore`] (`sqlite/`). The Redis state keeps both
//! kinds in Redis (`redis/`).
//!
//! # The rules
//!
//! The access rules (protocol.md 4.2-4.5) are written once for in-process
//! stores, as pure functions in `access.rs`; the Redis state's Lua scripts
//! keep their own copy, where the check must run inside the script. The
//! conformance suite (`conformance/`, also behind the `conformance`
//! feature for implementations outside this crate) holds every
//! implementation to the same cases.

mod access;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
pub mod conversations;
mod durable;
mod lists;
mod memory;
mod messages;
mod redis;
mod sqlite;
mod types;

use async_trait::async_trait;
use indexmap::IndexMap;

use crate::error::{ChatServiceError, Result};

pub use durable::{Ack, Change, DurableStore, SeenAt, Snapshot, StoredRoom, StoredUser};
pub use lists::{DirectList, ListOp, RoomList, RoomListName};
pub use memory::MemoryState;
pub use messages::{FeedMessage, Message, MessageFeed, NewMessage, Published, message_id};
pub use redis::RedisState;
pub use sqlite::{OpenError, SqliteSettings, SqliteStore, Synchronous, lock_path};
pub use types::{
    AccessChange, Actor, HeartbeatWrite, HistoryInfo, Instance, Joined, Left, LeftRoom, LockGuard,
    NotificationsInfo, Presence, Recipient, RemovedUser, RoomConfig, SocketEntry, SocketRemoved,
    UserConfig, UserRemoved, UserSeen,
};

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

/// Everything the service stores. See the module doc for the shape of the
/// operations; each returns the protocol error its command expects.
#[async_trait]
pub trait State: Send + Sync + 'static {
    // ---- rooms ----
    /// `roomExists` if present.
    async fn add_room(&self, name: &str, config: RoomConfig) -> Result<()>;
    /// Removes a room (`noRoom`, then the owner check unless
    /// `actor.bypass`: `notAllowed`), returning each present user's
    /// sockets that were joined.
    async fn delete_room(&self, name: &str, actor: Actor<'_>) -> Result<Vec<RemovedUser>>;
    async fn has_room(&self, name: &str) -> Result<bool>;
    /// Access check of 4.2 (`noRoom` if missing).
    async fn room_access(&self, room: &str, user: &str) -> Result<bool>;
    /// `noRoom`, then `noList`.
    async fn room_has_in_list(&self, room: &str, list: &RoomListName, item: &str) -> Result<bool>;
    /// `noRoom`, presence, then `noList`.
    async fn room_get_list(
        &self,
        room: &str,
        list: &RoomListName,
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
    /// Appends a message (`noRoom`, then presence unless not required):
    /// next id, trims the history, publishes it on the message feed;
    /// returns it processed.
    async fn room_add_message(&self, room: &str, message: NewMessage<'_>) -> Result<Message>;
    /// The feed of every room message appended from now on, by any
    /// instance. A service takes it once, at start.
    async fn message_feed(&self) -> Result<MessageFeed>;
    /// List change with the permission checks of 4.4 (`noRoom`, the
    /// permissions, then `noList`, then the size limit) and the removals of
    /// 4.5.
    async fn room_change_list(
        &self,
        room: &str,
        actor: Actor<'_>,
        list: &RoomListName,
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
    async fn direct_recipient(&self, recipient: &str, sender: Option<&str>) -> Result<Recipient>;
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
    async fn instances(&self) -> Result<Vec<Instance>>;
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

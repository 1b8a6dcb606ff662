//! The in-memory state: the embedded default for a single instance, and
//! the engine of a store that keeps its durable data elsewhere.
//!
//! Its two parts: the durable one, each room's [`RoomData`] (`rooms.rs`)
//! and each user's [`UserData`] (`users.rs`), copied to a
//! [`DurableStore`] if the engine has one (`journal.rs`); and presence,
//! which no store keeps: each room's [`Userlist`] and each user's
//! [`UserSockets`] (`presence.rs`), the instances (`instances.rs`), the
//! (user, room) locks (`locks.rs`). The operations of `State`, which
//! compose them, are in `ops.rs`.
//!
//! A room's durable record and its userlist form one entry behind one
//! mutex, as do a user's record and sockets: commands check and change
//! both at once (a join checks access and enters the userlist, a message
//! checks presence and appends), so keeping them apart would cost a second
//! lock on every join and message. The entries sit in sharded maps, so
//! commands on different rooms never wait for each other.
//!
//! A durable change goes to the store while the lock of its room or user
//! is held (so each record's changes keep their order), and the command
//! awaits the store's commit once that lock is released; without a store
//! no change record is built (`journal.rs`).
//!
//! Locks are `std` mutexes, never held across an await. When an operation
//! needs a room and a user, the room is locked first. A room or user is
//! marked deleted under its own mutex before it leaves its map: an
//! operation that found it before answers `noRoom`/`noUser` and records
//! nothing, so a store never gets a change of a record after its deletion.
//! No map shard is held while waiting for a room's or user's mutex, except
//! by `delete_user`, which locks the user under the shard lock of its
//! removal: nobody takes a `users` shard with a user's mutex held.

mod instances;
mod journal;
mod locks;
mod ops;
mod presence;
mod rooms;
mod users;

#[cfg(test)]
mod recording;
#[cfg(test)]
pub(super) mod tests;

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use dashmap::DashMap;

use self::instances::Instances;
use self::journal::{Journal, Recorder};
use self::locks::Locks;
use self::presence::{UserSockets, Userlist};
use self::rooms::{HistoryRead, RoomData};
use self::users::UserData;
use super::access;
use super::durable::{Change, DurableStore};
use super::*;

/// A room: durable record and present users, under one mutex.
struct RoomEntry {
    data: RoomData,
    present: Userlist,
    /// Removed from the map: operations that still hold it answer `noRoom`.
    deleted: bool,
}

impl RoomEntry {
    fn new(data: RoomData) -> Arc<Mutex<Self>> {
        Arc::new(Mutex::new(Self {
            data,
            present: Userlist::default(),
            deleted: false,
        }))
    }

    /// `user` enters the userlist; if they were absent, they are seen now.
    fn enter(&mut self, room: &str, user: &str, now: i64, rec: &mut Recorder<'_>) {
        if self.present.enter(user) {
            self.seen(room, user, now, rec);
        }
    }

    /// `user` leaves the userlist; if they were present, they are seen now.
    fn leave(&mut self, room: &str, user: &str, now: i64, rec: &mut Recorder<'_>) {
        if self.present.leave(user) {
            self.seen(room, user, now, rec);
        }
    }

    fn seen(&mut self, room: &str, user: &str, now: i64, rec: &mut Recorder<'_>) {
        self.data.set_seen(user, now);
        rec.record(|| Change::Seen {
            room: room.to_string(),
            user: user.to_string(),
            at: now,
        });
    }

    fn access_change(&self, removed_users: Vec<String>) -> AccessChange {
        AccessChange {
            removed_users,
            access_lists_updates: self.data.access_lists_updates,
        }
    }
}

/// A user: durable record and sockets, under one mutex.
#[derive(Default)]
struct UserEntry {
    data: UserData,
    sockets: UserSockets,
    /// Removed from the map: operations that still hold it answer `noUser`.
    deleted: bool,
}

impl UserEntry {
    fn new(data: UserData) -> Arc<Mutex<Self>> {
        Arc::new(Mutex::new(Self {
            data,
            ..Self::default()
        }))
    }
}

/// See the module documentation.
#[derive(Default)]
pub struct MemoryState {
    rooms: DashMap<String, Arc<Mutex<RoomEntry>>>,
    users: DashMap<String, Arc<Mutex<UserEntry>>>,
    instances: Instances,
    locks: Locks,
    journal: Journal,
    /// Most messages a room keeps in memory (`None`: all); the store has
    /// the rest.
    history_cache: Option<usize>,
    /// Set once, by the service that takes the message feed.
    feed: OnceLock<tokio::sync::mpsc::UnboundedSender<Published>>,
}

/// Locks a record, recovering it if a panic poisoned the mutex: the data
/// of one room must not take the whole service down.
fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn no_room(name: &str) -> ChatServiceError {
    ChatServiceError::NoRoom(name.to_string())
}

fn no_user(name: &str) -> ChatServiceError {
    ChatServiceError::NoUser(name.to_string())
}

impl MemoryState {
    /// A state that keeps nothing beyond the process.
    pub fn new() -> Self {
        Self::default()
    }

    /// A state that starts from what `store` holds and hands it every
    /// durable change from then on; commands answer once `store` committed
    /// their changes. Nobody is present at start.
    pub async fn with_store(store: Arc<dyn DurableStore>) -> Result<Self> {
        let snapshot = store.load().await?;
        let state = Self {
            history_cache: store.history_cache(),
            journal: Journal::new(store),
            ..Self::default()
        };
        for room in snapshot.rooms {
            let name = room.name.clone();
            let data = RoomData::restored(room, state.cache_limit());
            state.rooms.insert(name, RoomEntry::new(data));
        }
        for user in snapshot.users {
            let name = user.name.clone();
            state
                .users
                .insert(name, UserEntry::new(UserData::restored(user)));
        }
        Ok(state)
    }

    fn cache_limit(&self) -> usize {
        self.history_cache.unwrap_or(usize::MAX)
    }

    /// Runs `f` on a room under its lock; `noRoom` if the room is missing.
    fn with_room<T>(&self, name: &str, f: impl FnOnce(&mut RoomEntry) -> Result<T>) -> Result<T> {
        let room = self
            .rooms
            .get(name)
            .map(|r| r.clone())
            .ok_or_else(|| no_room(name))?;
        let mut room = guard(&room);
        if room.deleted {
            return Err(no_room(name));
        }
        f(&mut room)
    }

    /// Runs `f` on a user under its lock; `noUser` if the user is missing.
    fn with_user<T>(&self, name: &str, f: impl FnOnce(&mut UserEntry) -> Result<T>) -> Result<T> {
        let user = self
            .users
            .get(name)
            .map(|u| u.clone())
            .ok_or_else(|| no_user(name))?;
        let mut user = guard(&user);
        if user.deleted {
            return Err(no_user(name));
        }
        f(&mut user)
    }

    /// A room read, after the presence check of 4.3.
    fn read_room<T>(
        &self,
        name: &str,
        presence: Presence<'_>,
        f: impl FnOnce(&RoomEntry) -> Result<T>,
    ) -> Result<T> {
        self.with_room(name, |room| {
            access::check_presence(&room.data, name, presence, |u| room.present.contains(u))?;
            f(room)
        })
    }

    /// A history read, after the presence check: from memory, or for
    /// older messages from the store, asked under the room's lock (so it
    /// sees every change recorded before) and awaited after it. What the
    /// store brings back extends the room's cache while that has room.
    async fn read_history(
        &self,
        name: &str,
        presence: Presence<'_>,
        read: impl FnOnce(&RoomData) -> HistoryRead,
    ) -> Result<Vec<Message>> {
        let (mut messages, pending) = self.read_room(name, presence, |room| {
            Ok(match read(&room.data) {
                HistoryRead::Cached(messages) => (messages, None),
                HistoryRead::Stored {
                    cached,
                    newest,
                    count,
                } => (cached, Some(self.journal.history(name, newest, count))),
            })
        })?;
        let Some(pending) = pending else {
            return Ok(messages);
        };
        let stored = pending.await?;
        // The room may be gone by now: then there is nothing to extend.
        let _ = self.with_room(name, |room| {
            room.data.extend_cache(&stored);
            Ok(())
        });
        messages.extend(stored);
        Ok(messages)
    }

    /// A room change that records at most the one change `make` gives.
    async fn set_room(
        &self,
        name: &str,
        change: impl FnOnce(&mut RoomData),
        make: impl FnOnce() -> Change,
    ) -> Result<()> {
        let mut rec = self.journal.recorder();
        self.with_room(name, |room| {
            rec.admit()?;
            change(&mut room.data);
            rec.record(make);
            Ok(())
        })?;
        rec.committed().await
    }

    /// The durable data, in the form a store keeps it (rooms and users by
    /// name), to compare engines.
    #[cfg(test)]
    pub(crate) fn durable_snapshot(&self) -> durable::Snapshot {
        // The entries first: no room or user is locked under a shard lock.
        let rooms: Vec<_> = self
            .rooms
            .iter()
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect();
        let users: Vec<_> = self
            .users
            .iter()
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect();
        let mut rooms: Vec<_> = rooms
            .iter()
            .map(|(name, room)| guard(room).data.stored(name))
            .collect();
        rooms.sort_by(|a, b| a.name.cmp(&b.name));
        let mut users: Vec<_> = users
            .iter()
            .map(|(name, user)| guard(user).data.stored(name))
            .collect();
        users.sort_by(|a, b| a.name.cmp(&b.name));
        durable::Snapshot { rooms, users }
    }

    /// [`durable_snapshot`](Self::durable_snapshot) with every room's
    /// whole history, read as clients read it (through the store for what
    /// is not cached).
    #[cfg(test)]
    pub(crate) async fn full_snapshot(&self) -> durable::Snapshot {
        let mut snapshot = self.durable_snapshot();
        for room in &mut snapshot.rooms {
            room.history = self
                .room_recent_history(&room.name, room.history_size, Presence::Any)
                .await
                .unwrap();
        }
        snapshot
    }
}

/// Adds names to an access list (a set, within `limit` entries:
/// `listLimitExceeded` naming `list`) or removes them, once `admit` (the
/// recorder's) lets the change be made.
fn change_set(
    set: &mut indexmap::IndexSet<String>,
    names: &[String],
    op: ListOp,
    limit: usize,
    list: &str,
    admit: impl FnOnce() -> Result<()>,
) -> Result<()> {
    match op {
        ListOp::Add => {
            access::check_list_limit(set.len(), names, limit, list)?;
            admit()?;
            set.extend(names.iter().cloned());
        }
        ListOp::Remove => {
            admit()?;
            for name in names {
                set.shift_remove(name);
            }
        }
    }
    Ok(())
}

//! The in-memory state: the embedded default for a single instance, and
//! the engine of a store that keeps its durable data elsewhere.
//!
//! Its two parts: the durable one, each room's [`RoomData`] (`rooms.rs`)
//! and each user's [`UserData`] (`users.rs`), copied to a
//! [`DurableStore`] if the engine has one (`journal.rs`); and presence,
//! which no store keeps: each room's [`Userlist`] and each user's
//! [`UserSockets`] (`presence.rs`), the instances (`instances.rs`), the
//! (user, room) locks (`locks.rs`).
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
mod presence;
mod rooms;
mod users;

#[cfg(test)]
mod recording;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use dashmap::DashMap;
use indexmap::IndexMap;

use self::instances::Instances;
use self::journal::{Journal, Recorder};
use self::locks::Locks;
use self::presence::{UserSockets, Userlist};
use self::rooms::RoomData;
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
            journal: Journal::new(store),
            ..Self::default()
        };
        for room in snapshot.rooms {
            let name = room.name.clone();
            state
                .rooms
                .insert(name, RoomEntry::new(RoomData::restored(room)));
        }
        for user in snapshot.users {
            let name = user.name.clone();
            state
                .users
                .insert(name, UserEntry::new(UserData::restored(user)));
        }
        Ok(state)
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

    /// A room change that records at most the one change `make` gives.
    async fn set_room(
        &self,
        name: &str,
        change: impl FnOnce(&mut RoomData),
        make: impl FnOnce() -> Change,
    ) -> Result<()> {
        let mut rec = self.journal.recorder();
        self.with_room(name, |room| {
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
}

#[async_trait]
impl State for MemoryState {
    async fn add_room(&self, name: &str, config: RoomConfig) -> Result<()> {
        let mut rec = self.journal.recorder();
        match self.rooms.entry(name.to_string()) {
            dashmap::Entry::Occupied(_) => return Err(ChatServiceError::RoomExists(name.into())),
            // Recorded under the shard's lock: before any change of the
            // room, after the deletion of one of the same name.
            dashmap::Entry::Vacant(slot) => {
                rec.record(|| Change::RoomAdded {
                    room: name.to_string(),
                    config: config.clone(),
                });
                slot.insert(RoomEntry::new(RoomData::new(config)));
            }
        }
        rec.committed().await
    }

    async fn delete_room(&self, name: &str, actor: Actor<'_>) -> Result<Vec<RemovedUser>> {
        let mut rec = self.journal.recorder();
        let entry = self.rooms.get(name).map(|r| r.clone());
        let present = self.with_room(name, |room| {
            access::check_delete(&room.data, actor)?;
            room.deleted = true;
            rec.record(|| Change::RoomDeleted {
                room: name.to_string(),
            });
            if let Some(entry) = &entry {
                self.rooms.remove_if(name, |_, r| Arc::ptr_eq(r, entry));
            }
            Ok(room.present.take())
        })?;
        let mut removed = Vec::new();
        for user in present.iter() {
            if let Ok(sockets) = self.with_user(user, |u| Ok(u.sockets.leave_all(name))) {
                removed.push(RemovedUser {
                    user: user.clone(),
                    sockets,
                });
            }
        }
        rec.committed().await?;
        Ok(removed)
    }

    async fn has_room(&self, name: &str) -> Result<bool> {
        Ok(self.rooms.contains_key(name))
    }

    async fn room_access(&self, room: &str, user: &str) -> Result<bool> {
        self.read_room(room, Presence::Any, |r| {
            Ok(access::has_access(&r.data, user))
        })
    }

    async fn room_has_in_list(&self, room: &str, list: &RoomListName, item: &str) -> Result<bool> {
        self.read_room(room, Presence::Any, |r| {
            Ok(match list.known()? {
                RoomList::Userlist => r.present.contains(item),
                list => access::RoomAcl::in_list(&r.data, list, item),
            })
        })
    }

    async fn room_get_list(
        &self,
        room: &str,
        list: &RoomListName,
        presence: Presence<'_>,
    ) -> Result<Vec<String>> {
        self.read_room(room, presence, |r| {
            Ok(match r.data.access_list(list.known()?) {
                Some(set) => set.iter().cloned().collect(),
                None => r.present.names(),
            })
        })
    }

    async fn room_owner(&self, room: &str, presence: Presence<'_>) -> Result<Option<String>> {
        self.read_room(room, presence, |r| Ok(r.data.owner.clone()))
    }

    async fn rooms_owned(&self, user: &str) -> Result<usize> {
        // Every room once: only `--max-rooms-per-user` asks, at roomCreate.
        let rooms: Vec<_> = self.rooms.iter().map(|r| r.value().clone()).collect();
        Ok(rooms
            .iter()
            .filter(|room| {
                let room = guard(room);
                !room.deleted && room.data.owner.as_deref() == Some(user)
            })
            .count())
    }

    async fn room_whitelist_only(&self, room: &str, presence: Presence<'_>) -> Result<bool> {
        self.read_room(room, presence, |r| Ok(r.data.whitelist_only))
    }

    async fn room_notifications(
        &self,
        room: &str,
        presence: Presence<'_>,
    ) -> Result<NotificationsInfo> {
        self.read_room(room, presence, |r| Ok(r.data.notifications()))
    }

    async fn room_user_seen(
        &self,
        room: &str,
        user: &str,
        presence: Presence<'_>,
    ) -> Result<UserSeen> {
        self.read_room(room, presence, |r| {
            Ok(UserSeen {
                joined: r.present.contains(user),
                timestamp: r.data.seen(user),
            })
        })
    }

    async fn room_history_info(&self, room: &str, presence: Presence<'_>) -> Result<HistoryInfo> {
        self.read_room(room, presence, |r| Ok(r.data.history_info()))
    }

    async fn room_recent_history(
        &self,
        room: &str,
        limit: usize,
        presence: Presence<'_>,
    ) -> Result<Vec<Message>> {
        self.read_room(room, presence, |r| Ok(r.data.recent(limit)))
    }

    async fn room_history_get(
        &self,
        room: &str,
        id: u64,
        limit: usize,
        presence: Presence<'_>,
    ) -> Result<Vec<Message>> {
        self.read_room(room, presence, |r| Ok(r.data.history_get(id, limit)))
    }

    async fn room_add_message(&self, name: &str, message: NewMessage<'_>) -> Result<Message> {
        let mut rec = self.journal.recorder();
        let stored = self.with_room(name, |room| {
            let present = |author: &str| room.present.contains(author);
            access::check_author(name, message.author, message.require_member, present)?;
            let stored = room.data.append(message.fields, message.timestamp);
            // Still under the room's lock: the feed and the store get the
            // room's ids in order.
            if let Some(feed) = self.feed.get() {
                let _ = feed.send(Published {
                    room: name.to_string(),
                    message: FeedMessage::Stored(stored.clone()),
                });
            }
            rec.record(|| Change::MessageAppended {
                room: name.to_string(),
                message: stored.clone(),
            });
            Ok(stored)
        })?;
        rec.committed().await?;
        Ok(stored)
    }

    async fn message_feed(&self) -> Result<MessageFeed> {
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        self.feed.set(sender).map_err(|_| {
            ChatServiceError::internal(
                "the message feed of this MemoryState is taken by another service",
            )
        })?;
        let stream = futures::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|item| (item, receiver))
        });
        Ok(Box::pin(stream))
    }

    async fn room_change_list(
        &self,
        name: &str,
        actor: Actor<'_>,
        list: &RoomListName,
        names: &[String],
        op: ListOp,
        limit: usize,
    ) -> Result<AccessChange> {
        let mut rec = self.journal.recorder();
        let change = self.with_room(name, |room| {
            let list = access::check_list_change(&room.data, actor, list, names)?;
            room.data.change_list(list, names, op, limit)?;
            rec.record(|| Change::ListChanged {
                room: name.to_string(),
                list,
                names: names.to_vec(),
                op,
            });
            let present = |user: &str| room.present.contains(user);
            let removed = access::removed_by_list_change(&room.data, list, op, names, present);
            Ok(room.access_change(removed))
        })?;
        rec.committed().await?;
        Ok(change)
    }

    async fn room_set_whitelist_only(
        &self,
        name: &str,
        actor: Actor<'_>,
        mode: bool,
    ) -> Result<AccessChange> {
        let mut rec = self.journal.recorder();
        let change = self.with_room(name, |room| {
            access::check_mode_change(&room.data, actor)?;
            room.data.whitelist_only = mode;
            rec.record(|| Change::WhitelistOnlySet {
                room: name.to_string(),
                on: mode,
            });
            let removed = access::removed_by_whitelist_mode(&room.data, mode, room.present.iter());
            Ok(room.access_change(removed))
        })?;
        rec.committed().await?;
        Ok(change)
    }

    async fn room_set_owner(&self, room: &str, owner: &str) -> Result<()> {
        self.set_room(
            room,
            |r| r.owner = Some(owner.to_string()),
            || Change::OwnerSet {
                room: room.to_string(),
                owner: owner.to_string(),
            },
        )
        .await
    }

    async fn room_set_history_max_size(&self, room: &str, size: Option<usize>) -> Result<()> {
        let mut rec = self.journal.recorder();
        self.with_room(room, |r| {
            r.data.set_history_max_size(size);
            // `None` changes nothing: the history is within its capacity.
            if let Some(size) = size {
                rec.record(|| Change::HistoryMaxSizeSet {
                    room: room.to_string(),
                    size,
                });
            }
            Ok(())
        })?;
        rec.committed().await
    }

    async fn room_set_access_lists_updates(&self, room: &str, on: bool) -> Result<()> {
        self.set_room(
            room,
            |r| r.access_lists_updates = on,
            || Change::AccessListsUpdatesSet {
                room: room.to_string(),
                on,
            },
        )
        .await
    }

    async fn room_set_userlist_updates(&self, room: &str, on: bool) -> Result<()> {
        self.set_room(
            room,
            |r| r.userlist_updates = on,
            || Change::UserlistUpdatesSet {
                room: room.to_string(),
                on,
            },
        )
        .await
    }

    async fn room_join(&self, name: &str, user: &str, socket: &str, now: i64) -> Result<Joined> {
        let mut rec = self.journal.recorder();
        let joined = self.with_room(name, |room| {
            if !access::has_access(&room.data, user) {
                return Err(ChatServiceError::NotAllowed);
            }
            let (already, njoined) = self.with_user(user, |u| {
                let already = u
                    .sockets
                    .join(socket, name)
                    .ok_or_else(|| ChatServiceError::InvalidSocket(socket.to_string()))?;
                Ok((already, u.sockets.njoined(name)))
            })?;
            room.enter(name, user, now, &mut rec);
            Ok(Joined {
                njoined,
                already,
                userlist_updates: room.data.userlist_updates,
            })
        })?;
        rec.committed().await?;
        Ok(joined)
    }

    async fn room_leave(&self, name: &str, user: &str, socket: &str, now: i64) -> Result<Left> {
        let mut rec = self.journal.recorder();
        let left = self.with_room(name, |room| {
            let (was_joined, njoined) = self
                .with_user(user, |u| {
                    let was_joined = u.sockets.leave(socket, name);
                    Ok((was_joined, u.sockets.njoined(name)))
                })
                .unwrap_or((false, 0));
            if njoined == 0 {
                room.leave(name, user, now, &mut rec);
            }
            Ok(Left {
                njoined,
                was_joined,
                userlist_updates: room.data.userlist_updates,
            })
        })?;
        rec.committed().await?;
        Ok(left)
    }

    async fn room_remove_user(&self, name: &str, user: &str, now: i64) -> Result<UserRemoved> {
        let mut rec = self.journal.recorder();
        let removed = self.with_room(name, |room| {
            let sockets = self
                .with_user(user, |u| Ok(u.sockets.leave_all(name)))
                .unwrap_or_default();
            room.leave(name, user, now, &mut rec);
            Ok(UserRemoved {
                sockets,
                userlist_updates: room.data.userlist_updates,
            })
        })?;
        rec.committed().await?;
        Ok(removed)
    }

    async fn room_userlist(&self, room: &str) -> Result<Vec<String>> {
        self.read_room(room, Presence::Any, |r| Ok(r.present.names()))
    }

    async fn room_users_without_sockets(&self, room: &str) -> Result<Vec<String>> {
        let users = self.room_userlist(room).await?;
        Ok(users
            .into_iter()
            .filter(|u| {
                self.with_user(u, |u| Ok(u.sockets.njoined(room) == 0))
                    .unwrap_or(true)
            })
            .collect())
    }

    async fn add_user(&self, name: &str, config: UserConfig) -> Result<()> {
        let mut rec = self.journal.recorder();
        match self.users.entry(name.to_string()) {
            dashmap::Entry::Occupied(_) => return Err(ChatServiceError::UserExists(name.into())),
            dashmap::Entry::Vacant(slot) => {
                rec.record(|| Change::UserAdded {
                    user: name.to_string(),
                    config: config.clone(),
                });
                slot.insert(UserEntry::new(UserData::new(config)));
            }
        }
        rec.committed().await
    }

    async fn delete_user(&self, name: &str) -> Result<()> {
        let mut rec = self.journal.recorder();
        let mut result = Err(no_user(name));
        // Recorded and marked under the shard's lock of the removal: after
        // every change of the user, before a new user of the same name.
        self.users.remove_if(name, |_, user| {
            let mut user = guard(user);
            if !user.sockets.is_empty() {
                result = Err(ChatServiceError::UserOnline(name.to_string()));
                return false;
            }
            user.deleted = true;
            rec.record(|| Change::UserDeleted {
                user: name.to_string(),
            });
            result = Ok(());
            true
        });
        result?;
        rec.committed().await
    }

    async fn has_user(&self, name: &str) -> Result<bool> {
        Ok(self.users.contains_key(name))
    }

    async fn direct_change_list(
        &self,
        user: &str,
        list: DirectList,
        names: &[String],
        op: ListOp,
        limit: usize,
    ) -> Result<()> {
        let mut rec = self.journal.recorder();
        self.with_user(user, |u| {
            u.data.change_list(list, names, op, limit)?;
            rec.record(|| Change::DirectListChanged {
                user: user.to_string(),
                list,
                names: names.to_vec(),
                op,
            });
            Ok(())
        })?;
        rec.committed().await
    }

    async fn direct_get_list(&self, user: &str, list: DirectList) -> Result<Vec<String>> {
        self.with_user(user, |u| Ok(u.data.list(list).iter().cloned().collect()))
    }

    async fn direct_has_in_list(&self, user: &str, list: DirectList, item: &str) -> Result<bool> {
        self.with_user(user, |u| Ok(u.data.list(list).contains(item)))
    }

    async fn direct_whitelist_only(&self, user: &str) -> Result<bool> {
        self.with_user(user, |u| Ok(u.data.whitelist_only))
    }

    async fn direct_set_whitelist_only(&self, user: &str, mode: bool) -> Result<()> {
        let mut rec = self.journal.recorder();
        self.with_user(user, |u| {
            u.data.whitelist_only = mode;
            rec.record(|| Change::DirectWhitelistOnlySet {
                user: user.to_string(),
                on: mode,
            });
            Ok(())
        })?;
        rec.committed().await
    }

    async fn direct_access(&self, recipient: &str, sender: &str) -> Result<bool> {
        Ok(self.direct_recipient(recipient, Some(sender)).await?.access)
    }

    async fn direct_recipient(&self, recipient: &str, sender: Option<&str>) -> Result<Recipient> {
        self.with_user(recipient, |u| {
            Ok(Recipient {
                access: access::has_direct_access(&u.data, sender),
                nconnected: u.sockets.count(),
            })
        })
    }

    async fn user_nconnected(&self, user: &str) -> Result<usize> {
        self.with_user(user, |u| Ok(u.sockets.count()))
    }

    async fn user_sockets(&self, user: &str) -> Result<IndexMap<String, Vec<String>>> {
        self.with_user(user, |u| Ok(u.sockets.rooms_by_socket()))
    }

    async fn user_rooms(&self, user: &str) -> Result<Vec<String>> {
        self.with_user(user, |u| Ok(u.sockets.rooms()))
    }

    async fn add_socket(&self, user: &str, socket: &str, instance: &str) -> Result<usize> {
        let mut rec = self.journal.recorder();
        let nconnected = loop {
            let entry = match self.users.entry(user.to_string()) {
                dashmap::Entry::Occupied(entry) => entry.get().clone(),
                // A first login makes the user, with the default config.
                dashmap::Entry::Vacant(slot) => {
                    rec.record(|| Change::UserAdded {
                        user: user.to_string(),
                        config: UserConfig::default(),
                    });
                    slot.insert(Arc::new(Mutex::default())).clone()
                }
            };
            let mut entry = guard(&entry);
            if entry.deleted {
                // Deleted since it was looked up: a new one is made.
                continue;
            }
            entry.sockets.add(socket);
            self.instances.register_socket(socket, user, instance);
            break entry.sockets.count();
        };
        rec.committed().await?;
        Ok(nconnected)
    }

    async fn remove_socket(
        &self,
        user_name: &str,
        socket: &str,
        now: i64,
    ) -> Result<Option<SocketRemoved>> {
        self.instances.unregister_socket(socket);
        let user = self
            .users
            .get(user_name)
            .map(|u| u.clone())
            .ok_or_else(|| no_user(user_name))?;
        let Some(joined) = guard(&user).sockets.remove(socket) else {
            return Ok(None);
        };
        let mut rec = self.journal.recorder();
        let mut removed = SocketRemoved::default();
        for room in joined {
            let left = self.with_room(&room, |entry| {
                let njoined = guard(&user).sockets.njoined(&room);
                if njoined == 0 {
                    entry.leave(&room, user_name, now, &mut rec);
                }
                Ok((njoined, entry.data.userlist_updates))
            });
            // A room gone: what the user's record still says.
            let (njoined, userlist_updates) =
                left.unwrap_or_else(|_| (guard(&user).sockets.njoined(&room), false));
            removed.rooms.push(LeftRoom {
                room,
                njoined,
                userlist_updates,
            });
        }
        removed.nconnected = guard(&user).sockets.count();
        rec.committed().await?;
        Ok(Some(removed))
    }

    async fn instance_sockets(&self, instance: &str) -> Result<Vec<SocketEntry>> {
        Ok(self.instances.sockets_of(instance))
    }

    async fn set_heartbeat(&self, instance: &str, now: i64) -> Result<HeartbeatWrite> {
        Ok(self.instances.set_heartbeat(instance, now))
    }

    async fn heartbeat(&self, instance: &str) -> Result<Option<i64>> {
        Ok(self.instances.heartbeat(instance))
    }

    async fn instances(&self) -> Result<Vec<Instance>> {
        Ok(self.instances.all())
    }

    async fn claim_recovery(
        &self,
        instance: &str,
        stale_before: i64,
        _ttl: Duration,
    ) -> Result<Option<LockGuard>> {
        Ok(self.instances.claim_recovery(instance, stale_before))
    }

    async fn remove_instance(&self, instance: &str) -> Result<()> {
        self.instances.remove(instance);
        Ok(())
    }

    async fn lock(&self, user: &str, room: &str, _ttl: Duration) -> Result<LockGuard> {
        self.locks.lock(user, room).await
    }
}

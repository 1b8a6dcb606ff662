//! `State` for `MemoryState`: each operation locks its room (then its
//! user), checks with the access rules, asks its recorder whether the
//! store can take a durable change (`Recorder::admit`, right before the
//! first one), changes the durable record and presence, hands the durable
//! changes to the store under that lock, and awaits their commit once it
//! is released.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use indexmap::IndexMap;

use super::rooms::RoomData;
use super::users::UserData;
use super::{MemoryState, RoomEntry, UserEntry, guard, no_user};
use crate::error::{ChatServiceError, Result};
use crate::state::access;
use crate::state::durable::Change;
use crate::state::*;

#[async_trait]
impl State for MemoryState {
    async fn add_room(&self, name: &str, config: RoomConfig) -> Result<()> {
        let mut rec = self.journal.recorder();
        match self.rooms.entry(name.to_string()) {
            dashmap::Entry::Occupied(_) => return Err(ChatServiceError::RoomExists(name.into())),
            // Recorded under the shard's lock: before any change of the
            // room, after the deletion of one of the same name.
            dashmap::Entry::Vacant(slot) => {
                rec.admit()?;
                rec.record(|| Change::RoomAdded {
                    room: name.to_string(),
                    config: config.clone(),
                });
                slot.insert(RoomEntry::new(RoomData::new(config, self.cache_limit())));
            }
        }
        rec.committed().await
    }

    async fn delete_room(&self, name: &str, actor: Actor<'_>) -> Result<Vec<RemovedUser>> {
        let mut rec = self.journal.recorder();
        let entry = self.rooms.get(name).map(|r| r.clone());
        let present = self.with_room(name, |room| {
            access::check_delete(&room.data, actor)?;
            rec.admit()?;
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
        self.read_history(room, presence, |data| data.recent(limit))
            .await
    }

    async fn room_history_get(
        &self,
        room: &str,
        id: u64,
        limit: usize,
        presence: Presence<'_>,
    ) -> Result<Vec<Message>> {
        self.read_history(room, presence, |data| data.history_get(id, limit))
            .await
    }

    async fn room_add_message(&self, name: &str, message: NewMessage<'_>) -> Result<Message> {
        let mut rec = self.journal.recorder();
        let stored = self.with_room(name, |room| {
            let present = |author: &str| room.present.contains(author);
            access::check_author(name, message.author, message.require_member, present)?;
            rec.admit()?;
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
            room.data
                .change_list(list, names, op, limit, || rec.admit())?;
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
            rec.admit()?;
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
            // `None` changes nothing: the history is within its capacity.
            if size.is_some() {
                rec.admit()?;
            }
            r.data.set_history_max_size(size);
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
            let entering = !room.present.contains(user);
            let (already, njoined) = self.with_user(user, |u| {
                // A user entering the userlist: their seen time changes.
                if entering && u.sockets.has(socket) {
                    rec.admit()?;
                }
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
            // A present user whose last socket leaves leaves the userlist:
            // their seen time changes.
            let present = room.present.contains(user);
            let left = self.with_user(user, |u| {
                let was_joined = u.sockets.is_joined(socket, name);
                let njoined = u.sockets.njoined(name) - usize::from(was_joined);
                if present && njoined == 0 {
                    rec.admit()?;
                }
                u.sockets.leave(socket, name);
                Ok((was_joined, njoined))
            });
            let (was_joined, njoined) = match left {
                // No such user: none of their sockets is joined.
                Err(ChatServiceError::NoUser(_)) => {
                    if present {
                        rec.admit()?;
                    }
                    (false, 0)
                }
                left => left?,
            };
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
                rec.admit()?;
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
            if let Err(error) = rec.admit() {
                result = Err(error);
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
            u.data.change_list(list, names, op, limit, || rec.admit())?;
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
            rec.admit()?;
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
                    rec.admit()?;
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

    async fn ping(&self) -> Result<()> {
        self.journal.check()
    }
}

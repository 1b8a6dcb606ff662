//! The in-memory state: the embedded default for a single instance.
//!
//! Rooms and users each sit behind their own mutex inside sharded maps, so
//! commands on different rooms never wait for each other. Locks are plain
//! `std` mutexes, never held across an await. When an operation needs a
//! room and a user, the room is locked first.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use dashmap::DashMap;
use indexmap::{IndexMap, IndexSet};
use serde_json::Value;

use super::*;

/// Retries of the (user, room) lock before `timeout` (protocol.md 14.4).
const LOCK_RETRIES: u32 = 10;
const LOCK_FIRST_WAIT: Duration = Duration::from_millis(100);

#[derive(Default)]
struct Room {
    owner: Option<String>,
    whitelist_only: bool,
    adminlist: IndexSet<String>,
    whitelist: IndexSet<String>,
    blacklist: IndexSet<String>,
    userlist: IndexSet<String>,
    history: VecDeque<Message>,
    history_max_size: usize,
    last_message_id: u64,
    access_lists_updates: bool,
    userlist_updates: bool,
    seen: std::collections::HashMap<String, i64>,
}

impl Room {
    fn is_admin(&self, user: &str) -> bool {
        self.owner.as_deref() == Some(user) || self.adminlist.contains(user)
    }

    fn has_access(&self, user: &str) -> bool {
        if self.is_admin(user) {
            return true;
        }
        if self.blacklist.contains(user) {
            return false;
        }
        !self.whitelist_only || self.whitelist.contains(user)
    }

    fn list(&self, list: RoomList) -> &IndexSet<String> {
        match list {
            RoomList::Adminlist => &self.adminlist,
            RoomList::Whitelist => &self.whitelist,
            RoomList::Blacklist => &self.blacklist,
            RoomList::Userlist => &self.userlist,
        }
    }

    fn list_mut(&mut self, list: RoomList) -> &mut IndexSet<String> {
        match list {
            RoomList::Adminlist => &mut self.adminlist,
            RoomList::Whitelist => &mut self.whitelist,
            RoomList::Blacklist => &mut self.blacklist,
            RoomList::Userlist => &mut self.userlist,
        }
    }

    fn check_presence(&self, name: &str, presence: Presence<'_>) -> Result<()> {
        let allowed = match presence {
            Presence::Any => true,
            Presence::Member(user) => user.is_some_and(|u| self.userlist.contains(u)),
            Presence::MemberOrAdmin(user) => {
                user.is_some_and(|u| self.userlist.contains(u) || self.is_admin(u))
            }
        };
        if allowed {
            Ok(())
        } else {
            Err(ChatServiceError::NotJoined(name.to_string()))
        }
    }

    fn trim_history(&mut self) {
        while self.history.len() > self.history_max_size {
            self.history.pop_back();
        }
    }

    fn leave_userlist(&mut self, user: &str, now: i64) {
        if self.userlist.shift_remove(user) {
            self.seen.insert(user.to_string(), now);
        }
    }

    /// Present users among `names` who are not admins.
    fn present_non_admins(&self, names: &[String]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for name in names {
            if self.userlist.contains(name) && !self.is_admin(name) && !out.contains(name) {
                out.push(name.clone());
            }
        }
        out
    }
}

/// (user, room) -> its async mutex.
type LockTable = DashMap<(String, String), Arc<tokio::sync::Mutex<()>>>;

#[derive(Default)]
struct User {
    whitelist: IndexSet<String>,
    blacklist: IndexSet<String>,
    whitelist_only: bool,
    /// Socket id -> rooms it is joined to.
    sockets: IndexMap<String, IndexSet<String>>,
}

impl User {
    fn njoined(&self, room: &str) -> usize {
        self.sockets.values().filter(|r| r.contains(room)).count()
    }

    fn list(&self, list: DirectList) -> &IndexSet<String> {
        match list {
            DirectList::Whitelist => &self.whitelist,
            DirectList::Blacklist => &self.blacklist,
        }
    }

    fn list_mut(&mut self, list: DirectList) -> &mut IndexSet<String> {
        match list {
            DirectList::Whitelist => &mut self.whitelist,
            DirectList::Blacklist => &mut self.blacklist,
        }
    }
}

/// See the module documentation.
#[derive(Default)]
pub struct MemoryState {
    rooms: DashMap<String, Arc<Mutex<Room>>>,
    users: DashMap<String, Arc<Mutex<User>>>,
    /// Socket id -> (user, instance).
    sockets: DashMap<String, (String, String)>,
    heartbeats: DashMap<String, i64>,
    /// Instances being recovered (`claim_recovery`), until their claim drops.
    recoveries: Arc<DashMap<String, ()>>,
    locks: Arc<LockTable>,
    /// Set once, by the service that takes the message feed.
    feed: std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<Published>>,
}

/// A held recovery claim: released when dropped.
struct Claim {
    claims: Arc<DashMap<String, ()>>,
    instance: String,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.claims.remove(&self.instance);
    }
}

/// Locks a record, recovering it if a panic poisoned the mutex: the data
/// of one room must not take the whole service down.
fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl MemoryState {
    pub fn new() -> Self {
        Self::default()
    }

    fn room(&self, name: &str) -> Result<Arc<Mutex<Room>>> {
        self.rooms
            .get(name)
            .map(|r| r.clone())
            .ok_or_else(|| ChatServiceError::NoRoom(name.to_string()))
    }

    fn user(&self, name: &str) -> Result<Arc<Mutex<User>>> {
        self.users
            .get(name)
            .map(|u| u.clone())
            .ok_or_else(|| ChatServiceError::NoUser(name.to_string()))
    }

    fn read_room<T>(
        &self,
        name: &str,
        presence: Presence<'_>,
        f: impl FnOnce(&Room) -> T,
    ) -> Result<T> {
        let room = self.room(name)?;
        let room = guard(&room);
        room.check_presence(name, presence)?;
        Ok(f(&room))
    }

    fn write_room<T>(&self, name: &str, f: impl FnOnce(&mut Room) -> T) -> Result<T> {
        let room = self.room(name)?;
        let mut room = guard(&room);
        Ok(f(&mut room))
    }
}

fn check_list_change(room: &Room, actor: Actor<'_>, list: &str, names: &[String]) -> Result<()> {
    if list == "userlist" {
        return Err(ChatServiceError::NotAllowed);
    }
    if actor.bypass {
        return Ok(());
    }
    let Some(user) = actor.user else {
        return Err(ChatServiceError::NotAllowed);
    };
    if room.owner.as_deref() == Some(user) {
        return Ok(());
    }
    if list == "adminlist" || !room.adminlist.contains(user) {
        return Err(ChatServiceError::NotAllowed);
    }
    if let Some(owner) = &room.owner
        && names.iter().any(|n| n == owner)
    {
        return Err(ChatServiceError::NotAllowed);
    }
    Ok(())
}

#[async_trait]
impl State for MemoryState {
    async fn add_room(&self, name: &str, config: RoomConfig) -> Result<()> {
        let room = Room {
            owner: config.owner,
            whitelist_only: config.whitelist_only,
            adminlist: config.adminlist.into_iter().collect(),
            whitelist: config.whitelist.into_iter().collect(),
            blacklist: config.blacklist.into_iter().collect(),
            history_max_size: config.history_max_size,
            access_lists_updates: config.enable_access_lists_updates,
            userlist_updates: config.enable_userlist_updates,
            ..Room::default()
        };
        match self.rooms.entry(name.to_string()) {
            dashmap::Entry::Occupied(_) => Err(ChatServiceError::RoomExists(name.to_string())),
            dashmap::Entry::Vacant(slot) => {
                slot.insert(Arc::new(Mutex::new(room)));
                Ok(())
            }
        }
    }

    async fn delete_room(
        &self,
        name: &str,
        actor: Actor<'_>,
    ) -> Result<Vec<(String, Vec<String>)>> {
        let room = self.room(name)?;
        let room = {
            let room = guard(&room);
            if !actor.bypass && (actor.user.is_none() || room.owner.as_deref() != actor.user) {
                return Err(ChatServiceError::NotAllowed);
            }
            room.userlist.clone()
        };
        self.rooms.remove(name);
        let mut removed = Vec::with_capacity(room.len());
        for user_name in room {
            let Ok(user) = self.user(&user_name) else {
                continue;
            };
            let mut user = guard(&user);
            let sockets = user
                .sockets
                .iter_mut()
                .filter_map(|(id, rooms)| rooms.shift_remove(name).then(|| id.clone()))
                .collect();
            removed.push((user_name, sockets));
        }
        Ok(removed)
    }

    async fn has_room(&self, name: &str) -> Result<bool> {
        Ok(self.rooms.contains_key(name))
    }

    async fn room_access(&self, room: &str, user: &str) -> Result<bool> {
        self.read_room(room, Presence::Any, |r| r.has_access(user))
    }

    async fn room_has_in_list(&self, room: &str, list: &str, item: &str) -> Result<bool> {
        self.read_room(room, Presence::Any, |r| {
            Ok(r.list(RoomList::parse(list)?).contains(item))
        })?
    }

    async fn room_get_list(
        &self,
        room: &str,
        list: &str,
        presence: Presence<'_>,
    ) -> Result<Vec<String>> {
        self.read_room(room, presence, |r| {
            Ok(r.list(RoomList::parse(list)?).iter().cloned().collect())
        })?
    }

    async fn room_owner(&self, room: &str, presence: Presence<'_>) -> Result<Option<String>> {
        self.read_room(room, presence, |r| r.owner.clone())
    }

    async fn rooms_owned(&self, user: &str) -> Result<usize> {
        // Every room once: only `--max-rooms-per-user` asks, at roomCreate.
        let rooms: Vec<_> = self.rooms.iter().map(|r| r.value().clone()).collect();
        Ok(rooms
            .iter()
            .filter(|room| guard(room).owner.as_deref() == Some(user))
            .count())
    }

    async fn room_whitelist_only(&self, room: &str, presence: Presence<'_>) -> Result<bool> {
        self.read_room(room, presence, |r| r.whitelist_only)
    }

    async fn room_notifications(
        &self,
        room: &str,
        presence: Presence<'_>,
    ) -> Result<NotificationsInfo> {
        self.read_room(room, presence, |r| NotificationsInfo {
            enable_userlist_updates: r.userlist_updates,
            enable_access_lists_updates: r.access_lists_updates,
        })
    }

    async fn room_user_seen(
        &self,
        room: &str,
        user: &str,
        presence: Presence<'_>,
    ) -> Result<UserSeen> {
        self.read_room(room, presence, |r| UserSeen {
            joined: r.userlist.contains(user),
            timestamp: r.seen.get(user).copied(),
        })
    }

    async fn room_history_info(&self, room: &str, presence: Presence<'_>) -> Result<HistoryInfo> {
        self.read_room(room, presence, |r| HistoryInfo {
            history_size: r.history.len(),
            history_max_size: r.history_max_size,
            last_message_id: r.last_message_id,
        })
    }

    async fn room_recent_history(
        &self,
        room: &str,
        limit: usize,
        presence: Presence<'_>,
    ) -> Result<Vec<Message>> {
        self.read_room(room, presence, |r| {
            r.history.iter().take(limit).cloned().collect()
        })
    }

    async fn room_history_get(
        &self,
        room: &str,
        id: u64,
        limit: usize,
        presence: Presence<'_>,
    ) -> Result<Vec<Message>> {
        self.read_room(room, presence, |r| {
            if limit == 0 {
                return Vec::new();
            }
            let last = r.last_message_id;
            let from = id.min(last);
            let to = from.saturating_add(limit as u64).min(last);
            // history[0] holds `last`, history[k] holds `last - k`.
            let newest_skip = (last - to) as usize;
            let count = (to - from) as usize;
            r.history
                .iter()
                .skip(newest_skip)
                .take(count)
                .cloned()
                .collect()
        })
    }

    async fn room_add_message(&self, room: &str, message: NewMessage<'_>) -> Result<Message> {
        let name = room;
        let room = self.room(name)?;
        let mut room = guard(&room);
        if message.require_member && !message.author.is_some_and(|a| room.userlist.contains(a)) {
            return Err(ChatServiceError::NotJoined(name.to_string()));
        }
        room.last_message_id += 1;
        let mut fields = message.fields;
        fields.insert("timestamp".into(), Value::from(message.timestamp));
        fields.insert("id".into(), Value::from(room.last_message_id));
        let stored: Message = Arc::new(Value::Object(fields));
        if room.history_max_size > 0 {
            room.history.push_front(stored.clone());
            room.trim_history();
        }
        // Still under the room's lock: the feed gets the room's ids in order.
        if let Some(feed) = self.feed.get() {
            let _ = feed.send(Published {
                room: name.to_string(),
                message: FeedMessage::Stored(stored.clone()),
            });
        }
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
        room: &str,
        actor: Actor<'_>,
        list: &str,
        names: &[String],
        op: ListOp,
        limit: usize,
    ) -> Result<AccessChange> {
        let room = self.room(room)?;
        let mut room = guard(&room);
        check_list_change(&room, actor, list, names)?;
        let list_kind = RoomList::parse(list)?;
        let set = room.list_mut(list_kind);
        match op {
            ListOp::Add => {
                if set.len() + names.len() > limit {
                    return Err(ChatServiceError::ListLimitExceeded(list.to_string()));
                }
                set.extend(names.iter().cloned());
            }
            ListOp::Remove => {
                for name in names {
                    set.shift_remove(name);
                }
            }
        }
        let removed_users = match (list_kind, op) {
            (RoomList::Blacklist, ListOp::Add) => room.present_non_admins(names),
            (RoomList::Whitelist, ListOp::Remove) if room.whitelist_only => {
                room.present_non_admins(names)
            }
            _ => Vec::new(),
        };
        Ok(AccessChange {
            removed_users,
            access_lists_updates: room.access_lists_updates,
        })
    }

    async fn room_set_whitelist_only(
        &self,
        room: &str,
        actor: Actor<'_>,
        mode: bool,
    ) -> Result<AccessChange> {
        let room = self.room(room)?;
        let mut room = guard(&room);
        if !actor.bypass && !actor.user.is_some_and(|u| room.is_admin(u)) {
            return Err(ChatServiceError::NotAllowed);
        }
        room.whitelist_only = mode;
        let removed_users = if mode {
            room.userlist
                .iter()
                .filter(|u| !room.whitelist.contains(*u) && !room.adminlist.contains(*u))
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        Ok(AccessChange {
            removed_users,
            access_lists_updates: room.access_lists_updates,
        })
    }

    async fn room_set_owner(&self, room: &str, owner: &str) -> Result<()> {
        self.write_room(room, |r| r.owner = Some(owner.to_string()))
    }

    async fn room_set_history_max_size(&self, room: &str, size: Option<usize>) -> Result<()> {
        self.write_room(room, |r| {
            if let Some(size) = size {
                r.history_max_size = size;
            }
            r.trim_history();
        })
    }

    async fn room_set_access_lists_updates(&self, room: &str, on: bool) -> Result<()> {
        self.write_room(room, |r| r.access_lists_updates = on)
    }

    async fn room_set_userlist_updates(&self, room: &str, on: bool) -> Result<()> {
        self.write_room(room, |r| r.userlist_updates = on)
    }

    async fn room_join(
        &self,
        room_name: &str,
        user_name: &str,
        socket: &str,
        now: i64,
    ) -> Result<Joined> {
        let room = self.room(room_name)?;
        let mut room = guard(&room);
        if !room.has_access(user_name) {
            return Err(ChatServiceError::NotAllowed);
        }
        let user = self.user(user_name)?;
        let mut user = guard(&user);
        let Some(rooms) = user.sockets.get_mut(socket) else {
            return Err(ChatServiceError::InvalidSocket(socket.to_string()));
        };
        let already = !rooms.insert(room_name.to_string());
        if room.userlist.insert(user_name.to_string()) {
            room.seen.insert(user_name.to_string(), now);
        }
        Ok(Joined {
            njoined: user.njoined(room_name),
            already,
            userlist_updates: room.userlist_updates,
        })
    }

    async fn room_leave(
        &self,
        room_name: &str,
        user_name: &str,
        socket: &str,
        now: i64,
    ) -> Result<Left> {
        let room = self.room(room_name)?;
        let mut room = guard(&room);
        let (was_joined, njoined) = match self.user(user_name) {
            Ok(user) => {
                let mut user = guard(&user);
                let was_joined = user
                    .sockets
                    .get_mut(socket)
                    .is_some_and(|rooms| rooms.shift_remove(room_name));
                (was_joined, user.njoined(room_name))
            }
            Err(_) => (false, 0),
        };
        if njoined == 0 {
            room.leave_userlist(user_name, now);
        }
        Ok(Left {
            njoined,
            was_joined,
            userlist_updates: room.userlist_updates,
        })
    }

    async fn room_remove_user(
        &self,
        room_name: &str,
        user_name: &str,
        now: i64,
    ) -> Result<UserRemoved> {
        let room = self.room(room_name)?;
        let mut room = guard(&room);
        let sockets = match self.user(user_name) {
            Ok(user) => {
                let mut user = guard(&user);
                user.sockets
                    .iter_mut()
                    .filter_map(|(id, rooms)| rooms.shift_remove(room_name).then(|| id.clone()))
                    .collect()
            }
            Err(_) => Vec::new(),
        };
        room.leave_userlist(user_name, now);
        Ok(UserRemoved {
            sockets,
            userlist_updates: room.userlist_updates,
        })
    }

    async fn room_userlist(&self, room: &str) -> Result<Vec<String>> {
        self.read_room(room, Presence::Any, |r| {
            r.userlist.iter().cloned().collect()
        })
    }

    async fn room_users_without_sockets(&self, room_name: &str) -> Result<Vec<String>> {
        let users = self.room_userlist(room_name).await?;
        Ok(users
            .into_iter()
            .filter(|u| {
                self.user(u)
                    .map(|u| guard(&u).njoined(room_name) == 0)
                    .unwrap_or(true)
            })
            .collect())
    }

    async fn add_user(&self, name: &str, config: UserConfig) -> Result<()> {
        match self.users.entry(name.to_string()) {
            dashmap::Entry::Occupied(_) => Err(ChatServiceError::UserExists(name.to_string())),
            dashmap::Entry::Vacant(slot) => {
                slot.insert(Arc::new(Mutex::new(User {
                    whitelist: config.whitelist.into_iter().collect(),
                    blacklist: config.blacklist.into_iter().collect(),
                    whitelist_only: config.whitelist_only,
                    sockets: IndexMap::new(),
                })));
                Ok(())
            }
        }
    }

    async fn delete_user(&self, name: &str) -> Result<()> {
        let user = self.user(name)?;
        if !guard(&user).sockets.is_empty() {
            return Err(ChatServiceError::UserOnline(name.to_string()));
        }
        self.users.remove(name);
        Ok(())
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
        let user = self.user(user)?;
        let mut user = guard(&user);
        let set = user.list_mut(list);
        match op {
            ListOp::Add => {
                if set.len() + names.len() > limit {
                    let name = match list {
                        DirectList::Whitelist => "whitelist",
                        DirectList::Blacklist => "blacklist",
                    };
                    return Err(ChatServiceError::ListLimitExceeded(name.to_string()));
                }
                set.extend(names.iter().cloned());
            }
            ListOp::Remove => {
                for name in names {
                    set.shift_remove(name);
                }
            }
        }
        Ok(())
    }

    async fn direct_get_list(&self, user: &str, list: DirectList) -> Result<Vec<String>> {
        let user = self.user(user)?;
        let user = guard(&user);
        Ok(user.list(list).iter().cloned().collect())
    }

    async fn direct_has_in_list(&self, user: &str, list: DirectList, item: &str) -> Result<bool> {
        let user = self.user(user)?;
        let user = guard(&user);
        Ok(user.list(list).contains(item))
    }

    async fn direct_whitelist_only(&self, user: &str) -> Result<bool> {
        let user = self.user(user)?;
        let user = guard(&user);
        Ok(user.whitelist_only)
    }

    async fn direct_set_whitelist_only(&self, user: &str, mode: bool) -> Result<()> {
        let user = self.user(user)?;
        guard(&user).whitelist_only = mode;
        Ok(())
    }

    async fn direct_access(&self, recipient: &str, sender: &str) -> Result<bool> {
        Ok(self.direct_recipient(recipient, Some(sender)).await?.0)
    }

    async fn direct_recipient(
        &self,
        recipient: &str,
        sender: Option<&str>,
    ) -> Result<(bool, usize)> {
        let user = self.user(recipient)?;
        let user = guard(&user);
        let access = sender.is_none_or(|sender| {
            !user.blacklist.contains(sender)
                && (!user.whitelist_only || user.whitelist.contains(sender))
        });
        Ok((access, user.sockets.len()))
    }

    async fn user_nconnected(&self, user: &str) -> Result<usize> {
        let user = self.user(user)?;
        let user = guard(&user);
        Ok(user.sockets.len())
    }

    async fn user_sockets(&self, user: &str) -> Result<IndexMap<String, Vec<String>>> {
        let user = self.user(user)?;
        let user = guard(&user);
        Ok(user
            .sockets
            .iter()
            .map(|(id, rooms)| (id.clone(), rooms.iter().cloned().collect()))
            .collect())
    }

    async fn user_rooms(&self, user: &str) -> Result<Vec<String>> {
        let user = self.user(user)?;
        let user = guard(&user);
        let mut rooms: IndexSet<String> = IndexSet::new();
        for joined in user.sockets.values() {
            rooms.extend(joined.iter().cloned());
        }
        Ok(rooms.into_iter().collect())
    }

    async fn add_socket(&self, user_name: &str, socket: &str, instance: &str) -> Result<usize> {
        let user = self.users.entry(user_name.to_string()).or_default().clone();
        let mut user = guard(&user);
        user.sockets.entry(socket.to_string()).or_default();
        self.sockets.insert(
            socket.to_string(),
            (user_name.to_string(), instance.to_string()),
        );
        Ok(user.sockets.len())
    }

    async fn remove_socket(
        &self,
        user_name: &str,
        socket: &str,
        now: i64,
    ) -> Result<Option<SocketRemoved>> {
        self.sockets.remove(socket);
        let user = self.user(user_name)?;
        let Some(joined) = guard(&user).sockets.shift_remove(socket) else {
            return Ok(None);
        };
        let mut removed = SocketRemoved::default();
        for room_name in joined {
            let (njoined, userlist_updates) = match self.room(&room_name) {
                Ok(room) => {
                    let mut room = guard(&room);
                    let njoined = guard(&user).njoined(&room_name);
                    if njoined == 0 {
                        room.leave_userlist(user_name, now);
                    }
                    (njoined, room.userlist_updates)
                }
                Err(_) => (guard(&user).njoined(&room_name), false),
            };
            removed.rooms.push((room_name, njoined, userlist_updates));
        }
        removed.nconnected = guard(&user).sockets.len();
        Ok(Some(removed))
    }

    async fn instance_sockets(&self, instance: &str) -> Result<Vec<SocketEntry>> {
        Ok(self
            .sockets
            .iter()
            .filter(|e| e.value().1 == instance)
            .map(|e| SocketEntry {
                id: e.key().clone(),
                user: e.value().0.clone(),
            })
            .collect())
    }

    async fn set_heartbeat(&self, instance: &str, now: i64) -> Result<HeartbeatWrite> {
        if self.recoveries.contains_key(instance) {
            return Ok(HeartbeatWrite::BeingRecovered);
        }
        Ok(match self.heartbeats.insert(instance.to_string(), now) {
            Some(_) => HeartbeatWrite::Known,
            None => HeartbeatWrite::Unknown,
        })
    }

    async fn heartbeat(&self, instance: &str) -> Result<Option<i64>> {
        Ok(self.heartbeats.get(instance).map(|h| *h))
    }

    async fn instances(&self) -> Result<Vec<(String, i64)>> {
        Ok(self
            .heartbeats
            .iter()
            .map(|entry| (entry.key().clone(), *entry.value()))
            .collect())
    }

    async fn claim_recovery(
        &self,
        instance: &str,
        stale_before: i64,
        _ttl: Duration,
    ) -> Result<Option<LockGuard>> {
        let stale = self
            .heartbeats
            .get(instance)
            .is_some_and(|beat| *beat < stale_before);
        if !stale {
            return Ok(None);
        }
        match self.recoveries.entry(instance.to_string()) {
            dashmap::Entry::Occupied(_) => Ok(None),
            dashmap::Entry::Vacant(entry) => {
                entry.insert(());
                Ok(Some(LockGuard::new(Claim {
                    claims: self.recoveries.clone(),
                    instance: instance.to_string(),
                })))
            }
        }
    }

    async fn remove_instance(&self, instance: &str) -> Result<()> {
        self.heartbeats.remove(instance);
        Ok(())
    }

    async fn lock(&self, user: &str, room: &str, _ttl: Duration) -> Result<LockGuard> {
        let key = (user.to_string(), room.to_string());
        let mutex = self.locks.entry(key.clone()).or_default().clone();
        let mut wait = LOCK_FIRST_WAIT;
        for _ in 0..LOCK_RETRIES {
            match tokio::time::timeout(wait, mutex.clone().lock_owned()).await {
                Ok(held) => {
                    return Ok(LockGuard::new(KeyedLock {
                        held: Some(held),
                        key,
                        locks: self.locks.clone(),
                    }));
                }
                Err(_) => wait = wait.mul_f64(1.5),
            }
        }
        Err(ChatServiceError::Timeout)
    }
}

/// A held entry of the lock table; the entry is dropped with its last user
/// so the table does not grow with every (user, room) pair ever seen.
struct KeyedLock {
    held: Option<tokio::sync::OwnedMutexGuard<()>>,
    key: (String, String),
    locks: Arc<LockTable>,
}

impl Drop for KeyedLock {
    fn drop(&mut self) {
        self.held.take();
        self.locks
            .remove_if(&self.key, |_, mutex| Arc::strong_count(mutex) == 1);
    }
}

//! The durable part of a room in the memory engine: owner, mode, access
//! lists, settings, history with its ids, and the users' seen times. Its
//! present users live beside it (`presence.rs`), under the same lock.

use std::collections::{HashMap, VecDeque};

use indexmap::IndexSet;
use serde_json::{Map, Value};

use crate::error::{ChatServiceError, Result};
use crate::state::access::RoomAcl;
use crate::state::durable::StoredRoom;
use crate::state::{HistoryInfo, ListOp, Message, NotificationsInfo, RoomConfig, RoomList};

#[derive(Default)]
pub(crate) struct RoomData {
    pub(crate) owner: Option<String>,
    pub(crate) whitelist_only: bool,
    adminlist: IndexSet<String>,
    whitelist: IndexSet<String>,
    blacklist: IndexSet<String>,
    /// Newest first: `history[k]` holds id `last_message_id - k`.
    history: VecDeque<Message>,
    history_max_size: usize,
    last_message_id: u64,
    pub(crate) access_lists_updates: bool,
    pub(crate) userlist_updates: bool,
    seen: HashMap<String, i64>,
}

impl RoomAcl for RoomData {
    fn owner(&self) -> Option<&str> {
        self.owner.as_deref()
    }

    fn whitelist_only(&self) -> bool {
        self.whitelist_only
    }

    fn in_list(&self, list: RoomList, name: &str) -> bool {
        self.access_list(list).is_some_and(|set| set.contains(name))
    }
}

impl RoomData {
    pub(crate) fn new(config: RoomConfig) -> Self {
        Self {
            owner: config.owner,
            whitelist_only: config.whitelist_only,
            adminlist: config.adminlist.into_iter().collect(),
            whitelist: config.whitelist.into_iter().collect(),
            blacklist: config.blacklist.into_iter().collect(),
            history_max_size: config.history_max_size,
            access_lists_updates: config.enable_access_lists_updates,
            userlist_updates: config.enable_userlist_updates,
            ..Self::default()
        }
    }

    /// A room as a store gave it back.
    pub(crate) fn restored(stored: StoredRoom) -> Self {
        let mut room = Self::new(stored.config);
        room.last_message_id = stored.last_message_id;
        room.history = stored.history.into();
        room.trim_history();
        room.seen = stored.seen.into_iter().map(|s| (s.user, s.at)).collect();
        room
    }

    /// The room as a store keeps it, its sets in their order and its seen
    /// times by name.
    #[cfg(test)]
    pub(crate) fn stored(&self, name: &str) -> StoredRoom {
        let mut seen: Vec<_> = self
            .seen
            .iter()
            .map(|(user, at)| crate::state::durable::SeenAt {
                user: user.clone(),
                at: *at,
            })
            .collect();
        seen.sort();
        StoredRoom {
            name: name.to_string(),
            config: RoomConfig {
                owner: self.owner.clone(),
                whitelist_only: self.whitelist_only,
                whitelist: self.whitelist.iter().cloned().collect(),
                blacklist: self.blacklist.iter().cloned().collect(),
                adminlist: self.adminlist.iter().cloned().collect(),
                history_max_size: self.history_max_size,
                enable_access_lists_updates: self.access_lists_updates,
                enable_userlist_updates: self.userlist_updates,
            },
            last_message_id: self.last_message_id,
            history: self.history.iter().cloned().collect(),
            seen,
        }
    }

    /// An access list; the userlist is not one (it is presence).
    pub(crate) fn access_list(&self, list: RoomList) -> Option<&IndexSet<String>> {
        match list {
            RoomList::Adminlist => Some(&self.adminlist),
            RoomList::Whitelist => Some(&self.whitelist),
            RoomList::Blacklist => Some(&self.blacklist),
            RoomList::Userlist => None,
        }
    }

    /// Adds (within `limit`) or removes names; `notAllowed` for the
    /// userlist, which no list command changes.
    pub(crate) fn change_list(
        &mut self,
        list: RoomList,
        names: &[String],
        op: ListOp,
        limit: usize,
    ) -> Result<()> {
        let set = match list {
            RoomList::Adminlist => &mut self.adminlist,
            RoomList::Whitelist => &mut self.whitelist,
            RoomList::Blacklist => &mut self.blacklist,
            RoomList::Userlist => return Err(ChatServiceError::NotAllowed),
        };
        super::change_set(set, names, op, limit, list.as_str())
    }

    pub(crate) fn notifications(&self) -> NotificationsInfo {
        NotificationsInfo {
            enable_userlist_updates: self.userlist_updates,
            enable_access_lists_updates: self.access_lists_updates,
        }
    }

    pub(crate) fn seen(&self, user: &str) -> Option<i64> {
        self.seen.get(user).copied()
    }

    /// Notes that `user` entered or left the userlist at `now`.
    pub(crate) fn set_seen(&mut self, user: &str, now: i64) {
        self.seen.insert(user.to_string(), now);
    }

    /// Stores a message with the next id; gives it processed.
    pub(crate) fn append(&mut self, mut fields: Map<String, Value>, timestamp: i64) -> Message {
        self.last_message_id += 1;
        fields.insert("timestamp".into(), Value::from(timestamp));
        fields.insert("id".into(), Value::from(self.last_message_id));
        let stored: Message = Message::new(Value::Object(fields));
        if self.history_max_size > 0 {
            self.history.push_front(stored.clone());
            self.trim_history();
        }
        stored
    }

    /// `None` keeps the capacity but still trims.
    pub(crate) fn set_history_max_size(&mut self, size: Option<usize>) {
        if let Some(size) = size {
            self.history_max_size = size;
        }
        self.trim_history();
    }

    fn trim_history(&mut self) {
        self.history.truncate(self.history_max_size);
    }

    pub(crate) fn history_info(&self) -> HistoryInfo {
        HistoryInfo {
            history_size: self.history.len(),
            history_max_size: self.history_max_size,
            last_message_id: self.last_message_id,
        }
    }

    /// The newest `limit` messages, newest first.
    pub(crate) fn recent(&self, limit: usize) -> Vec<Message> {
        self.history.iter().take(limit).cloned().collect()
    }

    /// Messages with ids in `id+1 ..= id+limit` (`id` clamped to the last
    /// one), newest first (8).
    pub(crate) fn history_get(&self, id: u64, limit: usize) -> Vec<Message> {
        if limit == 0 {
            return Vec::new();
        }
        let last = self.last_message_id;
        let from = id.min(last);
        let to = from.saturating_add(limit as u64).min(last);
        let newest_skip = (last - to) as usize;
        let count = (to - from) as usize;
        self.history
            .iter()
            .skip(newest_skip)
            .take(count)
            .cloned()
            .collect()
    }
}

//! The durable part of a room in the memory engine: owner, mode, access
//! lists, settings, history with its ids, and the users' seen times. Its
//! present users live beside it (`presence.rs`), under the same lock.
//!
//! With a store that keeps the history (`sqlite/`), only the newest
//! messages stay in memory, at most the store's `history_cache` per room:
//! memory does not grow with the stored history, and a restart reads none
//! of it. A read of older messages goes to the store ([`HistoryRead`]),
//! and what it brings back extends the cache while that has room.

use std::collections::{HashMap, VecDeque};

use indexmap::IndexSet;
use serde_json::{Map, Value};

use crate::error::{ChatServiceError, Result};
use crate::state::access::RoomAcl;
use crate::state::durable::StoredRoom;
use crate::state::{HistoryInfo, ListOp, Message, NotificationsInfo, RoomConfig, RoomList};

/// Where a history read finds its messages.
pub(crate) enum HistoryRead {
    /// All of them are in memory, newest first.
    Cached(Vec<Message>),
    /// The older ones are only in the store: `cached` (newest first) are
    /// the newest of those asked for, then the store has the `count`
    /// messages from id `newest` down. Only what the cache lacks is read,
    /// so a read answers the messages still waiting for a commit too.
    Stored {
        cached: Vec<Message>,
        newest: u64,
        count: usize,
    },
}

#[derive(Default)]
pub(crate) struct RoomData {
    pub(crate) owner: Option<String>,
    pub(crate) whitelist_only: bool,
    adminlist: IndexSet<String>,
    whitelist: IndexSet<String>,
    blacklist: IndexSet<String>,
    /// The newest messages, newest first: `history[k]` holds id
    /// `last_message_id - k`. All the room holds, or at most
    /// `cache_limit` of them.
    history: VecDeque<Message>,
    /// How many messages the room holds, in memory or in the store: ids
    /// `last_message_id - history_size + 1 ..= last_message_id`.
    history_size: usize,
    history_max_size: usize,
    /// Most messages kept in `history`.
    cache_limit: usize,
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
    /// A new room keeping at most `cache_limit` messages in memory
    /// (`usize::MAX`: all of them).
    pub(crate) fn new(config: RoomConfig, cache_limit: usize) -> Self {
        Self {
            owner: config.owner,
            whitelist_only: config.whitelist_only,
            adminlist: config.adminlist.into_iter().collect(),
            whitelist: config.whitelist.into_iter().collect(),
            blacklist: config.blacklist.into_iter().collect(),
            history_max_size: config.history_max_size,
            access_lists_updates: config.enable_access_lists_updates,
            userlist_updates: config.enable_userlist_updates,
            cache_limit,
            ..Self::default()
        }
    }

    /// A room as a store gave it back.
    pub(crate) fn restored(stored: StoredRoom, cache_limit: usize) -> Self {
        let mut room = Self::new(stored.config, cache_limit);
        room.last_message_id = stored.last_message_id;
        room.history_size = stored.history_size.max(stored.history.len());
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
            history_size: self.history_size,
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

    /// Adds (within `limit`) or removes names once `admit` lets it;
    /// `notAllowed` for the userlist, which no list command changes.
    pub(crate) fn change_list(
        &mut self,
        list: RoomList,
        names: &[String],
        op: ListOp,
        limit: usize,
        admit: impl FnOnce() -> Result<()>,
    ) -> Result<()> {
        let set = match list {
            RoomList::Adminlist => &mut self.adminlist,
            RoomList::Whitelist => &mut self.whitelist,
            RoomList::Blacklist => &mut self.blacklist,
            RoomList::Userlist => return Err(ChatServiceError::NotAllowed),
        };
        super::change_set(set, names, op, limit, list.as_str(), admit)
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
            self.history_size += 1;
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
        self.history_size = self.history_size.min(self.history_max_size);
        self.history
            .truncate(self.history_size.min(self.cache_limit));
    }

    pub(crate) fn history_info(&self) -> HistoryInfo {
        HistoryInfo {
            history_size: self.history_size,
            history_max_size: self.history_max_size,
            last_message_id: self.last_message_id,
        }
    }

    /// The newest `limit` messages, newest first.
    pub(crate) fn recent(&self, limit: usize) -> HistoryRead {
        self.read(self.last_message_id, limit)
    }

    /// Messages with ids in `id+1 ..= id+limit` (`id` clamped to the last
    /// one), newest first (8).
    pub(crate) fn history_get(&self, id: u64, limit: usize) -> HistoryRead {
        let from = id.min(self.last_message_id);
        let to = from.saturating_add(limit as u64).min(self.last_message_id);
        self.read(to, (to - from) as usize)
    }

    /// Up to `count` messages from id `newest` (at most the last) down,
    /// of those the room holds.
    fn read(&self, newest: u64, count: usize) -> HistoryRead {
        let oldest_held = self.last_message_id - self.history_size as u64 + 1;
        let oldest = newest.saturating_sub(count as u64) + 1;
        let oldest = oldest.max(oldest_held);
        if newest < oldest {
            return HistoryRead::Cached(Vec::new());
        }
        let count = (newest - oldest + 1) as usize;
        let oldest_cached = self.last_message_id - self.history.len() as u64 + 1;
        let skip = (self.last_message_id - newest) as usize;
        let cached = self
            .history
            .iter()
            .skip(skip)
            .take(count)
            .cloned()
            .collect();
        if oldest >= oldest_cached {
            return HistoryRead::Cached(cached);
        }
        let newest_stored = newest.min(oldest_cached - 1);
        HistoryRead::Stored {
            cached,
            newest: newest_stored,
            count: (newest_stored - oldest + 1) as usize,
        }
    }

    /// Keeps what a store read brought (newest first) that is just older
    /// than the cache, while the cache has room and the room still holds
    /// it.
    pub(crate) fn extend_cache(&mut self, read: &[Message]) {
        let limit = self.history_size.min(self.cache_limit);
        for message in read {
            if self.history.len() >= limit {
                return;
            }
            let next_older = self.last_message_id - self.history.len() as u64;
            if crate::state::message_id(message) == next_older {
                self.history.push_back(message.clone());
            }
        }
    }
}

//! The durable part of a user in the memory engine: the direct-messaging
//! lists and mode. Their sockets live beside it (`presence.rs`), under the
//! same lock.

use indexmap::IndexSet;

use crate::error::Result;
use crate::state::access::DirectAcl;
use crate::state::durable::StoredUser;
use crate::state::{DirectList, ListOp, UserConfig};

#[derive(Default)]
pub(crate) struct UserData {
    whitelist: IndexSet<String>,
    blacklist: IndexSet<String>,
    pub(crate) whitelist_only: bool,
    conversations: IndexSet<String>,
}

impl DirectAcl for UserData {
    fn whitelist_only(&self) -> bool {
        self.whitelist_only
    }

    fn in_list(&self, list: DirectList, name: &str) -> bool {
        self.list(list).contains(name)
    }
}

impl UserData {
    pub(crate) fn new(config: UserConfig) -> Self {
        Self {
            whitelist: config.whitelist.into_iter().collect(),
            blacklist: config.blacklist.into_iter().collect(),
            whitelist_only: config.whitelist_only,
            conversations: config.conversations.into_iter().collect(),
        }
    }

    /// The user as a store keeps it.
    #[cfg(test)]
    pub(crate) fn stored(&self, name: &str) -> StoredUser {
        StoredUser {
            name: name.to_string(),
            config: UserConfig {
                whitelist: self.whitelist.iter().cloned().collect(),
                blacklist: self.blacklist.iter().cloned().collect(),
                whitelist_only: self.whitelist_only,
                conversations: self.conversations.iter().cloned().collect(),
            },
        }
    }

    pub(crate) fn restored(stored: StoredUser) -> Self {
        Self::new(stored.config)
    }

    pub(crate) fn list(&self, list: DirectList) -> &IndexSet<String> {
        match list {
            DirectList::Whitelist => &self.whitelist,
            DirectList::Blacklist => &self.blacklist,
            DirectList::Conversations => &self.conversations,
        }
    }

    /// Adds (within `limit`) or removes names once `admit` lets it.
    pub(crate) fn change_list(
        &mut self,
        list: DirectList,
        names: &[String],
        op: ListOp,
        limit: usize,
        admit: impl FnOnce() -> Result<()>,
    ) -> Result<()> {
        let set = match list {
            DirectList::Whitelist => &mut self.whitelist,
            DirectList::Blacklist => &mut self.blacklist,
            DirectList::Conversations => &mut self.conversations,
        };
        super::change_set(set, names, op, limit, list.as_str(), admit)
    }
}

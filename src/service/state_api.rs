//! The server API calls that only read or change the state
//! (protocol.md 12): users, rooms and their settings, heartbeats.

use serde_json::Value;

use super::ChatService;
use super::builder::{RoomInit, UserInit};
use crate::error::{ChatServiceError, Result};
use crate::state::{DirectList, RoomConfig, RoomListName, UserConfig, is_valid_name};

impl ChatService {
    pub async fn add_user(&self, name: &str, init: UserInit) -> Result<()> {
        if !is_valid_name(name) {
            return Err(ChatServiceError::InvalidName(Value::String(
                name.to_string(),
            )));
        }
        let config = UserConfig {
            whitelist: init.whitelist,
            blacklist: init.blacklist,
            whitelist_only: init.whitelist_only,
            ..UserConfig::default()
        };
        self.state().add_user(name, config).await
    }

    pub async fn delete_user(&self, name: &str) -> Result<()> {
        self.state().delete_user(name).await
    }

    pub async fn has_user(&self, name: &str) -> Result<bool> {
        self.state().has_user(name).await
    }

    pub async fn user_has_in_list(&self, user: &str, list: &str, item: &str) -> Result<bool> {
        if !self.state().has_user(user).await? {
            return Err(ChatServiceError::NoUser(user.to_string()));
        }
        let list = DirectList::parse(list)?;
        self.state().direct_has_in_list(user, list, item).await
    }

    /// `false` for the same user or an unknown recipient.
    pub async fn has_direct_access(&self, recipient: &str, sender: &str) -> Result<bool> {
        if recipient == sender {
            return Ok(false);
        }
        match self.state().direct_access(recipient, sender).await {
            Err(ChatServiceError::NoUser(_)) => Ok(false),
            other => other,
        }
    }

    /// Disconnects every socket of the user, on every instance.
    pub async fn disconnect_user_sockets(&self, user: &str) -> Result<()> {
        self.sockets().disconnect_user(user).await;
        Ok(())
    }

    pub async fn add_room(&self, name: &str, init: RoomInit) -> Result<()> {
        if !is_valid_name(name) {
            return Err(ChatServiceError::InvalidName(Value::String(
                name.to_string(),
            )));
        }
        let defaults = RoomConfig::defaults(self.options());
        let config = RoomConfig {
            owner: init.owner,
            whitelist_only: init.whitelist_only.unwrap_or(false),
            whitelist: init.whitelist.unwrap_or_default(),
            blacklist: init.blacklist.unwrap_or_default(),
            adminlist: init.adminlist.unwrap_or_default(),
            history_max_size: init.history_max_size.unwrap_or(defaults.history_max_size),
            enable_access_lists_updates: init
                .enable_access_lists_updates
                .unwrap_or(defaults.enable_access_lists_updates),
            enable_userlist_updates: init
                .enable_userlist_updates
                .unwrap_or(defaults.enable_userlist_updates),
        };
        self.state().add_room(name, config).await?;
        crate::metrics::room_created();
        Ok(())
    }

    pub async fn has_room(&self, name: &str) -> Result<bool> {
        self.state().has_room(name).await
    }

    pub async fn room_has_in_list(&self, room: &str, list: &str, item: &str) -> Result<bool> {
        let list = RoomListName::parse(list);
        self.state().room_has_in_list(room, &list, item).await
    }

    /// `false` if the room does not exist.
    pub async fn has_room_access(&self, room: &str, user: &str) -> Result<bool> {
        match self.state().room_access(room, user).await {
            Err(ChatServiceError::NoRoom(_)) => Ok(false),
            other => other,
        }
    }

    pub async fn change_room_owner(&self, room: &str, owner: &str) -> Result<()> {
        self.state().room_set_owner(room, owner).await
    }

    /// A size that is not a non-negative number keeps the capacity (and
    /// still trims), as the original's memory state does.
    pub async fn change_room_history_max_size(&self, room: &str, size: &Value) -> Result<()> {
        let size = size
            .as_f64()
            .filter(|n| n.is_finite() && *n >= 0.0)
            .map(|n| n.trunc() as usize);
        self.state().room_set_history_max_size(room, size).await
    }

    pub async fn change_access_lists_updates(&self, room: &str, on: bool) -> Result<()> {
        self.state().room_set_access_lists_updates(room, on).await
    }

    pub async fn change_userlist_updates(&self, room: &str, on: bool) -> Result<()> {
        self.state().room_set_userlist_updates(room, on).await
    }

    /// The last heartbeat of an instance (this one by default).
    pub async fn get_instance_heartbeat(&self, instance: Option<&str>) -> Result<Option<i64>> {
        self.state()
            .heartbeat(instance.unwrap_or(self.instance_id()))
            .await
    }
}

//! The Lua scripts of the Redis state, one per operation that checks and
//! changes (so it runs atomically) or reads several keys (so it takes one
//! round trip). Each touches the keys of one hash tag only (keys.rs), so
//! every script runs on a single Redis Cluster slot; `room_add_messages`
//! appends a batch of messages (append.rs) of rooms in one slot.
//!
//! Room scripts get the room's info key as KEYS[1] and start with
//! `lua/common.lua` then `lua/room_common.lua` (which derives the room's
//! other keys from its hash tag); user scripts get the user's info key and
//! start with `lua/common.lua` then `lua/user_common.lua`. Each body's
//! header documents its ARGV and reply. Replies are arrays whose first
//! item is `ok` or a protocol error code (`room_add_messages`: one item per
//! message).
//!
//! A few scripts reach keys they build themselves (a socket's room set, a
//! user's lock): those carry the same hash tag as the declared KEYS, so
//! they are in the same slot, which is what Redis Cluster checks.

use std::sync::LazyLock;

use fred::types::scripts::Script;

macro_rules! room_script {
    ($file:literal) => {
        concat!(
            include_str!("lua/common.lua"),
            include_str!("lua/room_common.lua"),
            include_str!(concat!("lua/", $file))
        )
    };
}

macro_rules! user_script {
    ($file:literal) => {
        concat!(
            include_str!("lua/common.lua"),
            include_str!("lua/user_common.lua"),
            include_str!(concat!("lua/", $file))
        )
    };
}

/// Every script, with its SHA1 computed once.
pub(super) struct Scripts {
    pub room_add: Script,
    pub room_delete: Script,
    pub room_read: Script,
    pub room_add_messages: Script,
    pub room_change_list: Script,
    pub room_set_whitelist_only: Script,
    pub room_set: Script,
    pub room_join: Script,
    pub room_join_undo: Script,
    pub room_leave: Script,
    pub room_remove_user: Script,
    pub user_add: Script,
    pub user_delete: Script,
    pub user_change_list: Script,
    pub user_set_whitelist_only: Script,
    pub user_read: Script,
    pub user_add_socket: Script,
    pub user_remove_socket: Script,
    pub user_join_room: Script,
    pub user_leave_room: Script,
    pub lock_release: Script,
    pub instance_heartbeat: Script,
    pub instance_claim_recovery: Script,
}

impl Scripts {
    /// All of them, to load at connection time.
    pub fn all(&self) -> [&Script; 23] {
        [
            &self.room_add,
            &self.room_delete,
            &self.room_read,
            &self.room_add_messages,
            &self.room_change_list,
            &self.room_set_whitelist_only,
            &self.room_set,
            &self.room_join,
            &self.room_join_undo,
            &self.room_leave,
            &self.room_remove_user,
            &self.user_add,
            &self.user_delete,
            &self.user_change_list,
            &self.user_set_whitelist_only,
            &self.user_read,
            &self.user_add_socket,
            &self.user_remove_socket,
            &self.user_join_room,
            &self.user_leave_room,
            &self.lock_release,
            &self.instance_heartbeat,
            &self.instance_claim_recovery,
        ]
    }
}

pub(super) static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| Scripts {
    room_add: Script::from_lua(room_script!("room_add.lua")),
    room_delete: Script::from_lua(room_script!("room_delete.lua")),
    room_read: Script::from_lua(room_script!("room_read.lua")),
    // Runs for every room message: no prelude (its header says why).
    room_add_messages: Script::from_lua(include_str!("lua/room_add_messages.lua")),
    room_change_list: Script::from_lua(room_script!("room_change_list.lua")),
    room_set_whitelist_only: Script::from_lua(room_script!("room_set_whitelist_only.lua")),
    room_set: Script::from_lua(room_script!("room_set.lua")),
    room_join: Script::from_lua(room_script!("room_join.lua")),
    room_join_undo: Script::from_lua(room_script!("room_join_undo.lua")),
    room_leave: Script::from_lua(room_script!("room_leave.lua")),
    room_remove_user: Script::from_lua(room_script!("room_remove_user.lua")),
    user_add: Script::from_lua(user_script!("user_add.lua")),
    user_delete: Script::from_lua(user_script!("user_delete.lua")),
    user_change_list: Script::from_lua(user_script!("user_change_list.lua")),
    user_set_whitelist_only: Script::from_lua(user_script!("user_set_whitelist_only.lua")),
    user_read: Script::from_lua(user_script!("user_read.lua")),
    user_add_socket: Script::from_lua(user_script!("user_add_socket.lua")),
    user_remove_socket: Script::from_lua(user_script!("user_remove_socket.lua")),
    user_join_room: Script::from_lua(user_script!("user_join_room.lua")),
    user_leave_room: Script::from_lua(user_script!("user_leave_room.lua")),
    lock_release: Script::from_lua(include_str!("lua/lock_release.lua")),
    instance_heartbeat: Script::from_lua(include_str!("lua/instance_heartbeat.lua")),
    instance_claim_recovery: Script::from_lua(include_str!("lua/instance_claim_recovery.lua")),
});

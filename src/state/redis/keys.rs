//! Key naming of the Redis state. Every key starts with a hash tag naming
//! its owner, so that in Redis Cluster all keys of a room share one slot,
//! all keys of a user another, and each script touches one slot only.
//!
//! With prefix `P` (e.g. `chatservice`):
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `{P:room:R}:info` | hash | `owner` (absent: none), `whitelistOnly`, `historyMaxSize`, `lastMessageId`, `accessListsUpdates`, `userlistUpdates` (`0`/`1`); exists iff the room does |
//! | `{P:room:R}:adminlist` / `:whitelist` / `:blacklist` | set | the access lists |
//! | `{P:room:R}:userlist` | hash | present user -> number of their sockets joined |
//! | `{P:room:R}:sockets` | hash | joined socket -> its user |
//! | `{P:room:R}:seen` | hash | user -> last time they entered or left the userlist (ms) |
//! | `{P:room:R}:history` | list | stored messages as JSON, newest first |
//! | `{P:user:U}:info` | hash | `whitelistOnly`; exists iff the user record does |
//! | `{P:user:U}:whitelist` / `:blacklist` | set | the direct lists |
//! | `{P:user:U}:conversations` | set | the users U has a stored conversation with |
//! | `{P:user:U}:sockets` | hash | socket -> instance id |
//! | `{P:user:U}:socket:S` | set | the rooms socket S is joined to |
//! | `{P:user:U}:lock:R` | string | the (U, R) lock's token, with a TTL |
//! | `{P:user:U}:owned` | set | rooms U was made owner of (checked against each room's owner when counted) |
//! | `{P:instance:I}:sockets` | hash | socket -> user, for recovery |
//! | `{P:instance:I}:heartbeat` | string | the instance's last heartbeat (ms) |
//! | `{P:instance:I}:recovering` | string | the token of the instance recovering I, with a TTL |
//! | `{P:instances}:all` | set | the ids of instances with a heartbeat |
//!
//! One pub/sub channel, `P:messages`, carries every room message as
//! `[room, message]` (the message feed, feed.rs).
//!
//! The room holds the truth about who is joined (its userlist counts are
//! kept by the same scripts that change its sockets); the user's socket
//! sets mirror it for `listOwnSockets` and disconnect cleanup.
//!
//! Names may hold any character but `:`, `{`, `}` and control characters
//! (protocol.md 1.3), so a name never ends a hash tag early. Names that
//! skip the name check (e.g. a room name given to `roomJoin`) only read or
//! take a lock, and an odd one still maps to keys of its own (a `}` only
//! moves them to another slot, all of them together).

#[derive(Debug, Clone)]
pub(super) struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
        }
    }

    /// `{P:kind:name}:` followed by `parts`. Built by hand rather than with
    /// `format!`: every script call builds its keys, and `format!` made up
    /// a tenth of the instructions the Redis state spent per room message.
    fn key(&self, kind: &str, name: &str, parts: &[&str]) -> String {
        let head = ["{", &self.prefix, ":", kind, ":", name, "}:"];
        let pieces = head.iter().chain(parts);
        let mut key = String::with_capacity(pieces.clone().map(|p| p.len()).sum());
        pieces.for_each(|piece| key.push_str(piece));
        key
    }

    /// KEYS of a room script: the info key alone. The script derives the
    /// room's other keys from its hash tag (`lua/room_common.lua`), so a
    /// call encodes, sends and parses one key instead of eight.
    pub fn room(&self, room: &str) -> Vec<String> {
        vec![self.room_info(room)]
    }

    /// One of the room's keys (`history`, `userlist`, ...).
    #[cfg(test)]
    pub fn room_key(&self, room: &str, name: &str) -> String {
        self.key("room", room, &[name])
    }

    pub fn room_info(&self, room: &str) -> String {
        self.key("room", room, &["info"])
    }

    /// KEYS of a user script: the info key alone, as for rooms
    /// (`lua/user_common.lua` derives the others).
    pub fn user(&self, user: &str) -> Vec<String> {
        vec![self.user_info(user)]
    }

    pub fn user_info(&self, user: &str) -> String {
        self.key("user", user, &["info"])
    }

    /// The prefix of the user's per-socket room sets (ARGV[1] of user
    /// scripts, which append the socket id).
    pub fn user_socket_prefix(&self, user: &str) -> String {
        self.key("user", user, &["socket:"])
    }

    pub fn lock(&self, user: &str, room: &str) -> String {
        self.key("user", user, &["lock:", room])
    }

    pub fn user_owned(&self, user: &str) -> String {
        self.key("user", user, &["owned"])
    }

    pub fn instance_sockets(&self, instance: &str) -> String {
        self.key("instance", instance, &["sockets"])
    }

    pub fn instance_heartbeat(&self, instance: &str) -> String {
        self.key("instance", instance, &["heartbeat"])
    }

    pub fn instance_recovering(&self, instance: &str) -> String {
        self.key("instance", instance, &["recovering"])
    }

    /// The set of instances with a heartbeat (a slot of its own).
    pub fn instances(&self) -> String {
        let mut key = String::with_capacity(self.prefix.len() + 16);
        key.push('{');
        key.push_str(&self.prefix);
        key.push_str(":instances}:all");
        key
    }

    /// The pub/sub channel of the message feed.
    pub fn feed_channel(&self) -> String {
        format!("{}:messages", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_one_owner_share_a_hash_tag() {
        let keys = Keys::new("cs");
        assert_eq!(keys.room("r 1"), ["{cs:room:r 1}:info"]);
        assert_eq!(keys.room_key("r 1", "history"), "{cs:room:r 1}:history");
        assert_eq!(keys.room_info("r 1"), "{cs:room:r 1}:info");
        assert_eq!(keys.user("u"), ["{cs:user:u}:info"]);
        assert_eq!(keys.user_info("u"), "{cs:user:u}:info");
        assert_eq!(keys.user_socket_prefix("u"), "{cs:user:u}:socket:");
        assert_eq!(keys.lock("u", "r"), "{cs:user:u}:lock:r");
        assert_eq!(keys.instance_sockets("i"), "{cs:instance:i}:sockets");
        assert_eq!(keys.instance_heartbeat("i"), "{cs:instance:i}:heartbeat");
        assert_eq!(keys.feed_channel(), "cs:messages");

        let slots = |keys: Vec<String>| fred::util::group_by_hash_slot(keys).map(|s| s.len());
        let room = vec![keys.room_info("r 1"), keys.room_key("r 1", "history")];
        assert_eq!(slots(room).ok(), Some(1));
        let mut user = keys.user("u");
        user.push(format!("{}/chat#1", keys.user_socket_prefix("u")));
        user.push(keys.lock("u", "r"));
        assert_eq!(slots(user).ok(), Some(1));
        let instance = vec![keys.instance_sockets("i"), keys.instance_heartbeat("i")];
        assert_eq!(slots(instance).ok(), Some(1));
        // Different owners land apart (these two names do differ in slot).
        let both = vec![keys.room_info("a"), keys.user_info("a")];
        assert_eq!(slots(both).ok(), Some(2));
    }
}

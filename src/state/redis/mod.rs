//! The Redis state: everything `State` stores, in Redis (or Valkey), shared
//! by all instances of the service. Key layout in `keys.rs`, Lua scripts in
//! `scripts.rs` and `lua/`, locks in `lock.rs`, room messages appended in
//! batches in `append.rs` and their feed in `feed.rs`.
//!
//! Every operation that checks and changes runs as one Lua script, so two
//! instances never interleave inside it. A script only touches the keys of
//! one room or of one user (one Redis Cluster slot), so operations that
//! span a room and a user take two scripts, in this order:
//!
//! - The room is the source of truth for who is joined: its `sockets` and
//!   `userlist` (with a count per user) change together in one script, so
//!   the userlist always matches the joined sockets, whatever happens
//!   between scripts. The user's per-socket room sets mirror it for
//!   `listOwnSockets`, `user_rooms` and the disconnect cleanup.
//! - `room_join`: room script first (checks `noRoom` and access, joins),
//!   then the user script (checks `noUser` and `invalidSocket`, mirrors);
//!   if the user side refuses, `room_join_undo` takes the socket back out
//!   and restores the seen time. A disconnect racing the join either comes
//!   first (the user script then finds no socket and the join is undone) or
//!   sees the room in the socket's set and unjoins it: no socket stays
//!   joined without being registered.
//! - `room_leave`, `room_remove_user`: room script first (its answer is
//!   the command's), then the mirror. Both run under the (user, room) lock.
//! - `remove_socket`: user script first (unregisters the socket so no
//!   join can add it to a room any more, and lists its rooms), then the
//!   room scripts of those rooms and the instance entry, concurrently.
//! - `delete_room`: room script first (owner check, deletion, the joined
//!   sockets per user), then each user's mirror, concurrently. From the
//!   first script on the room reads as missing. The only race the order
//!   alone does not settle is a join of that user between its own two
//!   steps: its user step would put the deleted room back on the socket.
//!   Joins hold the (user, room) lock, whose key lives in the user's slot,
//!   so the mirror script refuses while it is held and `delete_room`
//!   retries briefly (see `unmirror_deleted`).
//! - `add_socket`: instance entry first, then the user script, so that an
//!   instance crash in between leaves nothing recovery cannot see.
//!
//! A crash (or a Redis error) between the two steps can leave the mirror
//! and the room disagreeing, never a room's userlist and its joined
//! sockets: `room_users_without_sockets` compares the two sides so that
//! `roomStateSync` and `userStateSync` can repair such leftovers.

mod append;
mod feed;
mod keys;
mod lock;
mod reply;
mod scripts;
#[cfg(test)]
mod tests;

use std::time::Duration;

use async_trait::async_trait;
use fred::prelude::*;
use fred::types::Value;
use fred::types::scripts::Script;
use futures::future::join_all;
use indexmap::IndexMap;
use serde_json::Value as Json;

use self::keys::Keys;
use self::lock::LockPolicy;
use self::reply::{Refused, Reply, malformed};
use self::scripts::SCRIPTS;
use super::*;
use crate::json::js_stringify;
use crate::redis::{RedisSettings, ensure_connected, redis_failure};

/// See the module documentation.
pub struct RedisState {
    client: Client,
    appender: append::Appender,
    /// Subscribed to the message feed, on `feed_channel`.
    feed: fred::clients::SubscriberClient,
    feed_channel: String,
    keys: Keys,
    lock_policy: LockPolicy,
}

/// Runs a script by its SHA1, loading it first if Redis lost it (a restart
/// or `SCRIPT FLUSH`).
async fn eval(
    client: &Client,
    script: &Script,
    keys: Vec<String>,
    args: Vec<String>,
) -> Result<Value> {
    ensure_connected(client)?;
    // Bytes-backed keys and values: kept for a retry after NOSCRIPT by
    // reference counting, not by copying every argument (a room message's
    // whole JSON among them).
    let keys: Vec<Key> = keys.into_iter().map(Key::from).collect();
    let args: Vec<Value> = args.into_iter().map(Value::from).collect();
    match client
        .evalsha::<Value, _, _, _>(script.sha1().clone(), keys.clone(), args.clone())
        .await
    {
        Err(error) if error.details().starts_with("NOSCRIPT") => {
            load_script(client, script).await?;
            client
                .evalsha(script.sha1().clone(), keys, args)
                .await
                .map_err(redis_failure)
        }
        result => result.map_err(redis_failure),
    }
}

async fn load_script(client: &Client, script: &Script) -> Result<()> {
    let lua = script
        .lua()
        .cloned()
        .ok_or_else(|| malformed("script without source"))?;
    client
        .script_load_cluster::<Value, _>(lua)
        .await
        .map(drop)
        .map_err(redis_failure)
}

fn flag(on: bool) -> String {
    if on { "1" } else { "0" }.to_string()
}

fn counted(out: &mut Vec<String>, items: &[String]) {
    out.push(items.len().to_string());
    out.extend(items.iter().cloned());
}

/// A script's refusal as the protocol error, `name` being the room or user
/// the operation is about and `extra` the list or socket.
fn refusal(Refused(code): Refused, name: &str, extra: &str) -> ChatServiceError {
    use ChatServiceError::*;
    match code.as_str() {
        "noRoom" => NoRoom(name.to_string()),
        "roomExists" => RoomExists(name.to_string()),
        "notJoined" => NotJoined(name.to_string()),
        "notAllowed" => NotAllowed,
        "noList" => NoList(extra.to_string()),
        "listLimitExceeded" => ListLimitExceeded(extra.to_string()),
        "noUser" => NoUser(name.to_string()),
        "userExists" => UserExists(name.to_string()),
        "userOnline" => UserOnline(name.to_string()),
        "invalidSocket" => InvalidSocket(extra.to_string()),
        _ => malformed(&format!("status {code}")),
    }
}

fn presence_args(presence: Presence<'_>) -> [String; 2] {
    let (mode, user) = match presence {
        Presence::Any => ("any", None),
        Presence::Member(Some(user)) => ("member", Some(user)),
        Presence::MemberOrAdmin(Some(user)) => ("admin", Some(user)),
        Presence::Member(None) | Presence::MemberOrAdmin(None) => ("deny", None),
    };
    [mode.to_string(), user.unwrap_or_default().to_string()]
}

fn actor_args(actor: Actor<'_>) -> [String; 3] {
    [
        flag(actor.bypass),
        flag(actor.user.is_some()),
        actor.user.unwrap_or_default().to_string(),
    ]
}

fn parse_messages(stored: Vec<String>) -> Result<Vec<Message>> {
    stored
        .iter()
        .map(|json| {
            serde_json::from_str::<Json>(json)
                .map(Message::new)
                .map_err(|_| malformed("stored message is not JSON"))
        })
        .collect()
}

/// Appends `extra` to `base` without duplicates.
fn union(mut base: Vec<String>, extra: Vec<String>) -> Vec<String> {
    for item in extra {
        if !base.contains(&item) {
            base.push(item);
        }
    }
    base
}

impl RedisState {
    /// Connects, failing at once (within `command_timeout`) when Redis does
    /// not answer; afterwards the client reconnects by itself.
    pub async fn connect(settings: &RedisSettings, prefix: &str) -> Result<Self> {
        let client = settings.builder()?.build().map_err(redis_failure)?;
        settings.connect(&client).await?;
        let loads = SCRIPTS.all().map(|script| load_script(&client, script));
        for loaded in join_all(loads).await {
            loaded?;
        }
        let keys = Keys::new(prefix);
        let feed_channel = keys.feed_channel();
        let feed = settings
            .subscriber(&feed_channel, "the message feed")
            .await?;
        Ok(Self {
            appender: append::Appender::start(client.clone(), feed_channel.clone()),
            client,
            feed,
            feed_channel,
            keys,
            lock_policy: LockPolicy::default(),
        })
    }

    /// Notes that `user` owns `room` (see `rooms_owned`). Best effort: the
    /// room is made already, and the set only serves a limit.
    async fn note_owned(&self, user: &str, room: &str) {
        let added: Result<i64, _> = self.client.sadd(self.keys.user_owned(user), room).await;
        if let Err(error) = added {
            tracing::debug!(%error, %user, %room, "cannot note a room's owner");
        }
    }

    /// The client, or at once an error if its connection is known lost.
    fn connected(&self) -> Result<&Client> {
        ensure_connected(&self.client)?;
        Ok(&self.client)
    }

    /// Closes the connection.
    pub async fn close(&self) {
        let _ = self.feed.quit().await;
        let _ = self.client.quit().await;
    }

    #[cfg(test)]
    fn set_lock_policy(&mut self, policy: LockPolicy) {
        self.lock_policy = policy;
    }

    async fn room_eval(
        &self,
        script: &Script,
        room: &str,
        args: Vec<String>,
    ) -> Result<std::result::Result<Reply, Refused>> {
        let value = eval(&self.client, script, self.keys.room(room), args).await?;
        Reply::parse(value)
    }

    /// A room script whose refusals are protocol errors about `room`.
    async fn room_call(
        &self,
        script: &Script,
        room: &str,
        args: Vec<String>,
        extra: &str,
    ) -> Result<Reply> {
        self.room_eval(script, room, args)
            .await?
            .map_err(|refused| refusal(refused, room, extra))
    }

    async fn room_read(
        &self,
        room: &str,
        presence: Presence<'_>,
        what: &str,
        params: &[&str],
        list: &str,
    ) -> Result<Reply> {
        let mut args = presence_args(presence).to_vec();
        args.push(what.to_string());
        args.extend(params.iter().map(|p| p.to_string()));
        self.room_call(&SCRIPTS.room_read, room, args, list).await
    }

    async fn user_eval(
        &self,
        script: &Script,
        user: &str,
        args: &[&str],
    ) -> Result<std::result::Result<Reply, Refused>> {
        let mut all = vec![self.keys.user_socket_prefix(user)];
        all.extend(args.iter().map(|a| a.to_string()));
        let value = eval(&self.client, script, self.keys.user(user), all).await?;
        Reply::parse(value)
    }

    async fn user_call(
        &self,
        script: &Script,
        user: &str,
        args: &[&str],
        extra: &str,
    ) -> Result<Reply> {
        self.user_eval(script, user, args)
            .await?
            .map_err(|refused| refusal(refused, user, extra))
    }

    async fn user_read(&self, user: &str, args: &[&str], list: &str) -> Result<Reply> {
        self.user_call(&SCRIPTS.user_read, user, args, list).await
    }

    /// Takes `room` off the user's sockets.
    async fn unmirror(&self, user: &str, room: &str, which: Unmirror<'_>) -> Result<Mirrored> {
        let lock_key;
        let args: Vec<&str> = match which {
            Unmirror::Socket(socket) => vec![room, "socket", socket],
            Unmirror::All => vec![room, "all"],
            Unmirror::AllUnlocked => {
                lock_key = self.keys.lock(user, room);
                vec![room, "all-unlocked", &lock_key]
            }
        };
        match self
            .user_eval(&SCRIPTS.user_leave_room, user, &args)
            .await?
        {
            Ok(reply) => Ok(Mirrored::Sockets(reply.rest()?)),
            Err(Refused(code)) if code == "noUser" => Ok(Mirrored::NoUser),
            Err(Refused(code)) if code == "busy" => Ok(Mirrored::Busy),
            Err(refused) => Err(refusal(refused, user, "")),
        }
    }

    /// `delete_room`'s user step. A join holding the (user, room) lock may
    /// be between its room and user steps: taking the room off the user's
    /// sockets before that join's user step would let it add the deleted
    /// room back, so this waits a little for the lock. Not for long: the
    /// lock may be held by a hook of that very join, waiting for us.
    async fn unmirror_deleted(&self, user: &str, room: &str) -> Result<Mirrored> {
        let mut wait = Duration::from_millis(50);
        for _ in 0..DELETE_LOCK_RETRIES {
            match self.unmirror(user, room, Unmirror::AllUnlocked).await? {
                Mirrored::Busy => {
                    tokio::time::sleep(wait).await;
                    wait = wait.mul_f64(1.5);
                }
                done => return Ok(done),
            }
        }
        self.unmirror(user, room, Unmirror::All).await
    }
}

/// Which of the user's sockets `unmirror` updates.
enum Unmirror<'a> {
    Socket(&'a str),
    All,
    /// All, unless the user's lock for the room is held.
    AllUnlocked,
}

/// What `unmirror` did.
enum Mirrored {
    /// The sockets that listed the room.
    Sockets(Vec<String>),
    NoUser,
    /// Nothing: the user's lock for the room is held.
    Busy,
}

impl Mirrored {
    fn sockets(self) -> Vec<String> {
        match self {
            Mirrored::Sockets(sockets) => sockets,
            Mirrored::NoUser | Mirrored::Busy => Vec::new(),
        }
    }
}

/// How often `delete_room` finds a user's lock held before it goes on
/// anyway (about 0.7 s of waiting in all).
const DELETE_LOCK_RETRIES: u32 = 5;

#[async_trait]
impl State for RedisState {
    async fn add_room(&self, name: &str, config: RoomConfig) -> Result<()> {
        let owner = config.owner;
        let mut args = vec![
            flag(owner.is_some()),
            owner.clone().unwrap_or_default(),
            flag(config.whitelist_only),
            config.history_max_size.to_string(),
            flag(config.enable_access_lists_updates),
            flag(config.enable_userlist_updates),
        ];
        counted(&mut args, &config.whitelist);
        counted(&mut args, &config.blacklist);
        counted(&mut args, &config.adminlist);
        self.room_call(&SCRIPTS.room_add, name, args, "").await?;
        if let Some(owner) = owner {
            self.note_owned(&owner, name).await;
        }
        Ok(())
    }

    async fn delete_room(&self, name: &str, actor: Actor<'_>) -> Result<Vec<RemovedUser>> {
        let mut reply = self
            .room_call(&SCRIPTS.room_delete, name, actor_args(actor).to_vec(), "")
            .await?;
        let nusers = reply.count()?;
        let mut joined = Vec::with_capacity(nusers);
        for _ in 0..nusers {
            let user = reply.string()?;
            let n = reply.count()?;
            joined.push((user, reply.strings(n)?));
        }
        // The room is gone already: a failing mirror update must not hide
        // who has to be told, so it falls back to what the room knew.
        let mirrors = joined
            .iter()
            .map(|(user, _)| self.unmirror_deleted(user, name));
        let mirrors = join_all(mirrors).await;
        let mut removed = Vec::with_capacity(joined.len());
        for ((user, sockets), mirror) in joined.into_iter().zip(mirrors) {
            match mirror {
                Ok(Mirrored::NoUser) => {}
                Ok(listed) => removed.push(RemovedUser {
                    user,
                    sockets: union(sockets, listed.sockets()),
                }),
                Err(error) => {
                    tracing::warn!(%error, %user, room = %name, "room deleted, user's sockets not updated");
                    removed.push(RemovedUser { user, sockets });
                }
            }
        }
        Ok(removed)
    }

    async fn has_room(&self, name: &str) -> Result<bool> {
        let n: i64 = self
            .connected()?
            .exists(self.keys.room_info(name))
            .await
            .map_err(redis_failure)?;
        Ok(n > 0)
    }

    async fn room_access(&self, room: &str, user: &str) -> Result<bool> {
        self.room_read(room, Presence::Any, "access", &[user], "")
            .await?
            .flag()
    }

    async fn room_has_in_list(&self, room: &str, list: &RoomListName, item: &str) -> Result<bool> {
        let list = list.as_str();
        self.room_read(room, Presence::Any, "inlist", &[list, item], list)
            .await?
            .flag()
    }

    async fn room_get_list(
        &self,
        room: &str,
        list: &RoomListName,
        presence: Presence<'_>,
    ) -> Result<Vec<String>> {
        let list = list.as_str();
        self.room_read(room, presence, "list", &[list], list)
            .await?
            .rest()
    }

    async fn room_owner(&self, room: &str, presence: Presence<'_>) -> Result<Option<String>> {
        let mut reply = self.room_read(room, presence, "owner", &[], "").await?;
        if reply.flag()? {
            Ok(Some(reply.string()?))
        } else {
            Ok(None)
        }
    }

    async fn room_whitelist_only(&self, room: &str, presence: Presence<'_>) -> Result<bool> {
        self.room_read(room, presence, "whitelistOnly", &[], "")
            .await?
            .flag()
    }

    async fn room_notifications(
        &self,
        room: &str,
        presence: Presence<'_>,
    ) -> Result<NotificationsInfo> {
        let mut reply = self
            .room_read(room, presence, "notifications", &[], "")
            .await?;
        Ok(NotificationsInfo {
            enable_userlist_updates: reply.flag()?,
            enable_access_lists_updates: reply.flag()?,
        })
    }

    async fn room_user_seen(
        &self,
        room: &str,
        user: &str,
        presence: Presence<'_>,
    ) -> Result<UserSeen> {
        let mut reply = self.room_read(room, presence, "seen", &[user], "").await?;
        let joined = reply.flag()?;
        let timestamp = if reply.flag()? {
            Some(reply.int()?)
        } else {
            None
        };
        Ok(UserSeen { joined, timestamp })
    }

    async fn room_history_info(&self, room: &str, presence: Presence<'_>) -> Result<HistoryInfo> {
        let mut reply = self
            .room_read(room, presence, "historyInfo", &[], "")
            .await?;
        let history_size = reply.count()?;
        let history_max_size = reply.count()?;
        let last_message_id =
            u64::try_from(reply.int()?).map_err(|_| malformed("negative message id"))?;
        Ok(HistoryInfo {
            history_size,
            history_max_size,
            last_message_id,
        })
    }

    async fn room_recent_history(
        &self,
        room: &str,
        limit: usize,
        presence: Presence<'_>,
    ) -> Result<Vec<Message>> {
        let limit = limit.to_string();
        let reply = self
            .room_read(room, presence, "recent", &[&limit], "")
            .await?;
        parse_messages(reply.rest()?)
    }

    async fn room_history_get(
        &self,
        room: &str,
        id: u64,
        limit: usize,
        presence: Presence<'_>,
    ) -> Result<Vec<Message>> {
        let (id, limit) = (id.to_string(), limit.to_string());
        let reply = self
            .room_read(room, presence, "get", &[&id, &limit], "")
            .await?;
        parse_messages(reply.rest()?)
    }

    async fn room_add_message(&self, room: &str, message: NewMessage<'_>) -> Result<Message> {
        let mut fields = message.fields;
        // The script appends the id last; `id` is stripped by contract.
        fields.shift_remove("id");
        fields.insert("timestamp".into(), Json::from(message.timestamp));
        let mut object = Json::Object(fields);
        // `object` has at least `timestamp`: its JSON is `{...}`, and the
        // id goes in place of the closing brace.
        let mut prefix = js_stringify(&object);
        prefix.pop();
        prefix.push_str(",\"id\":");
        let append = append::Append {
            info_key: self.keys.room_info(room),
            args: [
                flag(message.require_member),
                flag(message.author.is_some()),
                message.author.unwrap_or_default().to_string(),
                prefix,
                js_stringify(&Json::from(room)),
            ],
        };
        let id = match self.appender.append(append).await? {
            append::Appended::Id(id) => id,
            append::Appended::Refused(refused) => return Err(refusal(refused, room, "")),
        };
        if let Json::Object(fields) = &mut object {
            fields.insert("id".into(), Json::from(id));
        }
        Ok(Message::new(object))
    }

    async fn room_change_list(
        &self,
        room: &str,
        actor: Actor<'_>,
        list: &RoomListName,
        names: &[String],
        op: ListOp,
        limit: usize,
    ) -> Result<AccessChange> {
        let list = list.as_str();
        let mut args = actor_args(actor).to_vec();
        args.push(list.to_string());
        args.push(match op {
            ListOp::Add => "add".into(),
            ListOp::Remove => "remove".into(),
        });
        args.push(limit.to_string());
        args.extend(names.iter().cloned());
        let mut reply = self
            .room_call(&SCRIPTS.room_change_list, room, args, list)
            .await?;
        let access_lists_updates = reply.flag()?;
        Ok(AccessChange {
            removed_users: reply.rest()?,
            access_lists_updates,
        })
    }

    async fn room_set_whitelist_only(
        &self,
        room: &str,
        actor: Actor<'_>,
        mode: bool,
    ) -> Result<AccessChange> {
        let mut args = actor_args(actor).to_vec();
        args.push(flag(mode));
        let mut reply = self
            .room_call(&SCRIPTS.room_set_whitelist_only, room, args, "")
            .await?;
        let access_lists_updates = reply.flag()?;
        Ok(AccessChange {
            removed_users: reply.rest()?,
            access_lists_updates,
        })
    }

    async fn room_set_owner(&self, room: &str, owner: &str) -> Result<()> {
        let args = vec!["owner".into(), owner.to_string()];
        self.room_call(&SCRIPTS.room_set, room, args, "").await?;
        self.note_owned(owner, room).await;
        Ok(())
    }

    async fn rooms_owned(&self, user: &str) -> Result<usize> {
        let key = self.keys.user_owned(user);
        let rooms: Vec<String> = self
            .connected()?
            .smembers(&key)
            .await
            .map_err(redis_failure)?;
        // The set only grows: a room deleted or given to someone else
        // since is checked here, and forgotten.
        let owners = join_all(
            rooms
                .iter()
                .map(|room| self.room_owner(room, Presence::Any)),
        )
        .await;
        let mut owned = 0;
        for (room, owner) in rooms.iter().zip(owners) {
            match owner {
                Ok(Some(owner)) if owner == user => owned += 1,
                Ok(_) | Err(ChatServiceError::NoRoom(_)) => {
                    let _: Result<i64, _> = self.client.srem(&key, room).await;
                }
                Err(error) => return Err(error),
            }
        }
        Ok(owned)
    }

    async fn room_set_history_max_size(&self, room: &str, size: Option<usize>) -> Result<()> {
        let args = vec![
            "historyMaxSize".into(),
            flag(size.is_some()),
            size.unwrap_or_default().to_string(),
        ];
        self.room_call(&SCRIPTS.room_set, room, args, "")
            .await
            .map(drop)
    }

    async fn room_set_access_lists_updates(&self, room: &str, on: bool) -> Result<()> {
        let args = vec!["accessListsUpdates".into(), flag(on)];
        self.room_call(&SCRIPTS.room_set, room, args, "")
            .await
            .map(drop)
    }

    async fn room_set_userlist_updates(&self, room: &str, on: bool) -> Result<()> {
        let args = vec!["userlistUpdates".into(), flag(on)];
        self.room_call(&SCRIPTS.room_set, room, args, "")
            .await
            .map(drop)
    }

    async fn room_join(&self, room: &str, user: &str, socket: &str, now: i64) -> Result<Joined> {
        let args = vec![user.to_string(), socket.to_string(), now.to_string()];
        let mut reply = self.room_call(&SCRIPTS.room_join, room, args, "").await?;
        let already = reply.flag()?;
        let njoined = reply.count()?;
        let userlist_updates = reply.flag()?;
        let entered = reply.string()?;
        let seen_before = if reply.is_empty() {
            None
        } else {
            Some(reply.string()?)
        };
        let mirrored = self
            .user_call(&SCRIPTS.user_join_room, user, &[socket, room], socket)
            .await;
        if let Err(error) = mirrored {
            if !already {
                let mut undo = vec![user.to_string(), socket.to_string(), entered];
                undo.extend(seen_before);
                let keys = self.keys.room(room);
                if let Err(undo_error) =
                    eval(&self.client, &SCRIPTS.room_join_undo, keys, undo).await
                {
                    tracing::warn!(%undo_error, %user, %room, %socket, "join not undone");
                }
            }
            return Err(error);
        }
        Ok(Joined {
            njoined,
            already,
            userlist_updates,
        })
    }

    async fn room_leave(&self, room: &str, user: &str, socket: &str, now: i64) -> Result<Left> {
        let args = vec![user.to_string(), socket.to_string(), now.to_string()];
        let mut reply = self.room_call(&SCRIPTS.room_leave, room, args, "").await?;
        let was_joined = reply.flag()?;
        let njoined = reply.count()?;
        let userlist_updates = reply.flag()?;
        let listed = self.unmirror(user, room, Unmirror::Socket(socket)).await?;
        Ok(Left {
            njoined,
            was_joined: was_joined || !listed.sockets().is_empty(),
            userlist_updates,
        })
    }

    async fn room_remove_user(&self, room: &str, user: &str, now: i64) -> Result<UserRemoved> {
        let args = vec![user.to_string(), now.to_string()];
        let mut reply = self
            .room_call(&SCRIPTS.room_remove_user, room, args, "")
            .await?;
        let userlist_updates = reply.flag()?;
        let sockets = reply.rest()?;
        let listed = self.unmirror(user, room, Unmirror::All).await?.sockets();
        Ok(UserRemoved {
            sockets: union(sockets, listed),
            userlist_updates,
        })
    }

    async fn room_userlist(&self, room: &str) -> Result<Vec<String>> {
        self.room_read(room, Presence::Any, "userlist", &[], "")
            .await?
            .rest()
    }

    /// Asks each user's own record: this is the check that finds where
    /// the mirror and the room disagree.
    async fn room_users_without_sockets(&self, room: &str) -> Result<Vec<String>> {
        let users = self.room_userlist(room).await?;
        let counts = users.iter().map(|user| async move {
            match self
                .user_eval(&SCRIPTS.user_read, user, &["njoined", room])
                .await?
            {
                Ok(mut reply) => reply.count(),
                Err(Refused(code)) if code == "noUser" => Ok(0),
                Err(refused) => Err(refusal(refused, user, "")),
            }
        });
        let counts = join_all(counts).await;
        let mut without = Vec::new();
        for (user, count) in users.into_iter().zip(counts) {
            if count? == 0 {
                without.push(user);
            }
        }
        Ok(without)
    }

    async fn add_user(&self, name: &str, config: UserConfig) -> Result<()> {
        let mut args = vec![flag(config.whitelist_only)];
        counted(&mut args, &config.whitelist);
        counted(&mut args, &config.blacklist);
        counted(&mut args, &config.conversations);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.user_call(&SCRIPTS.user_add, name, &args, "")
            .await
            .map(drop)
    }

    async fn delete_user(&self, name: &str) -> Result<()> {
        self.user_call(&SCRIPTS.user_delete, name, &[], "")
            .await
            .map(drop)
    }

    async fn has_user(&self, name: &str) -> Result<bool> {
        let n: i64 = self
            .connected()?
            .exists(self.keys.user_info(name))
            .await
            .map_err(redis_failure)?;
        Ok(n > 0)
    }

    async fn direct_change_list(
        &self,
        user: &str,
        list: DirectList,
        names: &[String],
        op: ListOp,
        limit: usize,
    ) -> Result<()> {
        let list = list.as_str();
        let limit = limit.to_string();
        let op = match op {
            ListOp::Add => "add",
            ListOp::Remove => "remove",
        };
        let mut args = vec![list, op, &limit];
        args.extend(names.iter().map(String::as_str));
        self.user_call(&SCRIPTS.user_change_list, user, &args, list)
            .await
            .map(drop)
    }

    async fn direct_get_list(&self, user: &str, list: DirectList) -> Result<Vec<String>> {
        let list = list.as_str();
        self.user_read(user, &["list", list], list).await?.rest()
    }

    async fn direct_has_in_list(&self, user: &str, list: DirectList, item: &str) -> Result<bool> {
        let list = list.as_str();
        self.user_read(user, &["inlist", list, item], list)
            .await?
            .flag()
    }

    async fn direct_whitelist_only(&self, user: &str) -> Result<bool> {
        self.user_read(user, &["whitelistOnly"], "").await?.flag()
    }

    async fn direct_set_whitelist_only(&self, user: &str, mode: bool) -> Result<()> {
        let mode = flag(mode);
        self.user_call(&SCRIPTS.user_set_whitelist_only, user, &[&mode], "")
            .await
            .map(drop)
    }

    async fn direct_access(&self, recipient: &str, sender: &str) -> Result<bool> {
        self.user_read(recipient, &["access", sender], "")
            .await?
            .flag()
    }

    async fn direct_recipient(&self, recipient: &str, sender: Option<&str>) -> Result<Recipient> {
        let (bypass, sender) = (flag(sender.is_none()), sender.unwrap_or_default());
        let mut reply = self
            .user_read(recipient, &["recipient", &bypass, sender], "")
            .await?;
        Ok(Recipient {
            access: reply.flag()?,
            nconnected: reply.count()?,
        })
    }

    async fn user_nconnected(&self, user: &str) -> Result<usize> {
        self.user_read(user, &["nconnected"], "").await?.count()
    }

    async fn user_sockets(&self, user: &str) -> Result<IndexMap<String, Vec<String>>> {
        let mut reply = self.user_read(user, &["sockets"], "").await?;
        let mut sockets = IndexMap::new();
        while !reply.is_empty() {
            let socket = reply.string()?;
            let n = reply.count()?;
            sockets.insert(socket, reply.strings(n)?);
        }
        Ok(sockets)
    }

    async fn user_rooms(&self, user: &str) -> Result<Vec<String>> {
        self.user_read(user, &["rooms"], "").await?.rest()
    }

    async fn add_socket(&self, user: &str, socket: &str, instance: &str) -> Result<usize> {
        let () = self
            .connected()?
            .hset(self.keys.instance_sockets(instance), (socket, user))
            .await
            .map_err(redis_failure)?;
        self.user_call(&SCRIPTS.user_add_socket, user, &[socket, instance], "")
            .await?
            .count()
    }

    async fn remove_socket(
        &self,
        user: &str,
        socket: &str,
        now: i64,
    ) -> Result<Option<SocketRemoved>> {
        let mut reply = match self
            .user_eval(&SCRIPTS.user_remove_socket, user, &[socket])
            .await?
        {
            Ok(reply) => reply,
            Err(Refused(code)) if code == "none" => return Ok(None),
            Err(refused) => return Err(refusal(refused, user, "")),
        };
        let instance = reply.string()?;
        let nconnected = reply.count()?;
        let nrooms = reply.count()?;
        let mut rooms = Vec::with_capacity(nrooms);
        for _ in 0..nrooms {
            let room = reply.string()?;
            rooms.push((room, reply.count()?));
        }

        let now = now.to_string();
        let unregister = async {
            let _: i64 = self
                .connected()?
                .hdel(self.keys.instance_sockets(&instance), socket)
                .await
                .map_err(redis_failure)?;
            Ok::<_, ChatServiceError>(())
        };
        let leaves = rooms.into_iter().map(|(room, listed)| {
            let args = vec![user.to_string(), socket.to_string(), now.clone()];
            async move {
                match self.room_eval(&SCRIPTS.room_leave, &room, args).await? {
                    Ok(mut reply) => {
                        let _was_joined = reply.flag()?;
                        let njoined = reply.count()?;
                        let userlist_updates = reply.flag()?;
                        Ok(LeftRoom {
                            room,
                            njoined,
                            userlist_updates,
                        })
                    }
                    // Gone with its room: what the user's record still says.
                    Err(Refused(code)) if code == "noRoom" => Ok(LeftRoom {
                        room,
                        njoined: listed,
                        userlist_updates: false,
                    }),
                    Err(refused) => Err(refusal(refused, &room, "")),
                }
            }
        });
        let (unregistered, left) = futures::join!(unregister, join_all(leaves));
        unregistered?;
        let rooms = left.into_iter().collect::<Result<Vec<_>>>()?;
        Ok(Some(SocketRemoved { rooms, nconnected }))
    }

    async fn instance_sockets(&self, instance: &str) -> Result<Vec<SocketEntry>> {
        let sockets: std::collections::HashMap<String, String> = self
            .connected()?
            .hgetall(self.keys.instance_sockets(instance))
            .await
            .map_err(redis_failure)?;
        Ok(sockets
            .into_iter()
            .map(|(id, user)| SocketEntry { id, user })
            .collect())
    }

    async fn set_heartbeat(&self, instance: &str, now: i64) -> Result<HeartbeatWrite> {
        let keys = vec![
            self.keys.instance_heartbeat(instance),
            self.keys.instance_recovering(instance),
        ];
        let written = eval(
            &self.client,
            &SCRIPTS.instance_heartbeat,
            keys,
            vec![now.to_string()],
        );
        // The set lives in a slot of its own; adding again is harmless and
        // brings it back after Redis lost it.
        let listed = async {
            let _: i64 = self
                .connected()?
                .sadd(self.keys.instances(), instance)
                .await
                .map_err(redis_failure)?;
            Ok::<_, ChatServiceError>(())
        };
        let (written, listed) = futures::join!(written, listed);
        // What the script found must not be lost to a failed SADD (the
        // next heartbeat would find the instance known again).
        if let Err(error) = listed {
            tracing::debug!(%error, "listing this instance among the instances failed");
        }
        Ok(match written?.as_i64() {
            Some(-1) => HeartbeatWrite::BeingRecovered,
            Some(1) => HeartbeatWrite::Known,
            _ => HeartbeatWrite::Unknown,
        })
    }

    async fn heartbeat(&self, instance: &str) -> Result<Option<i64>> {
        self.connected()?
            .get(self.keys.instance_heartbeat(instance))
            .await
            .map_err(redis_failure)
    }

    async fn instances(&self) -> Result<Vec<Instance>> {
        let ids: Vec<String> = self
            .connected()?
            .smembers(self.keys.instances())
            .await
            .map_err(redis_failure)?;
        // One GET each: the heartbeats live in the slots of their instances.
        let beats = join_all(ids.iter().map(|id| self.heartbeat(id))).await;
        let mut instances = Vec::with_capacity(ids.len());
        for (id, beat) in ids.into_iter().zip(beats) {
            if let Some(heartbeat) = beat? {
                instances.push(Instance { id, heartbeat });
            }
        }
        Ok(instances)
    }

    async fn claim_recovery(
        &self,
        instance: &str,
        stale_before: i64,
        ttl: Duration,
    ) -> Result<Option<LockGuard>> {
        let key = self.keys.instance_recovering(instance);
        let keys = vec![self.keys.instance_heartbeat(instance), key.clone()];
        let token = uuid::Uuid::new_v4().to_string();
        let ttl_ms = ttl.as_millis().max(1).to_string();
        let args = vec![stale_before.to_string(), token.clone(), ttl_ms];
        let claimed = eval(&self.client, &SCRIPTS.instance_claim_recovery, keys, args).await?;
        Ok((claimed.as_i64() == Some(1)).then(|| lock::held(&self.client, key, token)))
    }

    async fn remove_instance(&self, instance: &str) -> Result<()> {
        let _: i64 = self
            .connected()?
            .del(vec![
                self.keys.instance_heartbeat(instance),
                self.keys.instance_sockets(instance),
            ])
            .await
            .map_err(redis_failure)?;
        let _: i64 = self
            .connected()?
            .srem(self.keys.instances(), instance)
            .await
            .map_err(redis_failure)?;
        Ok(())
    }

    async fn lock(&self, user: &str, room: &str, ttl: Duration) -> Result<LockGuard> {
        lock::acquire(
            &self.client,
            self.keys.lock(user, room),
            ttl,
            self.lock_policy,
        )
        .await
    }

    async fn message_feed(&self) -> Result<MessageFeed> {
        Ok(feed::stream(&self.feed, self.feed_channel.clone()))
    }

    async fn ping(&self) -> Result<()> {
        // A known-dead connection answers at once, not after the timeout
        // (load balancers probe with short timeouts).
        if !self.client.is_connected() {
            return Err(ChatServiceError::internal("not connected to Redis"));
        }
        let _: String = self.client.ping(None).await.map_err(redis_failure)?;
        if !self.feed.is_connected() {
            // Until it is back, other instances' messages do not arrive.
            return Err(ChatServiceError::internal(
                "the message feed is not connected to Redis",
            ));
        }
        Ok(())
    }
}

//! A test store that records every change it is handed and folds them into
//! the snapshot it gives back: a reference for what each [`Change`] means,
//! written apart from the engine so that a replay checks the engine's
//! records rather than repeating its code.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{ChatServiceError, Result};
use crate::state::durable::{Ack, Change, DurableStore, SeenAt, Snapshot, StoredRoom, StoredUser};
use crate::state::{DirectList, ListOp, Message, RoomList, message_id};

/// Records changes and folds each into its snapshot as it comes, so that
/// a change the store cannot apply (of a room it does not hold, a message
/// id out of turn) fails the test that made it.
#[derive(Default)]
pub(crate) struct RecordingStore {
    held: Mutex<Held>,
    /// Acks that resolve later (after a yield), as a store committing on
    /// another task would.
    deferred: bool,
    /// The engine keeps this many messages per room; the store answers
    /// reads of the rest.
    cache: Option<usize>,
    /// History reads asked of the store.
    reads: std::sync::atomic::AtomicUsize,
    /// Reports itself unable to write (`check`), as a full disk would; it
    /// still takes what it is handed.
    failing: AtomicBool,
}

#[derive(Default)]
struct Held {
    changes: Vec<Change>,
    snapshot: Snapshot,
}

impl RecordingStore {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Acks each change only after a yield to the scheduler.
    pub(crate) fn deferred() -> Self {
        Self {
            deferred: true,
            ..Self::default()
        }
    }

    /// A store whose engine keeps at most `cache` messages per room.
    pub(crate) fn with_cache(cache: usize) -> Self {
        Self {
            cache: Some(cache),
            ..Self::default()
        }
    }

    /// A store that holds `snapshot` already.
    pub(crate) fn holding(snapshot: Snapshot) -> Self {
        let held = Held {
            changes: Vec::new(),
            snapshot,
        };
        Self {
            held: Mutex::new(held),
            ..Self::default()
        }
    }

    pub(crate) fn reads(&self) -> usize {
        self.reads.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Says it cannot write from now on (`true`) or can again.
    pub(crate) fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::Relaxed);
    }

    /// What `check` answers while failing.
    pub(crate) fn failure() -> ChatServiceError {
        ChatServiceError::internal("disk full")
    }

    pub(crate) fn changes(&self) -> Vec<Change> {
        self.held.lock().unwrap().changes.clone()
    }

    /// What the store holds: its start with every change applied, in order,
    /// rooms and users by name.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let mut snapshot = self.held.lock().unwrap().snapshot.clone();
        snapshot.rooms.sort_by(|a, b| a.name.cmp(&b.name));
        snapshot.users.sort_by(|a, b| a.name.cmp(&b.name));
        for room in &mut snapshot.rooms {
            room.history_size = room.history.len();
        }
        snapshot
    }
}

#[async_trait::async_trait]
impl DurableStore for RecordingStore {
    async fn load(&self) -> Result<Snapshot> {
        Ok(self.snapshot())
    }

    fn record(&self, change: Change) -> Ack {
        let mut held = self.held.lock().unwrap();
        held.changes.push(change.clone());
        apply(&mut held.snapshot, change);
        if self.deferred {
            Ack::Pending(Box::pin(async {
                tokio::task::yield_now().await;
                Ok(())
            }))
        } else {
            Ack::Done
        }
    }

    fn history_cache(&self) -> Option<usize> {
        self.cache
    }

    fn history(
        &self,
        room: &str,
        newest: u64,
        count: usize,
    ) -> futures::future::BoxFuture<'static, Result<Vec<Message>>> {
        self.reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let held = self.held.lock().unwrap();
        let oldest = (newest + 1).saturating_sub(count as u64);
        let messages: Vec<Message> = held
            .snapshot
            .rooms
            .iter()
            .filter(|r| r.name == room)
            .flat_map(|r| r.history.iter())
            .filter(|m| (oldest..=newest).contains(&message_id(m)))
            .cloned()
            .collect();
        Box::pin(async move { Ok(messages) })
    }

    fn check(&self) -> Result<()> {
        match self.failing.load(Ordering::Relaxed) {
            true => Err(Self::failure()),
            false => Ok(()),
        }
    }
}

fn room<'a>(snapshot: &'a mut Snapshot, name: &str) -> &'a mut StoredRoom {
    snapshot
        .rooms
        .iter_mut()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("a change of room {name}, which the store does not hold"))
}

fn user<'a>(snapshot: &'a mut Snapshot, name: &str) -> &'a mut StoredUser {
    snapshot
        .users
        .iter_mut()
        .find(|u| u.name == name)
        .unwrap_or_else(|| panic!("a change of user {name}, which the store does not hold"))
}

/// A list as a set in insertion order.
fn change_set(set: &mut Vec<String>, names: Vec<String>, op: ListOp) {
    for name in names {
        match op {
            ListOp::Add if !set.contains(&name) => set.push(name),
            ListOp::Add => {}
            ListOp::Remove => set.retain(|n| *n != name),
        }
    }
}

fn apply(snapshot: &mut Snapshot, change: Change) {
    match change {
        Change::RoomAdded { room, config } => {
            assert!(
                snapshot.rooms.iter().all(|r| r.name != room),
                "{room} twice"
            );
            snapshot.rooms.push(StoredRoom {
                name: room,
                config,
                ..StoredRoom::default()
            });
        }
        Change::RoomDeleted { room } => {
            let before = snapshot.rooms.len();
            snapshot.rooms.retain(|r| r.name != room);
            assert_eq!(snapshot.rooms.len(), before - 1, "{room} deleted, not held");
        }
        Change::ListChanged {
            room: name,
            list,
            names,
            op,
        } => {
            let config = &mut room(snapshot, &name).config;
            let set = match list {
                RoomList::Adminlist => &mut config.adminlist,
                RoomList::Whitelist => &mut config.whitelist,
                RoomList::Blacklist => &mut config.blacklist,
                RoomList::Userlist => panic!("the userlist is not durable"),
            };
            change_set(set, names, op);
        }
        Change::WhitelistOnlySet { room: name, on } => {
            room(snapshot, &name).config.whitelist_only = on;
        }
        Change::OwnerSet { room: name, owner } => {
            room(snapshot, &name).config.owner = Some(owner);
        }
        Change::HistoryMaxSizeSet { room: name, size } => {
            let room = room(snapshot, &name);
            room.config.history_max_size = size;
            room.history.truncate(size);
        }
        Change::AccessListsUpdatesSet { room: name, on } => {
            room(snapshot, &name).config.enable_access_lists_updates = on;
        }
        Change::UserlistUpdatesSet { room: name, on } => {
            room(snapshot, &name).config.enable_userlist_updates = on;
        }
        Change::Seen {
            room: name,
            user,
            at,
        } => {
            let room = room(snapshot, &name);
            room.seen.retain(|s| s.user != user);
            room.seen.push(SeenAt { user, at });
            room.seen.sort();
        }
        Change::MessageAppended {
            room: name,
            message,
        } => {
            let room = room(snapshot, &name);
            let id = message_id(&message);
            assert_eq!(id, room.last_message_id + 1, "ids follow each other");
            room.last_message_id = id;
            room.history.insert(0, message);
            room.history.truncate(room.config.history_max_size);
        }
        Change::UserAdded { user, config } => {
            assert!(
                snapshot.users.iter().all(|u| u.name != user),
                "{user} twice"
            );
            snapshot.users.push(StoredUser { name: user, config });
        }
        Change::UserDeleted { user } => {
            let before = snapshot.users.len();
            snapshot.users.retain(|u| u.name != user);
            assert_eq!(snapshot.users.len(), before - 1, "{user} deleted, not held");
        }
        Change::DirectListChanged {
            user: name,
            list,
            names,
            op,
        } => {
            let config = &mut user(snapshot, &name).config;
            let set = match list {
                DirectList::Whitelist => &mut config.whitelist,
                DirectList::Blacklist => &mut config.blacklist,
                DirectList::Conversations => &mut config.conversations,
            };
            change_set(set, names, op);
        }
        Change::DirectWhitelistOnlySet { user: name, on } => {
            user(snapshot, &name).config.whitelist_only = on;
        }
    }
}

//! The persistence seam of the in-memory engine: the durable changes a
//! `MemoryState` makes, as typed records, handed to a [`DurableStore`]
//! that keeps them, and what such a store gives back at start.
//!
//! Durable is what must survive a restart: rooms (owner, lists, modes,
//! settings), their history with its ids and the users' seen times, and
//! users (direct lists and mode). Presence is not: sockets, userlists,
//! heartbeats, instances, locks; after a restart nobody is joined anywhere.

use futures::future::BoxFuture;

use super::{DirectList, ListOp, Message, RoomConfig, RoomList, UserConfig};
use crate::error::Result;

/// One durable change, as the engine made it. Each is about one room or
/// one user, named first; replaying a store's changes in order from empty
/// gives the engine's durable data (the recording store of the memory
/// engine's tests checks exactly that).
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A room made, with its settings and lists; it has no history, seen
    /// times or present users yet.
    RoomAdded {
        room: String,
        config: RoomConfig,
    },
    /// A room gone with everything it held (history, seen times).
    RoomDeleted {
        room: String,
    },
    /// Names added to or removed from an access list (lists are sets: a
    /// present name is not added twice, an absent one removed silently).
    /// Never `RoomList::Userlist`: the userlist is presence.
    ListChanged {
        room: String,
        list: RoomList,
        names: Vec<String>,
        op: ListOp,
    },
    WhitelistOnlySet {
        room: String,
        on: bool,
    },
    OwnerSet {
        room: String,
        owner: String,
    },
    /// A new history capacity; the history keeps its newest `size`
    /// messages.
    HistoryMaxSizeSet {
        room: String,
        size: usize,
    },
    AccessListsUpdatesSet {
        room: String,
        on: bool,
    },
    UserlistUpdatesSet {
        room: String,
        on: bool,
    },
    /// The last time `user` entered or left the room's userlist.
    Seen {
        room: String,
        user: String,
        at: i64,
    },
    /// A message appended: its id is the room's last message id from now
    /// on, and it is the newest of the history, which keeps its newest
    /// `historyMaxSize` messages (none when that is 0: the id still
    /// counts).
    MessageAppended {
        room: String,
        message: Message,
    },
    /// A user made, by `addUser` or by the first login of an unknown name
    /// (then with the default, empty config).
    UserAdded {
        user: String,
        config: UserConfig,
    },
    UserDeleted {
        user: String,
    },
    DirectListChanged {
        user: String,
        list: DirectList,
        names: Vec<String>,
        op: ListOp,
    },
    DirectWhitelistOnlySet {
        user: String,
        on: bool,
    },
}

/// When a recorded change is kept.
pub enum Ack {
    /// Kept already (or nothing to keep).
    Done,
    /// Resolves once the change is committed, with the store's error if it
    /// could not be.
    Pending(BoxFuture<'static, Result<()>>),
}

impl Ack {
    pub async fn committed(self) -> Result<()> {
        match self {
            Ack::Done => Ok(()),
            Ack::Pending(commit) => commit.await,
        }
    }
}

/// Where a `MemoryState` keeps its durable data (see the module doc). The
/// engine keeps working from memory; a store only keeps a copy, read back
/// once at start (`MemoryState::with_store`).
///
/// Without a store (`MemoryState::new`) nothing is kept and no change
/// record is even made.
///
/// A store on disk (`sqlite/`) sends each change from `record` to a
/// writer thread, which applies the changes queued meanwhile in one
/// transaction and then completes their acks.
#[async_trait::async_trait]
pub trait DurableStore: Send + Sync + 'static {
    /// Everything the store holds, to start an engine with.
    async fn load(&self) -> Result<Snapshot>;

    /// Takes one change. The engine calls this while it holds the lock of
    /// the room or user the change is about (or of the map entry it makes
    /// or removes), so the changes of one record arrive in the order they
    /// were made, and a deleted record gets none after its deletion. It
    /// must therefore not block: queue the change and return at once.
    ///
    /// The command that made the change answers only once the returned
    /// [`Ack`] resolves, which the engine awaits after releasing its locks.
    /// If it fails, the command fails with its error, but the engine keeps
    /// the change (it is visible to others already): a store that cannot
    /// commit has lost sync and should say so loudly.
    fn record(&self, change: Change) -> Ack;

    /// Whether the store can keep changes now (for `/health`): the error
    /// of its last failed commit while it cannot.
    fn check(&self) -> Result<()> {
        Ok(())
    }

    /// How many of each room's newest messages the engine keeps in memory;
    /// older ones it reads with [`history`](Self::history). `None` (the
    /// default): the store gives every room's whole history at load, and
    /// the engine keeps it all.
    fn history_cache(&self) -> Option<usize> {
        None
    }

    /// Up to `count` messages of `room` from id `newest` down, newest
    /// first, as they are once every change recorded before this call is
    /// written. Called under the room's lock, like `record`, and must not
    /// block either: the read happens when the returned future is awaited.
    /// Only asked of a store with a [`history_cache`](Self::history_cache).
    fn history(
        &self,
        room: &str,
        newest: u64,
        count: usize,
    ) -> BoxFuture<'static, Result<Vec<Message>>> {
        let _ = (room, newest, count);
        Box::pin(async {
            Err(crate::error::ChatServiceError::internal(
                "this store keeps no history apart from the engine",
            ))
        })
    }
}

/// What a store holds: every room and user, in any order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub rooms: Vec<StoredRoom>,
    pub users: Vec<StoredUser>,
}

/// A room as a store keeps it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoredRoom {
    pub name: String,
    /// Owner, mode, access lists, history capacity, notification settings.
    pub config: RoomConfig,
    pub last_message_id: u64,
    /// How many messages the room holds: those with the ids
    /// `last_message_id - history_size + 1 ..= last_message_id`, at most
    /// `config.history_max_size`.
    pub history_size: usize,
    /// The newest of them, newest first: all of them from a store without
    /// a [`history_cache`](DurableStore::history_cache), maybe none from
    /// one with it.
    pub history: Vec<Message>,
    /// When each user last entered or left the userlist.
    pub seen: Vec<SeenAt>,
}

/// A user's last entry into or exit from a room's userlist.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SeenAt {
    pub user: String,
    pub at: i64,
}

/// A user as a store keeps it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoredUser {
    pub name: String,
    pub config: UserConfig,
}

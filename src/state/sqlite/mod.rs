//! The SQLite state: the memory engine (`memory/`) with a [`SqliteStore`]
//! as its durable store, so that rooms, their lists and history, the seen
//! times and users survive restarts and crashes of a single instance
//! (`--state sqlite`, the binary's default).
//!
//! The engine still checks, changes and answers from memory; the store
//! keeps a copy of the durable data in one SQLite file (bundled SQLite, WAL
//! journal) and gives it back at start. Presence is never written, so after
//! a restart, even after `kill -9`, nobody is joined anywhere.
//!
//! - `lock.rs`: one process per file, a lock on `<path>.lock` held for as
//!   long as the store is open (not SQLite's exclusive locking mode, which
//!   would keep `sqlite3 FILE ".backup copy.db"` from reading the file).
//! - `schema.rs`: the tables, `PRAGMA application_id` (ours) and
//!   `PRAGMA user_version` (the schema version) with the migrations from
//!   version 1 on; a file that is not ours or is of a newer version is
//!   refused.
//! - `writer.rs`: the one thread that writes. `record` queues
//!   each change for it and returns at once; it takes everything queued,
//!   applies it in one transaction (group commit: the messages that arrive
//!   together share a commit), commits, then completes the acks, so a
//!   command answers only once its change is on disk. A failed commit
//!   fails those acks and keeps the changes, to be written first, in order,
//!   when writing works again; meanwhile the engine refuses new changes
//!   (`memory/journal.rs`), so what waits stays as small as what was in
//!   flight. Checkpoints run on a thread of their own.
//! - `apply.rs`: what each [`Change`](super::Change) does to the tables.
//! - `load.rs`: the tables read back into a [`Snapshot`](super::Snapshot),
//!   which holds each room's history size but no message: the engine
//!   keeps a room's newest messages (`SqliteSettings::history_cache`) and
//!   reads older ones when asked for.
//! - `readers.rs`: those reads, on connections of their own while every
//!   change is committed, through the writer's queue (after the changes
//!   before them) otherwise.
//!
//! Durability: with `synchronous=NORMAL` (the default) a commit reaches
//! the operating system before its ack, so a crash of the process loses
//! nothing acked; a power loss or kernel crash may lose the transactions
//! committed since the last checkpoint (about a second under load), never
//! corrupting the file.
//! `synchronous=FULL` (`--sqlite-synchronous full`) syncs every commit to
//! the disk before its ack: nothing acked is lost even then, at the price
//! of one fsync per group commit.

mod apply;
mod load;
mod lock;
mod readers;
mod schema;
mod writer;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;

use futures::future::BoxFuture;

use crate::error::{ChatServiceError, Result};
use crate::state::Message;
use crate::state::durable::{Ack, Change, DurableStore, Snapshot};

use self::readers::Readers;
use self::writer::{Health, Job};

/// How hard each commit is pushed to the disk (`PRAGMA synchronous`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Synchronous {
    /// Every commit reaches the operating system before it is acked; a
    /// power loss may lose those of about the last second (the file stays
    /// consistent).
    #[default]
    Normal,
    /// Every commit is synced to the disk before it is acked.
    Full,
}

impl Synchronous {
    fn pragma(self) -> &'static str {
        match self {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        }
    }
}

/// Where and how a [`SqliteStore`] keeps its data.
#[derive(Debug, Clone)]
pub struct SqliteSettings {
    /// The database file, created when missing.
    pub path: PathBuf,
    pub synchronous: Synchronous,
    /// How many of each room's newest messages stay in memory; older ones
    /// are read from the file when asked for.
    pub history_cache: usize,
}

/// Why a database file could not be opened. `Display` is one line, to
/// follow `--sqlite-path FILE: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Another process (or store) holds the file's lock.
    #[error("the file is in use by another chat-service process (it holds {})", .lock.display())]
    InUse { lock: PathBuf },
    /// The file is not a chat-service database.
    #[error("not a chat-service database ({reason})")]
    NotOurs { reason: String },
    /// A schema version this binary does not know: written by a newer one.
    #[error(
        "schema version {found} is newer than this binary's ({known}): it was written by a newer chat-service"
    )]
    Newer { found: i64, known: i64 },
    /// The file or its lock cannot be opened, read or set up.
    #[error("{0}")]
    Unusable(String),
}

/// The durable store of the SQLite state (see the module doc).
pub struct SqliteStore {
    jobs: mpsc::Sender<Job>,
    readers: Arc<Readers>,
    history_cache: usize,
    health: Arc<Health>,
    /// Joined on drop, so that the file is closed and unlocked once the
    /// store is gone.
    writer: Option<std::thread::JoinHandle<()>>,
}

impl SqliteStore {
    /// Locks and opens the file (creating it when missing), checks or sets
    /// up its schema, and starts the writer thread. Blocks on file I/O.
    pub fn open(settings: &SqliteSettings) -> std::result::Result<SqliteStore, OpenError> {
        let lock = lock::lock(&settings.path)?;
        let connection = schema::open(&settings.path, settings.synchronous)?;
        let checkpointer = schema::open_checkpointer(&settings.path)?;
        let health = Arc::new(Health::default());
        let (jobs, queue) = mpsc::channel();
        let writer = writer::start(connection, checkpointer, lock, queue, health.clone())
            .map_err(|e| OpenError::Unusable(format!("cannot start the writer thread: {e}")))?;
        Ok(SqliteStore {
            jobs,
            readers: Readers::new(&settings.path),
            history_cache: settings.history_cache,
            health,
            writer: Some(writer),
        })
    }

    /// The transactions committed since the store was opened.
    pub fn commits(&self) -> u64 {
        self.health.commits()
    }

    /// Tests: runs `f` on the writer's connection, between two commits.
    #[cfg(test)]
    pub(crate) fn run_on_writer(&self, f: impl FnOnce(&rusqlite::Connection) + Send + 'static) {
        self.send(Job::Run(Box::new(f)));
    }

    fn send(&self, job: Job) {
        // Fails only once the writer thread is gone (it panicked): the job,
        // and its reply sender, are dropped, which its waiter reports.
        let _ = self.jobs.send(job);
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // The writer ends once every sender is gone and the queue is
        // written.
        let (closed, _) = mpsc::channel();
        drop(std::mem::replace(&mut self.jobs, closed));
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

fn writer_gone() -> ChatServiceError {
    ChatServiceError::internal("the SQLite writer stopped")
}

#[async_trait::async_trait]
impl DurableStore for SqliteStore {
    async fn load(&self) -> Result<Snapshot> {
        let (reply, snapshot) = tokio::sync::oneshot::channel();
        self.send(Job::Load(reply));
        snapshot.await.unwrap_or_else(|_| Err(writer_gone()))
    }

    fn record(&self, change: Change) -> Ack {
        let (reply, committed) = tokio::sync::oneshot::channel();
        self.health.queued();
        self.send(Job::Change(change, reply));
        Ack::Pending(Box::pin(async move {
            committed.await.unwrap_or_else(|_| Err(writer_gone()))
        }))
    }

    fn check(&self) -> Result<()> {
        self.health.check()
    }

    fn history_cache(&self) -> Option<usize> {
        Some(self.history_cache)
    }

    fn history(
        &self,
        room: &str,
        newest: u64,
        count: usize,
    ) -> BoxFuture<'static, Result<Vec<Message>>> {
        if self.health.all_committed() {
            let readers = self.readers.clone();
            return Box::pin(readers.history(room.to_string(), newest, count));
        }
        let (reply, messages) = tokio::sync::oneshot::channel();
        self.send(Job::History {
            room: room.to_string(),
            newest,
            count,
            reply,
        });
        Box::pin(async move { messages.await.unwrap_or_else(|_| Err(writer_gone())) })
    }
}

/// `<path>.lock`: the file whose lock says which process owns `path`.
pub fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

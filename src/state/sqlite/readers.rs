//! Reads of history older than the engine's cache, on read-only
//! connections of their own, in parallel with the writer and with each
//! other (at most [`READERS`] at once, on tokio's blocking threads).
//!
//! A reader sees the last commit, so it may only answer once every change
//! recorded before the read is committed: the store asks it only while no
//! change waits for the writer (`Health::pending` is 0); otherwise the
//! read goes through the writer's queue, after those changes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

use super::load;
use crate::error::{ChatServiceError, Result};
use crate::state::Message;

/// Most reads at once (and connections kept open for them).
const READERS: usize = 4;
/// Reads of at most this many messages (a page of `roomHistoryGet`, from
/// the page cache: tens of microseconds) run on the calling task; a
/// thread hop would cost more than the read. Larger ones go to tokio's
/// blocking threads.
const INLINE_MAX: usize = 128;

pub(super) struct Readers {
    path: PathBuf,
    /// Connections between two reads.
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
}

impl Readers {
    pub(super) fn new(path: &Path) -> Arc<Self> {
        Arc::new(Self {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(READERS),
        })
    }

    /// Up to `count` messages of `room` from id `newest` down, newest
    /// first, as of the last commit.
    pub(super) async fn history(
        self: Arc<Self>,
        room: String,
        newest: u64,
        count: usize,
    ) -> Result<Vec<Message>> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| ChatServiceError::internal("the SQLite readers are closed"))?;
        if count <= INLINE_MAX {
            return self.read(&room, newest, count);
        }
        let readers = self.clone();
        let read = tokio::task::spawn_blocking(move || readers.read(&room, newest, count));
        read.await
            .map_err(|e| ChatServiceError::caused_by("a SQLite read failed", e))?
    }

    fn read(&self, room: &str, newest: u64, count: usize) -> Result<Vec<Message>> {
        let db = self.take()?;
        let messages = load::history(&db, room, newest, count).map_err(read_failed);
        self.put(db);
        messages
    }

    fn take(&self) -> Result<Connection> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match idle {
            Some(db) => Ok(db),
            None => open(&self.path)
                .map_err(|e| ChatServiceError::caused_by("cannot open a SQLite reader", e)),
        }
    }

    fn put(&self, db: Connection) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(db);
    }
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let db = Connection::open_with_flags(path, flags)?;
    db.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(db)
}

pub(super) fn read_failed(error: load::LoadError) -> ChatServiceError {
    ChatServiceError::internal(format!("cannot read the SQLite database: {error}"))
}

//! The writer thread: the one owner of the SQLite connection (and of the
//! file's lock). It waits for a job, takes every other one queued by then
//! (up to [`MAX_BATCH`]), applies the changes in one transaction, commits,
//! and only then completes their acks: the changes that arrive while a
//! commit runs share the next one (group commit), and a command answers
//! once its change is in the file.
//!
//! Checkpoints (copying the WAL into the database file, with its fsyncs)
//! run on a thread of their own with a second connection, at most every
//! [`CHECKPOINT_PAUSE`] while commits come, instead of stalling a commit
//! every thousand pages as SQLite's automatic checkpoint would.
//!
//! When a commit fails (disk full, file unwritable) the transaction is
//! rolled back, the acks of its changes fail with the error (the commands
//! answer `internalError`), and the changes are kept: the next transaction
//! starts with them, in their order, so nothing is lost or reordered and
//! message ids stay gap-free. Meanwhile the store reports itself unhealthy
//! (`/health` answers 503) and tries again after a growing pause (up to
//! [`RETRY_MAX`]), also when nothing new arrives, until writing works
//! again.
//!
//! What waits unwritten meanwhile is bounded: while the store reports
//! itself unhealthy the engine refuses every command that would change
//! durable data before it changes anything (`memory/journal.rs`), so only
//! the changes in flight when the commit failed wait here, plus the seen
//! times of users going away (at most one per user present in a room), not
//! every change made while the disk stays full.

use std::fs::File;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::{apply, load, readers};
use crate::error::{ChatServiceError, Result};
use crate::state::Message;
use crate::state::durable::{Change, Snapshot};

/// Most new changes in one transaction.
const MAX_BATCH: usize = 4096;
/// First pause before a failed transaction is tried again.
const RETRY_MIN: Duration = Duration::from_millis(50);
/// Longest pause between two tries.
const RETRY_MAX: Duration = Duration::from_secs(1);
/// Tries left for changes still unwritten when the store closes.
const CLOSING_TRIES: usize = 5;
/// How long the writer looks for more work before it sleeps.
const SPIN: Duration = Duration::from_micros(50);
/// Commits gather this long before a checkpoint: a page that many commits
/// rewrite (a busy room's newest messages) is copied into the database
/// file once per checkpoint, and synced with it; with `synchronous=NORMAL`
/// it is also how much a power loss can cost.
const CHECKPOINT_PAUSE: Duration = Duration::from_millis(1000);

/// What the store asks of its writer.
pub(super) enum Job {
    /// A change to write, and its ack.
    Change(Change, oneshot::Sender<Result<()>>),
    /// Read everything back (after writing what came before).
    Load(oneshot::Sender<Result<Snapshot>>),
    /// Read messages of a room (after writing what came before).
    History {
        room: String,
        newest: u64,
        count: usize,
        reply: oneshot::Sender<Result<Vec<Message>>>,
    },
    /// Tests: runs on the writer's connection (to make it fail, say).
    #[cfg(test)]
    Run(Box<dyn FnOnce(&Connection) + Send>),
}

/// What the writer tells the store.
#[derive(Default)]
pub(super) struct Health {
    /// Whether writing fails: every command that changes something asks,
    /// so the answer while it works is one atomic load, not a lock.
    failing: AtomicBool,
    /// The last error, while writing fails.
    error: Mutex<Option<String>>,
    commits: AtomicU64,
    /// Changes handed to the writer and not committed yet.
    pending: AtomicUsize,
}

impl Health {
    pub(super) fn check(&self) -> Result<()> {
        if !self.failing.load(Ordering::Acquire) {
            return Ok(());
        }
        match &*self.error.lock().unwrap_or_else(|p| p.into_inner()) {
            None => Ok(()),
            Some(error) => Err(ChatServiceError::internal(error)),
        }
    }

    pub(super) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Counts a change about to be queued.
    pub(super) fn queued(&self) {
        self.pending.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether every change queued so far is committed: a connection of
    /// its own then reads what the engine holds.
    pub(super) fn all_committed(&self) -> bool {
        self.pending.load(Ordering::Acquire) == 0
    }

    /// Notes a commit's outcome; says whether it changed the health.
    fn set(&self, error: Option<String>) -> bool {
        let mut current = self.error.lock().unwrap_or_else(|p| p.into_inner());
        let changed = current.is_some() != error.is_some();
        self.failing.store(error.is_some(), Ordering::Release);
        *current = error;
        changed
    }
}

/// Starts the writer thread on `db`, and the checkpoint thread on
/// `checkpointer`; the writer holds `lock` until both have ended, which is
/// once `queue` is closed and written.
pub(super) fn start(
    db: Connection,
    checkpointer: Connection,
    lock: File,
    queue: Receiver<Job>,
    health: Arc<Health>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    db.pragma_update(None, "wal_autocheckpoint", 0)
        .map_err(std::io::Error::other)?;
    let (checkpoints, ticks) = std::sync::mpsc::channel();
    let checkpointing = std::thread::Builder::new()
        .name("chat-service-sqlite-checkpoint".into())
        .spawn(move || checkpoint(checkpointer, ticks))?;
    std::thread::Builder::new()
        .name("chat-service-sqlite".into())
        .spawn(move || {
            let writer = Writer {
                db,
                queue,
                health,
                unwritten: Vec::new(),
                retry: RETRY_MIN,
                checkpoints: Some(checkpoints),
            };
            writer.run();
            // The writer's connection is closed by now, the checkpointer's
            // (the last one: it checkpoints everything) once it has seen
            // the end of the ticks. The lock goes last.
            let _ = checkpointing.join();
            drop(lock);
        })
}

/// The checkpoint thread: after a commit, waits [`CHECKPOINT_PAUSE`] for
/// more, then checkpoints what it can without waiting for anyone. Once the
/// writer is gone it closes its connection, the last one, which
/// checkpoints everything.
fn checkpoint(db: Connection, ticks: Receiver<()>) {
    while ticks.recv().is_ok() {
        let until = std::time::Instant::now() + CHECKPOINT_PAUSE;
        loop {
            let left = until.saturating_duration_since(std::time::Instant::now());
            match ticks.recv_timeout(left) {
                Ok(()) => {}
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        if let Err(error) = db.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(%error, "SQLite checkpoint failed (tried again after the next commit)");
        }
    }
}

struct Writer {
    db: Connection,
    queue: Receiver<Job>,
    health: Arc<Health>,
    /// Changes of failed transactions (their acks answered), to be written
    /// before any later one.
    unwritten: Vec<Change>,
    /// Pause before the next try while `unwritten` is not empty.
    retry: Duration,
    /// Tells the checkpoint thread of each commit.
    checkpoints: Option<std::sync::mpsc::Sender<()>>,
}

impl Writer {
    fn run(mut self) {
        loop {
            let mut jobs = Vec::new();
            let closed = if self.unwritten.is_empty() {
                match self.next_job() {
                    Ok(job) => {
                        jobs.push(job);
                        false
                    }
                    Err(_) => true,
                }
            } else {
                match self.queue.recv_timeout(self.retry) {
                    Ok(job) => {
                        jobs.push(job);
                        false
                    }
                    Err(RecvTimeoutError::Timeout) => false,
                    Err(RecvTimeoutError::Disconnected) => true,
                }
            };
            while jobs.len() < MAX_BATCH {
                match self.queue.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            self.handle(jobs);
            if closed {
                self.close();
                return;
            }
        }
    }

    /// The next job, waiting as long as it takes. The writer looks for one
    /// for [`SPIN`] before it sleeps: under load the next change comes
    /// within microseconds, while a thread that slept waits to be
    /// scheduled again (milliseconds on a busy machine) before it commits,
    /// and every command in that commit waits with it.
    fn next_job(&self) -> Result<Job, std::sync::mpsc::RecvError> {
        let until = std::time::Instant::now() + SPIN;
        loop {
            match self.queue.try_recv() {
                Ok(job) => return Ok(job),
                Err(TryRecvError::Disconnected) => return Err(std::sync::mpsc::RecvError),
                Err(TryRecvError::Empty) if std::time::Instant::now() >= until => {
                    return self.queue.recv();
                }
                Err(TryRecvError::Empty) => std::thread::yield_now(),
            }
        }
    }

    /// Writes the changes of `jobs` in order, a load after what came
    /// before it.
    fn handle(&mut self, jobs: Vec<Job>) {
        let mut changes = Vec::with_capacity(jobs.len());
        let mut acks = Vec::with_capacity(jobs.len());
        for job in jobs {
            match job {
                Job::Change(change, ack) => {
                    changes.push(change);
                    acks.push(ack);
                }
                Job::Load(reply) => {
                    self.write(std::mem::take(&mut changes), std::mem::take(&mut acks));
                    let snapshot = load::load(&self.db).map_err(readers::read_failed);
                    let _ = reply.send(snapshot);
                }
                Job::History {
                    room,
                    newest,
                    count,
                    reply,
                } => {
                    self.write(std::mem::take(&mut changes), std::mem::take(&mut acks));
                    let messages = load::history(&self.db, &room, newest, count);
                    let _ = reply.send(messages.map_err(readers::read_failed));
                }
                #[cfg(test)]
                Job::Run(run) => run(&self.db),
            }
        }
        self.write(changes, acks);
    }

    /// Commits the unwritten changes and `changes` in one transaction, then
    /// answers `acks`.
    fn write(&mut self, changes: Vec<Change>, acks: Vec<oneshot::Sender<Result<()>>>) {
        let mut batch = std::mem::take(&mut self.unwritten);
        batch.extend(changes);
        if batch.is_empty() {
            return;
        }
        match self.commit(&batch) {
            Ok(()) => {
                self.health.commits.fetch_add(1, Ordering::Relaxed);
                self.health.pending.fetch_sub(batch.len(), Ordering::AcqRel);
                self.retry = RETRY_MIN;
                if self.health.set(None) {
                    tracing::warn!("the SQLite database is written again");
                }
                for ack in acks {
                    let _ = ack.send(Ok(()));
                }
            }
            Err(error) => {
                let message = format!("cannot write the SQLite database: {error}");
                if self.health.set(Some(message.clone())) {
                    tracing::error!(
                        %error,
                        "cannot write the SQLite database: commands fail until it can be \
                         written again; what they changed is kept and written then"
                    );
                }
                self.retry = (self.retry * 2).min(RETRY_MAX);
                let failure = ChatServiceError::internal(message);
                for ack in acks {
                    let _ = ack.send(Err(failure.clone()));
                }
                self.unwritten = batch;
            }
        }
    }

    fn commit(&mut self, changes: &[Change]) -> rusqlite::Result<()> {
        let tx = self.db.transaction()?;
        let mut batch = apply::Batch::default();
        for change in changes {
            apply::apply(&tx, &mut batch, change)?;
        }
        batch.flush(&tx)?;
        tx.commit()?;
        if let Some(checkpoints) = &self.checkpoints {
            let _ = checkpoints.send(());
        }
        Ok(())
    }

    /// The queue is closed: a few more tries for what is still unwritten.
    fn close(&mut self) {
        for _ in 0..CLOSING_TRIES {
            if self.unwritten.is_empty() {
                return;
            }
            std::thread::sleep(self.retry);
            self.write(Vec::new(), Vec::new());
        }
        if !self.unwritten.is_empty() {
            tracing::error!(
                changes = self.unwritten.len(),
                "closing with changes the SQLite database could not take: they are lost"
            );
        }
    }
}

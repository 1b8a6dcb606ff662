//! The memory engine's side of its durable store: durable changes are
//! recorded under the lock of their room or user (in order) and their
//! commits awaited once that lock is released (no `std` lock held across
//! an await). Without a store nothing is built or awaited: `record` is
//! one branch, and its change is made by a closure that never runs.
//!
//! While the store cannot write (its `check` fails: disk full, file
//! unwritable), an operation is refused with the store's error right
//! before its first durable change ([`Recorder::admit`]), so the engine and
//! the store do not drift further apart: what the store holds unwritten is
//! only what was in flight when writing began to fail, not every change
//! made since, however long that lasts. Only presence going away is never
//! refused (a socket gone, a user who lost access): its seen times are
//! recorded, at most one per user present in a room when writing failed,
//! since nobody enters a room meanwhile.

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::error::{ChatServiceError, Result};
use crate::state::Message;
use crate::state::durable::{Ack, Change, DurableStore};

/// The store, if the engine has one.
#[derive(Clone, Default)]
pub(crate) struct Journal(Option<Arc<dyn DurableStore>>);

impl Journal {
    pub(crate) fn new(store: Arc<dyn DurableStore>) -> Self {
        Self(Some(store))
    }

    /// The store's health; a state without a store is always well.
    pub(crate) fn check(&self) -> Result<()> {
        match &self.0 {
            Some(store) => store.check(),
            None => Ok(()),
        }
    }

    /// Messages of `room` from the store (see [`DurableStore::history`]);
    /// call it under the room's lock.
    pub(crate) fn history(
        &self,
        room: &str,
        newest: u64,
        count: usize,
    ) -> BoxFuture<'static, Result<Vec<Message>>> {
        match &self.0 {
            Some(store) => store.history(room, newest, count),
            None => Box::pin(async {
                Err(ChatServiceError::internal(
                    "a history read beyond memory without a store",
                ))
            }),
        }
    }

    /// A recorder for one operation.
    pub(crate) fn recorder(&self) -> Recorder<'_> {
        Recorder {
            journal: self,
            acks: Vec::new(),
        }
    }
}

/// The durable changes of one operation: handed to the store as they are
/// made, their commits awaited at the end.
#[must_use = "the commits must be awaited before the command answers"]
pub(crate) struct Recorder<'a> {
    journal: &'a Journal,
    /// Empty without a store: a `Vec` allocates on its first push only.
    acks: Vec<Ack>,
}

impl Recorder<'_> {
    /// Refuses, with the store's error, while the store cannot write (see
    /// the module doc). Call it under the operation's lock, after every
    /// check that refuses the command for another reason and before its
    /// first durable change: a refused command has changed nothing, and a
    /// command that changes nothing is never refused.
    pub(crate) fn admit(&self) -> Result<()> {
        self.journal.check()
    }

    /// Hands the change `make` builds to the store, if there is one. Call
    /// it under the lock of the room or user the change is about.
    #[inline]
    pub(crate) fn record(&mut self, make: impl FnOnce() -> Change) {
        if let Some(store) = &self.journal.0 {
            self.acks.push(store.record(make()));
        }
    }

    /// Waits until the store committed every change recorded; the first
    /// error. Call it with no lock held.
    pub(crate) async fn committed(self) -> Result<()> {
        let mut result = Ok(());
        for ack in self.acks {
            let committed = ack.committed().await;
            if result.is_ok() {
                result = committed;
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn without_a_store_no_change_is_built() {
        let journal = Journal::default();
        let mut rec = journal.recorder();
        rec.record(|| panic!("a change built without a store"));
        rec.committed().await.unwrap();
    }
}

//! The (user, room) locks of the memory engine (protocol.md 14.4):
//! presence, kept by no store.

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;

use crate::error::{ChatServiceError, Result};
use crate::state::LockGuard;

/// Retries of the (user, room) lock before `timeout` (protocol.md 14.4).
const LOCK_RETRIES: u32 = 10;
const LOCK_FIRST_WAIT: Duration = Duration::from_millis(100);

/// (user, room) -> its async mutex.
type LockTable = DashMap<(String, String), Arc<tokio::sync::Mutex<()>>>;

#[derive(Default)]
pub(crate) struct Locks(Arc<LockTable>);

impl Locks {
    /// Takes the (user, room) lock, waiting with growing timeouts; `timeout`
    /// after the last.
    pub(crate) async fn lock(&self, user: &str, room: &str) -> Result<LockGuard> {
        let key = (user.to_string(), room.to_string());
        let mutex = self.0.entry(key.clone()).or_default().clone();
        let mut wait = LOCK_FIRST_WAIT;
        for _ in 0..LOCK_RETRIES {
            match tokio::time::timeout(wait, mutex.clone().lock_owned()).await {
                Ok(held) => {
                    return Ok(LockGuard::new(KeyedLock {
                        held: Some(held),
                        key,
                        locks: self.0.clone(),
                    }));
                }
                Err(_) => wait = wait.mul_f64(1.5),
            }
        }
        Err(ChatServiceError::Timeout)
    }
}

/// A held entry of the lock table; the entry is dropped with its last user
/// so the table does not grow with every (user, room) pair ever seen.
struct KeyedLock {
    held: Option<tokio::sync::OwnedMutexGuard<()>>,
    key: (String, String),
    locks: Arc<LockTable>,
}

impl Drop for KeyedLock {
    fn drop(&mut self) {
        self.held.take();
        self.locks
            .remove_if(&self.key, |_, mutex| Arc::strong_count(mutex) == 1);
    }
}

//! One process per database file: an exclusive lock on the sibling file
//! `<path>.lock` (`std::fs::File::try_lock`, an advisory lock the operating
//! system drops with the process, even after `kill -9`), held by the writer
//! thread for as long as the store is open.
//!
//! The database file itself is left to SQLite's own locking, unlike with
//! SQLite's exclusive locking mode, so that another program can still read
//! it while the server runs: `sqlite3 FILE ".backup copy.db"`.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

use super::{OpenError, lock_path};

/// Takes the lock of `path`'s database, creating the lock file if needed.
pub(super) fn lock(path: &Path) -> Result<File, OpenError> {
    let lock = lock_path(path);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock)
        .map_err(|e| OpenError::Unusable(format!("cannot open {}: {e}", lock.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(OpenError::InUse { lock }),
        Err(TryLockError::Error(e)) => Err(OpenError::Unusable(format!(
            "cannot lock {}: {e}",
            lock.display()
        ))),
    }
}

//! The database's tables and how a file is recognised and brought up to
//! date: `PRAGMA application_id` says the file is a chat-service database,
//! `PRAGMA user_version` which schema version it has. [`MIGRATIONS`] takes
//! a file from each version to the next, from an empty file (version 0) on;
//! each runs in its own transaction with the new version number.
//!
//! A file with another application id (or with tables but no id), or of a
//! version newer than this binary knows, is refused: the binary exits 2.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::{OpenError, Synchronous};

/// `PRAGMA application_id` of a chat-service database: "CHSV".
pub(super) const APPLICATION_ID: i32 = 0x4348_5356;

/// The schema of each version, as the statements that take a database
/// from the previous one to it: `MIGRATIONS[0]` makes version 1 from an
/// empty file. Append only: a released migration never changes.
pub(super) const MIGRATIONS: &[&str] = &[
    // Version 1. Rooms and users have an integer key that their rows in
    // other tables refer to; deleting one deletes those rows. List entries
    // keep their insertion order as their rowid order. A message's id is
    // its room's id, its text the JSON that was stored.
    "
    CREATE TABLE rooms (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        owner TEXT,
        whitelist_only INTEGER NOT NULL,
        history_max_size INTEGER NOT NULL,
        access_lists_updates INTEGER NOT NULL,
        userlist_updates INTEGER NOT NULL,
        last_message_id INTEGER NOT NULL
    );
    CREATE TABLE room_lists (
        room INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
        list INTEGER NOT NULL,
        name TEXT NOT NULL,
        UNIQUE (room, list, name)
    );
    CREATE TABLE messages (
        room INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
        id INTEGER NOT NULL,
        json TEXT NOT NULL,
        PRIMARY KEY (room, id)
    ) WITHOUT ROWID;
    CREATE TABLE seen (
        room INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
        user TEXT NOT NULL,
        at INTEGER NOT NULL,
        PRIMARY KEY (room, user)
    ) WITHOUT ROWID;
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        whitelist_only INTEGER NOT NULL
    );
    CREATE TABLE direct_lists (
        user INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        list INTEGER NOT NULL,
        name TEXT NOT NULL,
        UNIQUE (user, list, name)
    );
    ",
];

/// The schema version this binary writes.
pub(super) fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Opens the file (created when missing), checks that it is ours and of a
/// version this binary knows, migrates it to the latest version and sets
/// the connection up (WAL journal, `synchronous`, foreign keys).
pub(super) fn open(path: &Path, synchronous: Synchronous) -> Result<Connection, OpenError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut connection = Connection::open_with_flags(path, flags)
        .map_err(|e| OpenError::Unusable(format!("cannot open: {e}")))?;
    let version = check(&connection)?;
    let unusable = |what: &str, e: rusqlite::Error| OpenError::Unusable(format!("{what}: {e}"));
    let journal: String = connection
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(|e| unusable("cannot use a WAL journal", e))?;
    if !journal.eq_ignore_ascii_case("wal") {
        return Err(OpenError::Unusable(format!(
            "cannot use a WAL journal (journal_mode is {journal})"
        )));
    }
    connection
        .pragma_update(None, "synchronous", synchronous.pragma())
        .map_err(|e| unusable("cannot set synchronous", e))?;
    connection
        .pragma_update(None, "foreign_keys", "ON")
        .map_err(|e| unusable("cannot enable foreign keys", e))?;
    connection
        .busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| unusable("cannot set a busy timeout", e))?;
    migrate(&mut connection, version)?;
    Ok(connection)
}

/// A second connection to the file `open` set up, for checkpoints.
pub(super) fn open_checkpointer(path: &Path) -> Result<Connection, OpenError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags)
        .map_err(|e| OpenError::Unusable(format!("cannot open a second connection: {e}")))?;
    connection
        .busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| OpenError::Unusable(format!("cannot set a busy timeout: {e}")))?;
    Ok(connection)
}

/// The file's schema version, if the file is ours (or empty: version 0)
/// and not newer than this binary.
fn check(connection: &Connection) -> Result<i64, OpenError> {
    let not_ours = |e: rusqlite::Error| OpenError::NotOurs {
        reason: e.to_string(),
    };
    let application_id: i32 = connection
        .pragma_query_value(None, "application_id", |row| row.get(0))
        .map_err(not_ours)?;
    let version: i64 = connection
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(not_ours)?;
    let objects: i64 = connection
        .query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
        .map_err(not_ours)?;
    if application_id == 0 && version == 0 && objects == 0 {
        return Ok(0);
    }
    if application_id != APPLICATION_ID {
        let reason = if application_id == 0 {
            "an SQLite database of another program".to_string()
        } else {
            format!("an SQLite database with application_id {application_id:#x}")
        };
        return Err(OpenError::NotOurs { reason });
    }
    let known = latest_version();
    if version > known {
        return Err(OpenError::Newer {
            found: version,
            known,
        });
    }
    Ok(version)
}

/// Runs the migrations after `version`, each in one transaction.
fn migrate(connection: &mut Connection, version: i64) -> Result<(), OpenError> {
    for (from, statements) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let to = from as i64 + 1;
        let failed = |e: rusqlite::Error| {
            OpenError::Unusable(format!("cannot migrate to schema version {to}: {e}"))
        };
        let tx = connection.transaction().map_err(failed)?;
        tx.execute_batch(statements).map_err(failed)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(failed)?;
        tx.pragma_update(None, "user_version", to).map_err(failed)?;
        tx.commit().map_err(failed)?;
    }
    Ok(())
}

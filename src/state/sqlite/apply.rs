//! What each durable [`Change`] does to the tables of `schema.rs`, inside
//! the writer's transaction. Lists are sets: an added name already there
//! keeps its place, a removed one that is absent is ignored. A message
//! appended beyond its room's capacity deletes the oldest rows, so a room
//! never holds more than `history_max_size` messages.
//!
//! A change of a room or user the file does not hold cannot come from the
//! engine (it records nothing after a deletion): it is logged and skipped
//! rather than failing its whole transaction.
//!
//! Within one transaction ([`Batch`]), a room's key and capacity are read
//! once, and its `last_message_id` is written and its history trimmed
//! once, after the batch's messages (before any change that reads them or
//! could give its key to another room).

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};

use crate::state::durable::Change;
use crate::state::{DirectList, ListOp, RoomConfig, RoomList, UserConfig, message_id};

/// A room list's number in `room_lists.list`.
pub(super) fn room_list_code(list: RoomList) -> Option<i64> {
    match list {
        RoomList::Adminlist => Some(0),
        RoomList::Whitelist => Some(1),
        RoomList::Blacklist => Some(2),
        RoomList::Userlist => None,
    }
}

/// A direct list's number in `direct_lists.list`.
pub(super) fn direct_list_code(list: DirectList) -> i64 {
    match list {
        DirectList::Whitelist => 0,
        DirectList::Blacklist => 1,
        DirectList::Conversations => 2,
    }
}

/// What one transaction remembers between its changes.
#[derive(Default)]
pub(super) struct Batch {
    /// Room name -> (key, history capacity), as read in this batch.
    rooms: HashMap<String, (i64, i64)>,
    /// Room key -> (the last message id to write, history capacity): the
    /// room's row is updated and its oldest messages trimmed once per
    /// transaction, not once per message.
    last_ids: HashMap<i64, (i64, i64)>,
}

impl Batch {
    /// Writes the rooms' last ids, trims their histories and forgets what
    /// it read.
    pub(super) fn flush(&mut self, db: &Connection) -> rusqlite::Result<()> {
        self.rooms.clear();
        if self.last_ids.is_empty() {
            return Ok(());
        }
        let mut update =
            db.prepare_cached("UPDATE rooms SET last_message_id = ?2 WHERE id = ?1")?;
        for (id, (last, capacity)) in self.last_ids.drain() {
            update.execute(params![id, last])?;
            trim(db, id, last, capacity)?;
        }
        Ok(())
    }

    fn room(&mut self, db: &Connection, room: &str) -> rusqlite::Result<Option<(i64, i64)>> {
        if let Some(found) = self.rooms.get(room) {
            return Ok(Some(*found));
        }
        let found = db
            .prepare_cached("SELECT id, history_max_size FROM rooms WHERE name = ?1")?
            .query_row([room], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
            })
            .optional()?;
        if let Some(found) = found {
            self.rooms.insert(room.to_string(), found);
        }
        Ok(found)
    }
}

/// Applies one change; [`Batch::flush`] before the commit.
pub(super) fn apply(db: &Connection, batch: &mut Batch, change: &Change) -> rusqlite::Result<()> {
    match change {
        Change::MessageAppended { room, message } => {
            let Some((id, capacity)) = batch.room(db, room)? else {
                return missing("room", room);
            };
            let last = message_id(message) as i64;
            batch.last_ids.insert(id, (last, capacity));
            if capacity > 0 {
                let json = serde_json::to_string(&**message)
                    .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
                db.prepare_cached("INSERT INTO messages (room, id, json) VALUES (?1, ?2, ?3)")?
                    .execute(params![id, last, json])?;
            }
            Ok(())
        }
        // Seen times are the other change of every join and leave.
        Change::Seen { room, user, at } => {
            let Some((id, _)) = batch.room(db, room)? else {
                return missing("room", room);
            };
            db.prepare_cached("INSERT OR REPLACE INTO seen (room, user, at) VALUES (?1, ?2, ?3)")?
                .execute(params![id, user, at])?;
            Ok(())
        }
        other => {
            batch.flush(db)?;
            apply_other(db, other)
        }
    }
}

fn apply_other(db: &Connection, change: &Change) -> rusqlite::Result<()> {
    match change {
        Change::RoomAdded { room, config } => add_room(db, room, config),
        Change::RoomDeleted { room } => {
            db.prepare_cached("DELETE FROM rooms WHERE name = ?1")?
                .execute([room])?;
            Ok(())
        }
        Change::ListChanged {
            room,
            list,
            names,
            op,
        } => {
            let Some(list) = room_list_code(*list) else {
                tracing::error!(room, "a userlist change reached the SQLite store: skipped");
                return Ok(());
            };
            let Some(id) = room_id(db, room)? else {
                return Ok(());
            };
            change_list(db, ListTable::Room, id, list, names, *op)
        }
        Change::WhitelistOnlySet { room, on } => set_room(db, room, "whitelist_only", on),
        Change::OwnerSet { room, owner } => set_room(db, room, "owner", owner),
        Change::AccessListsUpdatesSet { room, on } => {
            set_room(db, room, "access_lists_updates", on)
        }
        Change::UserlistUpdatesSet { room, on } => set_room(db, room, "userlist_updates", on),
        Change::HistoryMaxSizeSet { room, size } => {
            let size = *size as i64;
            let updated = db
                .prepare_cached(
                    "UPDATE rooms SET history_max_size = ?2 WHERE name = ?1
                     RETURNING id, last_message_id",
                )?
                .query_row(params![room, size], |row| {
                    Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
                })
                .optional()?;
            let Some((id, last)) = updated else {
                return missing("room", room);
            };
            trim(db, id, last, size)
        }
        Change::Seen { .. } | Change::MessageAppended { .. } => {
            unreachable!("applied with a batch")
        }
        Change::UserAdded { user, config } => add_user(db, user, config),
        Change::UserDeleted { user } => {
            db.prepare_cached("DELETE FROM users WHERE name = ?1")?
                .execute([user])?;
            Ok(())
        }
        Change::DirectListChanged {
            user,
            list,
            names,
            op,
        } => {
            let Some(id) = user_id(db, user)? else {
                return Ok(());
            };
            change_list(
                db,
                ListTable::Direct,
                id,
                direct_list_code(*list),
                names,
                *op,
            )
        }
        Change::DirectWhitelistOnlySet { user, on } => {
            let changed = db
                .prepare_cached("UPDATE users SET whitelist_only = ?2 WHERE name = ?1")?
                .execute(params![user, on])?;
            if changed == 0 {
                return missing("user", user);
            }
            Ok(())
        }
    }
}

fn missing(what: &str, name: &str) -> rusqlite::Result<()> {
    tracing::error!(
        what,
        name,
        "a change of a {what} the SQLite store does not hold: skipped"
    );
    Ok(())
}

fn room_id(db: &Connection, room: &str) -> rusqlite::Result<Option<i64>> {
    let id = db
        .prepare_cached("SELECT id FROM rooms WHERE name = ?1")?
        .query_row([room], |row| row.get(0))
        .optional()?;
    if id.is_none() {
        missing("room", room)?;
    }
    Ok(id)
}

fn user_id(db: &Connection, user: &str) -> rusqlite::Result<Option<i64>> {
    let id = db
        .prepare_cached("SELECT id FROM users WHERE name = ?1")?
        .query_row([user], |row| row.get(0))
        .optional()?;
    if id.is_none() {
        missing("user", user)?;
    }
    Ok(id)
}

fn set_room(
    db: &Connection,
    room: &str,
    column: &'static str,
    value: impl rusqlite::ToSql,
) -> rusqlite::Result<()> {
    let sql = format!("UPDATE rooms SET {column} = ?2 WHERE name = ?1");
    let changed = db.prepare_cached(&sql)?.execute(params![room, value])?;
    if changed == 0 {
        return missing("room", room);
    }
    Ok(())
}

/// Deletes the messages of room `id` beyond the newest `capacity` when
/// its last id is `last`.
fn trim(db: &Connection, id: i64, last: i64, capacity: i64) -> rusqlite::Result<()> {
    let oldest_kept = last - capacity + 1;
    if oldest_kept > 1 {
        db.prepare_cached("DELETE FROM messages WHERE room = ?1 AND id < ?2")?
            .execute(params![id, oldest_kept])?;
    }
    Ok(())
}

fn add_room(db: &Connection, room: &str, config: &RoomConfig) -> rusqlite::Result<()> {
    db.prepare_cached(
        "INSERT INTO rooms (name, owner, whitelist_only, history_max_size,
             access_lists_updates, userlist_updates, last_message_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0)",
    )?
    .execute(params![
        room,
        config.owner,
        config.whitelist_only,
        config.history_max_size as i64,
        config.enable_access_lists_updates,
        config.enable_userlist_updates,
    ])?;
    let id = db.last_insert_rowid();
    for (list, names) in [
        (RoomList::Adminlist, &config.adminlist),
        (RoomList::Whitelist, &config.whitelist),
        (RoomList::Blacklist, &config.blacklist),
    ] {
        if let Some(code) = room_list_code(list) {
            change_list(db, ListTable::Room, id, code, names, ListOp::Add)?;
        }
    }
    Ok(())
}

fn add_user(db: &Connection, user: &str, config: &UserConfig) -> rusqlite::Result<()> {
    db.prepare_cached("INSERT INTO users (name, whitelist_only) VALUES (?1, ?2)")?
        .execute(params![user, config.whitelist_only])?;
    let id = db.last_insert_rowid();
    for (list, names) in [
        (DirectList::Whitelist, &config.whitelist),
        (DirectList::Blacklist, &config.blacklist),
        (DirectList::Conversations, &config.conversations),
    ] {
        change_list(
            db,
            ListTable::Direct,
            id,
            direct_list_code(list),
            names,
            ListOp::Add,
        )?;
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum ListTable {
    Room,
    Direct,
}

fn change_list(
    db: &Connection,
    table: ListTable,
    owner: i64,
    list: i64,
    names: &[String],
    op: ListOp,
) -> rusqlite::Result<()> {
    let sql = match (table, op) {
        (ListTable::Room, ListOp::Add) => {
            "INSERT OR IGNORE INTO room_lists (room, list, name) VALUES (?1, ?2, ?3)"
        }
        (ListTable::Room, ListOp::Remove) => {
            "DELETE FROM room_lists WHERE room = ?1 AND list = ?2 AND name = ?3"
        }
        (ListTable::Direct, ListOp::Add) => {
            "INSERT OR IGNORE INTO direct_lists (user, list, name) VALUES (?1, ?2, ?3)"
        }
        (ListTable::Direct, ListOp::Remove) => {
            "DELETE FROM direct_lists WHERE user = ?1 AND list = ?2 AND name = ?3"
        }
    };
    let mut statement = db.prepare_cached(sql)?;
    for name in names {
        statement.execute(params![owner, list, name])?;
    }
    Ok(())
}

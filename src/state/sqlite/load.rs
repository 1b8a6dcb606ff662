//! The tables read back into the [`Snapshot`] an engine starts from: rooms
//! and users by name, lists in insertion order, seen times by user, and of
//! each history only its size: messages are read when asked for
//! ([`history`]), so a start does not grow with the stored history.

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::Connection;

use super::apply::{direct_list_code, room_list_code};
use crate::state::durable::{SeenAt, Snapshot, StoredRoom, StoredUser};
use crate::state::{DirectList, Message, RoomConfig, RoomList, UserConfig};

/// Why a file could not be read back.
#[derive(Debug, thiserror::Error)]
pub(super) enum LoadError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("message {id} of room {room} is not JSON: {error}")]
    Message {
        room: String,
        id: i64,
        error: serde_json::Error,
    },
}

/// Everything the file holds.
pub(super) fn load(db: &Connection) -> Result<Snapshot, LoadError> {
    let mut rooms = read_rooms(db)?;
    read_room_lists(db, &mut rooms)?;
    read_history_sizes(db, &mut rooms)?;
    read_seen(db, &mut rooms)?;
    let mut rooms: Vec<StoredRoom> = rooms.into_values().collect();
    rooms.sort_by(|a, b| a.name.cmp(&b.name));
    for room in &mut rooms {
        room.seen.sort();
    }

    let mut users = read_users(db)?;
    read_direct_lists(db, &mut users)?;
    let mut users: Vec<StoredUser> = users.into_values().collect();
    users.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Snapshot { rooms, users })
}

fn read_rooms(db: &Connection) -> rusqlite::Result<HashMap<i64, StoredRoom>> {
    let mut statement = db.prepare(
        "SELECT id, name, owner, whitelist_only, history_max_size, access_lists_updates,
                userlist_updates, last_message_id
         FROM rooms",
    )?;
    let rows = statement.query_map([], |row| {
        let room = StoredRoom {
            name: row.get(1)?,
            config: RoomConfig {
                owner: row.get(2)?,
                whitelist_only: row.get(3)?,
                history_max_size: row.get::<_, i64>(4)?.max(0) as usize,
                enable_access_lists_updates: row.get(5)?,
                enable_userlist_updates: row.get(6)?,
                ..RoomConfig::default()
            },
            last_message_id: row.get::<_, i64>(7)?.max(0) as u64,
            history_size: 0,
            history: Vec::new(),
            seen: Vec::new(),
        };
        Ok((row.get::<_, i64>(0)?, room))
    })?;
    rows.collect()
}

fn read_room_lists(db: &Connection, rooms: &mut HashMap<i64, StoredRoom>) -> rusqlite::Result<()> {
    let mut statement = db.prepare("SELECT room, list, name FROM room_lists ORDER BY rowid")?;
    let mut rows = statement.query([])?;
    let code = |list| room_list_code(list).unwrap_or(-1);
    while let Some(row) = rows.next()? {
        let Some(room) = rooms.get_mut(&row.get::<_, i64>(0)?) else {
            continue;
        };
        let list: i64 = row.get(1)?;
        let set = if list == code(RoomList::Adminlist) {
            &mut room.config.adminlist
        } else if list == code(RoomList::Whitelist) {
            &mut room.config.whitelist
        } else if list == code(RoomList::Blacklist) {
            &mut room.config.blacklist
        } else {
            continue;
        };
        set.push(row.get(2)?);
    }
    Ok(())
}

/// A room's messages are the ids from its oldest kept one to its last
/// (appends and trims keep them contiguous): one index lookup per room.
fn read_history_sizes(
    db: &Connection,
    rooms: &mut HashMap<i64, StoredRoom>,
) -> rusqlite::Result<()> {
    let mut oldest = db.prepare("SELECT min(id) FROM messages WHERE room = ?1")?;
    for (key, room) in rooms.iter_mut() {
        let first: Option<i64> = oldest.query_row([key], |row| row.get(0))?;
        if let Some(first) = first {
            let first = first.max(1) as u64;
            room.history_size = (room.last_message_id + 1).saturating_sub(first) as usize;
        }
    }
    Ok(())
}

/// Up to `count` messages of `room` from id `newest` down, newest first.
pub(super) fn history(
    db: &Connection,
    room: &str,
    newest: u64,
    count: usize,
) -> Result<Vec<Message>, LoadError> {
    let oldest = (newest + 1).saturating_sub(count as u64);
    let mut statement = db.prepare_cached(
        "SELECT m.id, m.json FROM messages m JOIN rooms r ON m.room = r.id
         WHERE r.name = ?1 AND m.id BETWEEN ?2 AND ?3 ORDER BY m.id DESC",
    )?;
    let mut rows = statement.query(rusqlite::params![room, oldest as i64, newest as i64])?;
    let mut messages = Vec::with_capacity(count);
    while let Some(row) = rows.next()? {
        messages.push(parse(room, row.get(0)?, &row.get::<_, String>(1)?)?);
    }
    Ok(messages)
}

fn parse(room: &str, id: i64, json: &str) -> Result<Message, LoadError> {
    let message = serde_json::from_str(json).map_err(|error| LoadError::Message {
        room: room.to_string(),
        id,
        error,
    })?;
    Ok(Arc::new(message))
}

fn read_seen(db: &Connection, rooms: &mut HashMap<i64, StoredRoom>) -> rusqlite::Result<()> {
    let mut statement = db.prepare("SELECT room, user, at FROM seen")?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        if let Some(room) = rooms.get_mut(&row.get::<_, i64>(0)?) {
            room.seen.push(SeenAt {
                user: row.get(1)?,
                at: row.get(2)?,
            });
        }
    }
    Ok(())
}

fn read_users(db: &Connection) -> rusqlite::Result<HashMap<i64, StoredUser>> {
    let mut statement = db.prepare("SELECT id, name, whitelist_only FROM users")?;
    let rows = statement.query_map([], |row| {
        let user = StoredUser {
            name: row.get(1)?,
            config: UserConfig {
                whitelist_only: row.get(2)?,
                ..UserConfig::default()
            },
        };
        Ok((row.get::<_, i64>(0)?, user))
    })?;
    rows.collect()
}

fn read_direct_lists(
    db: &Connection,
    users: &mut HashMap<i64, StoredUser>,
) -> rusqlite::Result<()> {
    let mut statement = db.prepare("SELECT user, list, name FROM direct_lists ORDER BY rowid")?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        let Some(user) = users.get_mut(&row.get::<_, i64>(0)?) else {
            continue;
        };
        let list: i64 = row.get(1)?;
        let set = if list == direct_list_code(DirectList::Whitelist) {
            &mut user.config.whitelist
        } else if list == direct_list_code(DirectList::Blacklist) {
            &mut user.config.blacklist
        } else if list == direct_list_code(DirectList::Conversations) {
            &mut user.config.conversations
        } else {
            continue;
        };
        set.push(row.get(2)?);
    }
    Ok(())
}

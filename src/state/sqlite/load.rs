//! The tables read back into the [`Snapshot`] an engine starts from: rooms
//! and users by name, lists in insertion order, each history newest first,
//! seen times by user.

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::Connection;

use super::apply::{direct_list_code, room_list_code};
use crate::state::durable::{SeenAt, Snapshot, StoredRoom, StoredUser};
use crate::state::{DirectList, RoomConfig, RoomList, UserConfig};

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
    read_histories(db, &mut rooms)?;
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

fn read_histories(db: &Connection, rooms: &mut HashMap<i64, StoredRoom>) -> Result<(), LoadError> {
    let mut statement = db.prepare("SELECT room, id, json FROM messages ORDER BY room, id DESC")?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        let Some(room) = rooms.get_mut(&row.get::<_, i64>(0)?) else {
            continue;
        };
        let id: i64 = row.get(1)?;
        let json: String = row.get(2)?;
        let message = serde_json::from_str(&json).map_err(|error| LoadError::Message {
            room: room.name.clone(),
            id,
            error,
        })?;
        room.history.push(Arc::new(message));
    }
    Ok(())
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
        } else {
            continue;
        };
        set.push(row.get(2)?);
    }
    Ok(())
}

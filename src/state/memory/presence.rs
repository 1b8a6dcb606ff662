//! Presence in the memory engine, the part no store keeps: each room's
//! present users (its userlist) and each user's sockets with the rooms
//! they are joined to. Each lives beside its room's or user's durable
//! record, under the same lock, so that a command checks and changes both
//! at once.

use indexmap::{IndexMap, IndexSet};

/// A room's present users, in the order they came.
#[derive(Default)]
pub(crate) struct Userlist(IndexSet<String>);

impl Userlist {
    pub(crate) fn contains(&self, user: &str) -> bool {
        self.0.contains(user)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &String> {
        self.0.iter()
    }

    pub(crate) fn names(&self) -> Vec<String> {
        self.0.iter().cloned().collect()
    }

    /// Whether the user was absent (and is now present).
    pub(crate) fn enter(&mut self, user: &str) -> bool {
        // Present already (most joins of a busy room): no allocation.
        !self.0.contains(user) && self.0.insert(user.to_string())
    }

    /// Whether the user was present (and is gone now).
    pub(crate) fn leave(&mut self, user: &str) -> bool {
        self.0.shift_remove(user)
    }

    pub(crate) fn take(&mut self) -> Self {
        std::mem::take(self)
    }
}

/// A user's sockets (all instances), each with the rooms it is joined to.
#[derive(Default)]
pub(crate) struct UserSockets(IndexMap<String, IndexSet<String>>);

impl UserSockets {
    pub(crate) fn count(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many of the sockets are joined to `room`.
    pub(crate) fn njoined(&self, room: &str) -> usize {
        self.0.values().filter(|rooms| rooms.contains(room)).count()
    }

    pub(crate) fn has(&self, socket: &str) -> bool {
        self.0.contains_key(socket)
    }

    /// Whether `socket` is joined to `room`.
    pub(crate) fn is_joined(&self, socket: &str, room: &str) -> bool {
        self.0.get(socket).is_some_and(|rooms| rooms.contains(room))
    }

    /// Registers a socket; one registered already keeps its rooms.
    pub(crate) fn add(&mut self, socket: &str) {
        if !self.0.contains_key(socket) {
            self.0.insert(socket.to_string(), IndexSet::new());
        }
    }

    /// Unregisters a socket, giving the rooms it was joined to.
    pub(crate) fn remove(&mut self, socket: &str) -> Option<IndexSet<String>> {
        self.0.shift_remove(socket)
    }

    /// Joins a registered socket to `room`: whether it was joined already,
    /// `None` if the socket is not registered.
    pub(crate) fn join(&mut self, socket: &str, room: &str) -> Option<bool> {
        let rooms = self.0.get_mut(socket)?;
        Some(rooms.contains(room) || !rooms.insert(room.to_string()))
    }

    /// Takes one socket out of `room`: whether it was joined.
    pub(crate) fn leave(&mut self, socket: &str, room: &str) -> bool {
        self.0
            .get_mut(socket)
            .is_some_and(|rooms| rooms.shift_remove(room))
    }

    /// Takes every socket out of `room`, giving those that were joined.
    pub(crate) fn leave_all(&mut self, room: &str) -> Vec<String> {
        self.0
            .iter_mut()
            .filter_map(|(id, rooms)| rooms.shift_remove(room).then(|| id.clone()))
            .collect()
    }

    /// Every socket with its rooms.
    pub(crate) fn rooms_by_socket(&self) -> IndexMap<String, Vec<String>> {
        self.0
            .iter()
            .map(|(id, rooms)| (id.clone(), rooms.iter().cloned().collect()))
            .collect()
    }

    /// The rooms any socket is joined to, once each.
    pub(crate) fn rooms(&self) -> Vec<String> {
        let mut rooms: IndexSet<String> = IndexSet::new();
        for joined in self.0.values() {
            rooms.extend(joined.iter().cloned());
        }
        rooms.into_iter().collect()
    }
}

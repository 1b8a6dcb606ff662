//! A [`Notify`] that records what goes out instead of sending it, for
//! tests that check a command's notifications without socket.io. Sockets
//! are "connected here" once `connect`ed; channel subscriptions are kept
//! so tests can see who would receive a room's notifications.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{Notify, Target};
use crate::error::{ChatServiceError, Result};
use crate::state::FeedMessage;

/// An owned [`Target`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum To {
    Room(String),
    User {
        name: String,
        except: Option<String>,
    },
    Socket(String),
    All,
}

impl From<Target<'_>> for To {
    fn from(target: Target<'_>) -> Self {
        match target {
            Target::Room(room) => To::Room(room.into()),
            Target::User { name, except } => To::User {
                name: name.into(),
                except: except.map(Into::into),
            },
            Target::Socket(id) => To::Socket(id.into()),
            Target::All => To::All,
        }
    }
}

/// One notification sent.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sent {
    pub to: To,
    pub event: String,
    pub args: Vec<Value>,
}

#[derive(Default)]
pub(crate) struct Recording {
    sent: Mutex<Vec<Sent>>,
    /// Connected socket -> the room channels it is subscribed to.
    sockets: Mutex<BTreeMap<String, BTreeSet<String>>>,
    /// The same for sockets connected to another instance.
    remote: Mutex<BTreeMap<String, BTreeSet<String>>>,
}

impl Recording {
    /// A socket connected to this instance from now on.
    pub fn connect(&self, id: &str) {
        self.sockets.lock().unwrap().entry(id.into()).or_default();
    }

    /// A socket connected to another instance from now on.
    pub fn connect_remote(&self, id: &str) {
        self.remote.lock().unwrap().entry(id.into()).or_default();
    }

    /// Everything sent so far, taken out (the next call starts afresh).
    pub fn take(&self) -> Vec<Sent> {
        std::mem::take(&mut *self.sent.lock().unwrap())
    }

    /// The room channels a socket of any instance is subscribed to.
    pub fn channels(&self, id: &str) -> Vec<String> {
        let sockets = self.sockets.lock().unwrap();
        let remote = self.remote.lock().unwrap();
        sockets
            .get(id)
            .or_else(|| remote.get(id))
            .map(|rooms| rooms.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn record(&self, to: To, event: &str, args: Vec<Value>) {
        let sent = Sent {
            to,
            event: event.into(),
            args,
        };
        self.sent.lock().unwrap().push(sent);
    }
}

#[async_trait]
impl Notify for Recording {
    async fn emit(&self, target: Target<'_>, event: &str, args: &[Value]) {
        self.record(target.into(), event, args.to_vec());
    }

    async fn deliver_room_message(&self, room: &str, message: &FeedMessage) {
        let message = match message {
            FeedMessage::Stored(message) => (**message).clone(),
            FeedMessage::Json { text, .. } => {
                serde_json::from_str(text.get()).unwrap_or(Value::Null)
            }
        };
        self.record(
            To::Room(room.into()),
            "roomMessage",
            vec![json!(room), message],
        );
    }

    fn is_local(&self, id: &str) -> bool {
        self.sockets.lock().unwrap().contains_key(id)
    }

    async fn is_logged_in_anywhere(&self, id: &str) -> Result<bool> {
        Ok(self.is_local(id) || self.remote.lock().unwrap().contains_key(id))
    }

    async fn join(&self, id: &str, room: &str) -> Result<()> {
        let mut sockets = self.sockets.lock().unwrap();
        let mut remote = self.remote.lock().unwrap();
        match sockets.get_mut(id).or_else(|| remote.get_mut(id)) {
            Some(rooms) => {
                rooms.insert(room.into());
                Ok(())
            }
            None => Err(ChatServiceError::InvalidSocket(id.into())),
        }
    }

    fn leave_local(&self, id: &str, room: &str) -> bool {
        match self.sockets.lock().unwrap().get_mut(id) {
            Some(rooms) => {
                rooms.remove(room);
                true
            }
            None => false,
        }
    }

    async fn leave(&self, id: &str, room: &str) {
        if !self.leave_local(id, room)
            && let Some(rooms) = self.remote.lock().unwrap().get_mut(id)
        {
            rooms.remove(room);
        }
    }
}

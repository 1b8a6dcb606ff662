//! What a command sees: [`Ctx`], the parts it may use — state, the way
//! out (`Notify`), options, the (user, room) locks, the room hooks,
//! message deliveries, instance events — and who is calling. The
//! dispatcher builds one per call; tests build one from a memory state and
//! a recording `Notify`.

use futures::future::BoxFuture;

use crate::delivery::Deliveries;
use crate::error::{ChatServiceError, Result};
use crate::events::{Events, TimedLock};
use crate::notify::Notify;
use crate::options::ServiceOptions;
use crate::service::hooks::{DisconnectInfo, RoomEvent};
use crate::state::{Actor, Presence, State};

/// The hooks commands and disconnect processing run (protocol.md 10),
/// given the service by whoever implements this.
pub(crate) trait CommandHooks: Send + Sync {
    /// `onJoin`; an error undoes the join.
    fn on_join(&self, event: RoomEvent) -> Option<BoxFuture<'static, Result<()>>>;
    /// `onLeave`; errors are ignored.
    fn on_leave(&self, event: RoomEvent) -> Option<BoxFuture<'static, Result<()>>>;
    /// `onDisconnect`; errors are ignored.
    fn on_disconnect(&self, info: DisconnectInfo) -> Option<BoxFuture<'static, Result<()>>>;
}

/// Who calls a command.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Caller<'a> {
    /// The acting user; `None` for anonymous server calls.
    pub user: Option<&'a str>,
    /// The socket id (request socket, or the server call's `id`).
    pub id: Option<&'a str>,
    /// `bypassPermissions`.
    pub bypass: bool,
    /// `execUserCommand`.
    pub is_local_call: bool,
}

/// See the module documentation.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub state: &'a dyn State,
    pub notify: &'a dyn Notify,
    pub options: &'a ServiceOptions,
    pub hooks: &'a dyn CommandHooks,
    pub deliveries: &'a Deliveries,
    pub events: &'a Events,
    pub caller: Caller<'a>,
}

impl<'a> Ctx<'a> {
    /// The acting user.
    pub fn user(&self) -> Option<&'a str> {
        self.caller.user
    }

    /// The calling socket.
    pub fn id(&self) -> Option<&'a str> {
        self.caller.id
    }

    /// Whether permission checks are bypassed.
    pub fn bypass(&self) -> bool {
        self.caller.bypass
    }

    /// The acting user, or `notAllowed` for anonymous calls to commands
    /// that need one.
    pub fn require_user(&self) -> Result<&'a str> {
        self.caller.user.ok_or(ChatServiceError::NotAllowed)
    }

    /// The socket to leave out of echoes to the user's "others" (7.1):
    /// the acting socket when it is connected here.
    pub fn echo_except(&self) -> Option<&'a str> {
        self.caller.id.filter(|id| self.notify.is_local(id))
    }

    /// Join/leave echoes from server calls go to all the user's sockets.
    pub fn join_echo_except(&self) -> Option<&'a str> {
        if self.caller.is_local_call {
            None
        } else {
            self.echo_except()
        }
    }

    /// Who acts on a room.
    pub fn actor(&self) -> Actor<'a> {
        Actor {
            user: self.caller.user,
            bypass: self.caller.bypass,
        }
    }

    /// Room reads need presence or admin rights unless bypassed (4.3).
    pub fn read_presence(&self) -> Presence<'a> {
        if self.caller.bypass {
            Presence::Any
        } else {
            Presence::MemberOrAdmin(self.caller.user)
        }
    }

    /// Takes the (user, room) lock of protocol.md 14.4.
    pub async fn lock(&self, user: &str, room: &str) -> Result<TimedLock> {
        let ttl = self.options.lock_ttl;
        let guard = self.state.lock(user, room, ttl).await?;
        Ok(TimedLock::new(guard, ttl, user, room, self.events.clone()))
    }

    /// Runs `onLeave`; its errors are ignored by the protocol.
    pub async fn run_on_leave(&self, id: &str, room: &str, njoined: usize) {
        let event = RoomEvent {
            id: id.to_string(),
            room_name: room.to_string(),
            njoined,
        };
        if let Some(on_leave) = self.hooks.on_leave(event)
            && let Err(error) = on_leave.await
        {
            tracing::debug!(%id, %room, %error, "onLeave failed (ignored)");
        }
    }
}

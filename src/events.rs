//! Instance events (protocol.md 12.1): what the service reports about its
//! own life and about failures it could not undo, for the application to
//! react to (the remedy for consistency failures is the recovery API).

use std::time::{Duration, Instant};

use tokio::sync::broadcast;

use crate::error::ChatServiceError;
use crate::state::LockGuard;

/// One instance event.
#[derive(Debug, Clone)]
pub enum ServiceEvent {
    /// Started: accepting connections, first heartbeat written.
    Ready,
    /// Closed, with the error of a failed close.
    Closed(Option<ChatServiceError>),
    /// A state update failed half-way. `op_type` is `userRooms` (join
    /// rollback), `roomUserlist` (removals) or `userSockets` (disconnect).
    StoreConsistencyFailure {
        error: ChatServiceError,
        user_name: String,
        op_type: &'static str,
        room_name: Option<String>,
        id: Option<String>,
    },
    /// A (user, room) lock was held longer than `lockTTL`.
    LockTimeExceeded {
        lock_id: String,
        user_name: String,
        room_name: String,
    },
    /// During close, the last running command ended.
    CommandsFinished,
}

/// Where events go; sending never blocks and never fails the sender.
#[derive(Clone)]
pub struct Events(broadcast::Sender<ServiceEvent>);

impl Default for Events {
    fn default() -> Self {
        Self(broadcast::channel(256).0)
    }
}

impl Events {
    pub fn subscribe(&self) -> broadcast::Receiver<ServiceEvent> {
        self.0.subscribe()
    }

    pub fn send(&self, event: ServiceEvent) {
        if let ServiceEvent::StoreConsistencyFailure {
            error,
            user_name,
            op_type,
            ..
        } = &event
        {
            tracing::error!(%error, %user_name, %op_type, "store consistency failure");
        }
        // No subscriber is fine: events are informational.
        let _ = self.0.send(event);
    }
}

/// A held (user, room) lock that reports `LockTimeExceeded` when it is
/// released after its TTL.
pub(crate) struct TimedLock {
    _guard: LockGuard,
    taken: Instant,
    ttl: Duration,
    user: String,
    room: String,
    events: Events,
}

impl TimedLock {
    pub fn new(guard: LockGuard, ttl: Duration, user: &str, room: &str, events: Events) -> Self {
        Self {
            _guard: guard,
            taken: Instant::now(),
            ttl,
            user: user.to_string(),
            room: room.to_string(),
            events,
        }
    }
}

impl Drop for TimedLock {
    fn drop(&mut self) {
        if self.taken.elapsed() > self.ttl {
            self.events.send(ServiceEvent::LockTimeExceeded {
                lock_id: format!("{}:{}", self.user, self.room),
                user_name: self.user.clone(),
                room_name: self.room.clone(),
            });
        }
    }
}

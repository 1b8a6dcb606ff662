//! Instances in the memory engine, presence no store keeps: which instance
//! holds each socket, the instances' heartbeats, and the recovery claims.

use std::sync::Arc;

use dashmap::DashMap;

use crate::state::{HeartbeatWrite, Instance, LockGuard, SocketEntry};

/// The user and instance of a registered socket.
struct SocketOwner {
    user: String,
    instance: String,
}

#[derive(Default)]
pub(crate) struct Instances {
    /// Socket id -> its user and instance.
    sockets: DashMap<String, SocketOwner>,
    heartbeats: DashMap<String, i64>,
    /// Instances being recovered (`claim_recovery`), until their claim drops.
    recoveries: Arc<DashMap<String, ()>>,
}

/// A held recovery claim: released when dropped.
struct Claim {
    claims: Arc<DashMap<String, ()>>,
    instance: String,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.claims.remove(&self.instance);
    }
}

impl Instances {
    pub(crate) fn register_socket(&self, socket: &str, user: &str, instance: &str) {
        self.sockets.insert(
            socket.to_string(),
            SocketOwner {
                user: user.to_string(),
                instance: instance.to_string(),
            },
        );
    }

    pub(crate) fn unregister_socket(&self, socket: &str) {
        self.sockets.remove(socket);
    }

    pub(crate) fn sockets_of(&self, instance: &str) -> Vec<SocketEntry> {
        self.sockets
            .iter()
            .filter(|e| e.value().instance == instance)
            .map(|e| SocketEntry {
                id: e.key().clone(),
                user: e.value().user.clone(),
            })
            .collect()
    }

    pub(crate) fn set_heartbeat(&self, instance: &str, now: i64) -> HeartbeatWrite {
        if self.recoveries.contains_key(instance) {
            return HeartbeatWrite::BeingRecovered;
        }
        match self.heartbeats.insert(instance.to_string(), now) {
            Some(_) => HeartbeatWrite::Known,
            None => HeartbeatWrite::Unknown,
        }
    }

    pub(crate) fn heartbeat(&self, instance: &str) -> Option<i64> {
        self.heartbeats.get(instance).map(|h| *h)
    }

    pub(crate) fn all(&self) -> Vec<Instance> {
        self.heartbeats
            .iter()
            .map(|entry| Instance {
                id: entry.key().clone(),
                heartbeat: *entry.value(),
            })
            .collect()
    }

    /// The right to recover `instance` if its heartbeat is older than
    /// `stale_before` and no one holds it, until the guard drops.
    pub(crate) fn claim_recovery(&self, instance: &str, stale_before: i64) -> Option<LockGuard> {
        let stale = self
            .heartbeats
            .get(instance)
            .is_some_and(|beat| *beat < stale_before);
        if !stale {
            return None;
        }
        match self.recoveries.entry(instance.to_string()) {
            dashmap::Entry::Occupied(_) => None,
            dashmap::Entry::Vacant(entry) => {
                entry.insert(());
                Some(LockGuard::new(Claim {
                    claims: self.recoveries.clone(),
                    instance: instance.to_string(),
                }))
            }
        }
    }

    pub(crate) fn remove(&self, instance: &str) {
        self.heartbeats.remove(instance);
    }
}

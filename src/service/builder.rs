//! Building a service: options, state, hooks and bus before `start`
//! (in `lifecycle`), and the optional settings of `addRoom`/`addUser`.

use std::sync::Arc;

use serde::Deserialize;

use super::hooks::Hooks;
use crate::cluster::ClusterBus;
use crate::events::{Events, ServiceEvent};
use crate::options::ServiceOptions;
use crate::state::State;

/// Optional room settings of `addRoom` (protocol.md 12); missing ones take
/// the service defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RoomInit {
    pub owner: Option<String>,
    pub whitelist_only: Option<bool>,
    pub whitelist: Option<Vec<String>>,
    pub blacklist: Option<Vec<String>>,
    pub adminlist: Option<Vec<String>>,
    pub history_max_size: Option<usize>,
    pub enable_access_lists_updates: Option<bool>,
    pub enable_userlist_updates: Option<bool>,
}

/// Optional user settings of `addUser`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UserInit {
    pub whitelist: Vec<String>,
    pub blacklist: Vec<String>,
    pub whitelist_only: bool,
}

/// Builds a service: options, state and hooks, then `start`.
pub struct ChatServiceBuilder {
    pub(crate) options: ServiceOptions,
    pub(crate) state: Option<Arc<dyn State>>,
    pub(crate) hooks: Hooks,
    pub(crate) events: Events,
    pub(crate) bus: Option<ClusterBus>,
}

impl ChatServiceBuilder {
    pub fn new(options: ServiceOptions) -> Self {
        Self {
            options,
            state: None,
            hooks: Hooks::default(),
            events: Events::default(),
            bus: None,
        }
    }

    /// Uses this cluster bus instead of an in-process one.
    pub fn bus(mut self, bus: ClusterBus) -> Self {
        self.bus = Some(bus);
        self
    }

    /// Instance events from the start on (`Ready` included).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<ServiceEvent> {
        self.events.subscribe()
    }

    /// Uses this state instead of a fresh `MemoryState`.
    pub fn state(mut self, state: Arc<dyn State>) -> Self {
        self.state = Some(state);
        self
    }

    /// Sets hooks: `builder.hooks(|h| h.on_connect(...))`.
    pub fn hooks(mut self, configure: impl FnOnce(&mut Hooks)) -> Self {
        configure(&mut self.hooks);
        self
    }
}

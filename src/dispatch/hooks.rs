//! The hooks commands run, with the service handed to them.

use futures::future::BoxFuture;

use crate::commands::CommandHooks;
use crate::error::Result;
use crate::service::ChatService;
use crate::service::hooks::{DisconnectInfo, RoomEvent};

/// A service's `onJoin`, `onLeave` and `onDisconnect`, as commands and
/// disconnect processing call them.
pub(crate) struct ServiceHooks<'a>(pub &'a ChatService);

impl CommandHooks for ServiceHooks<'_> {
    fn on_join(&self, event: RoomEvent) -> Option<BoxFuture<'static, Result<()>>> {
        let hook = self.0.hooks().on_join.as_ref()?;
        Some(hook(self.0.clone(), event))
    }

    fn on_leave(&self, event: RoomEvent) -> Option<BoxFuture<'static, Result<()>>> {
        let hook = self.0.hooks().on_leave.as_ref()?;
        Some(hook(self.0.clone(), event))
    }

    fn on_disconnect(&self, info: DisconnectInfo) -> Option<BoxFuture<'static, Result<()>>> {
        let hook = self.0.hooks().on_disconnect.as_ref()?;
        Some(hook(self.0.clone(), info))
    }
}

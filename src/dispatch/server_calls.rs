//! The server API calls that run commands (protocol.md 12):
//! `execUserCommand`, `checkArguments`, `deleteRoom`.

use serde_json::Value;

use crate::commands;
use crate::error::{ChatServiceError, Result};
use crate::service::ChatService;
use crate::service::hooks::CallContext;

impl ChatService {
    /// `execUserCommand(context, command, ...args)`: runs a command as a
    /// user (or anonymously), through the same pipeline as client requests.
    pub async fn exec_user_command(
        &self,
        mut context: CallContext,
        command: &str,
        args: Vec<Value>,
    ) -> Result<Vec<Value>> {
        context.is_local_call = true;
        if context.user_name.as_deref() == Some("") {
            // As in the original, an empty name is an anonymous call.
            context.user_name = None;
        }
        if let Some(user) = &context.user_name
            && !self.state().has_user(user).await?
        {
            return Err(ChatServiceError::NoUser(user.clone()));
        }
        if commands::arity(command).is_none() {
            return Err(ChatServiceError::NoCommand(command.to_string()));
        }
        // As the original's `User.exec`: before validation and hooks.
        if context.id.is_none() && matches!(command, "roomJoin" | "roomLeave") {
            return Err(ChatServiceError::NoSocket(command.to_string()));
        }
        let _running = self.track();
        super::execute(self, context, command, args).await
    }

    /// `checkArguments(command, ...args)`: validation only.
    pub async fn check_arguments(&self, command: &str, args: Vec<Value>) -> Result<()> {
        super::check_arguments(self, command, args).await
    }

    /// Runs `roomDelete` as an anonymous bypass call (its hooks run).
    pub async fn delete_room(&self, name: &str) -> Result<()> {
        let context = CallContext {
            bypass_permissions: true,
            ..CallContext::default()
        };
        self.exec_user_command(context, "roomDelete", vec![Value::String(name.to_string())])
            .await
            .map(|_| ())
    }
}

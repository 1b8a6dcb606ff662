//! The server API of stored one-to-one conversations (this server's
//! extension; `state::conversations` has the rooms they are made of):
//! open one from the server side, list a user's.

use super::ChatService;
use crate::error::{ChatServiceError, Result};
use crate::state::{DirectList, RoomConfig, conversations};

impl ChatService {
    /// `openConversation(userA, userB)`: the room of the two users'
    /// conversation, made if it is not there (both users' sockets then get
    /// `conversations`). `invalidName` for a name a user may not have,
    /// `badArgument` for a conversation with oneself.
    pub async fn open_conversation(&self, a: &str, b: &str) -> Result<String> {
        let config = RoomConfig::defaults(self.options());
        let opened = conversations::open(self.state(), a, b, config).await?;
        if opened.created {
            self.notify().conversation_opened(&opened.room, a, b).await;
        }
        Ok(opened.room)
    }

    /// The stored conversations of a user: the other user and the room of
    /// each, in the order they were made; none for an unknown user.
    pub async fn conversations(&self, user: &str) -> Result<Vec<(String, String)>> {
        let partners = match self
            .state()
            .direct_get_list(user, DirectList::Conversations)
            .await
        {
            Err(ChatServiceError::NoUser(_)) => return Ok(Vec::new()),
            partners => partners?,
        };
        Ok(partners
            .into_iter()
            .map(|partner| {
                let room = conversations::room_name(user, &partner);
                (partner, room)
            })
            .collect())
    }
}

//! The message feed of the Redis state. `room_add_message.lua` publishes
//! each message on the channel `<prefix>:messages` inside the script that
//! gives it its id, so Redis itself orders a room's messages (a room lives
//! on one node, and pub/sub keeps the order of one publisher); every
//! instance subscribes once and delivers to its own sockets. This costs no
//! round trip beyond the script's, and replaces a broadcast from the
//! sending instance, which could overtake another instance's earlier id.

use fred::clients::SubscriberClient;
use fred::prelude::EventInterface;
use fred::types::Message as PubsubMessage;
use serde_json::Value as Json;
use tokio::sync::broadcast::Receiver;

use super::{Message, MessageFeed, Published};
use crate::cluster::redis::next_message;

/// The feed as a stream, from now on.
pub(super) fn stream(subscriber: &SubscriberClient, channel: String) -> MessageFeed {
    let messages = subscriber.message_rx();
    Box::pin(futures::stream::unfold(
        (messages, channel),
        |(mut messages, channel)| async move {
            let published = next(&mut messages, &channel).await?;
            Some((published, (messages, channel)))
        },
    ))
}

async fn next(messages: &mut Receiver<PubsubMessage>, channel: &str) -> Option<Published> {
    // A lost message shows as a gap in the ids, which members can fetch
    // with `roomHistoryGet`.
    while let Some(message) = next_message(messages, "message feed").await {
        if *message.channel != *channel {
            continue;
        }
        match parse(&message) {
            Some(published) => return Some(published),
            None => tracing::warn!("malformed message on the message feed"),
        }
    }
    None
}

fn parse(message: &PubsubMessage) -> Option<Published> {
    let bytes = message.value.as_bytes()?;
    let (room, message) = serde_json::from_slice::<(String, Json)>(bytes).ok()?;
    Some(Published {
        room,
        message: Message::new(message),
    })
}

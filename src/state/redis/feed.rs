//! The message feed of the Redis state. `room_add_messages.lua` publishes
//! the messages it appends on the channel `<prefix>:messages`, a batch as
//! one pub/sub message, inside the script that gives them their ids, so
//! Redis itself orders a room's messages (a room lives on one node, and
//! pub/sub keeps the order of one publisher); every instance subscribes
//! once and delivers to its own sockets. This costs no round trip beyond
//! the script's, and replaces a broadcast from the sending instance, which
//! could overtake another instance's earlier id.

use std::collections::VecDeque;

use fred::clients::SubscriberClient;
use fred::prelude::EventInterface;
use fred::types::Message as PubsubMessage;
use serde_json::value::RawValue;
use tokio::sync::broadcast::Receiver;

use super::{FeedMessage, Message, MessageFeed, Published};
use crate::redis::next_message;

/// The feed as a stream, from now on.
pub(super) fn stream(subscriber: &SubscriberClient, channel: String) -> MessageFeed {
    let messages = subscriber.message_rx();
    let batch = VecDeque::new();
    Box::pin(futures::stream::unfold(
        (messages, channel, batch),
        |(mut messages, channel, mut batch)| async move {
            while batch.is_empty() {
                batch = next(&mut messages, &channel).await?;
            }
            let published = batch.pop_front()?;
            Some((published, (messages, channel, batch)))
        },
    ))
}

async fn next(
    messages: &mut Receiver<PubsubMessage>,
    channel: &str,
) -> Option<VecDeque<Published>> {
    // A lost message shows as a gap in the ids, which members can fetch
    // with `roomHistoryGet`.
    while let Some(message) = next_message(messages, "message feed").await {
        if *message.channel != *channel {
            continue;
        }
        match parse(&message) {
            Some(batch) => return Some(batch),
            None => tracing::warn!("malformed message on the message feed"),
        }
    }
    None
}

/// `[[room, message], ...]`; a message stays JSON text unless it holds
/// Node `Buffer` objects, which go out as socket.io binary attachments and
/// so need the parsed value.
fn parse(message: &PubsubMessage) -> Option<VecDeque<Published>> {
    let bytes = message.value.as_bytes()?;
    let batch = serde_json::from_slice::<Vec<(String, Box<RawValue>)>>(bytes).ok()?;
    batch
        .into_iter()
        .map(|(room, text)| {
            let message = match stored_id(text.get()) {
                Some(id) if !text.get().contains("\"Buffer\"") => FeedMessage::Json { text, id },
                _ => FeedMessage::Stored(Message::new(serde_json::from_str(text.get()).ok()?)),
            };
            Some(Published { room, message })
        })
        .collect()
}

/// The id of a stored message: `room_add_messages.lua` appends it last, as
/// `"id":<n>}`.
fn stored_id(json: &str) -> Option<u64> {
    let (_, id) = json.strip_suffix('}')?.rsplit_once("\"id\":")?;
    id.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_is_read_from_the_end_of_the_stored_json() {
        assert_eq!(
            stored_id(r#"{"textMessage":"\"id\":7}","id":12}"#),
            Some(12)
        );
        assert_eq!(stored_id(r#"{"id":3}"#), Some(3));
        assert_eq!(stored_id(r#"{"id":"x"}"#), None);
        assert_eq!(stored_id("[]"), None);
    }
}

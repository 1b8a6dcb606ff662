//! The pub/sub driver under the socket.io Redis adapter, written for "no
//! silent loss": the stock fred driver drops a message (with a log line)
//! when the adapter's channel is full. This one waits for room instead,
//! so a burst slows the reader down rather than losing broadcasts; the only
//! loss left is fred's own buffer overflowing when Redis outpaces the
//! reader, which is counted (`chat_service_pubsub_lost_total`) and logged.
//! Publishing goes through its own connection, so a long stream of
//! incoming messages never delays this instance's own broadcasts.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use fred::clients::{Client, SubscriberClient};
use fred::interfaces::ClientLike;
use fred::interfaces::PubsubInterface;
use fred::prelude::EventInterface;
use fred::types::Message;
use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};
use tokio::sync::{broadcast, mpsc};

use crate::redis::next_message;

type Handlers = Arc<RwLock<HashMap<String, mpsc::Sender<ChanItem>>>>;

/// See the module documentation.
#[derive(Clone)]
pub struct BackpressureDriver {
    subscriber: SubscriberClient,
    publisher: Client,
    handlers: Handlers,
}

/// A driver error (a fred error).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DriverError(#[from] fred::error::Error);

impl BackpressureDriver {
    /// Takes two connected clients: one subscribes, one publishes.
    pub fn new(subscriber: SubscriberClient, publisher: Client) -> Self {
        let handlers = Handlers::default();
        tokio::spawn(forward(subscriber.message_rx(), handlers.clone()));
        Self {
            subscriber,
            publisher,
            handlers,
        }
    }
}

/// Moves every received message to the adapter channel of its pub/sub
/// channel, waiting when that channel is full.
async fn forward(mut messages: broadcast::Receiver<Message>, handlers: Handlers) {
    while let Some(message) = next_message(&mut messages, "socket.io adapter").await {
        let channel = message.channel.to_string();
        let Some(data) = message.value.into_owned_bytes() else {
            continue;
        };
        let sender = handlers
            .read()
            .ok()
            .and_then(|handlers| handlers.get(&channel).cloned());
        let Some(sender) = sender else {
            continue;
        };
        // A closed receiver means the namespace went away: nothing to do.
        let _ = sender.send((channel, data)).await;
    }
}

impl Driver for BackpressureDriver {
    type Error = DriverError;

    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), Self::Error> {
        // While the connection is known lost, fail at once instead of
        // queueing: every broadcast of a command would wait the command
        // timeout (a room message is delivered through the state's feed,
        // not through here).
        if !self.publisher.is_connected() {
            return Err(fred::error::Error::new(
                fred::error::ErrorKind::Canceled,
                "not connected to Redis",
            )
            .into());
        }
        self.publisher.spublish::<u64, _, _>(chan, val).await?;
        Ok(())
    }

    async fn subscribe(
        &self,
        chan: String,
        size: usize,
    ) -> Result<MessageStream<ChanItem>, Self::Error> {
        let (tx, rx) = mpsc::channel(size);
        if let Ok(mut handlers) = self.handlers.write() {
            handlers.insert(chan.clone(), tx);
        }
        self.subscriber.ssubscribe(chan).await?;
        Ok(MessageStream::new(rx))
    }

    async fn unsubscribe(&self, chan: String) -> Result<(), Self::Error> {
        if let Ok(mut handlers) = self.handlers.write() {
            handlers.remove(&chan);
        }
        self.subscriber.sunsubscribe(chan).await?;
        Ok(())
    }

    async fn num_serv(&self, chan: &str) -> Result<u16, Self::Error> {
        let (_, count): (String, u16) = self.publisher.pubsub_shardnumsub(chan).await?;
        Ok(count)
    }
}

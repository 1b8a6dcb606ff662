//! Room messages appended in batches. Every room message is a script call;
//! under load one task gathers the messages that commands queued during a
//! scheduler round and appends them with one `room_add_messages` call
//! (one call per hash slot on a Redis Cluster), which also publishes them
//! to the feed as one pub/sub message. Per message this saves a command's
//! encoding, routing and reply in fred, its parsing and script setup in
//! Redis, and a pub/sub message; an idle server sends each message at
//! once, in a batch of one.

use std::collections::HashMap;

use fred::prelude::*;
use fred::types::Value;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use tokio::sync::{mpsc, oneshot};

use super::eval;
use super::reply::{Refused, malformed, to_string};
use super::scripts::SCRIPTS;
use crate::error::{ChatServiceError, Result};

/// Most messages in one script call, so that one call never holds Redis
/// for long.
const MAX_BATCH: usize = 256;

/// One message for `room_add_messages`: its room's info key and its five
/// arguments (see the script's header).
pub(super) struct Append {
    pub info_key: String,
    pub args: [String; 5],
}

/// What the script said of one message: its id, or a protocol error code.
pub(super) enum Appended {
    Id(u64),
    Refused(Refused),
}

struct Pending {
    append: Append,
    reply: oneshot::Sender<Result<Appended>>,
}

/// The queue of the appending task.
pub(super) struct Appender {
    queue: mpsc::UnboundedSender<Pending>,
}

impl Appender {
    pub fn start(client: Client, feed_channel: String) -> Self {
        let (queue, pending) = mpsc::unbounded_channel();
        tokio::spawn(run(client, feed_channel, pending));
        Self { queue }
    }

    pub async fn append(&self, append: Append) -> Result<Appended> {
        let (reply, replied) = oneshot::channel();
        self.queue
            .send(Pending { append, reply })
            .map_err(|_| closed())?;
        replied.await.map_err(|_| closed())?
    }
}

fn closed() -> ChatServiceError {
    ChatServiceError::internal("the Redis state is closed".to_string())
}

async fn run(client: Client, feed_channel: String, mut queue: mpsc::UnboundedReceiver<Pending>) {
    let clustered = client.is_clustered();
    let mut in_flight = FuturesUnordered::new();
    let mut burst = Vec::with_capacity(MAX_BATCH);
    loop {
        tokio::select! {
            received = queue.recv_many(&mut burst, MAX_BATCH) => {
                if received == 0 {
                    break;
                }
                // The command tasks of this scheduler round queue theirs
                // meanwhile; on an idle server this returns at once.
                tokio::task::yield_now().await;
                while burst.len() < MAX_BATCH {
                    match queue.try_recv() {
                        Ok(pending) => burst.push(pending),
                        Err(_) => break,
                    }
                }
                for batch in batches(&mut burst, clustered) {
                    let mut call = send(client.clone(), feed_channel.clone(), batch);
                    // The first poll hands the command to fred, so all the
                    // batches of this burst are queued there together and
                    // go out in one write.
                    if futures::poll!(&mut call).is_pending() {
                        in_flight.push(call);
                    }
                }
            }
            Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
        }
    }
    while in_flight.next().await.is_some() {}
}

/// The burst as script calls: all of it on a single Redis, one call per
/// hash slot on a cluster (a script's keys must share a slot).
fn batches(burst: &mut Vec<Pending>, clustered: bool) -> Vec<Vec<Pending>> {
    if !clustered {
        return vec![std::mem::take(burst)];
    }
    let mut slots: HashMap<u16, Vec<Pending>> = HashMap::new();
    for pending in burst.drain(..) {
        let slot = fred::util::redis_keyslot(pending.append.info_key.as_bytes());
        slots.entry(slot).or_default().push(pending);
    }
    slots.into_values().collect()
}

fn send(client: Client, feed_channel: String, batch: Vec<Pending>) -> BoxFuture<'static, ()> {
    async move {
        let mut keys = Vec::with_capacity(batch.len());
        let mut args = Vec::with_capacity(1 + 5 * batch.len());
        args.push(feed_channel);
        let mut replies = Vec::with_capacity(batch.len());
        for Pending { append, reply } in batch {
            keys.push(append.info_key);
            args.extend(append.args);
            replies.push(reply);
        }
        match eval(&client, &SCRIPTS.room_add_messages, keys, args)
            .await
            .and_then(|value| parse(value, replies.len()))
        {
            Ok(results) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(Ok(result));
                }
            }
            Err(error) => {
                for reply in replies {
                    let _ = reply.send(Err(error.clone()));
                }
            }
        }
    }
    .boxed()
}

fn parse(value: Value, expected: usize) -> Result<Vec<Appended>> {
    let Value::Array(items) = value else {
        return Err(malformed("room_add_messages: not an array"));
    };
    if items.len() != expected {
        return Err(malformed("room_add_messages: one reply per message"));
    }
    items
        .into_iter()
        .map(|item| match item {
            Value::Integer(id) => u64::try_from(id)
                .map(Appended::Id)
                .map_err(|_| malformed("negative message id")),
            code => Ok(Appended::Refused(Refused(to_string(code)?))),
        })
        .collect()
}

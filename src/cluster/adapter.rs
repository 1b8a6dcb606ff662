//! The socketioxide Redis adapter: room and user channels that span
//! instances, so a broadcast from any instance reaches member sockets on
//! every instance (protocol.md 14.2).

use std::time::Duration;

use fred::clients::SubscriberClient;
use fred::interfaces::{EventInterface, PubsubInterface};
use fred::types::RespVersion;
use socketioxide_redis::drivers::fred::FredDriver;
use socketioxide_redis::{InitRes, RedisAdapterConfig, RedisAdapterCtr};

use super::redis::{RedisSettings, redis_error};
use crate::error::Result;
use crate::hooks::BoxFuture;
use crate::transport::connection::NamespaceInit;

/// Messages buffered between Redis and the adapter before it would drop
/// them (socketioxide-redis logs and drops when this is full; 1024 is its
/// default).
const STREAM_BUFFER: usize = 65_536;

pub use socketioxide_redis::FredAdapter;

/// The adapter constructor for `SocketIo::builder().with_adapter()`,
/// and its Redis client (for health checks). `prefix` separates services
/// sharing one Redis; requests between instances (remote disconnects)
/// time out after `request_timeout`.
pub async fn redis_adapter(
    settings: &RedisSettings,
    prefix: &str,
    request_timeout: Duration,
) -> Result<(RedisAdapterCtr<FredDriver>, SubscriberClient)> {
    let mut builder = settings.builder()?;
    // The driver publishes on its subscribed connection: RESP3 only.
    builder.with_config(|config| config.version = RespVersion::RESP3);
    let client = builder
        .build_subscriber_client()
        .map_err(|e| redis_error("Redis client", e))?;
    settings.connect(&client).await?;
    resubscribe_after_reconnects(&client);
    let config = RedisAdapterConfig::new()
        .with_prefix(format!("{prefix}:socket.io"))
        .with_request_timeout(request_timeout)
        .with_stream_buffer(STREAM_BUFFER);
    let adapter = RedisAdapterCtr::new_with_fred_config(client.clone(), config)
        .await
        .map_err(|e| redis_error("Redis adapter", e))?;
    Ok((adapter, client))
}

/// A reconnected connection has no subscriptions: without this, after
/// Redis restarts (or a cluster node fails over) this instance would never
/// again receive the broadcasts of the others. The driver subscribes with
/// SSUBSCRIBE, which fred tracks but `manage_subscriptions` would not
/// restore here (it first sends a SUBSCRIBE without channels, which Redis
/// rejects), so each tracked shard channel is subscribed again, one by one
/// (each may live on another cluster node).
fn resubscribe_after_reconnects(client: &SubscriberClient) {
    let client = client.clone();
    let mut reconnects = client.reconnect_rx();
    tokio::spawn(async move {
        while reconnects.recv().await.is_ok() {
            for channel in client.tracked_shard_channels() {
                if let Err(error) = client.ssubscribe(channel.clone()).await {
                    crate::metrics::redis_error();
                    tracing::warn!(%error, channel = %channel, "cannot subscribe again after a reconnect");
                }
            }
        }
    });
}

impl NamespaceInit for InitRes<FredDriver> {
    fn finish(self) -> BoxFuture<Result<()>> {
        Box::pin(async move {
            self.await
                .map_err(|e| redis_error("subscribing the namespace", format!("{e:?}")))
        })
    }
}

//! The socketioxide Redis adapter: room and user channels that span
//! instances, so a broadcast from any instance reaches member sockets on
//! every instance (protocol.md 14.2).

use std::time::Duration;

use fred::clients::SubscriberClient;
use fred::interfaces::{EventInterface, PubsubInterface};
use futures::future::BoxFuture;
use socketioxide_redis::{InitRes, RedisAdapterConfig, RedisAdapterCtr};

use super::NamespaceInit;
use super::driver::BackpressureDriver;
use crate::error::Result;
use crate::redis::{RedisSettings, redis_error};

/// Messages buffered between Redis and the adapter (the driver waits when
/// it is full; 1024 is socketioxide-redis' default).
const STREAM_BUFFER: usize = 65_536;

/// The socket.io adapter type over our driver.
pub type RedisAdapter<E> = socketioxide_redis::CustomRedisAdapter<E, BackpressureDriver>;

/// The adapter constructor for `SocketIo::builder().with_adapter()`,
/// and its Redis client (for health checks). `prefix` separates services
/// sharing one Redis; requests between instances (remote disconnects)
/// time out after `request_timeout`.
pub async fn redis_adapter(
    settings: &RedisSettings,
    prefix: &str,
    request_timeout: Duration,
) -> Result<(RedisAdapterCtr<BackpressureDriver>, SubscriberClient)> {
    let builder = settings.builder()?;
    let subscriber = builder
        .build_subscriber_client()
        .map_err(|e| redis_error("Redis client", e))?;
    let publisher = builder
        .build()
        .map_err(|e| redis_error("Redis client", e))?;
    settings.connect(&subscriber).await?;
    settings.connect(&publisher).await?;
    resubscribe_after_reconnects(&subscriber);
    let driver = BackpressureDriver::new(subscriber.clone(), publisher);
    let config = RedisAdapterConfig::new()
        .with_prefix(format!("{prefix}:socket.io"))
        .with_request_timeout(request_timeout)
        .with_stream_buffer(STREAM_BUFFER);
    Ok((RedisAdapterCtr::new_with_driver(driver, config), subscriber))
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

impl NamespaceInit for InitRes<BackpressureDriver> {
    fn finish(self) -> BoxFuture<'static, Result<()>> {
        Box::pin(async move {
            self.await
                .map_err(|e| redis_error("subscribing the namespace", e))
        })
    }
}

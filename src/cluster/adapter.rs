//! The socketioxide Redis adapter: room and user channels that span
//! instances, so a broadcast from any instance reaches member sockets on
//! every instance (protocol.md 14.2).

use std::time::Duration;

use socketioxide_redis::{InitRes, RedisAdapterConfig, RedisAdapterCtr};

use super::driver::BackpressureDriver;

use super::redis::{RedisSettings, redis_error};
use crate::error::Result;
use crate::hooks::BoxFuture;
use crate::transport::connection::NamespaceInit;

/// Messages buffered between Redis and the adapter (the driver waits when
/// it is full; 1024 is socketioxide-redis' default).
const STREAM_BUFFER: usize = 65_536;

/// The socket.io adapter type over our driver.
pub type RedisAdapter<E> = socketioxide_redis::CustomRedisAdapter<E, BackpressureDriver>;

/// The adapter constructor for `SocketIo::builder().with_adapter()`.
/// `prefix` separates services sharing one Redis; requests between
/// instances (remote disconnects) time out after `request_timeout`.
pub async fn redis_adapter(
    settings: &RedisSettings,
    prefix: &str,
    request_timeout: Duration,
) -> Result<RedisAdapterCtr<BackpressureDriver>> {
    let builder = settings.builder()?;
    let subscriber = builder
        .build_subscriber_client()
        .map_err(|e| redis_error("Redis client", e))?;
    let publisher = builder
        .build()
        .map_err(|e| redis_error("Redis client", e))?;
    settings.connect(&subscriber).await?;
    settings.connect(&publisher).await?;
    // Resubscribe by itself after a reconnect.
    let _resubscribe = subscriber.manage_subscriptions();
    let driver = BackpressureDriver::new(subscriber, publisher);
    let config = RedisAdapterConfig::new()
        .with_prefix(format!("{prefix}:socket.io"))
        .with_request_timeout(request_timeout)
        .with_stream_buffer(STREAM_BUFFER);
    Ok(RedisAdapterCtr::new_with_driver(driver, config))
}

impl NamespaceInit for InitRes<BackpressureDriver> {
    fn finish(self) -> BoxFuture<Result<()>> {
        Box::pin(async move {
            self.await
                .map_err(|e| redis_error("subscribing the namespace", format!("{e:?}")))
        })
    }
}

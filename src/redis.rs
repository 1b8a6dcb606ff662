//! How this service connects to Redis (or Valkey, or a Redis Cluster):
//! one place for the client settings every Redis user of the process
//! shares — the state, the socket.io adapter, the cluster bus.

use std::time::Duration;

use fred::clients::SubscriberClient;
use fred::error::{Error, ErrorKind};
use fred::prelude::{Builder, ClientLike, Config, PubsubInterface, ReconnectPolicy};
use fred::types::Message;
use tokio::sync::broadcast;

use crate::error::{ChatServiceError, Result};

/// Where Redis is and how to talk to it.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// `redis://host:port` (credentials and database allowed); in cluster
    /// mode a comma-separated list of nodes (`host:port`, the first may be
    /// a URL).
    pub url: String,
    pub cluster: bool,
    /// No Redis call waits longer than this (connecting included).
    pub command_timeout: Duration,
}

/// pub/sub messages buffered per client before a slow reader loses them;
/// sized for bursts of thousands of broadcasts (fred's default is 32).
const PUBSUB_CAPACITY: usize = 65_536;

impl RedisSettings {
    /// A fred builder with these settings: timeouts, no silent resends,
    /// and reconnection forever with backoff so the service heals by
    /// itself when Redis comes back.
    pub fn builder(&self) -> Result<Builder> {
        let config = client_config(&self.url, self.cluster)?;
        let timeout = self.command_timeout;
        let mut builder = Builder::from_config(config);
        builder
            .with_performance_config(|perf| {
                perf.default_command_timeout = timeout;
                perf.broadcast_channel_capacity = PUBSUB_CAPACITY;
            })
            .with_connection_config(|conn| {
                conn.connection_timeout = timeout;
                conn.internal_command_timeout = timeout;
                // A script whose connection dropped may have run: resending it
                // could post a message twice. The caller gets the error.
                conn.max_command_attempts = 1;
            })
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2));
        Ok(builder)
    }

    /// Connects a client, failing within the command timeout when Redis
    /// cannot be reached (a bad configuration at start).
    pub async fn connect<C: ClientLike>(&self, client: &C) -> Result<()> {
        let at = format!("cannot connect to Redis at {}", redacted(&self.url));
        match tokio::time::timeout(self.command_timeout, client.init()).await {
            Ok(Ok(_task)) => Ok(()),
            Ok(Err(error)) => Err(ChatServiceError::caused_by(at, error)),
            Err(_) => {
                let _ = client.quit().await;
                Err(ChatServiceError::internal(format!(
                    "{at}: no answer in time"
                )))
            }
        }
    }
}

impl RedisSettings {
    /// A connected pub/sub client subscribed to `channel` (classic pub/sub),
    /// which subscribes again by itself after reconnects; `what` names it
    /// in errors.
    pub async fn subscriber(&self, channel: &str, what: &str) -> Result<SubscriberClient> {
        let subscriber: SubscriberClient = self
            .builder()?
            .build_subscriber_client()
            .map_err(|e| redis_error("Redis client", e))?;
        self.connect(&subscriber).await?;
        let _resubscribe = subscriber.manage_subscriptions();
        subscriber
            .subscribe(channel.to_string())
            .await
            .map_err(|e| redis_error(&format!("subscribing {what}"), e))?;
        Ok(subscriber)
    }
}

/// The next pub/sub message of a client; `None` once it is closed. What a
/// slow reader lost meanwhile is counted (`chat_service_pubsub_lost_total`)
/// and logged with `what` it was reading.
pub(crate) async fn next_message(
    messages: &mut broadcast::Receiver<Message>,
    what: &str,
) -> Option<Message> {
    loop {
        match messages.recv().await {
            Ok(message) => return Some(message),
            Err(broadcast::error::RecvError::Lagged(lost)) => {
                crate::metrics::pubsub_lost(lost);
                tracing::error!(
                    lost,
                    "{what}: pub/sub messages lost, the reader fell behind Redis"
                );
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    }
}

/// Fails at once when the client knows its connection is lost: fred would
/// queue the command until it has reconnected or the command timeout has
/// passed, so every request would wait that long while Redis is down.
pub(crate) fn ensure_connected(client: &impl ClientLike) -> Result<()> {
    if client.is_connected() {
        Ok(())
    } else {
        crate::metrics::redis_error();
        Err(ChatServiceError::internal("not connected to Redis"))
    }
}

/// A failure around Redis (setting up a client, the adapter), with what
/// was being done.
pub(crate) fn redis_error(
    context: &str,
    error: impl std::error::Error + Send + Sync + 'static,
) -> ChatServiceError {
    ChatServiceError::caused_by(context, error)
}

/// A Redis failure as the service reports it (`internalError`).
pub(crate) fn redis_failure(error: Error) -> ChatServiceError {
    crate::metrics::redis_error();
    let context = match error.kind() {
        ErrorKind::Timeout => "Redis did not answer in time",
        ErrorKind::IO | ErrorKind::Canceled => "Redis connection failed",
        _ => "Redis failed",
    };
    ChatServiceError::caused_by(context, error)
}

/// The client configuration for a URL or, in cluster mode, a list of nodes.
pub(crate) fn client_config(url: &str, cluster: bool) -> Result<Config> {
    let invalid = |error: Error| {
        ChatServiceError::caused_by(format!("invalid Redis URL '{}'", redacted(url)), error)
    };
    if !cluster {
        return Config::from_url(url).map_err(invalid);
    }
    let mut nodes = url.split(',').map(str::trim).filter(|n| !n.is_empty());
    let first = nodes
        .next()
        .ok_or_else(|| ChatServiceError::internal("no Redis Cluster node given"))?;
    let mut cluster_url = if first.contains("://") {
        first.to_string()
    } else {
        format!("redis://{first}")
    };
    let others: Vec<String> = nodes
        .map(|node| {
            let node = node.split_once("://").map_or(node, |(_, rest)| rest);
            format!("node={node}")
        })
        .collect();
    if !others.is_empty() {
        cluster_url.push(if cluster_url.contains('?') { '&' } else { '?' });
        cluster_url.push_str(&others.join("&"));
    }
    Config::from_url_clustered(&cluster_url).map_err(invalid)
}

/// The URL with passwords hidden, for messages and logs.
pub(crate) fn redacted(url: &str) -> String {
    url.split(',')
        .map(|node| match node.split_once("://") {
            Some((scheme, rest)) => {
                let authority = rest.split('/').next().unwrap_or_default();
                match authority.rsplit_once('@') {
                    Some((_, host)) => {
                        format!("{scheme}://***@{host}{}", &rest[authority.len()..])
                    }
                    None => node.to_string(),
                }
            }
            None => node.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_messages_hide_credentials() {
        assert_eq!(
            redacted("redis://user:secret@h:1/2,redis://h2:3"),
            "redis://***@h:1/2,redis://h2:3"
        );
        assert_eq!(redacted("h:1"), "h:1");
    }

    #[test]
    fn cluster_node_lists_become_one_cluster_config() {
        let config =
            client_config("10.0.0.1:7000, redis://10.0.0.2:7001,10.0.0.3:7002", true).unwrap();
        let mut hosts: Vec<String> = config
            .server
            .hosts()
            .iter()
            .map(|s| format!("{}:{}", s.host, s.port))
            .collect();
        hosts.sort();
        assert_eq!(hosts, ["10.0.0.1:7000", "10.0.0.2:7001", "10.0.0.3:7002"]);
        assert!(config.server.is_clustered());
        assert!(client_config("", true).is_err());
        assert!(
            !client_config("redis://h:1", false)
                .unwrap()
                .server
                .is_clustered()
        );
    }
}

//! How this service connects to Redis (or Valkey, or a Redis Cluster):
//! one place for the client settings every Redis user of the process
//! shares — the state, the socket.io adapter, the cluster bus.

use std::time::Duration;

use fred::prelude::{Builder, ClientLike, Config, ReconnectPolicy, ServerConfig};
use fred::types::RespVersion;

use crate::error::{ChatServiceError, Result};

/// Where Redis is and how to talk to it.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// `redis://host:port`, or with `cluster` a comma-separated list of
    /// `host:port` (or URLs) of cluster nodes.
    pub url: String,
    pub cluster: bool,
    /// How long one command may take before it fails (never hang).
    pub command_timeout: Duration,
}

/// pub/sub messages buffered per client before a slow reader loses them;
/// sized for bursts of thousands of broadcasts (fred's default is 32).
const PUBSUB_CAPACITY: usize = 65_536;

impl RedisSettings {
    /// A fred builder with these settings: RESP3 (the socket.io adapter
    /// needs it), timeouts, and reconnection forever with backoff so the
    /// service heals by itself when Redis comes back.
    pub fn builder(&self) -> Result<Builder> {
        let mut config = if self.cluster {
            let hosts = self
                .url
                .split(',')
                .map(|node| parse_host(node.trim()))
                .collect::<Result<Vec<_>>>()?;
            Config {
                server: ServerConfig::new_clustered(hosts),
                ..Config::default()
            }
        } else {
            Config::from_url(&self.url).map_err(|e| redis_error("invalid --redis-url", e))?
        };
        config.version = RespVersion::RESP3;
        config.fail_fast = true;
        let mut builder = Builder::from_config(config);
        builder
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2))
            .with_performance_config(|perf| {
                perf.default_command_timeout = self.command_timeout;
                perf.broadcast_channel_capacity = PUBSUB_CAPACITY;
            })
            .with_connection_config(|conn| {
                conn.connection_timeout = self.command_timeout;
                conn.internal_command_timeout = self.command_timeout;
            });
        Ok(builder)
    }

    /// Connects a client, failing fast when Redis cannot be reached (a
    /// bad configuration at start).
    pub async fn connect<C: ClientLike>(&self, client: &C) -> Result<()> {
        client
            .init()
            .await
            .map_err(|e| redis_error(&format!("cannot connect to Redis at {}", self.url), e))?;
        Ok(())
    }
}

fn parse_host(node: &str) -> Result<(String, u16)> {
    let node = node
        .strip_prefix("redis://")
        .unwrap_or(node)
        .trim_end_matches('/');
    let (host, port) = node
        .rsplit_once(':')
        .ok_or_else(|| ChatServiceError::internal(format!("Error: invalid cluster node {node}")))?;
    let port = port
        .parse()
        .map_err(|_| ChatServiceError::internal(format!("Error: invalid cluster node {node}")))?;
    Ok((host.to_string(), port))
}

/// A Redis failure as the service reports it.
pub fn redis_error(context: &str, error: impl std::fmt::Display) -> ChatServiceError {
    ChatServiceError::internal(format!("Error: {context}: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_nodes_parse_with_or_without_scheme() {
        assert_eq!(
            parse_host("127.0.0.1:7000").unwrap(),
            ("127.0.0.1".into(), 7000)
        );
        assert_eq!(parse_host("redis://h:7001/").unwrap(), ("h".into(), 7001));
        assert!(parse_host("nohost").is_err());
        assert!(parse_host("h:x").is_err());
    }
}

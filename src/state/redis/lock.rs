//! The (user, room) lock of protocol.md 14.4 in Redis: `SET key token NX
//! PX ttl`, retried with a growing, slightly randomised wait, released by
//! a compare-and-delete script so an expired lock taken over by another
//! holder is never released by the late first one.

use std::time::Duration;

use fred::prelude::*;
use uuid::Uuid;

use super::eval;
use super::scripts::SCRIPTS;
use crate::error::{ChatServiceError, Result};
use crate::redis::{ensure_connected, redis_failure};
use crate::state::LockGuard;

/// How hard `lock` tries before `timeout`.
#[derive(Debug, Clone, Copy)]
pub(super) struct LockPolicy {
    /// Waits (and so retries after the first attempt).
    pub retries: u32,
    pub first_wait: Duration,
}

impl Default for LockPolicy {
    /// 10 retries, 100 ms then x1.5 each (about 11 s in all), as the
    /// memory state waits.
    fn default() -> Self {
        Self {
            retries: 10,
            first_wait: Duration::from_millis(100),
        }
    }
}

pub(super) async fn acquire(
    client: &Client,
    key: String,
    ttl: Duration,
    policy: LockPolicy,
) -> Result<LockGuard> {
    let token = Uuid::new_v4().to_string();
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1);
    let mut wait = policy.first_wait;
    for attempt in 0..=policy.retries {
        ensure_connected(client)?;
        let set: Option<String> = client
            .set(
                key.as_str(),
                token.as_str(),
                Some(Expiration::PX(ttl_ms)),
                Some(SetOptions::NX),
                false,
            )
            .await
            .map_err(redis_failure)?;
        if set.is_some() {
            return Ok(held(client, key, token));
        }
        if attempt < policy.retries {
            tokio::time::sleep(jitter(wait)).await;
            wait = wait.mul_f64(1.5);
        }
    }
    Err(ChatServiceError::Timeout)
}

/// The guard of a lock taken with `token`, which releases it when dropped
/// (if it is still ours).
pub(super) fn held(client: &Client, key: String, token: String) -> LockGuard {
    LockGuard::new(HeldLock {
        client: client.clone(),
        key,
        token,
    })
}

/// `wait` give or take 10%, so that instances retrying for the same pair
/// do not keep colliding.
fn jitter(wait: Duration) -> Duration {
    let random = (Uuid::new_v4().as_u128() % 1000) as f64 / 1000.0;
    wait.mul_f64(0.9 + 0.2 * random)
}

/// What the guard needs to release the lock on its own.
struct HeldLock {
    client: Client,
    key: String,
    token: String,
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        // Without a runtime (shutdown) the TTL releases the lock instead.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let client = self.client.clone();
        let key = std::mem::take(&mut self.key);
        let token = std::mem::take(&mut self.token);
        runtime.spawn(async move {
            if let Err(error) = eval(&client, &SCRIPTS.lock_release, vec![key], vec![token]).await {
                tracing::warn!(%error, "lock release failed; it expires with its TTL");
            }
        });
    }
}

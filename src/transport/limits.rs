//! What one socket may cost: the `--rate-limit` token bucket of each
//! socket, and the log of rejected logins, which a client reconnecting in
//! a loop must not be able to flood.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::error::ChatServiceError;
use crate::log_budget::LogBudget;

/// `--rate-limit`: a token bucket per socket, `rate` tokens a second and
/// as many at most (a burst of that size is allowed).
pub(super) struct RateLimit {
    rate: f64,
    bucket: Mutex<(f64, Instant)>,
}

impl RateLimit {
    /// `None` for no limit (0).
    pub(super) fn new(rate: u32) -> Option<Arc<Self>> {
        (rate > 0).then(|| {
            let rate = f64::from(rate);
            Arc::new(Self {
                rate,
                bucket: Mutex::new((rate, Instant::now())),
            })
        })
    }

    /// Takes a token if there is one.
    pub(super) fn take(self: &Arc<Self>) -> bool {
        let Ok(mut bucket) = self.bucket.lock() else {
            return true;
        };
        let (tokens, refilled) = &mut *bucket;
        let now = Instant::now();
        *tokens =
            (*tokens + now.duration_since(*refilled).as_secs_f64() * self.rate).min(self.rate);
        *refilled = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Rejected logins logged per second at most (they are all counted in
/// `chat_service_logins_total`): a client reconnecting in a loop must not
/// flood the log.
const REJECTED_LOGINS_LOGGED_PER_SECOND: u32 = 10;

/// Logs a rejected login at info with its reason and peer address, within
/// [`REJECTED_LOGINS_LOGGED_PER_SECOND`]; what was left out is counted in
/// the next line.
pub(super) fn log_rejected_login(error: &ChatServiceError, peer: Option<SocketAddr>) {
    static BUDGET: LogBudget = LogBudget::new(REJECTED_LOGINS_LOGGED_PER_SECOND);
    let Some(skipped) = BUDGET.take() else {
        return;
    };
    let peer = peer.map(|p| p.to_string()).unwrap_or_default();
    tracing::info!(%peer, reason = %error.to_wire_string(), not_logged_before = skipped, "login rejected");
}

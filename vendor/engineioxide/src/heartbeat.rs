//! Heartbeats of every session, kept by one clock task per engine (patched:
//! upstream spawns a heartbeat task with its own timer and channel per
//! socket, about 1.8 KB each).
//!
//! Each socket keeps a small [`Heartbeat`] state; the clock sweeps all
//! sessions a few times per ping timeout, sends the pings that are due
//! (protocol v4) and closes the sessions whose peer stayed silent for too
//! long (v4: no pong within `ping_timeout` of a ping; v3: no ping from the
//! client within `ping_interval + ping_timeout`).
use std::{
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use engineioxide_core::ProtocolVersion;
use tokio::time::Instant;

/// How often the clock looks at the sessions: a tenth of the shorter
/// period, between 10 ms and 1 s, so a deadline is met within 10 %.
pub(crate) fn tick(interval: Duration, timeout: Duration) -> Duration {
    (interval.min(timeout) / 10).clamp(Duration::from_millis(10), Duration::from_secs(1))
}

/// What the clock decided for one socket.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Due {
    /// Nothing to do now.
    Nothing,
    /// Send a ping (v4).
    Ping,
    /// The peer is silent for too long.
    Timeout,
}

#[derive(Debug)]
struct State {
    /// v4: when the next ping is due, or since when a pong is awaited.
    /// v3: when the last ping of the client arrived (or the session began).
    at: Instant,
    /// v4: a ping was sent and its pong has not been seen yet.
    awaiting_pong: bool,
}

/// The heartbeat state of one socket.
#[derive(Debug)]
pub(crate) struct Heartbeat {
    started: AtomicBool,
    /// Set by the transport when the peer's ping (v3) or pong (v4) arrives.
    received: AtomicBool,
    state: Mutex<Option<State>>,
}

impl Heartbeat {
    pub(crate) fn new() -> Self {
        Self {
            started: AtomicBool::new(false),
            received: AtomicBool::new(false),
            state: Mutex::new(None),
        }
    }

    /// Starts the heartbeat once the session is open: the first v4 ping
    /// goes out at once (as upstream's heartbeat task did), a v3 client
    /// must ping within an interval.
    pub(crate) fn start(&self, now: Instant) {
        if let Ok(mut state) = self.state.lock() {
            *state = Some(State {
                at: now,
                awaiting_pong: false,
            });
        }
        self.started.store(true, Ordering::Release);
    }

    /// The peer's ping (v3) or pong (v4) arrived.
    pub(crate) fn received(&self) {
        self.received.store(true, Ordering::Release);
    }

    /// What is due at `now`. `upgrading` pauses v4 pings, as a transport
    /// upgrade pauses the ping cycle.
    pub(crate) fn due(
        &self,
        protocol: ProtocolVersion,
        upgrading: bool,
        now: Instant,
        interval: Duration,
        timeout: Duration,
    ) -> Due {
        if !self.started.load(Ordering::Acquire) {
            return Due::Nothing;
        }
        let Ok(mut guard) = self.state.lock() else {
            return Due::Nothing;
        };
        let Some(state) = guard.as_mut() else {
            return Due::Nothing;
        };
        let received = self.received.swap(false, Ordering::AcqRel);
        match protocol {
            ProtocolVersion::V3 => {
                if received {
                    state.at = now;
                }
                if now.saturating_duration_since(state.at) > interval + timeout {
                    Due::Timeout
                } else {
                    Due::Nothing
                }
            }
            ProtocolVersion::V4 => {
                if upgrading {
                    *state = State {
                        at: now + interval,
                        awaiting_pong: false,
                    };
                    return Due::Nothing;
                }
                if state.awaiting_pong {
                    if received {
                        state.awaiting_pong = false;
                        state.at += interval;
                    } else if now.saturating_duration_since(state.at) > timeout {
                        return Due::Timeout;
                    } else {
                        return Due::Nothing;
                    }
                }
                if now >= state.at {
                    state.awaiting_pong = true;
                    state.at = now;
                    Due::Ping
                } else {
                    Due::Nothing
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProtocolVersion::{V3, V4};

    const INTERVAL: Duration = Duration::from_millis(1000);
    const TIMEOUT: Duration = Duration::from_millis(500);

    fn started(now: Instant) -> Heartbeat {
        let heartbeat = Heartbeat::new();
        heartbeat.start(now);
        heartbeat
    }

    /// What is due `ms` after `t0`.
    fn due(heartbeat: &Heartbeat, protocol: ProtocolVersion, t0: Instant, ms: u64) -> Due {
        let now = t0 + Duration::from_millis(ms);
        heartbeat.due(protocol, false, now, INTERVAL, TIMEOUT)
    }

    #[test]
    fn v4_pings_after_each_interval_while_pongs_come_back() {
        let t0 = Instant::now();
        let heartbeat = started(t0);
        assert_eq!(due(&heartbeat, V4, t0, 0), Due::Ping);
        heartbeat.received();
        assert_eq!(due(&heartbeat, V4, t0, 900), Due::Nothing);
        assert_eq!(due(&heartbeat, V4, t0, 1000), Due::Ping);
        assert_eq!(due(&heartbeat, V4, t0, 1200), Due::Nothing);
        heartbeat.received();
        assert_eq!(due(&heartbeat, V4, t0, 1300), Due::Nothing);
        assert_eq!(due(&heartbeat, V4, t0, 2000), Due::Ping);
    }

    #[test]
    fn v4_times_out_without_a_pong() {
        let t0 = Instant::now();
        let heartbeat = started(t0);
        assert_eq!(due(&heartbeat, V4, t0, 0), Due::Ping);
        heartbeat.received();
        // A pong before the ping does not answer it.
        assert_eq!(due(&heartbeat, V4, t0, 900), Due::Nothing);
        heartbeat.received();
        assert_eq!(due(&heartbeat, V4, t0, 1000), Due::Ping);
        assert_eq!(due(&heartbeat, V4, t0, 1500), Due::Nothing);
        assert_eq!(due(&heartbeat, V4, t0, 1501), Due::Timeout);
    }

    #[test]
    fn v4_pauses_while_upgrading() {
        let t0 = Instant::now();
        let heartbeat = started(t0);
        assert_eq!(due(&heartbeat, V4, t0, 0), Due::Ping);
        let at_3000 = t0 + Duration::from_millis(3000);
        let upgrading = heartbeat.due(V4, true, at_3000, INTERVAL, TIMEOUT);
        assert_eq!(upgrading, Due::Nothing);
        assert_eq!(due(&heartbeat, V4, t0, 3500), Due::Nothing);
        assert_eq!(due(&heartbeat, V4, t0, 4000), Due::Ping);
    }

    #[test]
    fn v3_times_out_when_the_client_stops_pinging() {
        let t0 = Instant::now();
        let silent = started(t0);
        assert_eq!(due(&silent, V3, t0, 1500), Due::Nothing);
        assert_eq!(due(&silent, V3, t0, 1501), Due::Timeout);

        let pinging = started(t0);
        pinging.received();
        assert_eq!(due(&pinging, V3, t0, 1400), Due::Nothing);
        assert_eq!(due(&pinging, V3, t0, 2900), Due::Nothing);
        assert_eq!(due(&pinging, V3, t0, 2901), Due::Timeout);
    }

    #[test]
    fn nothing_before_start() {
        let heartbeat = Heartbeat::new();
        assert_eq!(due(&heartbeat, V4, Instant::now(), 3_600_000), Due::Nothing);
    }
}

//! What a run measures: latency histograms and counters (each connection
//! task records locally and merges in batches into one shared total), and
//! the CPU share and RSS of a process read from /proc.

use std::sync::{Arc, Mutex, PoisonError};

use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::time::Instant;

/// Samples a task keeps before merging them into the shared histograms.
const BATCH: usize = 256;
/// Largest latency recorded: 60 s, in microseconds.
const MAX_US: u64 = 60_000_000;

#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Errors {
    /// Connections that could not connect, log in or join.
    pub setup: u64,
    /// Requests acked with an error.
    pub error_acks: u64,
    /// Connections closed or disconnected by the server during the run.
    pub disconnects: u64,
    /// Requests not acked within `--timeout` (or by the end of the run).
    pub timeouts: u64,
}

impl Errors {
    pub fn total(&self) -> u64 {
        self.setup + self.error_acks + self.disconnects + self.timeouts
    }

    fn add(&mut self, other: &Errors) {
        self.setup += other.setup;
        self.error_acks += other.error_acks;
        self.disconnects += other.disconnects;
        self.timeouts += other.timeouts;
    }
}

/// Counters of one run (only events inside the measured window, errors
/// always).
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    pub acked: u64,
    pub delivered: u64,
    pub out_of_order: u64,
    /// `--rate`: sends skipped because the window was full.
    pub rate_skipped: u64,
    pub errors: Errors,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.acked += other.acked;
        self.delivered += other.delivered;
        self.out_of_order += other.out_of_order;
        self.rate_skipped += other.rate_skipped;
        self.errors.add(&other.errors);
    }
}

pub struct Totals {
    /// Send to receipt of a notification, µs.
    pub e2e: Histogram<u64>,
    /// Request to ack, µs.
    pub ack: Histogram<u64>,
    pub counts: Counts,
}

#[derive(Clone)]
pub struct Shared(Arc<Mutex<Totals>>);

impl Shared {
    pub fn new() -> Self {
        let histogram = || Histogram::new_with_bounds(1, MAX_US, 3).expect("valid bounds");
        Shared(Arc::new(Mutex::new(Totals {
            e2e: histogram(),
            ack: histogram(),
            counts: Counts::default(),
        })))
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut Totals) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// A task's local recorder; merges into [`Shared`] per batch and on drop.
pub struct Recorder {
    shared: Shared,
    e2e: Vec<u64>,
    ack: Vec<u64>,
    pub counts: Counts,
}

impl Recorder {
    pub fn new(shared: &Shared) -> Self {
        Recorder {
            shared: shared.clone(),
            e2e: Vec::new(),
            ack: Vec::new(),
            counts: Counts::default(),
        }
    }

    pub fn e2e(&mut self, us: u64) {
        self.e2e.push(us);
        if self.e2e.len() >= BATCH {
            self.flush();
        }
    }

    pub fn ack(&mut self, us: u64) {
        self.ack.push(us);
        if self.ack.len() >= BATCH {
            self.flush();
        }
    }

    pub fn flush(&mut self) {
        let (e2e, ack, counts) = (&mut self.e2e, &mut self.ack, &mut self.counts);
        self.shared.with(|totals| {
            for us in e2e.drain(..) {
                totals.e2e.saturating_record(us);
            }
            for us in ack.drain(..) {
                totals.ack.saturating_record(us);
            }
            totals.counts.add(counts);
        });
        self.counts = Counts::default();
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.flush();
    }
}

/// p50/p90/p99/max of a histogram, in milliseconds.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    pub fn of(histogram: &Histogram<u64>) -> Option<Self> {
        if histogram.is_empty() {
            return None;
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Some(Percentiles {
            p50: ms(histogram.value_at_quantile(0.50)),
            p90: ms(histogram.value_at_quantile(0.90)),
            p99: ms(histogram.value_at_quantile(0.99)),
            max: ms(histogram.max()),
        })
    }
}

/// CPU time of a process (`None`: this one) from `/proc/PID/stat`, in
/// clock ticks (utime + stime).
fn cpu_ticks(pid: Option<u32>) -> Option<u64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses:
    // state is field 3, utime field 14, stime field 15.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// Measures a process's CPU share between `start` and `pct`.
pub struct CpuMeter {
    pid: Option<u32>,
    ticks: Option<u64>,
    at: Instant,
}

impl CpuMeter {
    pub fn start(pid: Option<u32>) -> Self {
        CpuMeter {
            pid,
            ticks: cpu_ticks(pid),
            at: Instant::now(),
        }
    }

    /// CPU time used since `start`, as % of one core.
    pub fn pct(&self) -> Option<f64> {
        let used = cpu_ticks(self.pid)?.checked_sub(self.ticks?)? as f64 / ticks_per_second();
        let wall = self.at.elapsed().as_secs_f64();
        (wall > 0.0).then(|| (used / wall * 1000.0).round() / 10.0)
    }
}

/// Resident set size of a process in KB (`VmRSS` of `/proc/PID/status`).
pub fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_measurable() {
        assert!(cpu_ticks(None).is_some());
        assert!(rss_kb(std::process::id()).is_some_and(|kb| kb > 0));
    }

    #[test]
    fn recorder_merges_on_drop() {
        let shared = Shared::new();
        {
            let mut rec = Recorder::new(&shared);
            for us in 1..=1000 {
                rec.ack(us);
            }
            rec.counts.acked = 1000;
        }
        shared.with(|t| {
            assert_eq!(t.ack.len(), 1000);
            assert_eq!(t.counts.acked, 1000);
            let p = Percentiles::of(&t.ack).unwrap();
            assert!((p.p50 - 0.5).abs() < 0.01, "{p:?}");
        });
    }
}

//! What the scenarios share: the run context, room setup, connecting and
//! joining with bounded concurrency, and the measured window (all
//! connections ready, then warmup, then the measured duration).

pub mod connect;
pub mod fanout;
pub mod history;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::{Instant, sleep_until, timeout, timeout_at};

use crate::conn::{Conn, ConnError, Eio, Incoming, Target, ack_result};
use crate::stats::{CpuMeter, Shared};

/// Time the senders wait for their last acks after the window.
pub const DRAIN: Duration = Duration::from_secs(3);
/// A setup request unanswered this long is sent again (see [`setup_call`]).
const RETRY_AFTER: Duration = Duration::from_secs(2);
/// Setup requests sent again in this run.
pub static SETUP_RETRIES: AtomicU64 = AtomicU64::new(0);

pub struct Ctx {
    pub target: Target,
    pub eio: Eio,
    pub prefix: String,
    /// Per request (and per connection setup).
    pub timeout: Duration,
    /// Connections being set up at once.
    pub concurrency: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub server_pid: Option<u32>,
    /// Clock origin of the `t<micros>` send stamps.
    pub origin: Instant,
    pub shared: Shared,
}

impl Ctx {
    pub fn micros(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.origin).as_micros() as u64
    }
}

/// The measured part of a run.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    /// Load starts.
    pub go: Instant,
    /// Figures count from here...
    pub warm_at: Instant,
    /// ...to here; load stops.
    pub stop: Instant,
}

impl Window {
    pub fn contains(&self, at: Instant) -> bool {
        at >= self.warm_at && at < self.stop
    }
}

/// What the main task measured around a window.
pub struct Measured {
    pub ready: usize,
    pub loadgen_cpu_pct: Option<f64>,
    pub server_cpu_pct: Option<f64>,
}

/// A JSON string literal.
pub fn json_str(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// Creates the rooms (`roomCreate(name, false)`, `roomExists` is fine)
/// from one setup connection, which is then closed.
pub async fn create_rooms(ctx: &Ctx, rooms: &[String]) -> anyhow::Result<()> {
    let user = format!("{}-setup", ctx.prefix);
    let mut conn = timeout(ctx.timeout, Conn::connect(&ctx.target, ctx.eio, &user))
        .await
        .map_err(|_| ConnError::Timeout)
        .and_then(|connected| connected)
        .with_context(|| format!("setup connection {user}"))?;
    for room in rooms {
        let args = format!("[\"roomCreate\",{},false]", json_str(room));
        if let Err(error) = setup_call(ctx, &mut conn, &args)
            .await
            .with_context(|| format!("roomCreate {room}"))?
            && !error.contains("exists")
        {
            bail!("roomCreate {room}: {error}");
        }
    }
    Ok(())
}

/// Connects and logs `user` in, then joins `room`; at most
/// `ctx.concurrency` at once.
pub async fn connect_and_join(
    ctx: &Ctx,
    permits: &Semaphore,
    user: &str,
    room: &str,
) -> Result<Conn, ConnError> {
    let _permit = permits.acquire().await;
    let setup = async {
        let mut conn = Conn::connect(&ctx.target, ctx.eio, user).await?;
        let args = format!("[\"roomJoin\",{}]", json_str(room));
        match setup_call(ctx, &mut conn, &args).await? {
            Ok(_) => Ok(conn),
            Err(error) => Err(ConnError::Protocol(format!("roomJoin {room}: {error}"))),
        }
    };
    timeout(ctx.timeout, setup)
        .await
        .map_err(|_| ConnError::Timeout)?
}

/// An idempotent setup request (`roomCreate`, `roomJoin`) and its ack,
/// `Ok(Ok(result))` or `Ok(Err(error))`. Sent again when unanswered for
/// [`RETRY_AFTER`], until `ctx.timeout`: a server that registers its
/// handlers after emitting `loginConfirmed` may drop a request sent at once.
pub async fn setup_call(
    ctx: &Ctx,
    conn: &mut Conn,
    args: &str,
) -> Result<Result<String, String>, ConnError> {
    let deadline = Instant::now() + ctx.timeout;
    let mut ids = Vec::new();
    loop {
        if !ids.is_empty() {
            SETUP_RETRIES.fetch_add(1, Ordering::Relaxed);
        }
        ids.push(conn.request(args).await?);
        conn.flush().await?;
        let answer = async {
            loop {
                if let Incoming::Ack(id, frame) = conn.recv().await?
                    && ids.contains(&id)
                {
                    return Ok(ack_result(frame.data())
                        .map(str::to_owned)
                        .map_err(str::to_owned));
                }
            }
        };
        let wait = deadline.min(Instant::now() + RETRY_AFTER);
        match timeout_at(wait, answer).await {
            Ok(answer) => return answer,
            Err(_) if Instant::now() >= deadline => return Err(ConnError::Timeout),
            Err(_) => {}
        }
    }
}

/// Keeps `conn` served (heartbeats) until the window is announced;
/// `None` if the connection or the run ended first.
pub async fn wait_for_window(
    conn: &mut Conn,
    go: &mut watch::Receiver<Option<Window>>,
) -> Result<Option<Window>, ConnError> {
    loop {
        if let Some(window) = *go.borrow_and_update() {
            return Ok(Some(window));
        }
        tokio::select! {
            changed = go.changed() => if changed.is_err() { return Ok(None) },
            incoming = conn.recv() => { incoming?; }
        }
    }
}

/// A measuring client's start: connects, logs in and joins `room`,
/// reports to [`announce_window`], then keeps the connection served until
/// the window opens. `None` when there is nothing to measure (setup failed
/// or the connection dropped: counted in `rec`, or the run ended).
pub async fn join_then_wait(
    ctx: &Ctx,
    permits: &Semaphore,
    ready: Ready,
    go: &mut watch::Receiver<Option<Window>>,
    (user, room): (&str, &str),
    rec: &mut crate::stats::Recorder,
) -> Option<(Conn, Window)> {
    let mut conn = match connect_and_join(ctx, permits, user, room).await {
        Ok(conn) => conn,
        Err(error) => {
            note_error(&format!("setup of {user}"), &error);
            rec.counts.errors.setup += 1;
            let _ = ready.send(false);
            return None;
        }
    };
    let _ = ready.send(true);
    drop(ready);
    match wait_for_window(&mut conn, go).await {
        Ok(Some(window)) => Some((conn, window)),
        Ok(None) => None,
        Err(error) => {
            note_error(user, &error);
            rec.counts.errors.disconnects += 1;
            None
        }
    }
}

/// Receiving side of [`announce_window`]: each task sends `true` (ready)
/// or `false` (setup failed) once.
pub type Ready = mpsc::UnboundedSender<bool>;

/// Waits for `n` tasks to report, then starts the window and measures CPU
/// shares over it.
pub async fn announce_window(
    ctx: &Ctx,
    n: usize,
    mut ready: mpsc::UnboundedReceiver<bool>,
    go: &watch::Sender<Option<Window>>,
) -> Measured {
    let started = Instant::now();
    let mut ok = 0;
    for _ in 0..n {
        match ready.recv().await {
            Some(true) => ok += 1,
            Some(false) => {}
            None => break,
        }
    }
    eprintln!(
        "{ok}/{n} connections ready in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let go_at = Instant::now() + Duration::from_millis(50);
    let window = Window {
        go: go_at,
        warm_at: go_at + ctx.warmup,
        stop: go_at + ctx.warmup + ctx.duration,
    };
    go.send_replace(Some(window));
    sleep_until(window.warm_at).await;
    let loadgen = CpuMeter::start(None);
    let server = CpuMeter::start(ctx.server_pid);
    sleep_until(window.stop).await;
    Measured {
        ready: ok,
        loadgen_cpu_pct: loadgen.pct(),
        server_cpu_pct: ctx.server_pid.and(server.pct()),
    }
}

/// Prints the first few errors of a run to stderr (all are counted).
pub fn note_error(what: &str, error: &dyn std::fmt::Display) {
    static SHOWN: AtomicUsize = AtomicUsize::new(0);
    let shown = SHOWN.fetch_add(1, Ordering::Relaxed);
    if shown < 5 {
        eprintln!("error: {what}: {error}");
    } else if shown == 5 {
        eprintln!("(further errors are only counted)");
    }
}

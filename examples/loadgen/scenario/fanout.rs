//! `fanout`: R rooms × U members (one user and socket each); S members of
//! each room send `roomMessage`, each keeping W requests in flight (or, with
//! a rate, a fixed total rate capped by W). Senders time their acks; every
//! member times send→receipt from the `t<micros>` stamp in the text and
//! counts ids that do not increase.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::{Instant, Interval, MissedTickBehavior, interval, interval_at, sleep_until};

use super::{
    Ctx, DRAIN, Ready, Window, announce_window, create_rooms, join_then_wait, json_str, note_error,
};
use crate::Report;
use crate::conn::{Conn, ConnError, Incoming, ack_result, room_message};
use crate::stats::{Percentiles, Recorder};

#[derive(Clone, Copy, Debug)]
pub struct Params {
    pub rooms: usize,
    pub members: usize,
    /// Senders per room (at most `members`).
    pub senders: usize,
    /// Requests in flight per sender.
    pub window: usize,
    /// Total messages per second over all senders (`None`: as fast as the
    /// window allows).
    pub rate: Option<f64>,
}

/// A sender's part: its window and, with a rate, its own send period and
/// phase (senders are spread evenly over one period).
#[derive(Clone, Copy)]
struct Sending {
    window: usize,
    period: Option<Duration>,
    phase: Duration,
}

pub async fn run(ctx: Arc<Ctx>, p: Params) -> anyhow::Result<Report> {
    let rooms: Vec<String> = (0..p.rooms)
        .map(|r| format!("{}-r{r}", ctx.prefix))
        .collect();
    create_rooms(&ctx, &rooms).await?;

    let total_senders = p.rooms * p.senders;
    let period = p.rate.map(|rate| {
        Duration::from_secs_f64(total_senders as f64 / rate).max(Duration::from_micros(1))
    });
    let n = p.rooms * p.members;
    eprintln!(
        "fanout: {} rooms x {} members, {} senders/room, window {}{}",
        p.rooms,
        p.members,
        p.senders,
        p.window,
        p.rate.map(|r| format!(", {r} msgs/s")).unwrap_or_default()
    );
    let permits = Arc::new(Semaphore::new(ctx.concurrency));
    let (ready_tx, ready_rx) = mpsc::unbounded_channel();
    let (go_tx, go_rx) = watch::channel(None);
    let mut tasks = Vec::with_capacity(n);
    for (r, room) in rooms.iter().enumerate() {
        for m in 0..p.members {
            let sending = (m < p.senders).then(|| {
                let k = (r * p.senders + m) as u32;
                Sending {
                    window: p.window,
                    period,
                    phase: period.unwrap_or_default() * k / total_senders.max(1) as u32,
                }
            });
            tasks.push(tokio::spawn(member(
                ctx.clone(),
                permits.clone(),
                ready_tx.clone(),
                go_rx.clone(),
                format!("{room}-u{m}"),
                room.clone(),
                sending,
            )));
        }
    }
    drop(ready_tx);
    let measured = announce_window(&ctx, n, ready_rx, &go_tx).await;
    for task in tasks {
        let _ = task.await;
    }

    let secs = ctx.duration.as_secs_f64();
    let mut report = ctx.shared.with(|t| Report {
        duration_s: Some(secs),
        acked_per_s: Some((t.counts.acked as f64 / secs).round()),
        delivered_per_s: Some((t.counts.delivered as f64 / secs).round()),
        e2e_ms: Percentiles::of(&t.e2e),
        ack_ms: Percentiles::of(&t.ack),
        errors: t.counts.errors.total(),
        errors_detail: t.counts.errors,
        out_of_order: Some(t.counts.out_of_order),
        rate_skipped: p.rate.map(|_| t.counts.rate_skipped),
        connections: Some(measured.ready),
        ..Report::default()
    });
    report.loadgen_cpu_pct = measured.loadgen_cpu_pct;
    report.server_cpu_pct = measured.server_cpu_pct;
    if let (Some(acked), Some(delivered)) = (report.acked_per_s, report.delivered_per_s)
        && acked > 0.0
    {
        eprintln!(
            "delivered / (acked x members) = {:.3}",
            delivered / (acked * p.members as f64)
        );
    }
    Ok(report)
}

async fn member(
    ctx: Arc<Ctx>,
    permits: Arc<Semaphore>,
    ready: Ready,
    mut go: watch::Receiver<Option<Window>>,
    user: String,
    room: String,
    sending: Option<Sending>,
) {
    let mut rec = Recorder::new(&ctx.shared);
    let Some((mut conn, window)) =
        join_then_wait(&ctx, &permits, ready, &mut go, (&user, &room), &mut rec).await
    else {
        return;
    };
    if let Err(error) = member_loop(&ctx, &mut conn, &mut rec, &room, sending, window).await {
        note_error(&user, &error);
        rec.counts.errors.disconnects += 1;
    }
}

/// One member during the run; returns when its part is over.
async fn member_loop(
    ctx: &Ctx,
    conn: &mut Conn,
    rec: &mut Recorder,
    room: &str,
    sending: Option<Sending>,
    window: Window,
) -> Result<(), ConnError> {
    let room_json = json_str(room);
    let max_inflight = sending.map_or(0, |s| s.window);
    let mut ticker: Option<Interval> = sending.and_then(|s| {
        s.period
            .map(|period| interval_at(window.go + s.phase, period))
    });
    let mut expiry = interval(Duration::from_secs(1));
    expiry.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut inflight: HashMap<u64, Instant> = HashMap::with_capacity(max_inflight);
    let mut last_id = 0;
    // Timers created once: a new one per loop turn costs a timer-wheel
    // registration per received frame.
    let stop = sleep_until(window.stop);
    let end = sleep_until(window.stop + DRAIN);
    tokio::pin!(stop, end);
    let mut stopped = Instant::now() >= window.stop;
    loop {
        if stopped && inflight.is_empty() {
            return Ok(());
        }
        if sending.is_some() && ticker.is_none() && !stopped && inflight.len() < max_inflight {
            while inflight.len() < max_inflight {
                send(ctx, conn, &room_json, &mut inflight).await?;
            }
            conn.flush().await?;
        }
        let tick = async {
            match ticker.as_mut() {
                Some(ticker) => ticker.tick().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            incoming = conn.recv() => match incoming? {
                Incoming::Event(frame) => {
                    let Some((id, sent)) = room_message(frame.data()) else { continue };
                    let now = Instant::now();
                    if window.contains(now) {
                        rec.counts.delivered += 1;
                        if let Some(sent) = sent {
                            rec.e2e(ctx.micros(now).saturating_sub(sent));
                        }
                        if id <= last_id {
                            rec.counts.out_of_order += 1;
                        }
                    }
                    last_id = last_id.max(id);
                }
                Incoming::Ack(id, frame) => {
                    let Some(sent) = inflight.remove(&id) else { continue };
                    let now = Instant::now();
                    match ack_result(frame.data()) {
                        Ok(_) if window.contains(now) => {
                            rec.counts.acked += 1;
                            rec.ack(now.duration_since(sent).as_micros() as u64);
                        }
                        Ok(_) => {}
                        Err(error) => {
                            note_error("roomMessage", &error);
                            rec.counts.errors.error_acks += 1;
                        }
                    }
                }
            },
            _ = tick, if !stopped => {
                if inflight.len() < max_inflight {
                    send(ctx, conn, &room_json, &mut inflight).await?;
                    conn.flush().await?;
                } else if window.contains(Instant::now()) {
                    rec.counts.rate_skipped += 1;
                }
            }
            _ = &mut stop, if !stopped => stopped = true,
            _ = &mut end => {
                rec.counts.errors.timeouts += inflight.len() as u64;
                return Ok(());
            }
            _ = expiry.tick() => {
                let before = inflight.len();
                let limit = ctx.timeout;
                inflight.retain(|_, sent| sent.elapsed() < limit);
                rec.counts.errors.timeouts += (before - inflight.len()) as u64;
            }
        }
    }
}

/// Queues one `roomMessage` stamped with its send time.
async fn send(
    ctx: &Ctx,
    conn: &mut Conn,
    room_json: &str,
    inflight: &mut HashMap<u64, Instant>,
) -> Result<(), ConnError> {
    let now = Instant::now();
    let args = format!(
        "[\"roomMessage\",{room_json},{{\"textMessage\":\"t{}\"}}]",
        ctx.micros(now)
    );
    let id = conn.request(&args).await?;
    inflight.insert(id, now);
    Ok(())
}

//! `history`: one room holding `--history-size` messages (posted during
//! setup, not measured), then C clients each keeping W history reads in
//! flight: `roomHistoryGet(room, id, 100)` paging through the history,
//! `roomRecentHistory(room)`, or both alternately.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior, interval, sleep_until, timeout};

use super::{
    Ctx, DRAIN, Ready, Window, announce_window, connect_and_join, create_rooms, join_then_wait,
    json_str, note_error,
};
use crate::Report;
use crate::conn::{Conn, ConnError, Incoming, ack_result};
use crate::stats::{Percentiles, Recorder};

/// Messages asked for per `roomHistoryGet`.
const PAGE: usize = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Get,
    Recent,
    Both,
}

#[derive(Clone, Copy, Debug)]
pub struct Params {
    pub history_size: usize,
    pub clients: usize,
    pub window: usize,
    pub op: Op,
}

pub async fn run(ctx: Arc<Ctx>, p: Params) -> anyhow::Result<Report> {
    let room = format!("{}-history", ctx.prefix);
    create_rooms(&ctx, std::slice::from_ref(&room)).await?;
    eprintln!("history: posting {} messages", p.history_size);
    fill(&ctx, &room, p.history_size).await?;

    eprintln!(
        "history: {} clients, window {}, op {:?}",
        p.clients, p.window, p.op
    );
    let permits = Arc::new(Semaphore::new(ctx.concurrency));
    let (ready_tx, ready_rx) = mpsc::unbounded_channel();
    let (go_tx, go_rx) = watch::channel(None);
    let tasks: Vec<_> = (0..p.clients)
        .map(|c| {
            tokio::spawn(client(
                ctx.clone(),
                permits.clone(),
                ready_tx.clone(),
                go_rx.clone(),
                format!("{room}-c{c}"),
                room.clone(),
                p,
            ))
        })
        .collect();
    drop(ready_tx);
    let measured = announce_window(&ctx, p.clients, ready_rx, &go_tx).await;
    for task in tasks {
        let _ = task.await;
    }

    let secs = ctx.duration.as_secs_f64();
    let mut report = ctx.shared.with(|t| Report {
        duration_s: Some(secs),
        requests_per_s: Some((t.counts.acked as f64 / secs).round()),
        ack_ms: Percentiles::of(&t.ack),
        errors: t.counts.errors.total(),
        errors_detail: t.counts.errors,
        connections: Some(measured.ready),
        ..Report::default()
    });
    report.loadgen_cpu_pct = measured.loadgen_cpu_pct;
    report.server_cpu_pct = measured.server_cpu_pct;
    Ok(report)
}

/// Posts `count` messages to `room` from one connection, 32 in flight.
async fn fill(ctx: &Ctx, room: &str, count: usize) -> anyhow::Result<()> {
    let permits = Semaphore::new(1);
    let mut conn = connect_and_join(ctx, &permits, &format!("{}-writer", ctx.prefix), room).await?;
    let room_json = json_str(room);
    let (mut sent, mut acked) = (0, 0);
    while acked < count {
        while sent < count && sent - acked < 32 {
            let args = format!("[\"roomMessage\",{room_json},{{\"textMessage\":\"h{sent}\"}}]");
            conn.request(&args).await?;
            sent += 1;
        }
        conn.flush().await?;
        let incoming = timeout(ctx.timeout, conn.recv())
            .await
            .map_err(|_| ConnError::Timeout)??;
        if let Incoming::Ack(_, frame) = incoming {
            if let Err(error) = ack_result(frame.data()) {
                bail!("roomMessage while filling the history: {error}");
            }
            acked += 1;
        }
    }
    Ok(())
}

async fn client(
    ctx: Arc<Ctx>,
    permits: Arc<Semaphore>,
    ready: Ready,
    mut go: watch::Receiver<Option<Window>>,
    user: String,
    room: String,
    p: Params,
) {
    let mut rec = Recorder::new(&ctx.shared);
    let Some((mut conn, window)) =
        join_then_wait(&ctx, &permits, ready, &mut go, (&user, &room), &mut rec).await
    else {
        return;
    };
    if let Err(error) = client_loop(&ctx, &mut conn, &mut rec, &room, p, window).await {
        note_error(&user, &error);
        rec.counts.errors.disconnects += 1;
    }
}

async fn client_loop(
    ctx: &Ctx,
    conn: &mut Conn,
    rec: &mut Recorder,
    room: &str,
    p: Params,
    window: Window,
) -> Result<(), ConnError> {
    let room_json = json_str(room);
    let pages = (p.history_size / PAGE).max(1);
    let mut inflight: HashMap<u64, Instant> = HashMap::with_capacity(p.window);
    let mut expiry = interval(Duration::from_secs(1));
    expiry.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut n = 0usize;
    let stop = sleep_until(window.stop);
    let end = sleep_until(window.stop + DRAIN);
    tokio::pin!(stop, end);
    let mut stopped = Instant::now() >= window.stop;
    loop {
        if stopped && inflight.is_empty() {
            return Ok(());
        }
        if !stopped && inflight.len() < p.window {
            while inflight.len() < p.window {
                let get = match p.op {
                    Op::Get => true,
                    Op::Recent => false,
                    Op::Both => n.is_multiple_of(2),
                };
                let args = if get {
                    let from = (n / 2 % pages) * PAGE;
                    format!("[\"roomHistoryGet\",{room_json},{from},{PAGE}]")
                } else {
                    format!("[\"roomRecentHistory\",{room_json}]")
                };
                n += 1;
                let id = conn.request(&args).await?;
                inflight.insert(id, Instant::now());
            }
            conn.flush().await?;
        }
        tokio::select! {
            incoming = conn.recv() => {
                let Incoming::Ack(id, frame) = incoming? else { continue };
                let Some(sent) = inflight.remove(&id) else { continue };
                let now = Instant::now();
                match ack_result(frame.data()) {
                    Ok(result) if result.starts_with('[') => {
                        if window.contains(now) {
                            rec.counts.acked += 1;
                            rec.ack(now.duration_since(sent).as_micros() as u64);
                        }
                    }
                    Ok(other) => {
                        note_error("history read", &format!("not an array: {other}"));
                        rec.counts.errors.error_acks += 1;
                    }
                    Err(error) => {
                        note_error("history read", &error);
                        rec.counts.errors.error_acks += 1;
                    }
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

//! `connect`: N connections log in and join one room, at most
//! `--concurrency` being set up at once. Measures connections per second
//! and, with `--server-pid`, the server's RSS growth per connection (RSS
//! read once it has settled, before and after).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::{Instant, sleep};

use super::{Ctx, Ready, connect_and_join, create_rooms, note_error};
use crate::Report;
use crate::stats::{CpuMeter, rss_kb};

#[derive(Clone, Copy, Debug)]
pub struct Params {
    pub connections: usize,
}

pub async fn run(ctx: Arc<Ctx>, p: Params) -> anyhow::Result<Report> {
    let room = format!("{}-connect", ctx.prefix);
    create_rooms(&ctx, std::slice::from_ref(&room)).await?;
    let rss_before = match ctx.server_pid {
        Some(pid) => settled_rss(pid).await,
        None => None,
    };

    eprintln!(
        "connect: {} connections, {} at a time",
        p.connections, ctx.concurrency
    );
    let loadgen = CpuMeter::start(None);
    let server = CpuMeter::start(ctx.server_pid);
    let started = Instant::now();
    let permits = Arc::new(Semaphore::new(ctx.concurrency));
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let (done_tx, done_rx) = watch::channel(false);
    let tasks: Vec<_> = (0..p.connections)
        .map(|i| {
            tokio::spawn(connection(
                ctx.clone(),
                permits.clone(),
                ready_tx.clone(),
                done_rx.clone(),
                format!("{room}-u{i}"),
                room.clone(),
            ))
        })
        .collect();
    drop(ready_tx);
    let mut ready = 0;
    let mut reported = 0;
    while let Some(ok) = ready_rx.recv().await {
        ready += usize::from(ok);
        reported += 1;
        if reported % 1000 == 0 {
            eprintln!("  {reported} set up ({ready} ok)");
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let loadgen_cpu_pct = loadgen.pct();
    let server_cpu_pct = ctx.server_pid.and(server.pct());
    eprintln!(
        "{ready}/{} connections ready in {elapsed:.2} s",
        p.connections
    );

    let rss_after = match ctx.server_pid {
        Some(pid) => settled_rss(pid).await,
        None => None,
    };
    done_tx.send_replace(true);
    for task in tasks {
        let _ = task.await;
    }

    let errors = ctx.shared.with(|t| t.counts.errors);
    let rss_per_conn_kb = match (rss_before, rss_after) {
        (Some(before), Some(after)) if ready > 0 => {
            Some(((after as f64 - before as f64) / ready as f64 * 100.0).round() / 100.0)
        }
        _ => None,
    };
    Ok(Report {
        duration_s: Some((elapsed * 1000.0).round() / 1000.0),
        connections: Some(ready),
        connections_per_s: Some((ready as f64 / elapsed).round()),
        rss_before_kb: rss_before,
        rss_after_kb: rss_after,
        rss_per_conn_kb,
        errors: errors.total(),
        errors_detail: errors,
        loadgen_cpu_pct,
        server_cpu_pct,
        ..Report::default()
    })
}

/// One connection: set up, then kept open (heartbeats answered) until
/// the run is done.
async fn connection(
    ctx: Arc<Ctx>,
    permits: Arc<Semaphore>,
    ready: Ready,
    mut done: watch::Receiver<bool>,
    user: String,
    room: String,
) {
    let mut conn = match connect_and_join(&ctx, &permits, &user, &room).await {
        Ok(conn) => conn,
        Err(error) => {
            note_error(&format!("setup of {user}"), &error);
            ctx.shared.with(|t| t.counts.errors.setup += 1);
            let _ = ready.send(false);
            return;
        }
    };
    let _ = ready.send(true);
    drop(ready);
    loop {
        tokio::select! {
            _ = done.wait_for(|done| *done) => return,
            incoming = conn.recv() => if let Err(error) = incoming {
                note_error(&user, &error);
                ctx.shared.with(|t| t.counts.errors.disconnects += 1);
                return;
            }
        }
    }
}

/// The server's RSS once two samples 500 ms apart differ by less than 1%
/// (at most 10 s).
async fn settled_rss(pid: u32) -> Option<u64> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = rss_kb(pid)?;
    loop {
        sleep(Duration::from_millis(500)).await;
        let now = rss_kb(pid)?;
        if now.abs_diff(last) * 100 < last || Instant::now() >= deadline {
            return Some(now);
        }
        last = now;
    }
}

//! `loadgen`: a load generator for chat-service compatible servers. It
//! speaks engine.io/socket.io over websockets itself, so thousands of
//! clients cost little CPU. This file: the command line, presets and the
//! report (human text, or one JSON object with `--json`).
//!
//! Run: `cargo run --release --example loadgen -- --preset fanout-small --url http://127.0.0.1:8000`

mod conn;
mod scenario;
mod stats;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Parser, ValueEnum};
use serde::Serialize;
use serde_json::json;
use tokio::time::Instant;

use conn::{Eio, Target};
use scenario::history::Op;
use scenario::{Ctx, connect, fanout, history};
use stats::{Errors, Percentiles, Shared};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    Fanout,
    Connect,
    History,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Preset {
    #[value(name = "fanout-small")]
    FanoutSmall,
    #[value(name = "fanout-small-w32")]
    FanoutSmallW32,
    #[value(name = "fanout-large")]
    FanoutLarge,
    #[value(name = "fanout-large-w8")]
    FanoutLargeW8,
    #[value(name = "latency")]
    Latency,
    #[value(name = "connect")]
    Connect,
    #[value(name = "history")]
    History,
}

/// Senders per room: a number, or `all` members.
#[derive(Clone, Copy, Debug)]
enum Senders {
    All,
    Count(usize),
}

fn parse_senders(text: &str) -> Result<Senders, String> {
    match text {
        "all" => Ok(Senders::All),
        n => n
            .parse()
            .map(Senders::Count)
            .map_err(|_| "a number or `all`".to_owned()),
    }
}

/// Load generator for chat-service compatible socket.io servers.
#[derive(Parser, Debug)]
#[command(name = "loadgen")]
struct Cli {
    /// fanout, connect or history (implied by --preset)
    #[arg(long, value_enum)]
    scenario: Option<Scenario>,
    /// Sizes of a standard run; explicit flags override them
    #[arg(long, value_enum)]
    preset: Option<Preset>,
    /// The server
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    url: String,
    /// Engine.io protocol: 4 (socket.io 3+ clients) or 3 (socket.io-client 2.x)
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(3..=4))]
    eio: u8,
    /// Seconds of load before figures count
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Seconds measured (after the warmup)
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Report this process's CPU share and RSS (from /proc)
    #[arg(long)]
    server_pid: Option<u32>,
    /// Prefix of room and user names (unique per run; default from pid and time)
    #[arg(long)]
    prefix: Option<String>,
    /// Print exactly one JSON object on stdout (human text goes to stderr)
    #[arg(long)]
    json: bool,
    /// Seconds before a request (or a connection setup) counts as timed out
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// Connections being set up at once
    #[arg(long, default_value_t = 200)]
    concurrency: usize,

    /// fanout: rooms
    #[arg(long)]
    rooms: Option<usize>,
    /// fanout: members per room (distinct users, one socket each)
    #[arg(long)]
    members: Option<usize>,
    /// fanout: senders per room, a number or `all`
    #[arg(long, value_parser = parse_senders)]
    senders: Option<Senders>,
    /// fanout, history: requests in flight per sender / client
    #[arg(long)]
    window: Option<usize>,
    /// fanout: total messages per second over all senders (default: as fast as the window allows)
    #[arg(long)]
    rate: Option<f64>,
    /// connect: connections
    #[arg(long)]
    connections: Option<usize>,
    /// history: messages posted to the room before measuring
    #[arg(long)]
    history_size: Option<usize>,
    /// history: clients
    #[arg(long)]
    clients: Option<usize>,
    /// history: get (roomHistoryGet pages), recent (roomRecentHistory) or both alternately
    #[arg(long, value_enum)]
    op: Option<Op>,
}

/// The sizes a preset sets.
#[derive(Default)]
struct Sizes {
    scenario: Option<Scenario>,
    rooms: Option<usize>,
    members: Option<usize>,
    senders: Option<Senders>,
    window: Option<usize>,
    rate: Option<f64>,
    connections: Option<usize>,
}

impl Preset {
    fn sizes(self) -> Sizes {
        let fanout = |rooms, members, senders, window| Sizes {
            scenario: Some(Scenario::Fanout),
            rooms: Some(rooms),
            members: Some(members),
            senders: Some(senders),
            window: Some(window),
            ..Sizes::default()
        };
        match self {
            Preset::FanoutSmall => fanout(1, 50, Senders::Count(5), 8),
            Preset::FanoutSmallW32 => fanout(1, 50, Senders::Count(5), 32),
            Preset::FanoutLarge => fanout(100, 10, Senders::All, 2),
            Preset::FanoutLargeW8 => fanout(100, 10, Senders::All, 8),
            Preset::Latency => Sizes {
                rate: Some(1000.0),
                ..fanout(1, 50, Senders::Count(10), 8)
            },
            Preset::Connect => Sizes {
                scenario: Some(Scenario::Connect),
                connections: Some(10_000),
                ..Sizes::default()
            },
            Preset::History => Sizes {
                scenario: Some(Scenario::History),
                ..Sizes::default()
            },
        }
    }
}

/// What a run reports; `None` fields are left out of the JSON.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scenario: Option<Scenario>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    pub eio: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acked_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e2e_ms: Option<Percentiles>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ack_ms: Option<Percentiles>,
    pub errors: u64,
    pub errors_detail: Errors,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out_of_order: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_skipped: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connections: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connections_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_before_kb: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_after_kb: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_per_conn_kb: Option<f64>,
    /// Setup requests sent again after no answer (see `scenario::setup_call`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setup_retries: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loadgen_cpu_pct: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu_pct: Option<f64>,
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub params: serde_json::Value,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let json_out = cli.json;
    match run(cli).await {
        Ok(report) => {
            print_human(&report, json_out);
            if json_out {
                println!("{}", serde_json::to_string(&report).unwrap_or_default());
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("loadgen: {error:#}");
            if json_out {
                println!("{}", json!({ "error": format!("{error:#}") }));
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<Report> {
    raise_nofile_limit();
    let sizes = cli.preset.map(Preset::sizes).unwrap_or_default();
    let scenario = match (cli.scenario, sizes.scenario) {
        (Some(given), Some(preset)) if given != preset => {
            anyhow::bail!("--scenario {given:?} contradicts the preset ({preset:?})")
        }
        (given, preset) => given
            .or(preset)
            .ok_or_else(|| anyhow::anyhow!("give --scenario or --preset"))?,
    };
    let prefix = cli.prefix.clone().unwrap_or_else(|| {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        format!("lg{}x{secs}", std::process::id())
    });
    let ctx = Arc::new(Ctx {
        target: Target::parse(&cli.url).map_err(anyhow::Error::msg)?,
        eio: if cli.eio == 3 { Eio::V3 } else { Eio::V4 },
        prefix,
        timeout: seconds("--timeout", cli.timeout)?,
        concurrency: cli.concurrency.max(1),
        warmup: seconds("--warmup", cli.warmup)?,
        duration: seconds("--duration", cli.duration)?,
        server_pid: cli.server_pid,
        origin: Instant::now(),
        shared: Shared::new(),
    });
    let window = cli.window.or(sizes.window).unwrap_or(8).max(1);

    let mut report = match scenario {
        Scenario::Fanout => {
            let members = cli.members.or(sizes.members).unwrap_or(50).max(1);
            let senders = match cli.senders.or(sizes.senders) {
                Some(Senders::All) => members,
                Some(Senders::Count(n)) => n.min(members),
                None => 5.min(members),
            };
            let p = fanout::Params {
                rooms: cli.rooms.or(sizes.rooms).unwrap_or(1).max(1),
                members,
                senders,
                window,
                rate: cli
                    .rate
                    .or(sizes.rate)
                    .filter(|r| r.is_finite() && *r > 0.0),
            };
            let mut report = fanout::run(ctx.clone(), p).await?;
            report.params = json!({
                "rooms": p.rooms, "members": p.members, "senders": p.senders,
                "window": p.window, "rate": p.rate,
            });
            report
        }
        Scenario::Connect => {
            let p = connect::Params {
                connections: cli.connections.or(sizes.connections).unwrap_or(1000),
            };
            let mut report = connect::run(ctx.clone(), p).await?;
            report.params = json!({ "connections": p.connections, "concurrency": ctx.concurrency });
            report
        }
        Scenario::History => {
            let p = history::Params {
                history_size: cli.history_size.unwrap_or(1000),
                clients: cli.clients.unwrap_or(10).max(1),
                window,
                op: cli.op.unwrap_or(Op::Both),
            };
            let mut report = history::run(ctx.clone(), p).await?;
            report.params = json!({
                "history_size": p.history_size, "clients": p.clients,
                "window": p.window, "op": p.op,
            });
            report
        }
    };
    report.scenario = Some(scenario);
    report.preset = cli
        .preset
        .and_then(|p| p.to_possible_value())
        .map(|v| v.get_name().to_owned());
    report.eio = cli.eio;
    let retries = scenario::SETUP_RETRIES.load(std::sync::atomic::Ordering::Relaxed);
    report.setup_retries = (retries > 0).then_some(retries);
    Ok(report)
}

fn seconds(flag: &str, secs: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(secs).map_err(|_| anyhow::anyhow!("{flag}: not a duration: {secs}"))
}

/// The report in words: on stdout, or stderr when stdout carries the JSON.
fn print_human(r: &Report, to_stderr: bool) {
    let mut lines = Vec::new();
    let rate = |name: &str, value: Option<f64>| value.map(|v| format!("{name:<16}{v:>12.0}"));
    let latency = |name: &str, value: Option<Percentiles>| {
        value.map(|p| {
            format!(
                "{name:<16}p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2} ms",
                p.p50, p.p90, p.p99, p.max
            )
        })
    };
    lines.extend(rate("acked/s", r.acked_per_s));
    lines.extend(rate("delivered/s", r.delivered_per_s));
    lines.extend(rate("requests/s", r.requests_per_s));
    lines.extend(latency("end to end", r.e2e_ms));
    lines.extend(latency(
        if r.requests_per_s.is_some() {
            "latency"
        } else {
            "ack"
        },
        r.ack_ms,
    ));
    if let Some(n) = r.connections {
        lines.push(format!("{:<16}{n:>12}", "connections"));
    }
    lines.extend(rate("connections/s", r.connections_per_s));
    if let (Some(before), Some(after)) = (r.rss_before_kb, r.rss_after_kb) {
        lines.push(format!(
            "{:<16}{before} KB -> {after} KB, {:.2} KB per connection",
            "server RSS",
            r.rss_per_conn_kb.unwrap_or_default()
        ));
    }
    let e = &r.errors_detail;
    lines.push(format!(
        "{:<16}{:>12}  (setup {}, error acks {}, disconnects {}, timeouts {})",
        "errors", r.errors, e.setup, e.error_acks, e.disconnects, e.timeouts
    ));
    if let Some(n) = r.out_of_order {
        lines.push(format!("{:<16}{n:>12}", "out of order"));
    }
    if let Some(n) = r.rate_skipped {
        lines.push(format!(
            "{:<16}{n:>12}  (window full at a tick)",
            "rate skipped"
        ));
    }
    if let Some(n) = r.setup_retries {
        lines.push(format!(
            "{:<16}{n:>12}  (setup requests unanswered for 2 s, sent again)",
            "setup retries"
        ));
    }
    if let Some(cpu) = r.loadgen_cpu_pct {
        lines.push(format!("{:<16}{cpu:>11.1}%  of one core", "loadgen CPU"));
    }
    if let Some(cpu) = r.server_cpu_pct {
        lines.push(format!("{:<16}{cpu:>11.1}%  of one core", "server CPU"));
    }
    let text = lines.join("\n");
    if to_stderr {
        eprintln!("{text}");
    } else {
        println!("{text}");
    }
}

/// Thousands of sockets need file descriptors: soft limit up to the hard one.
fn raise_nofile_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a local, initialized struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

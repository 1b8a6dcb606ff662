//! The benchmark's "ceiling": a bare socketioxide server with only login,
//! rooms and broadcast, speaking the same events as chat-service. No
//! state, no checks, no history: what any server built on socketioxide
//! can at best do under the same load (see `bench/README.md`).
//!
//! It is served like the `chat-service` binary (`http::serve::serve`,
//! TCP_NODELAY; socket.io 2 clients through the vendored parser's patch,
//! vendor/README.md).
//!
//! Run: `cargo run --release --example ceiling -- --port 0`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chat_service::http::serve::serve;
use chat_service::transport::socket_io_http;
use dashmap::DashMap;
use serde_json::Value;
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Data, SocketRef};

const NAMESPACE: &str = "/chat-service";
/// Same engine settings as the `chat-service` binary (`src/server.rs`).
const MAX_PAYLOAD: u64 = 1_000_000;

/// The last message id of each room.
type Counters = Arc<DashMap<String, AtomicU64>>;

/// `(error, result)` as chat-service acks: the error is always null here.
type Reply<T> = (Option<()>, T);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let port = port_from_args()?;
    let (svc, io) = SocketIo::builder()
        .ping_interval(Duration::from_millis(25_000))
        .ping_timeout(Duration::from_millis(5_000))
        .max_payload(MAX_PAYLOAD)
        .ws_max_message_size(MAX_PAYLOAD as usize)
        .ws_max_frame_size(MAX_PAYLOAD as usize)
        .max_buffer_size(4096)
        .build_svc();
    // socket.io 2 clients connect to `/` first.
    io.ns("/", async |_: SocketRef| {});
    let counters = Counters::default();
    io.ns(NAMESPACE, move |socket: SocketRef| {
        on_connect(socket, counters.clone());
        std::future::ready(())
    });

    let listener = chat_service::server::bind("127.0.0.1", port).await?;
    // The signal handlers exist before the listening line is printed.
    let signal = chat_service::server::shutdown_signal();
    let closing = io.clone();
    let shutdown = async move {
        signal.await;
        closing.close().await;
    };
    println!("ceiling listening on http://{}", listener.local_addr()?);
    serve(
        listener,
        socket_io_http(svc),
        Duration::from_secs(10),
        shutdown,
    )
    .await?;
    Ok(())
}

/// `--port N` (default 8000, 0 picks a free one).
fn port_from_args() -> anyhow::Result<u16> {
    let mut args = std::env::args().skip(1);
    let mut port = 8000;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => {
                let value = args
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("--port needs a value"))?;
                port = value.parse()?;
            }
            other => {
                if let Some(value) = other.strip_prefix("--port=") {
                    port = value.parse()?;
                } else {
                    anyhow::bail!("usage: ceiling [--port N]");
                }
            }
        }
    }
    Ok(port)
}

/// Login from the handshake query `user`, then the handlers.
fn on_connect(socket: SocketRef, counters: Counters) {
    let user = socket
        .req_parts()
        .uri
        .query()
        .and_then(|query| {
            form_urlencoded::parse(query.as_bytes())
                .find(|(key, _)| key == "user")
                .map(|(_, value)| value.into_owned())
        })
        .unwrap_or_default();
    let id = format!("{NAMESPACE}#{}", socket.id);
    if user.is_empty() {
        socket.emit("loginRejected", "noLogin").ok();
        socket.disconnect().ok();
        return;
    }
    socket
        .emit("loginConfirmed", &(&user, serde_json::json!({ "id": id })))
        .ok();

    socket.on("roomCreate", async |ack: AckSender| {
        ack.send(&(None::<()>, None::<()>)).ok();
    });
    socket.on(
        "roomJoin",
        async |socket: SocketRef, Data(room): Data<String>, ack: AckSender| {
            socket.join(room);
            ack.send(&(None::<()>, 1)).ok();
        },
    );
    let author = Value::String(user);
    socket.on(
        "roomMessage",
        async move |socket: SocketRef,
                    Data((room, message)): Data<(String, Value)>,
                    ack: AckSender| {
            let id = next_id(&counters, &room);
            let message = stamp(message, author.clone(), id);
            let _ = socket
                .within(room.clone())
                .emit("roomMessage", &(&room, &message))
                .await;
            ack.send::<Reply<u64>>(&(None, id)).ok();
        },
    );
    for event in ["roomHistoryGet", "roomRecentHistory"] {
        socket.on(event, async |ack: AckSender| {
            ack.send::<Reply<[(); 0]>>(&(None, [])).ok();
        });
    }
}

/// The room's next message id: one atomic per room, no global lock.
fn next_id(counters: &DashMap<String, AtomicU64>, room: &str) -> u64 {
    if let Some(counter) = counters.get(room) {
        return counter.fetch_add(1, Ordering::Relaxed) + 1;
    }
    counters
        .entry(room.to_owned())
        .or_default()
        .fetch_add(1, Ordering::Relaxed)
        + 1
}

/// The processed message: client fields, then `author`, `timestamp`, `id`.
fn stamp(message: Value, author: Value, id: u64) -> Value {
    let mut fields = match message {
        Value::Object(fields) => fields,
        other => return other,
    };
    fields.remove("id");
    fields.remove("timestamp");
    fields.insert("author".into(), author);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    fields.insert("timestamp".into(), now.into());
    fields.insert("id".into(), id.into());
    Value::Object(fields)
}

//! Engine.io heartbeats over real websockets, as the crate serves them
//! (`http::serve::serve`), on both protocols: engine.io 4 (the server
//! pings, the client must pong) and engine.io 3 (the client pings, the
//! server must pong). The engine keeps every session's heartbeat with one
//! clock task (vendor/README.md): a client that answers stays connected,
//! a silent one is closed soon after the timeout.

mod common;

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use socketioxide::SocketIo;
use socketioxide::extract::SocketRef;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{WebSocketStream, client_async};

const INTERVAL: Duration = Duration::from_millis(300);
const TIMEOUT: Duration = Duration::from_millis(200);

type Ws = WebSocketStream<TcpStream>;

/// A server with short heartbeats on a free loopback port; its address.
async fn server() -> std::net::SocketAddr {
    let builder = SocketIo::builder()
        .ping_interval(INTERVAL)
        .ping_timeout(TIMEOUT);
    let (io, addr) = common::serve_on_loopback(builder).await;
    io.ns("/", async |_: SocketRef| {});
    addr
}

/// Connects and reads the open packet.
async fn connect(addr: std::net::SocketAddr, eio: u8) -> Ws {
    let url = format!("ws://{addr}/socket.io/?EIO={eio}&transport=websocket");
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut ws, _) = client_async(url, stream).await.unwrap();
    let open = next_text(&mut ws).await.expect("an open packet");
    assert!(open.starts_with("0{"), "{open}");
    ws
}

/// The next text frame, `None` once the server closed the connection.
async fn next_text(ws: &mut Ws) -> Option<String> {
    loop {
        match timeout(Duration::from_secs(5), ws.next()).await {
            Err(_) => panic!("nothing from the server within 5 s"),
            Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return None,
            Ok(Some(Ok(Message::Text(text)))) => return Some(text.to_string()),
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// Watches a client that never answers: how long after `start` the
/// server closed it.
fn silent_until_closed(mut ws: Ws, start: Instant) -> tokio::task::JoinHandle<Duration> {
    tokio::spawn(async move {
        while next_text(&mut ws).await.is_some() {}
        start.elapsed()
    })
}

#[tokio::test]
async fn eio4_a_client_that_pongs_stays_and_a_silent_one_is_closed() {
    let addr = server().await;
    let mut alive = connect(addr, 4).await;
    let start = Instant::now();
    let silent = silent_until_closed(connect(addr, 4).await, start);

    // Five ping rounds answered: still connected, and the pings come
    // one interval apart.
    let mut pings = Vec::new();
    while pings.len() < 5 {
        let packet = next_text(&mut alive).await.expect("still connected");
        if packet == "2" {
            pings.push(start.elapsed());
            alive.send(Message::text("3")).await.unwrap();
        }
    }
    for pair in pings.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= INTERVAL - Duration::from_millis(50) && gap < INTERVAL * 2,
            "pings {pings:?}"
        );
    }

    // The silent client was closed once its first ping (sent at once)
    // went unanswered.
    let closed_after = silent.await.unwrap();
    let deadline = TIMEOUT;
    assert!(
        closed_after >= deadline && closed_after < deadline + INTERVAL / 2,
        "silent v4 client closed after {closed_after:?}"
    );
}

#[tokio::test]
async fn eio3_a_client_that_pings_gets_pongs_and_a_silent_one_is_closed() {
    let addr = server().await;
    let mut alive = connect(addr, 3).await;
    let silent = silent_until_closed(connect(addr, 3).await, Instant::now());

    // Pings one interval apart for longer than interval + timeout.
    for _ in 0..4 {
        alive.send(Message::text("2")).await.unwrap();
        loop {
            let packet = next_text(&mut alive).await.expect("still connected");
            if packet == "3" {
                break;
            }
        }
        tokio::time::sleep(INTERVAL).await;
    }

    let closed_after = silent.await.unwrap();
    let deadline = INTERVAL + TIMEOUT;
    assert!(
        closed_after >= deadline && closed_after < deadline + INTERVAL / 2,
        "silent v3 client closed after {closed_after:?}"
    );
    // The pinging client outlived the silent one.
    alive.send(Message::text("2")).await.unwrap();
    assert_eq!(next_text(&mut alive).await.as_deref(), Some("3"));
}

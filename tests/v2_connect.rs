//! socket.io-client 2.x (engine.io 3) connects to a namespace with its
//! query in the CONNECT packet (`0/chat-service?user=alice,`); the vendored
//! socketioxide-parser-common drops that query (vendor/README.md, patch 06)
//! and the app reads it from the handshake URL. Over websocket and polling,
//! as the crate serves socket.io (`http::serve::serve`).

mod common;

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use socketioxide::SocketIo;
use socketioxide::extract::SocketRef;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::client_async;
use tokio_tungstenite::tungstenite::Message;

/// A server whose `/chat-service` greets each socket with the `user` of
/// its handshake URL.
async fn server() -> std::net::SocketAddr {
    let (io, addr) = common::serve_on_loopback(SocketIo::builder()).await;
    io.ns("/", async |_: SocketRef| {});
    io.ns("/chat-service", async |s: SocketRef| {
        let query = s.req_parts().uri.query().unwrap_or_default().to_owned();
        let user = query
            .split('&')
            .find_map(|pair| pair.strip_prefix("user="))
            .unwrap_or_default()
            .to_owned();
        s.emit("hello", &user).ok();
    });
    addr
}

#[tokio::test]
async fn websocket_connect_with_query_joins_the_namespace() {
    let addr = server().await;
    let url = format!("ws://{addr}/socket.io/?user=alice&EIO=3&transport=websocket");
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut ws, _) = client_async(url, stream).await.unwrap();
    let mut texts = Vec::new();
    ws.send(Message::text("40/chat-service?user=alice,"))
        .await
        .unwrap();
    while !texts.iter().any(|t: &String| t.contains("hello")) {
        match timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => texts.push(text.to_string()),
            Ok(Some(Ok(_))) => {}
            other => panic!("{other:?} after {texts:?}"),
        }
    }
    assert!(texts.contains(&"40/chat-service,".to_owned()), "{texts:?}");
    assert!(
        texts.contains(&r#"42/chat-service,["hello","alice"]"#.to_owned()),
        "{texts:?}"
    );
}

/// One HTTP/1.1 request on its own connection; the response body.
async fn http(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    timeout(Duration::from_secs(5), tcp.read_to_string(&mut response))
        .await
        .unwrap()
        .unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response.split_once("\r\n\r\n").unwrap().1.to_owned()
}

#[tokio::test]
async fn polling_connect_with_query_joins_the_namespace() {
    let addr = server().await;
    let handshake = "/socket.io/?user=alice&EIO=3&transport=polling&b64=1";
    let open = http(addr, "GET", handshake, "").await;
    let (_, after) = open.split_once(r#""sid":""#).expect("an open packet");
    let (sid, _) = after.split_once('"').unwrap();
    let path = format!("{handshake}&sid={sid}");
    assert_eq!(
        http(addr, "POST", &path, "27:40/chat-service?user=alice,").await,
        "ok"
    );
    let mut replies = String::new();
    while !replies.contains("hello") {
        replies += &http(addr, "GET", &path, "").await;
    }
    assert!(replies.contains("16:40/chat-service,"), "{replies}");
    assert!(
        replies.contains(r#"42/chat-service,["hello","alice"]"#),
        "{replies}"
    );
}

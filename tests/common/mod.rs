//! What several integration tests share: serving a socket.io service the
//! way the crate does (`http::serve::serve`) on a free loopback port.

use std::net::SocketAddr;
use std::time::Duration;

use chat_service::http::serve::serve;
use chat_service::transport::socket_io_http;
use socketioxide::{SocketIo, SocketIoBuilder};

/// Builds the service and serves it on 127.0.0.1 until the test ends:
/// the `SocketIo` to add namespaces to, and the address.
pub async fn serve_on_loopback(builder: SocketIoBuilder) -> (SocketIo, SocketAddr) {
    let (svc, io) = builder.build_svc();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(
        listener,
        socket_io_http(svc),
        Duration::from_secs(10),
        std::future::pending(),
    ));
    (io, addr)
}

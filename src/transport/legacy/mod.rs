//! Compatibility shim for socket.io-client 2.x (engine.io protocol v3, `EIO=3`).
//!
//! Owns [`LegacyCompat`], a tower service placed in front of socketioxide's
//! `SocketIoService`, the classification of requests it routes by, the
//! CONNECT-with-query test both rewriters share. The rewriting lives in submodules:
//! `polling` for `EIO=3` POST bodies, `upgrade` for `EIO=3` websocket
//! upgrades, and `ws_filter` (I/O) over `ws_frames` (sans-IO) for the
//! websocket read filter [`ConnectQueryFilter`].
//!
//! Why it exists: a 2.x client connecting to a namespace with a `query` option
//! sends its namespace CONNECT packet as `0/chat-service?user=alice,`. The
//! common parser of socketioxide 0.18 (`socketioxide-parser-common` 0.17,
//! `read_nsp`) takes everything up to the first `,` as the namespace, looks up
//! `/chat-service?user=alice` and answers "Invalid namespace". That parser is
//! neither configurable nor patchable from this crate, so the query is cut out
//! of such CONNECT packets on the wire, before socketioxide reads them. Nothing
//! is lost: a 2.x client also puts its `query` on the engine.io handshake URL,
//! which the app reads through `socket.req_parts()`.
//!
//! - Polling: the body of `EIO=3` POSTs to the socket.io path is rewritten.
//! - WebSocket: `EIO=3` upgrades are answered here and the upgraded stream is
//!   handed to socketioxide's public raw-stream service through
//!   [`ConnectQueryFilter`], which rewrites the client's CONNECT frames.
//! - Everything else (4.x clients, other paths and methods) goes to the inner
//!   service untouched.

mod polling;
mod upgrade;
mod ws_filter;
mod ws_frames;

pub use ws_filter::ConnectQueryFilter;

use std::{
    convert::Infallible,
    fmt,
    ops::Range,
    sync::Arc,
    task::{Context, Poll},
};

use axum::{
    BoxError,
    body::{Body, HttpBody},
    extract::Request,
    http::{self, Method, header},
    response::Response,
};
use bytes::Bytes;
use futures::{
    TryFutureExt,
    future::{BoxFuture, Either, MapOk},
};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tower::Service;

/// The path socketioxide serves by default; see [`LegacyCompat::with_req_path`].
pub const DEFAULT_REQ_PATH: &str = "/socket.io";

/// Default largest polling body buffered for rewriting. It matches socketioxide's
/// default `max_payload`: a bigger body is streamed to socketioxide unchanged,
/// which rejects it anyway unless its limit was raised.
const MAX_BUFFERED_PAYLOAD: usize = 100_000;

/// The stream [`LegacyCompat`] hands to the inner raw-stream service for an
/// `EIO=3` websocket connection.
pub type LegacyWsStream = ConnectQueryFilter<TokioIo<Upgraded>>;

/// Response future of [`LegacyCompat`]: requests that pass straight through
/// only get their body type converted, without an extra allocation.
pub type LegacyCompatFuture<F, B> = Either<
    MapOk<F, fn(http::Response<B>) -> Response>,
    BoxFuture<'static, Result<Response, Infallible>>,
>;

/// A tower service in front of socketioxide's `SocketIoService` that lets
/// socket.io-client 2.x connect to namespaces with a query (see the module
/// documentation). Give it to `crate::http::serve::serve`, or to
/// `axum::serve` through `axum::ServiceExt::<Request>::into_make_service`.
///
/// The inner service must answer HTTP requests and also accept an upgraded
/// stream with its handshake request, as `SocketIoService` does.
#[derive(Clone)]
pub struct LegacyCompat<S> {
    inner: S,
    req_path: Arc<str>,
    max_payload: usize,
}

impl<S> LegacyCompat<S> {
    /// Wraps `inner`, which serves socket.io on [`DEFAULT_REQ_PATH`].
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            req_path: Arc::from(DEFAULT_REQ_PATH),
            max_payload: MAX_BUFFERED_PAYLOAD,
        }
    }

    /// Sets the socket.io path; it must be the one given to socketioxide's
    /// `SocketIoBuilder::req_path`.
    pub fn with_req_path(mut self, req_path: &str) -> Self {
        self.req_path = Arc::from(req_path);
        self
    }

    /// Sets the largest polling body buffered for rewriting; it should be
    /// the `max_payload` given to socketioxide.
    pub fn with_max_payload(mut self, max_payload: usize) -> Self {
        self.max_payload = max_payload;
        self
    }
}

impl<S> fmt::Debug for LegacyCompat<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LegacyCompat")
            .field("req_path", &self.req_path)
            .finish_non_exhaustive()
    }
}

impl<S, B> Service<Request> for LegacyCompat<S>
where
    S: Service<Request, Response = http::Response<B>, Error = Infallible>
        + Service<(LegacyWsStream, http::Request<()>)>
        + Clone
        + Send
        + 'static,
    <S as Service<Request>>::Future: Send + 'static,
    <S as Service<(LegacyWsStream, http::Request<()>)>>::Future: Send,
    <S as Service<(LegacyWsStream, http::Request<()>)>>::Error: fmt::Debug,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = LegacyCompatFuture<<S as Service<Request>>::Future, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Service::<Request>::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let req = if keeps_head(&req, &self.req_path) {
            super::head::detach(req)
        } else {
            req
        };
        match classify(&req, &self.req_path) {
            Route::Untouched => {
                let convert: fn(http::Response<B>) -> Response = into_axum_response;
                Either::Left(Service::<Request>::call(&mut self.inner, req).map_ok(convert))
            }
            Route::PollingPost => Either::Right(Box::pin(polling::forward_polling_post(
                self.inner.clone(),
                req,
                self.max_payload,
            ))),
            Route::WebSocketUpgrade => {
                let response = upgrade::accept_websocket(self.inner.clone(), req);
                Either::Right(Box::pin(std::future::ready(Ok(response))))
            }
        }
    }
}

fn into_axum_response<B>(response: http::Response<B>) -> Response
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    response.map(Body::new)
}

/// What [`LegacyCompat`] does with a request.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Untouched,
    PollingPost,
    WebSocketUpgrade,
}

fn classify<B>(req: &http::Request<B>, req_path: &str) -> Route {
    let Some(query) = req.uri().query() else {
        return Route::Untouched;
    };
    if !is_req_path(req.uri().path(), req_path) || query_param(query, "EIO") != Some("3") {
        return Route::Untouched;
    }
    match *req.method() {
        Method::POST => Route::PollingPost,
        Method::GET
            if query_param(query, "transport") == Some("websocket") && is_upgrade_request(req) =>
        {
            Route::WebSocketUpgrade
        }
        _ => Route::Untouched,
    }
}

/// Whether socketioxide keeps this request's head for the socket's life:
/// the requests that open a session (no `sid`) or upgrade it to websocket.
/// Polling requests of an open session are left as they are.
fn keeps_head<B>(req: &http::Request<B>, req_path: &str) -> bool {
    if !is_req_path(req.uri().path(), req_path) {
        return false;
    }
    let query = req.uri().query().unwrap_or_default();
    query_param(query, "sid").is_none() || query_param(query, "transport") == Some("websocket")
}

/// Same matching as engineioxide's, so that both agree on which requests are
/// socket.io ones: the path itself or anything below it.
fn is_req_path(path: &str, req_path: &str) -> bool {
    match path.strip_prefix(req_path) {
        Some("") => true,
        Some(rest) => rest.starts_with('/') || req_path.ends_with('/'),
        None => false,
    }
}

/// The first value of `name`, read like engineioxide reads its parameters.
fn query_param<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

/// Only real HTTP/1.1 upgrades are answered here; anything else is left to
/// socketioxide, which then behaves exactly as without this wrapper.
fn is_upgrade_request<B>(req: &http::Request<B>) -> bool {
    let asks_websocket = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    asks_websocket
        && req.headers().contains_key(header::SEC_WEBSOCKET_KEY)
        && req.extensions().get::<OnUpgrade>().is_some()
}

/// For an engine.io message carrying a socket.io CONNECT to a namespace with
/// a query (`40/ns?query,data` or `40/ns?query`), the byte range of `?query`.
///
/// Works on bytes so that both transports share it: `?` and `,` are ASCII, so
/// cutting at them keeps valid UTF-8 valid whatever the query holds.
fn connect_query_range(packet: &[u8]) -> Option<Range<usize>> {
    const NSP_START: usize = 2;
    if !packet.starts_with(CONNECT_PREFIX) {
        return None;
    }
    let nsp_and_rest = &packet[NSP_START..];
    let nsp_end = NSP_START
        + nsp_and_rest
            .iter()
            .position(|&b| b == b',')
            .unwrap_or(nsp_and_rest.len());
    let query_start = NSP_START + packet[NSP_START..nsp_end].iter().position(|&b| b == b'?')?;
    Some(query_start..nsp_end)
}

/// engine.io "message" (`4`) wrapping a socket.io CONNECT (`0`) to a custom
/// namespace (`/`).
const CONNECT_PREFIX: &[u8] = b"40/";

#[cfg(test)]
mod tests {
    use std::io;

    use tokio::net::{TcpListener, TcpStream};

    use super::ws_frames::testing::text;
    use super::ws_frames::{LEN_16, LEN_64, MASK_BIT};
    use super::*;

    #[test]
    fn only_session_opening_and_upgrading_heads_are_copied() {
        let keeps = |uri: &str| {
            let req = http::Request::get(uri).body(()).unwrap();
            keeps_head(&req, DEFAULT_REQ_PATH)
        };
        assert!(keeps("/socket.io/?EIO=4&transport=polling"));
        assert!(keeps("/socket.io/?EIO=4&transport=websocket"));
        assert!(keeps("/socket.io/?EIO=3&transport=websocket&sid=abc"));
        assert!(!keeps("/socket.io/?EIO=4&transport=polling&sid=abc"));
        assert!(!keeps("/metrics"));
    }

    #[test]
    fn requests_are_classified() {
        let route = |method: Method, uri: &str| {
            let req = http::Request::builder()
                .method(method)
                .uri(uri)
                .body(())
                .map(|req| classify(&req, DEFAULT_REQ_PATH));
            req.unwrap_or(Route::Untouched)
        };
        let post = Method::POST;
        let get = Method::GET;
        let v3_polling = "/socket.io/?EIO=3&transport=polling&sid=abc";
        assert_eq!(route(post.clone(), v3_polling), Route::PollingPost);
        assert_eq!(route(get.clone(), v3_polling), Route::Untouched);
        let v4_polling = "/socket.io/?EIO=4&transport=polling&sid=abc";
        assert_eq!(route(post.clone(), v4_polling), Route::Untouched);
        assert_eq!(
            route(post.clone(), "/api/x?EIO=3&transport=polling"),
            Route::Untouched
        );
        assert_eq!(
            route(post.clone(), "/socket.io-admin/?EIO=3"),
            Route::Untouched
        );
        assert_eq!(route(post, "/socket.io/?NOTEIO=3"), Route::Untouched);
        // No hyper upgrade attached: left to socketioxide.
        assert_eq!(
            route(get, "/socket.io/?EIO=3&transport=websocket"),
            Route::Untouched
        );
    }

    /// The whole stack with a real socketioxide, spoken to over raw TCP as a
    /// 2.x client connecting with `transports: ['websocket']` would.
    mod end_to_end {
        use super::*;
        use socketioxide::{SocketIo, extract::SocketRef};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        use tokio::time::{Duration, timeout};

        async fn start_server() -> io::Result<(
            std::net::SocketAddr,
            SocketIo,
            tokio::sync::oneshot::Sender<()>,
            tokio::task::JoinHandle<io::Result<()>>,
        )> {
            let (svc, io) = SocketIo::new_inner_svc(axum::Router::new());
            io.ns("/", async |_s: SocketRef| {});
            io.ns("/chat-service", async |s: SocketRef| {
                let user = s
                    .req_parts()
                    .uri
                    .query()
                    .and_then(|q| query_param(q, "user"))
                    .unwrap_or_default()
                    .to_owned();
                s.emit("hello", &user).ok();
            });
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let app = LegacyCompat::new(svc);
            let server = tokio::spawn(crate::http::serve::serve(
                listener,
                app,
                Duration::from_secs(10),
                async move {
                    stopped.await.ok();
                },
            ));
            Ok((addr, io, stop, server))
        }

        async fn read_http_head(tcp: &mut TcpStream) -> io::Result<String> {
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                head.push(tcp.read_u8().await?);
            }
            Ok(String::from_utf8_lossy(&head).into_owned())
        }

        /// Reads one unmasked server frame and returns its text.
        async fn read_server_text(tcp: &mut TcpStream) -> io::Result<String> {
            let _first = tcp.read_u8().await?;
            let len = match tcp.read_u8().await? & !MASK_BIT {
                LEN_16 => u64::from(tcp.read_u16().await?),
                LEN_64 => tcp.read_u64().await?,
                short => u64::from(short),
            };
            let mut payload = vec![0; usize::try_from(len).unwrap_or(0)];
            tcp.read_exact(&mut payload).await?;
            Ok(String::from_utf8_lossy(&payload).into_owned())
        }

        async fn wait_for_text(tcp: &mut TcpStream, needle: &str) -> io::Result<String> {
            loop {
                let text = read_server_text(tcp).await?;
                if text.contains(needle) {
                    return Ok(text);
                }
            }
        }

        async fn legacy_ws_client_joins_namespace() -> io::Result<()> {
            let (addr, io, stop, server) = start_server().await?;
            let mut tcp = TcpStream::connect(addr).await?;
            tcp.write_all(
                b"GET /socket.io/?user=alice&EIO=3&transport=websocket HTTP/1.1\r\n\
                  Host: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                  Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                  Sec-WebSocket-Version: 13\r\n\r\n",
            )
            .await?;
            let head = read_http_head(&mut tcp).await?;
            assert!(head.starts_with("HTTP/1.1 101"), "{head}");
            // RFC 6455's example key and answer.
            assert!(
                head.to_ascii_lowercase()
                    .contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
                "{head}"
            );
            let open = read_server_text(&mut tcp).await?;
            assert!(open.starts_with("0{"), "{open}");

            tcp.write_all(&text("40/chat-service?user=alice,")).await?;
            let joined = wait_for_text(&mut tcp, "40/chat-service").await?;
            assert_eq!(joined, "40/chat-service,");
            let hello = wait_for_text(&mut tcp, "hello").await?;
            assert_eq!(hello, r#"42/chat-service,["hello","alice"]"#);

            io.close().await;
            stop.send(()).ok();
            server.await.map_err(io::Error::other)?
        }

        #[tokio::test]
        async fn legacy_websocket_client_joins_namespace_with_query() {
            let outcome =
                timeout(Duration::from_secs(10), legacy_ws_client_joins_namespace()).await;
            assert!(matches!(outcome, Ok(Ok(()))), "{outcome:?}");
        }
    }
}

//! Compatibility shim for socket.io-client 2.x (engine.io protocol v3, `EIO=3`).
//!
//! Owns [`LegacyCompat`], a tower service placed in front of socketioxide's
//! `SocketIoService`, the websocket read filter [`ConnectQueryFilter`] it uses,
//! and [`serve`], which runs the whole stack on a TCP listener.
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

use std::{
    cmp::min,
    convert::Infallible,
    fmt,
    future::Future,
    io,
    ops::Range,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use axum::{
    BoxError,
    body::{Body, BodyDataStream, HttpBody},
    extract::Request,
    http::{self, HeaderMap, HeaderValue, Method, StatusCode, header},
    response::Response,
    serve::ListenerExt,
};
use bytes::{Bytes, BytesMut};
use futures::{
    StreamExt, TryFutureExt,
    future::{BoxFuture, Either, MapOk},
    stream,
};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
};
use tower::{Service, ServiceExt};

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

/// Runs `app` on `listener` until `shutdown` resolves, then shuts down
/// gracefully (in-flight HTTP requests finish, idle connections close).
///
/// Accepted sockets get `TCP_NODELAY`: socket.io traffic is many small
/// messages, which Nagle's algorithm would delay.
///
/// Websocket connections are detached from the HTTP server once upgraded, so
/// close them first, typically with `SocketIo::close().await` at the start of
/// the `shutdown` future. `app` is a [`LegacyCompat`], possibly wrapped in
/// more layers (CORS).
///
/// ```no_run
/// use chat_service::transport::legacy::{LegacyCompat, serve};
/// use socketioxide::{SocketIo, extract::SocketRef};
///
/// # async fn run() -> std::io::Result<()> {
/// let router = axum::Router::new().route("/health", axum::routing::get(|| async { "ok" }));
/// let (svc, io) = SocketIo::new_inner_svc(router);
/// io.ns("/", async |_: SocketRef| {}); // socketioxide needs it for 2.x clients
/// io.ns("/chat-service", async |_: SocketRef| {});
/// let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
/// let shutdown = async move {
///     tokio::signal::ctrl_c().await.ok();
///     io.close().await;
/// };
/// serve(listener, LegacyCompat::new(svc), shutdown).await
/// # }
/// ```
pub async fn serve<A>(
    listener: TcpListener,
    app: A,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()>
where
    A: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    A::Future: Send,
{
    let listener = listener.tap_io(enable_nodelay);
    let make_service = axum::ServiceExt::<Request>::into_make_service(app);
    axum::serve(listener, make_service)
        .with_graceful_shutdown(shutdown)
        .await
}

fn enable_nodelay(stream: &mut TcpStream) {
    if let Err(err) = stream.set_nodelay(true) {
        tracing::debug!(%err, "could not set TCP_NODELAY on an accepted connection");
    }
}

/// A tower service in front of socketioxide's `SocketIoService` that lets
/// socket.io-client 2.x connect to namespaces with a query (see the module
/// documentation). Give it to [`serve`], or to `axum::serve` through
/// `axum::ServiceExt::<Request>::into_make_service`.
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
        match classify(&req, &self.req_path) {
            Route::Untouched => {
                let convert: fn(http::Response<B>) -> Response = into_axum_response;
                Either::Left(Service::<Request>::call(&mut self.inner, req).map_ok(convert))
            }
            Route::PollingPost => Either::Right(Box::pin(forward_polling_post(
                self.inner.clone(),
                req,
                self.max_payload,
            ))),
            Route::WebSocketUpgrade => {
                let response = accept_websocket(self.inner.clone(), req);
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

// ---------------------------------------------------------------------------
// Polling
// ---------------------------------------------------------------------------

async fn forward_polling_post<S, B>(
    inner: S,
    req: Request,
    max_payload: usize,
) -> Result<Response, Infallible>
where
    S: Service<Request, Response = http::Response<B>, Error = Infallible>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (mut parts, body) = req.into_parts();
    let body = match buffer_body(body, max_payload).await {
        BufferedBody::Complete(payload) => match rewrite_polling_payload(&payload) {
            Some(rewritten) => {
                set_content_length(&mut parts.headers, rewritten.len());
                Body::from(rewritten)
            }
            None => Body::from(payload),
        },
        BufferedBody::Replayed(body) => body,
    };
    let req = Request::from_parts(parts, body);
    ServiceExt::<Request>::oneshot(inner, req)
        .await
        .map(into_axum_response)
}

enum BufferedBody {
    Complete(Bytes),
    /// Too large, or failed while reading: replays what was read, then the
    /// rest (or the error), so socketioxide reacts as it would without us.
    Replayed(Body),
}

async fn buffer_body(body: Body, limit: usize) -> BufferedBody {
    let mut data = body.into_data_stream();
    let mut chunks = Vec::new();
    let mut size = 0;
    while let Some(item) = data.next().await {
        match item {
            Ok(chunk) => {
                size += chunk.len();
                chunks.push(chunk);
                if size > limit {
                    return BufferedBody::Replayed(replay_body(chunks, None, data));
                }
            }
            Err(err) => return BufferedBody::Replayed(replay_body(chunks, Some(err), data)),
        }
    }
    BufferedBody::Complete(concat(chunks, size))
}

fn replay_body(chunks: Vec<Bytes>, error: Option<axum::Error>, rest: BodyDataStream) -> Body {
    let read = chunks.into_iter().map(Ok).chain(error.map(Err));
    Body::from_stream(stream::iter(read).chain(rest))
}

fn concat(mut chunks: Vec<Bytes>, size: usize) -> Bytes {
    if chunks.len() == 1 {
        return chunks.pop().unwrap_or_default();
    }
    let mut all = BytesMut::with_capacity(size);
    chunks.iter().for_each(|chunk| all.extend_from_slice(chunk));
    all.freeze()
}

fn set_content_length(headers: &mut HeaderMap, len: usize) {
    if headers.contains_key(header::CONTENT_LENGTH) {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
}

/// Rewrites an engine.io v3 text payload (`<len>:<packet><len>:<packet>…`,
/// lengths in UTF-16 code units like JS string lengths) so that every
/// `40/ns?query,…` packet becomes `40/ns,…`.
///
/// Returns `None` when nothing needs rewriting or when the body is not such a
/// payload; it then reaches socketioxide untouched. This includes binary
/// payloads (`application/octet-stream`, sent by 2.x clients only when a batch
/// holds binary data): their first byte is 0 or 1, never an ASCII digit, so
/// they fail to parse here and pass through unchanged.
fn rewrite_polling_payload(payload: &[u8]) -> Option<Vec<u8>> {
    let mut rest = std::str::from_utf8(payload).ok()?;
    let mut out = String::with_capacity(rest.len());
    let mut changed = false;
    while !rest.is_empty() {
        let (length, after) = rest.split_once(':')?;
        let packet_end = utf16_offset(after, length.parse().ok()?)?;
        let (packet, next) = after.split_at(packet_end);
        match connect_query_range(packet.as_bytes()) {
            Some(query) => {
                let head = packet.get(..query.start)?;
                let tail = packet.get(query.end..)?;
                let units = head.encode_utf16().count() + tail.encode_utf16().count();
                out.push_str(&units.to_string());
                out.push(':');
                out.push_str(head);
                out.push_str(tail);
                changed = true;
            }
            None => out.push_str(rest.get(..rest.len() - next.len())?),
        }
        rest = next;
    }
    changed.then(|| out.into_bytes())
}

/// Byte offset in `s` after exactly `units` UTF-16 code units, if `s` is long
/// enough and the offset does not split a surrogate pair.
fn utf16_offset(s: &str, units: usize) -> Option<usize> {
    let mut count = 0;
    for (offset, ch) in s.char_indices() {
        if count == units {
            return Some(offset);
        }
        count += ch.len_utf16();
    }
    (count == units).then_some(s.len())
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

// ---------------------------------------------------------------------------
// WebSocket
// ---------------------------------------------------------------------------

/// Answers the upgrade with 101 and, once hyper hands the connection over,
/// gives it to the inner raw-stream service behind a [`ConnectQueryFilter`].
///
/// Like engineioxide's own upgrade path, the 101 is sent before the session id
/// is checked; a bad one just ends the new connection.
fn accept_websocket<S>(inner: S, mut req: Request) -> Response
where
    S: Service<(LegacyWsStream, http::Request<()>)> + Send + 'static,
    S::Future: Send,
    S::Error: fmt::Debug,
{
    let Some(accept) = req
        .headers()
        .get(header::SEC_WEBSOCKET_KEY)
        .map(|key| tungstenite::handshake::derive_accept_key(key.as_bytes()))
        .and_then(|accept| HeaderValue::try_from(accept).ok())
    else {
        return status_response(StatusCode::BAD_REQUEST);
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    // The handshake request keeps URI and headers: socketioxide exposes them
    // as `req_parts()`, where the app reads the 2.x client's query.
    let (parts, _body) = req.into_parts();
    tokio::spawn(hand_over_upgraded(
        inner,
        on_upgrade,
        http::Request::from_parts(parts, ()),
    ));
    switching_protocols(accept)
}

async fn hand_over_upgraded<S>(inner: S, on_upgrade: OnUpgrade, handshake: http::Request<()>)
where
    S: Service<(LegacyWsStream, http::Request<()>)>,
    S::Error: fmt::Debug,
{
    let upgraded = match on_upgrade.await {
        Ok(upgraded) => upgraded,
        Err(err) => {
            tracing::debug!(%err, "legacy websocket upgrade failed");
            return;
        }
    };
    let stream = ConnectQueryFilter::new(TokioIo::new(upgraded));
    let handed_over =
        ServiceExt::<(LegacyWsStream, http::Request<()>)>::oneshot(inner, (stream, handshake));
    if let Err(err) = handed_over.await {
        tracing::debug!(?err, "socketioxide refused a legacy websocket connection");
    }
}

fn switching_protocols(accept: HeaderValue) -> Response {
    let mut response = status_response(StatusCode::SWITCHING_PROTOCOLS);
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    response
}

fn status_response(status: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}

/// An [`AsyncRead`] + [`AsyncWrite`] wrapper around a server-side websocket
/// connection that rewrites the client's CONNECT frames: a single-frame text
/// message `40/ns?query,…` (or `40/ns?query`) becomes `40/ns,…` (or `40/ns`),
/// re-masked and re-framed with its new length.
///
/// Only small text frames are held back until their first payload bytes show
/// whether they are such a CONNECT; every other frame streams through
/// without its payload being buffered. Writes pass straight through.
pub struct ConnectQueryFilter<S> {
    inner: S,
    frames: FrameRewriter,
    /// Rewritten bytes not yet handed to the reader, from `pending_pos` on.
    pending: Vec<u8>,
    pending_pos: usize,
    scratch: Box<[u8]>,
}

const SCRATCH_SIZE: usize = 8 * 1024;

impl<S> ConnectQueryFilter<S> {
    /// Wraps the server side of an upgraded websocket connection.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            frames: FrameRewriter::default(),
            pending: Vec::new(),
            pending_pos: 0,
            scratch: vec![0; SCRATCH_SIZE].into_boxed_slice(),
        }
    }

    /// Copies pending bytes into `buf`; `false` if there were none.
    fn drain_pending(&mut self, buf: &mut ReadBuf<'_>) -> bool {
        let available = &self.pending[self.pending_pos..];
        if available.is_empty() {
            return false;
        }
        let n = min(available.len(), buf.remaining());
        buf.put_slice(&available[..n]);
        self.pending_pos += n;
        if self.pending_pos == self.pending.len() {
            self.pending.clear();
            self.pending_pos = 0;
        }
        true
    }
}

impl<S: AsyncRead + Unpin> ConnectQueryFilter<S> {
    /// Reads payload bytes of a frame that needs no rewriting straight into
    /// the caller's buffer, skipping the scratch copy.
    fn poll_read_passthrough(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
        remaining: u64,
    ) -> Poll<io::Result<()>> {
        let limit = usize::try_from(remaining)
            .unwrap_or(usize::MAX)
            .min(buf.remaining());
        let mut direct = ReadBuf::new(buf.initialize_unfilled_to(limit));
        ready!(Pin::new(&mut self.inner).poll_read(cx, &mut direct))?;
        let n = direct.filled().len();
        buf.advance(n);
        self.frames.consume_passthrough(n);
        Poll::Ready(Ok(()))
    }

    /// Reads from the connection through the frame rewriter; `Ok(false)` at
    /// end of stream once everything held back has been released.
    fn poll_fill_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        let mut scratch = ReadBuf::new(&mut self.scratch);
        ready!(Pin::new(&mut self.inner).poll_read(cx, &mut scratch))?;
        let read = scratch.filled();
        if read.is_empty() {
            // Release a truncated frame as it came, so the websocket layer
            // reports the broken stream itself.
            self.frames.finish(&mut self.pending);
            return Poll::Ready(Ok(!self.pending.is_empty()));
        }
        self.frames.feed(read, &mut self.pending);
        Poll::Ready(Ok(true))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ConnectQueryFilter<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if buf.remaining() == 0 || this.drain_pending(buf) {
                return Poll::Ready(Ok(()));
            }
            if let Some(remaining) = this.frames.passthrough_remaining() {
                return this.poll_read_passthrough(cx, buf, remaining);
            }
            // Input may be held back entirely (part of a header or of a
            // CONNECT frame): keep reading rather than report 0 bytes, which
            // would mean end of stream.
            if !ready!(this.poll_fill_pending(cx))? {
                return Poll::Ready(Ok(()));
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ConnectQueryFilter<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl<S> fmt::Debug for ConnectQueryFilter<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectQueryFilter")
            .field("pending", &(self.pending.len() - self.pending_pos))
            .finish_non_exhaustive()
    }
}

/// Frames sent by the client (RFC 6455 §5.2) carry at most 14 header bytes.
const MAX_HEADER_LEN: usize = 14;
const FIN_TEXT: u8 = 0x81;
const MASK_BIT: u8 = 0x80;
const LEN_16: u8 = 126;
const LEN_64: u8 = 127;
/// Bigger CONNECT frames stream through unchanged (socketioxide then rejects
/// them as before), so a client cannot make us buffer without bound.
const MAX_CONNECT_FRAME: u64 = 64 * 1024;

/// Sans-IO rewriter of client→server websocket frames, fed arbitrary slices of
/// the byte stream.
#[derive(Debug, Default)]
struct FrameRewriter {
    state: FrameState,
}

#[derive(Debug)]
enum FrameState {
    /// Reading a frame header, of which `filled` bytes are known.
    Header {
        buf: [u8; MAX_HEADER_LEN],
        filled: usize,
    },
    /// A small text frame held back (payload still masked) until it is known
    /// whether it is a CONNECT with a query.
    Held {
        header: FrameHeader,
        payload: Vec<u8>,
    },
    /// Payload bytes of the current frame that pass through unchanged.
    Passthrough { remaining: u64 },
}

impl Default for FrameState {
    fn default() -> Self {
        FrameState::Header {
            buf: [0; MAX_HEADER_LEN],
            filled: 0,
        }
    }
}

impl FrameRewriter {
    /// Consumes all of `input`, appending what can be released to `out`.
    fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        while !input.is_empty() {
            let (next, used) = match std::mem::take(&mut self.state) {
                FrameState::Header { buf, filled } => read_header(buf, filled, input, out),
                FrameState::Held { header, payload } => read_held(header, payload, input, out),
                FrameState::Passthrough { remaining } => pass_through(remaining, input, out),
            };
            self.state = next;
            input = &input[used..];
        }
    }

    /// Payload bytes that may go to the reader without looking at them.
    fn passthrough_remaining(&self) -> Option<u64> {
        match self.state {
            FrameState::Passthrough { remaining } => Some(remaining),
            _ => None,
        }
    }

    fn consume_passthrough(&mut self, n: usize) {
        if let FrameState::Passthrough { remaining } = self.state {
            self.state = after_payload(remaining.saturating_sub(n as u64));
        }
    }

    /// Releases whatever is held back, unchanged (end of stream).
    fn finish(&mut self, out: &mut Vec<u8>) {
        match std::mem::take(&mut self.state) {
            FrameState::Header { buf, filled } => out.extend_from_slice(&buf[..filled]),
            FrameState::Held { header, payload } => {
                out.extend_from_slice(header.raw());
                out.extend_from_slice(&payload);
            }
            FrameState::Passthrough { .. } => {}
        }
    }
}

fn after_payload(remaining: u64) -> FrameState {
    if remaining == 0 {
        FrameState::default()
    } else {
        FrameState::Passthrough { remaining }
    }
}

fn read_header(
    mut buf: [u8; MAX_HEADER_LEN],
    mut filled: usize,
    input: &[u8],
    out: &mut Vec<u8>,
) -> (FrameState, usize) {
    // The first two bytes tell how long the header is.
    let needed = if filled < 2 { 2 } else { header_len(buf[1]) };
    let used = min(needed - filled, input.len());
    buf[filled..filled + used].copy_from_slice(&input[..used]);
    filled += used;
    if filled < 2 || filled < header_len(buf[1]) {
        return (FrameState::Header { buf, filled }, used);
    }
    let header = FrameHeader::parse(buf, filled);
    if header.may_be_connect() {
        let payload = Vec::new();
        return (FrameState::Held { header, payload }, used);
    }
    out.extend_from_slice(header.raw());
    (after_payload(header.payload_len), used)
}

fn read_held(
    header: FrameHeader,
    mut payload: Vec<u8>,
    input: &[u8],
    out: &mut Vec<u8>,
) -> (FrameState, usize) {
    let prefix_len = CONNECT_PREFIX.len();
    // Whole frame is at most MAX_CONNECT_FRAME bytes, so this fits.
    let frame_len = header.payload_len as usize;
    // Take just the prefix first, to stop holding the frame as soon as it
    // turns out not to be a CONNECT.
    let wanted = if payload.len() < prefix_len {
        prefix_len - payload.len()
    } else {
        frame_len - payload.len()
    };
    let used = min(wanted, input.len());
    payload.extend_from_slice(&input[..used]);

    if payload.len() >= prefix_len && !header.unmasked_starts_with(&payload, CONNECT_PREFIX) {
        out.extend_from_slice(header.raw());
        out.extend_from_slice(&payload);
        return (
            after_payload(header.payload_len - payload.len() as u64),
            used,
        );
    }
    if payload.len() < frame_len {
        return (FrameState::Held { header, payload }, used);
    }
    release_held_frame(&header, payload, out);
    (FrameState::default(), used)
}

fn pass_through(remaining: u64, input: &[u8], out: &mut Vec<u8>) -> (FrameState, usize) {
    let used = usize::try_from(remaining).map_or(input.len(), |r| min(r, input.len()));
    out.extend_from_slice(&input[..used]);
    (after_payload(remaining - used as u64), used)
}

/// Writes a complete held frame to `out`, without its CONNECT query if it has
/// one.
fn release_held_frame(header: &FrameHeader, mut payload: Vec<u8>, out: &mut Vec<u8>) {
    apply_mask(&mut payload, header.mask);
    let Some(query) = connect_query_range(&payload) else {
        out.extend_from_slice(header.raw());
        apply_mask(&mut payload, header.mask);
        out.extend_from_slice(&payload);
        return;
    };
    payload.drain(query);
    apply_mask(&mut payload, header.mask);
    write_masked_header(out, header.first_byte(), header.mask, payload.len());
    out.extend_from_slice(&payload);
}

/// Masking is a XOR, so the same call masks and unmasks.
fn apply_mask(payload: &mut [u8], mask: [u8; 4]) {
    payload
        .iter_mut()
        .zip(mask.iter().cycle())
        .for_each(|(byte, key)| *byte ^= key);
}

/// Encodes with the shortest length form, as RFC 6455 §5.2 requires.
fn write_masked_header(out: &mut Vec<u8>, first_byte: u8, mask: [u8; 4], len: usize) {
    out.push(first_byte);
    match (u8::try_from(len), u16::try_from(len)) {
        (Ok(short), _) if short < LEN_16 => out.push(MASK_BIT | short),
        (_, Ok(medium)) => {
            out.push(MASK_BIT | LEN_16);
            out.extend_from_slice(&medium.to_be_bytes());
        }
        _ => {
            out.push(MASK_BIT | LEN_64);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
}

/// Header length (2 to 14 bytes) given its second byte.
fn header_len(second_byte: u8) -> usize {
    let extended = match second_byte & !MASK_BIT {
        LEN_16 => 2,
        LEN_64 => 8,
        _ => 0,
    };
    let mask = if second_byte & MASK_BIT != 0 { 4 } else { 0 };
    2 + extended + mask
}

#[derive(Debug, Clone, Copy)]
struct FrameHeader {
    bytes: [u8; MAX_HEADER_LEN],
    len: usize,
    payload_len: u64,
    masked: bool,
    mask: [u8; 4],
}

impl FrameHeader {
    /// `bytes[..len]` must hold a complete header (`len == header_len(bytes[1])`).
    fn parse(bytes: [u8; MAX_HEADER_LEN], len: usize) -> Self {
        let (payload_len, mask_at) = match bytes[1] & !MASK_BIT {
            LEN_16 => (u64::from(u16::from_be_bytes([bytes[2], bytes[3]])), 4),
            LEN_64 => {
                let mut extended = [0; 8];
                extended.copy_from_slice(&bytes[2..10]);
                (u64::from_be_bytes(extended), 10)
            }
            short => (u64::from(short), 2),
        };
        let masked = bytes[1] & MASK_BIT != 0;
        let mut mask = [0; 4];
        if masked {
            mask.copy_from_slice(&bytes[mask_at..mask_at + 4]);
        }
        Self {
            bytes,
            len,
            payload_len,
            masked,
            mask,
        }
    }

    fn first_byte(&self) -> u8 {
        self.bytes[0]
    }

    fn raw(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// A complete (FIN), plain (no RSV bits) and masked text frame, large
    /// enough for a CONNECT prefix and small enough to hold back.
    fn may_be_connect(&self) -> bool {
        self.first_byte() == FIN_TEXT
            && self.masked
            && (CONNECT_PREFIX.len() as u64..=MAX_CONNECT_FRAME).contains(&self.payload_len)
    }

    fn unmasked_starts_with(&self, masked_payload: &[u8], prefix: &[u8]) -> bool {
        masked_payload.len() >= prefix.len()
            && masked_payload
                .iter()
                .zip(self.mask.iter().cycle())
                .zip(prefix)
                .all(|((byte, key), expected)| byte ^ key == *expected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
    const OP_TEXT: u8 = 0x1;
    const OP_BINARY: u8 = 0x2;
    const OP_CONTINUATION: u8 = 0x0;
    const OP_PING: u8 = 0x9;

    /// A client frame as a browser would send it.
    fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut frame = Vec::new();
        let first = if fin { 0x80 | opcode } else { opcode };
        let mut masked = payload.to_vec();
        apply_mask(&mut masked, MASK);
        write_masked_header(&mut frame, first, MASK, payload.len());
        frame.extend_from_slice(&masked);
        frame
    }

    fn text(payload: &str) -> Vec<u8> {
        client_frame(true, OP_TEXT, payload.as_bytes())
    }

    /// Decodes client frames back into (first byte, unmasked payload), checking
    /// that lengths use their shortest form.
    fn decode_frames(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut frames = Vec::new();
        while !bytes.is_empty() {
            let len = header_len(bytes[1]);
            let mut buf = [0; MAX_HEADER_LEN];
            buf[..len].copy_from_slice(&bytes[..len]);
            let header = FrameHeader::parse(buf, len);
            let minimal = match header.payload_len {
                0..=125 => 2,
                126..=0xFFFF => 4,
                _ => 10,
            } + 4;
            assert_eq!(len, minimal, "non-minimal length encoding");
            let end = len + header.payload_len as usize;
            let mut payload = bytes[len..end].to_vec();
            apply_mask(&mut payload, header.mask);
            frames.push((header.first_byte(), payload));
            bytes = &bytes[end..];
        }
        frames
    }

    fn rewrite_in_chunks(input: &[u8], chunk: usize) -> Vec<u8> {
        let mut rewriter = FrameRewriter::default();
        let mut out = Vec::new();
        input
            .chunks(chunk)
            .for_each(|part| rewriter.feed(part, &mut out));
        rewriter.finish(&mut out);
        out
    }

    /// Every split of the stream, from byte-by-byte to one piece, must give
    /// the same result.
    fn assert_rewrites(input: &[u8], expected: &[u8]) {
        for chunk in [1, 2, 3, 5, 7, 13, 64, 4096, input.len().max(1)] {
            assert_eq!(
                rewrite_in_chunks(input, chunk),
                expected,
                "chunk size {chunk}"
            );
        }
    }

    #[test]
    fn connect_query_is_stripped_from_frame() {
        assert_rewrites(
            &text("40/chat-service?user=alice,"),
            &text("40/chat-service,"),
        );
    }

    #[test]
    fn connect_query_at_end_of_frame_is_stripped() {
        assert_rewrites(
            &text("40/chat-service?user=alice"),
            &text("40/chat-service"),
        );
    }

    #[test]
    fn connect_data_after_namespace_is_kept() {
        assert_rewrites(
            &text(r#"40/chat-service?user=alice,{"token":"a?b,c"}"#),
            &text(r#"40/chat-service,{"token":"a?b,c"}"#),
        );
    }

    #[test]
    fn multibyte_utf8_query_is_stripped() {
        let output = rewrite_in_chunks(&text("40/chat-service?user=bob-é✓😀,"), 1);
        let frames = decode_frames(&output);
        assert_eq!(frames, vec![(FIN_TEXT, b"40/chat-service,".to_vec())]);
    }

    #[test]
    fn frames_without_connect_query_are_untouched() {
        let mut stream = Vec::new();
        for frame in [
            text("40/chat-service,"),
            text("40"),
            text("40/chat-service"),
            text(r#"42/chat-service,["msg","?x"]"#),
            text("2probe"),
            text(""),
            text("4"),
            client_frame(true, OP_BINARY, b"40/chat-service?user=alice,"),
            client_frame(true, OP_PING, b"40/x?y"),
            client_frame(false, OP_TEXT, b"40/chat-service?user=alice,"),
            client_frame(true, OP_CONTINUATION, b"40/chat-service?x"),
        ] {
            stream.extend_from_slice(&frame);
        }
        assert_rewrites(&stream, &stream);
    }

    #[test]
    fn rewrite_keeps_surrounding_frames_in_order() {
        let mut input = text("3probe");
        input.extend(text("40/chat-service?user=alice,"));
        input.extend(client_frame(true, OP_PING, b""));
        input.extend(text(r#"42/chat-service,["x"]"#));
        let mut expected = text("3probe");
        expected.extend(text("40/chat-service,"));
        expected.extend(client_frame(true, OP_PING, b""));
        expected.extend(text(r#"42/chat-service,["x"]"#));
        assert_rewrites(&input, &expected);
    }

    #[test]
    fn frame_with_16_bit_length_is_reframed_shorter() {
        let query = "x".repeat(300);
        let input = text(&format!("40/chat-service?user={query},"));
        assert_eq!(input[1] & !MASK_BIT, LEN_16);
        let expected = text("40/chat-service,");
        assert_eq!(expected[1] & !MASK_BIT, 16);
        assert_rewrites(&input, &expected);
    }

    #[test]
    fn frame_with_64_bit_length_is_reframed_shorter() {
        // 65 536 bytes: the largest CONNECT frame held back, needing 64 bits.
        let payload = format!("40/c?{},", "q".repeat(65_536 - 6));
        let input = text(&payload);
        assert_eq!(input[1] & !MASK_BIT, LEN_64);
        assert_rewrites(&input, &text("40/c,"));
    }

    #[test]
    fn rewritten_frame_keeps_16_bit_length_when_needed() {
        let data = format!("[\"{}\"]", "d".repeat(1000));
        let input = text(&format!("40/chat-service?user=alice,{data}"));
        let expected = text(&format!("40/chat-service,{data}"));
        assert_eq!(expected[1] & !MASK_BIT, LEN_16);
        assert_rewrites(&input, &expected);
    }

    #[test]
    fn oversized_connect_frame_streams_through_untouched() {
        let payload = format!("40/c?{},", "q".repeat(70_000));
        let input = text(&payload);
        assert_rewrites(&input, &input);
    }

    #[test]
    fn large_frames_stream_through_untouched() {
        let big_16 = text(&format!("42/c,[\"{}\"]", "m".repeat(40_000)));
        let big_64 = client_frame(true, OP_BINARY, &vec![0xAB; 100_000]);
        let mut input = big_16;
        input.extend(big_64);
        input.extend(text("40/chat-service?user=z,"));
        let mut expected = input[..input.len() - text("40/chat-service?user=z,").len()].to_vec();
        expected.extend(text("40/chat-service,"));
        assert_rewrites(&input, &expected);
    }

    #[test]
    fn truncated_stream_is_released_as_is() {
        let frame = text("40/chat-service?user=alice,");
        for cut in 1..frame.len() {
            assert_eq!(rewrite_in_chunks(&frame[..cut], 1), &frame[..cut]);
        }
    }

    /// Yields its data a few bytes per read, returning `Pending` in between to
    /// exercise the wakeup path.
    struct TrickleReader {
        data: Vec<u8>,
        pos: usize,
        step: usize,
        pending_next: bool,
    }

    impl AsyncRead for TrickleReader {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            this.pending_next = !this.pending_next;
            if this.pending_next {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let n = min(min(this.step, buf.remaining()), this.data.len() - this.pos);
            buf.put_slice(&this.data[this.pos..this.pos + n]);
            this.pos += n;
            Poll::Ready(Ok(()))
        }
    }

    async fn read_filtered(data: Vec<u8>, step: usize, read_size: usize) -> Vec<u8> {
        use tokio::io::AsyncReadExt;
        let reader = TrickleReader {
            data,
            pos: 0,
            step,
            pending_next: false,
        };
        let mut filter = ConnectQueryFilter::new(reader);
        let mut out = Vec::new();
        let mut buf = vec![0; read_size];
        loop {
            let n = filter.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    #[tokio::test]
    async fn filter_rewrites_through_async_reads() {
        let mut input = text("2probe");
        input.extend(client_frame(true, OP_BINARY, &vec![7; 70_000]));
        input.extend(text("40/chat-service?user=alice,"));
        input.extend(text(r#"42/chat-service,0["echo","é"]"#));
        let mut expected = text("2probe");
        expected.extend(client_frame(true, OP_BINARY, &vec![7; 70_000]));
        expected.extend(text("40/chat-service,"));
        expected.extend(text(r#"42/chat-service,0["echo","é"]"#));
        for (step, read_size) in [(1, 1), (1, 4096), (3, 2), (5000, 7), (100_000, 100_000)] {
            assert_eq!(
                read_filtered(input.clone(), step, read_size).await,
                expected,
                "step {step}, read size {read_size}"
            );
        }
    }

    #[test]
    fn polling_connect_query_is_stripped() {
        let out = rewrite_polling_payload(b"27:40/chat-service?user=alice,");
        assert_eq!(out.as_deref(), Some(&b"16:40/chat-service,"[..]));
    }

    #[test]
    fn polling_rewrite_keeps_other_packets_and_counts_utf16() {
        // "😀" is 2 UTF-16 units, "é" one: lengths are JS string lengths.
        let payload = "6:2probe25:40/c?user=%C3%A9&x=é😀,{}9:42[\"😀é\"]";
        let out = rewrite_polling_payload(payload.as_bytes());
        assert_eq!(
            out.as_deref(),
            Some("6:2probe7:40/c,{}9:42[\"😀é\"]".as_bytes())
        );
    }

    #[test]
    fn polling_connect_query_at_end_is_stripped() {
        let out = rewrite_polling_payload(b"2:4019:40/chat-service?u=a");
        assert_eq!(out.as_deref(), Some(&b"2:4015:40/chat-service"[..]));
    }

    #[test]
    fn polling_payloads_without_connect_query_are_untouched() {
        for payload in [
            &b"16:40/chat-service,"[..],
            b"2:40",
            b"1:2",
            b"",
            b"21:42/c,[\"a?b\",\"40/x?y\"]",
            // Malformed: left for socketioxide to reject.
            b"26:40/chat-service?user=alice,",
            b"x:40/c?u",
            b"7:40/c?u",
            "2:40/c?😀".as_bytes(),
            // Binary payload (string packet, then binary packet).
            b"\x00\x02\xff40\x01\x03\xff\x04\x01\x02",
            b"\xff\xfe",
        ] {
            assert_eq!(rewrite_polling_payload(payload), None, "{payload:?}");
        }
    }

    #[test]
    fn utf16_offset_refuses_to_split_a_surrogate_pair() {
        assert_eq!(utf16_offset("a😀b", 1), Some(1));
        assert_eq!(utf16_offset("a😀b", 2), None);
        assert_eq!(utf16_offset("a😀b", 3), Some(5));
        assert_eq!(utf16_offset("a😀b", 4), Some(6));
        assert_eq!(utf16_offset("a😀b", 5), None);
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

    /// Stands in for `SocketIoService`: echoes request bodies and records raw
    /// streams handed to it.
    #[derive(Clone, Default)]
    struct EchoInner {
        streams: Arc<std::sync::Mutex<Vec<http::Uri>>>,
    }

    impl Service<Request> for EchoInner {
        type Response = http::Response<Body>;
        type Error = Infallible;
        type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, req: Request) -> Self::Future {
            Box::pin(async move {
                let (parts, body) = req.into_parts();
                let bytes = axum::body::to_bytes(body, usize::MAX)
                    .await
                    .unwrap_or_default();
                let mut response = http::Response::new(Body::from(bytes));
                if let Some(len) = parts.headers.get(header::CONTENT_LENGTH) {
                    response
                        .headers_mut()
                        .insert("x-seen-content-length", len.clone());
                }
                Ok(response)
            })
        }
    }

    impl<St: Send + 'static> Service<(St, http::Request<()>)> for EchoInner {
        type Response = ();
        type Error = Infallible;
        type Future = std::future::Ready<Result<(), Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, (_, req): (St, http::Request<()>)) -> Self::Future {
            if let Ok(mut streams) = self.streams.lock() {
                streams.push(req.uri().clone());
            }
            std::future::ready(Ok(()))
        }
    }

    async fn post_through_compat(uri: &str, body: &'static [u8]) -> (String, Option<String>) {
        let req = http::Request::post(uri)
            .header(header::CONTENT_LENGTH, body.len())
            .body(Body::from(body));
        let Ok(req) = req else {
            return (String::from("bad request"), None);
        };
        let compat = LegacyCompat::new(EchoInner::default());
        let Ok(response) = ServiceExt::<Request>::oneshot(compat, req).await;
        let seen_len = response
            .headers()
            .get("x-seen-content-length")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap_or_default();
        (String::from_utf8_lossy(&bytes).into_owned(), seen_len)
    }

    #[tokio::test]
    async fn v3_polling_post_body_is_rewritten() {
        let (body, len) = post_through_compat(
            "/socket.io/?EIO=3&transport=polling&sid=x",
            b"27:40/chat-service?user=alice,",
        )
        .await;
        assert_eq!(body, "16:40/chat-service,");
        assert_eq!(len.as_deref(), Some("19"));
    }

    #[tokio::test]
    async fn v4_and_other_posts_are_untouched() {
        for uri in [
            "/socket.io/?EIO=4&transport=polling&sid=x",
            "/api/send?EIO=3",
        ] {
            let (body, len) = post_through_compat(uri, b"27:40/chat-service?user=alice,").await;
            assert_eq!(body, "27:40/chat-service?user=alice,", "{uri}");
            assert_eq!(len.as_deref(), Some("30"), "{uri}");
        }
    }

    #[tokio::test]
    async fn oversized_polling_body_is_replayed_untouched() {
        let mut payload = b"27:40/chat-service?user=alice,".to_vec();
        payload.extend(std::iter::repeat_n(b'1', MAX_BUFFERED_PAYLOAD));
        let chunks: Vec<Result<Bytes, io::Error>> = payload
            .chunks(4096)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let req = http::Request::post("/socket.io/?EIO=3&transport=polling&sid=x")
            .body(Body::from_stream(stream::iter(chunks)));
        let Ok(req) = req else {
            panic!("request must build");
        };
        let compat = LegacyCompat::new(EchoInner::default());
        let Ok(response) = ServiceExt::<Request>::oneshot(compat, req).await;
        let echoed = axum::body::to_bytes(response.into_body(), usize::MAX).await;
        assert_eq!(echoed.ok().as_deref(), Some(&payload[..]));
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
            let server = tokio::spawn(serve(listener, LegacyCompat::new(svc), async move {
                stopped.await.ok();
            }));
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

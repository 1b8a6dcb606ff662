//! socketioxide's service as `http::serve::serve` takes it
//! ([`socket_io_http`]), with request heads that own their bytes. hyper
//! parses a request's URI and header values as slices of the connection's
//! read buffer (8 to 16 KB), and socket.io keeps the head of each
//! session's first request for as long as the socket lives, so every
//! connection pinned a whole read buffer (about half of a socket's
//! memory). A copy costs a few hundred bytes once per socket
//! ([`keeps_head`] picks the requests).

use std::convert::Infallible;

use axum::BoxError;
use axum::body::{Body, HttpBody};
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Uri};
use tower::Service;
use tower::util::{MapRequest, MapResponse};

/// The path socketioxide serves by default.
const REQ_PATH: &str = "/socket.io";

/// socketioxide's `SocketIoService` (at its default path) as
/// [`crate::http::serve::serve`] takes it: axum responses, and the heads
/// socket.io keeps for a socket's life copied first ([`detach_kept`]).
pub type SocketIoHttp<S, B> = MapResponse<
    MapRequest<S, fn(axum::extract::Request) -> axum::extract::Request>,
    fn(http::Response<B>) -> Response,
>;

/// Wraps socketioxide's service for [`crate::http::serve::serve`]; see
/// [`SocketIoHttp`].
pub fn socket_io_http<S, B>(svc: S) -> SocketIoHttp<S, B>
where
    S: Service<axum::extract::Request, Response = http::Response<B>, Error = Infallible>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let detach: fn(axum::extract::Request) -> axum::extract::Request = detach_kept;
    let convert: fn(http::Response<B>) -> Response = |response| response.map(Body::new);
    MapResponse::new(MapRequest::new(svc, detach), convert)
}

/// `req`, with its head detached if socket.io keeps it.
fn detach_kept<B>(req: Request<B>) -> Request<B> {
    if keeps_head(&req, REQ_PATH) {
        detach(req)
    } else {
        req
    }
}

/// Whether socketioxide keeps this request's head for the socket's life:
/// the requests that open a session (no `sid`) or upgrade it to websocket.
/// Polling requests of an open session are left as they are.
fn keeps_head<B>(req: &Request<B>, req_path: &str) -> bool {
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

/// `req` with its URI and header values copied out of hyper's buffer.
fn detach<B>(req: Request<B>) -> Request<B> {
    let (mut parts, body) = req.into_parts();
    let mut headers = HeaderMap::with_capacity(parts.headers.len());
    let mut current = None;
    for (name, value) in parts.headers.drain() {
        // `drain` names a header once, before all its values.
        if let Some(name) = name {
            current = Some(name);
        }
        let Some(name) = &current else { continue };
        headers.append(name.clone(), owned(&value));
    }
    parts.headers = headers;
    if let Ok(uri) = Uri::try_from(parts.uri.to_string()) {
        parts.uri = uri;
    }
    Request::from_parts(parts, body)
}

fn owned(value: &HeaderValue) -> HeaderValue {
    match HeaderValue::from_bytes(value.as_bytes()) {
        Ok(mut copy) => {
            copy.set_sensitive(value.is_sensitive());
            copy
        }
        Err(_) => value.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_session_opening_and_upgrading_heads_are_copied() {
        let keeps = |uri: &str| {
            let req = Request::get(uri).body(()).unwrap();
            keeps_head(&req, REQ_PATH)
        };
        assert!(keeps("/socket.io/?EIO=4&transport=polling"));
        assert!(keeps("/socket.io/?EIO=4&transport=websocket"));
        assert!(keeps("/socket.io/?EIO=3&transport=websocket&sid=abc"));
        assert!(!keeps("/socket.io/?EIO=4&transport=polling&sid=abc"));
        assert!(!keeps("/socket.io-admin/?EIO=4"));
        assert!(!keeps("/metrics"));
    }

    #[test]
    fn keeps_every_header_value_in_order_and_the_uri() {
        let req = Request::get("/socket.io/?EIO=4&transport=websocket&user=a%20b")
            .header("x-many", "1")
            .header("x-many", "2")
            .header("host", "h")
            .body(())
            .unwrap();
        let detached = detach(req);
        let many: Vec<_> = detached.headers().get_all("x-many").iter().collect();
        assert_eq!(many, ["1", "2"]);
        assert_eq!(detached.headers()["host"], "h");
        assert_eq!(
            detached.uri(),
            "/socket.io/?EIO=4&transport=websocket&user=a%20b"
        );
    }
}

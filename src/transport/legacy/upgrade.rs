//! The websocket side of the shim: an `EIO=3` upgrade is answered here, and
//! the upgraded connection is handed to socketioxide's raw-stream service
//! behind a [`ConnectQueryFilter`], with the handshake request it came with.

use std::fmt;

use axum::{
    body::Body,
    extract::Request,
    http::{self, HeaderValue, StatusCode, header},
    response::Response,
};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tower::{Service, ServiceExt};

use super::{ConnectQueryFilter, LegacyWsStream};

/// Answers the upgrade with 101 and, once hyper hands the connection over,
/// gives it to the inner raw-stream service behind a [`ConnectQueryFilter`].
///
/// Like engineioxide's own upgrade path, the 101 is sent before the session id
/// is checked; a bad one just ends the new connection.
pub(super) fn accept_websocket<S>(inner: S, mut req: Request) -> Response
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

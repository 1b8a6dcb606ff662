//! The polling side of the shim: the body of an `EIO=3` POST is buffered,
//! within a limit, and its engine.io v3 payload rewritten so that no CONNECT
//! packet carries a query, before the request goes on to socketioxide.

use std::convert::Infallible;

use axum::{
    BoxError,
    body::{Body, BodyDataStream, HttpBody},
    extract::Request,
    http::{self, HeaderMap, HeaderValue, header},
    response::Response,
};
use bytes::{Bytes, BytesMut};
use futures::{StreamExt, stream};
use tower::{Service, ServiceExt};

use super::{connect_query_range, into_axum_response};

pub(super) async fn forward_polling_post<S, B>(
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

#[cfg(test)]
mod tests {
    use std::{
        io,
        sync::Arc,
        task::{Context, Poll},
    };

    use futures::future::BoxFuture;

    use super::*;
    use crate::transport::legacy::{LegacyCompat, MAX_BUFFERED_PAYLOAD};

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
}

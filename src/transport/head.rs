//! Request heads that own their bytes. hyper parses a request's URI and
//! header values as slices of the connection's read buffer (8 to 16 KB),
//! and socket.io keeps the head of each session's first request for as
//! long as the socket lives, so every connection pinned a whole read
//! buffer (about half of a socket's memory). A copy costs a few hundred
//! bytes once per socket (`legacy::keeps_head` picks the requests).

use http::{HeaderMap, HeaderValue, Request, Uri};

/// `req` with its URI and header values copied out of hyper's buffer.
pub fn detach<B>(req: Request<B>) -> Request<B> {
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

//! The built-in web chat: the files of `web/`, embedded in the binary and
//! served at `/` (`Static::Demo`), and the socket.io client bundle at
//! `/socket.io/socket.io.js` (protocol.md 1.1). That path lies under
//! socketioxide's `/socket.io` prefix, so [`ClientBundleLayer`] answers it
//! in front of socketioxide.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::future::Either;
use tower::{Layer, Service};

/// One embedded file of `web/`.
#[derive(Debug)]
pub struct WebFile {
    /// The path below `/` (and below `web/`).
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

macro_rules! web_file {
    ($path:literal, $content_type:expr) => {
        WebFile {
            path: $path,
            content_type: $content_type,
            body: include_bytes!(concat!("../../web/", $path)),
        }
    };
}

/// Every file the page needs (`index.html` is also served at `/`).
pub const FILES: &[WebFile] = &[
    web_file!("index.html", HTML),
    web_file!("app.js", JS),
    web_file!("style.css", CSS),
    web_file!("vendor/socket.io.min.js", JS),
    web_file!("vendor/socket.io-client.LICENSE", TEXT),
    web_file!("vendor/VERSION", TEXT),
];

/// The files of `web/` that are not served (tooling).
#[cfg(test)]
const NOT_SERVED: &[&str] = &["update-vendor.sh"];

/// Where socket.io 2 servers serve their client bundle.
pub const CLIENT_BUNDLE_PATH: &str = "/socket.io/socket.io.js";

const CLIENT_BUNDLE: &WebFile = &FILES[3];

fn respond(file: &'static WebFile) -> Response {
    (
        [
            (header::CONTENT_TYPE, file.content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        file.body,
    )
        .into_response()
}

/// The routes of the web chat: `/` and every file by its path.
pub fn routes() -> Router {
    let mut router = Router::new();
    for file in FILES {
        router = router.route(
            &format!("/{}", file.path),
            get(move || ready(respond(file))),
        );
    }
    let index = &FILES[0];
    router.route("/", get(move || ready(respond(index))))
}

/// Answers `GET /socket.io/socket.io.js` with the client bundle; passes
/// every other request to the inner service.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientBundleLayer;

impl<S> Layer<S> for ClientBundleLayer {
    type Service = ClientBundle<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ClientBundle { inner }
    }
}

/// The service of [`ClientBundleLayer`].
#[derive(Debug, Clone)]
pub struct ClientBundle<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for ClientBundle<S>
where
    S: Service<Request<B>, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<S::Future, Ready<Result<Response, Infallible>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let method = req.method();
        if (method == Method::GET || method == Method::HEAD)
            && req.uri().path() == CLIENT_BUNDLE_PATH
        {
            let mut response = respond(CLIENT_BUNDLE);
            if method == Method::HEAD {
                *response.body_mut() = Body::empty();
            }
            return Either::Right(ready(Ok(response)));
        }
        Either::Left(self.inner.call(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Every file of `web/` is embedded, or deliberately not served.
    #[test]
    fn every_web_file_is_embedded() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
        let mut found = Vec::new();
        let mut dirs = vec![root.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if let Ok(rel) = path.strip_prefix(&root) {
                    found.push(rel.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        assert!(!found.is_empty());
        for file in &found {
            let listed = FILES.iter().any(|f| f.path == file) || NOT_SERVED.contains(&&**file);
            assert!(listed, "web/{file} is neither embedded nor in NOT_SERVED");
        }
    }

    #[test]
    fn the_client_bundle_is_socket_io() {
        assert_eq!(CLIENT_BUNDLE.path, "vendor/socket.io.min.js");
        assert!(CLIENT_BUNDLE.body.starts_with(b"/*!\n * Socket.IO v4."));
        assert_eq!(FILES[0].path, "index.html");
    }
}

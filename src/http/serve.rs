//! Accepting connections (interface.md 8): hyper serves each one,
//! websocket upgrades included, with a deadline for every request head
//! (`--http-header-timeout`), so that connections that send nothing or
//! trickle a head are closed instead of holding a file descriptor forever.
//! When accepting fails (too many open files) the loop pauses briefly and
//! says so at most once a minute; a graceful shutdown lets the open
//! connections finish.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;
use tower::{Service, ServiceExt};

/// How long the accept loop rests after a failed accept (a full file
/// table frees up only as connections close).
const ACCEPT_PAUSE: Duration = Duration::from_millis(50);

/// The most a connection reads ahead of what its request handler consumed
/// (hyper's default is ~400 KB): a request head must fit, and connections
/// trickling unfinished bodies hold no more than this each.
const READ_BUFFER: usize = 64 * 1024;

/// How long a graceful shutdown waits for open connections.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown` resolves, then lets the
/// open connections finish (for at most ten seconds).
pub async fn serve<A>(
    listener: TcpListener,
    app: A,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()>
where
    A: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    A::Future: Send,
{
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(READ_BUFFER);
    // Each connection task ends at once when asked (in-flight requests
    // finish, idle connections close); the tracker waits for them all.
    let (stop, stopping) = tokio::sync::watch::channel(());
    let connections = TaskTracker::new();
    let mut errors = AcceptErrors::default();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    errors.note(&error);
                    tokio::time::sleep(ACCEPT_PAUSE).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        errors.recovered();
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
        // The peer address goes with every request (axum's `ConnectInfo`),
        // for the log of rejected logins.
        let app = app.clone().map_request(move |request: Request<Incoming>| {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        });
        let connection = http
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app))
            .with_upgrades();
        let mut stopping = stopping.clone();
        connections.spawn(async move {
            tokio::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                _ = stopping.changed() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = ended {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    drop(stop);
    connections.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, connections.wait())
        .await
        .is_err()
    {
        tracing::debug!("connections still open at shutdown");
    }
    Ok(())
}

/// Accept failures, logged when they start and then at most once a minute
/// with how many there were meanwhile.
#[derive(Default)]
struct AcceptErrors {
    logged: Option<Instant>,
    since: u64,
    failing: bool,
}

impl AcceptErrors {
    const EVERY: Duration = Duration::from_secs(60);

    fn note(&mut self, error: &io::Error) {
        self.since += 1;
        self.failing = true;
        if self.logged.is_none_or(|at| at.elapsed() >= Self::EVERY) {
            tracing::warn!(%error, failures = self.since, "cannot accept connections (logged at most once a minute)");
            self.logged = Some(Instant::now());
            self.since = 0;
        }
    }

    fn recovered(&mut self) {
        if std::mem::take(&mut self.failing) {
            tracing::debug!("accepting connections again");
        }
    }
}

//! Assembles the process: socket.io (with the v2 compatibility layer),
//! the chat service, the HTTP routes, the listener, and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, Method, header};
use axum::response::IntoResponse;
use fred::prelude::ClientLike;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::service::SocketIoService;
use socketioxide_core::adapter::DefinedAdapter;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::cluster::NamespaceInit;
use crate::cluster::{ClusterBus, adapter};
use crate::error::ChatServiceError;
use crate::http::body::BodyLimits;
use crate::http::{self, AppState, PubSubCheck};
use crate::options::ServiceOptions;
use crate::redis::RedisSettings;
use crate::service::ChatService;
use crate::service::hooks::Hooks;
use crate::state::{MemoryState, RedisState, SqliteSettings, SqliteStore, State};
use crate::transport::socket_io_http;

/// What the binary serves, and how.
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub service: ServiceOptions,
    pub admin_token: Option<String>,
    /// `*` or a comma-separated list of origins.
    pub cors_origin: String,
    /// What is served at `/`.
    pub static_files: Static,
    pub max_payload_bytes: u64,
    pub http: HttpLimits,
    pub state: StateSettings,
}

/// The time limits of HTTP connections (interface.md 8).
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// For a complete request head.
    pub header_timeout: Duration,
    /// For a complete request body.
    pub body_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
        }
    }
}

/// Bytes of request bodies being received at one time, in multiples of
/// the largest packet: enough for many polling clients at once, and a
/// bound on what unfinished bodies can make the server hold.
const BODY_BUDGET_PACKETS: usize = 16;

/// The files served at `/`.
#[derive(Debug, Clone)]
pub enum Static {
    /// The built-in demo page.
    Demo,
    /// A directory (with `index.html`).
    Dir(PathBuf),
    /// Nothing.
    None,
}

/// Where the service keeps its state.
#[derive(Debug, Clone)]
pub enum StateSettings {
    /// In this process (one instance), with its durable data in an SQLite
    /// file that it reads back at start.
    Sqlite(SqliteSettings),
    /// In this process (one instance), nothing kept across restarts.
    Memory,
    /// In Redis, shared by every instance with the same `prefix`.
    Redis {
        redis: RedisSettings,
        prefix: String,
    },
}

/// Why a server did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Bad configuration (Redis unreachable, an SQLite file in use or not
    /// ours, …): the binary exits 2.
    #[error("{0}")]
    Configuration(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<std::io::Error> for StartError {
    fn from(error: std::io::Error) -> Self {
        Self::Other(error.into())
    }
}

impl From<ChatServiceError> for StartError {
    fn from(error: ChatServiceError) -> Self {
        Self::Other(anyhow::anyhow!(error.to_wire_string()))
    }
}

/// A started server: its address and service, until `shutdown` resolves.
pub struct Server {
    pub addr: SocketAddr,
    pub service: ChatService,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Connections the kernel queues before they are accepted: tokio's default
/// of 128 overflows when hundreds of clients (re)connect at once, and each
/// dropped SYN costs its client a one-second retransmit.
const LISTEN_BACKLOG: u32 = 1024;

/// The websocket read buffer each connection keeps (engineioxide's default
/// is 4 KB): chat frames are small, and bigger ones are read in steps.
pub const WS_READ_BUFFER: usize = 1024;

/// Resolves on SIGINT or SIGTERM. The handlers are installed by this call:
/// make it before printing the listening line, so a signal sent right
/// after that line cannot kill the process the default way.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Makes a write past the file size limit (`RLIMIT_FSIZE`, `ulimit -f`)
/// fail with `EFBIG` instead of killing the process: the default action of
/// the SIGXFSZ it raises is to end the process. SQLite then reports an I/O
/// error, which the SQLite state handles as a full disk (commands answer
/// `internalError`, `/health` 503, and what was kept is written once there
/// is room again). tokio's handler, installed by this call, catches the
/// signal for the rest of the process's life, with nobody listening to it.
/// Call it inside the runtime, before the state opens its file.
pub fn survive_file_size_limit() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        // Dropped at once: the handler stays, and a signal nobody listens
        // to is discarded.
        drop(signal(SignalKind::from_raw(libc::SIGXFSZ))?);
    }
    Ok(())
}

/// Binds a listening socket on `host:port` (the first address `host`
/// resolves to) with [`LISTEN_BACKLOG`].
pub async fn bind(host: &str, port: u16) -> std::io::Result<TcpListener> {
    let mut last_error = None;
    for addr in tokio::net::lookup_host((host, port)).await? {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        match socket.bind(addr) {
            Ok(()) => return socket.listen(LISTEN_BACKLOG),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::AddrNotAvailable,
            format!("{host}: no address"),
        )
    }))
}

/// What `launch` needs besides the socket.io server.
struct Parts<H, F> {
    settings: ServerSettings,
    listener: TcpListener,
    service_slot: Arc<OnceLock<ChatService>>,
    state: Arc<dyn State>,
    bus: ClusterBus,
    configure: H,
    shutdown: F,
}

impl Server {
    /// Connects the state (Redis: before binding, so an unreachable Redis
    /// is a configuration error; SQLite: opens and reads the file, so one
    /// in use or not ours is too), binds, starts the service and serves
    /// until `shutdown` resolves; then closes the service gracefully.
    pub async fn start(
        settings: ServerSettings,
        configure: impl FnOnce(&mut Hooks),
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<Server, StartError> {
        let bus_timeout = settings.service.bus_ack_timeout;
        let local: Arc<dyn State> = match &settings.state {
            StateSettings::Sqlite(sqlite) => Arc::new(open_sqlite(sqlite).await?),
            _ => Arc::new(MemoryState::new()),
        };
        let redis = match &settings.state {
            StateSettings::Memory | StateSettings::Sqlite(_) => None,
            StateSettings::Redis { redis, prefix } => {
                let unreachable = |e: ChatServiceError| {
                    StartError::Configuration(format!("--redis-url: {}", e.message()))
                };
                let state = RedisState::connect(redis, prefix)
                    .await
                    .map_err(unreachable)?;
                let (adapter, adapter_client) = adapter::redis_adapter(redis, prefix, bus_timeout)
                    .await
                    .map_err(unreachable)?;
                let bus = ClusterBus::redis(redis, prefix, bus_timeout)
                    .await
                    .map_err(unreachable)?;
                Some((state, adapter, adapter_client, bus))
            }
        };
        // /health also needs the pub/sub connections: after a Redis outage
        // each reconnects on its own schedule, and until then broadcasts
        // and bus messages between instances are lost.
        let pubsub: Option<PubSubCheck> = redis.as_ref().map(|(_, _, client, bus)| {
            let (client, bus) = (client.clone(), bus.clone());
            Arc::new(move || client.is_connected() && bus.connected()) as PubSubCheck
        });
        let listener = bind(&settings.host, settings.port).await?;

        // The routes need the service, the service needs socket.io, and
        // socket.io wraps the routes: the service is filled in once started.
        let service_slot = Arc::new(OnceLock::new());
        let router = routes(&settings, service_slot.clone(), pubsub);
        let payload_limit = usize::try_from(settings.max_payload_bytes).unwrap_or(usize::MAX);
        let builder = SocketIo::builder()
            .ping_interval(Duration::from_millis(25_000))
            .ping_timeout(Duration::from_millis(5_000))
            .max_payload(settings.max_payload_bytes)
            .ws_max_message_size(payload_limit)
            .ws_max_frame_size(payload_limit)
            .max_buffer_size(4096)
            .ws_read_buffer_size(WS_READ_BUFFER);
        match redis {
            None => {
                let (io_service, io) = builder.build_with_inner_svc(router);
                let parts = Parts {
                    settings,
                    listener,
                    service_slot,
                    state: local,
                    bus: ClusterBus::local(bus_timeout),
                    configure,
                    shutdown,
                };
                launch(io_service, io, parts).await
            }
            Some((state, adapter, _, bus)) => {
                let (io_service, io) = builder
                    .with_adapter::<adapter::RedisAdapter<_>>(adapter)
                    .build_with_inner_svc(router);
                let parts = Parts {
                    settings,
                    listener,
                    service_slot,
                    state: Arc::new(state),
                    bus,
                    configure,
                    shutdown,
                };
                launch(io_service, io, parts).await
            }
        }
    }

    /// Waits until the server has shut down.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await??;
        Ok(())
    }
}

/// The memory engine on the SQLite file of `settings`, with its data.
async fn open_sqlite(settings: &SqliteSettings) -> Result<MemoryState, StartError> {
    let unusable = |reason: String| {
        StartError::Configuration(format!(
            "--sqlite-path {}: {reason}",
            settings.path.display()
        ))
    };
    let opening = settings.clone();
    let store = tokio::task::spawn_blocking(move || SqliteStore::open(&opening))
        .await
        .map_err(|e| StartError::Other(e.into()))?
        .map_err(|e| unusable(e.to_string()))?;
    MemoryState::with_store(Arc::new(store))
        .await
        .map_err(|e| unusable(e.message()))
}

/// Starts the service on a socket.io server with any adapter and serves.
async fn launch<A, H, F>(
    io_service: SocketIoService<Router, A>,
    io: SocketIo<A>,
    parts: Parts<H, F>,
) -> Result<Server, StartError>
where
    A: Adapter + DefinedAdapter,
    A::InitRes: NamespaceInit,
    H: FnOnce(&mut Hooks),
    F: Future<Output = ()> + Send + 'static,
{
    let Parts {
        settings,
        listener,
        service_slot,
        state,
        bus,
        configure,
        shutdown,
    } = parts;
    let addr = listener.local_addr()?;
    let service = ChatService::builder(settings.service.clone())
        .state(state)
        .bus(bus)
        .hooks(configure)
        .start(&io)
        .await?;
    let _ = service_slot.set(service.clone());

    let payload_limit = usize::try_from(settings.max_payload_bytes).unwrap_or(usize::MAX);
    let bodies = BodyLimits::new(
        settings.http.body_timeout,
        payload_limit.saturating_mul(BODY_BUDGET_PACKETS),
    );
    let app = ServiceBuilder::new()
        .map_request(move |request| bodies.apply(request))
        .map_response(IntoResponse::into_response)
        .layer(cors(&settings.cors_origin))
        .layer(http::web::ClientBundleLayer)
        .service(socket_io_http(io_service));
    let closing = service.clone();
    let header_timeout = settings.http.header_timeout;
    let task = tokio::spawn(http::serve::serve(
        listener,
        app,
        header_timeout,
        async move {
            shutdown.await;
            if let Err(error) = closing.close().await {
                tracing::warn!(%error, "close finished with an error");
            }
        },
    ));
    Ok(Server {
        addr,
        service,
        task,
    })
}

/// The HTTP routes behind socket.io: health, admin API, static files.
fn routes(
    settings: &ServerSettings,
    service_slot: Arc<OnceLock<ChatService>>,
    pubsub: Option<PubSubCheck>,
) -> Router {
    let app = AppState {
        service: service_slot,
        pubsub,
        admin_token: settings.admin_token.clone(),
        state_kind: match settings.state {
            StateSettings::Sqlite(_) => "sqlite",
            StateSettings::Memory => "memory",
            StateSettings::Redis { .. } => "redis",
        },
    };
    let router = http::router(app);
    match &settings.static_files {
        Static::Dir(dir) => http::files::serve_dir(router, dir),
        Static::Demo => router.merge(http::web::routes()),
        Static::None => router,
    }
}

fn cors(origin: &str) -> CorsLayer {
    let origins = if origin.trim() == "*" {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origin
                .split(',')
                .filter_map(|o| HeaderValue::from_str(o.trim()).ok()),
        )
    };
    CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
}

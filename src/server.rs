//! Assembles the process: socket.io (with the v2 compatibility layer),
//! the chat service, the HTTP routes, the listener, and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::http::{HeaderValue, Method, header};
use axum::response::IntoResponse;
use socketioxide::SocketIo;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::services::{ServeDir, ServeFile};

use crate::hooks::Hooks;
use crate::http::{self, AppState};
use crate::options::ServiceOptions;
use crate::service::ChatService;
use crate::state::{MemoryState, State};
use crate::transport::legacy::{self, LegacyCompat};

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
}

/// The files served at `/`.
#[derive(Debug, Clone)]
pub enum Static {
    /// The built-in web chat (`web/`, embedded).
    Demo,
    /// A directory (with `index.html`).
    Dir(PathBuf),
    /// Nothing.
    None,
}

/// A started server: its address and service, until `shutdown` resolves.
pub struct Server {
    pub addr: SocketAddr,
    pub service: ChatService,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Binds, starts the service and serves until `shutdown` resolves; then
    /// closes the service gracefully.
    pub async fn start(
        settings: ServerSettings,
        configure: impl FnOnce(&mut Hooks),
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<Server> {
        let state: Arc<dyn State> = Arc::new(MemoryState::new());
        let listener = TcpListener::bind((settings.host.as_str(), settings.port)).await?;
        let addr = listener.local_addr()?;

        // The routes need the service, the service needs socket.io, and
        // socket.io wraps the routes: the service is filled in once started.
        let service_slot = Arc::new(OnceLock::new());
        let app = AppState {
            service: service_slot.clone(),
            admin_token: settings.admin_token.clone(),
            state_kind: "memory",
        };
        let mut router = http::router(app);
        match &settings.static_files {
            Static::Dir(dir) => {
                let index = dir.join("index.html");
                router =
                    router.fallback_service(ServeDir::new(dir).fallback(ServeFile::new(index)));
            }
            Static::Demo => router = router.merge(http::web::routes()),
            Static::None => {}
        }
        let payload_limit = usize::try_from(settings.max_payload_bytes).unwrap_or(usize::MAX);
        let (io_service, io) = SocketIo::builder()
            .ping_interval(Duration::from_millis(25_000))
            .ping_timeout(Duration::from_millis(5_000))
            .max_payload(settings.max_payload_bytes)
            .ws_max_message_size(payload_limit)
            .ws_max_frame_size(payload_limit)
            .max_buffer_size(4096)
            .build_with_inner_svc(router);
        let service = ChatService::builder(settings.service.clone())
            .state(state)
            .hooks(configure)
            .start(&io)
            .await?;
        let _ = service_slot.set(service.clone());

        let app = ServiceBuilder::new()
            .map_response(IntoResponse::into_response)
            .layer(cors(&settings.cors_origin))
            .layer(http::web::ClientBundleLayer)
            .service(LegacyCompat::new(io_service).with_max_payload(payload_limit));
        let closing = service.clone();
        let task = tokio::spawn(legacy::serve(listener, app, async move {
            shutdown.await;
            if let Err(error) = closing.close().await {
                tracing::warn!(%error, "close finished with an error");
            }
        }));
        Ok(Server {
            addr,
            service,
            task,
        })
    }

    /// Waits until the server has shut down.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await??;
        Ok(())
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

//! The HTTP side of the server: `/health`, `/metrics`, the admin API, the
//! web chat, CORS. socket.io itself is served by the socketioxide layer in
//! front.

pub(crate) mod admin;
pub(crate) mod body;
pub(crate) mod files;
pub(crate) mod metrics;
pub mod serve;
pub(crate) mod web;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::service::ChatService;

use std::sync::{Arc, OnceLock};

/// What the HTTP handlers share.
#[derive(Clone)]
pub(crate) struct AppState {
    /// Set once the service has started.
    pub service: Arc<OnceLock<ChatService>>,
    /// `None`: the admin API answers 404.
    pub admin_token: Option<String>,
    /// `sqlite`, `memory` or `redis`, for `/health`.
    pub state_kind: &'static str,
    /// With Redis: whether the pub/sub connections between instances
    /// (socket.io adapter, cluster bus) are up, for `/health`.
    pub pubsub: Option<PubSubCheck>,
}

/// See `AppState::pubsub`.
pub(crate) type PubSubCheck = Arc<dyn Fn() -> bool + Send + Sync>;

/// The routes of interface.md 3 and 4. Installs the Prometheus recorder
/// (once per process) so that everything from now on is measured.
pub(crate) fn router(app: AppState) -> Router {
    metrics::handle();
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics::serve))
        .route("/api/{method}", post(admin::handle))
        .with_state(app)
}

impl AppState {
    pub fn service(&self) -> Option<&ChatService> {
        self.service.get()
    }
}

async fn health(State(app): State<AppState>) -> Response {
    let Some(service) = app.service() else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let pubsub_up = app.pubsub.as_ref().is_none_or(|connected| connected());
    let status = match service.state().ping().await {
        Ok(()) if pubsub_up => StatusCode::OK,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    let body = json!({
        "status": if status == StatusCode::OK { "ok" } else { "unavailable" },
        "instanceId": service.instance_id(),
        "state": app.state_kind,
    });
    (status, Json(body)).into_response()
}

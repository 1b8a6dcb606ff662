//! The HTTP side of the server: `/health`, the admin API, the demo page,
//! CORS. socket.io itself is served by the socketioxide layer in front.

pub mod admin;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::json;

use crate::service::ChatService;

/// What the HTTP handlers share.
#[derive(Clone)]
pub struct AppState {
    pub service: ChatService,
    /// `None`: the admin API answers 404.
    pub admin_token: Option<String>,
    /// `memory` or `redis`, for `/health`.
    pub state_kind: &'static str,
}

/// The routes of interface.md 3 and 4.
pub fn router(app: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/api/{method}", post(admin::handle))
        .with_state(app)
}

async fn health(State(app): State<AppState>) -> impl IntoResponse {
    let status = match app.service.state().ping().await {
        Ok(()) => StatusCode::OK,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    let body = json!({
        "status": if status == StatusCode::OK { "ok" } else { "unavailable" },
        "instanceId": app.service.instance_id(),
        "state": app.state_kind,
    });
    (status, Json(body))
}

//! The `chat-service` binary (temporary development entry point).

use chat_service::server::{Server, ServerSettings};
use chat_service::{ChatServiceError, ServiceOptions};
use serde_json::{Map, Value};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt::init();
    let port = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(8000);
    let settings = ServerSettings {
        host: "127.0.0.1".into(),
        port,
        service: ServiceOptions {
            enable_rooms_management: true,
            enable_direct_messages: true,
            ..ServiceOptions::default()
        },
        admin_token: Some("T".into()),
        cors_origin: "*".into(),
        static_dir: None,
        max_payload_bytes: 1_000_000,
    };
    let server = Server::start(
        settings,
        |hooks| {
            hooks.on_connect(
                |service: chat_service::ChatService, id: String| async move {
                    let handshake = service.transport().handshake(&id);
                    let user = handshake.query.get("user").cloned();
                    Ok::<_, ChatServiceError>(user.map(|u| (u, Map::<String, Value>::new())))
                },
            )
        },
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
    )
    .await?;
    println!("chat-service listening on http://{}", server.addr);
    server.wait().await
}

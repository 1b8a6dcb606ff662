//! A chat server embedded in your own program: a custom login, a hook that
//! filters messages, and a room that exists from the start.
//!
//! Run: `cargo run --example server` (then `node examples/client.js`).

use chat_service::server::{HttpLimits, Server, ServerSettings, StateSettings, Static};
use chat_service::{ChatService, ChatServiceError, Flow, RoomInit, ServiceOptions};
use serde_json::{Map, json};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let port = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8000);
    let settings = ServerSettings {
        host: "127.0.0.1".into(),
        port,
        service: ServiceOptions {
            enable_userlist_updates: true,
            ..ServiceOptions::default()
        },
        admin_token: None,
        cors_origin: "*".into(),
        static_files: Static::Demo,
        max_payload_bytes: 1_000_000,
        http: HttpLimits::default(),
        state: StateSettings::Memory,
    };
    let server = Server::start(
        settings,
        |hooks| {
            // Login: the `user` query parameter, with a greeting in the
            // auth data that `loginConfirmed` carries.
            hooks.on_connect(|service: ChatService, id: String| async move {
                let handshake = service.handshake(&id);
                let Some(user) = handshake.query.get("user").cloned() else {
                    return Ok(None);
                };
                let mut auth = Map::new();
                auth.insert("greeting".into(), json!("welcome to the lobby"));
                Ok(Some((user, auth)))
            });
            // A before-hook: no shouting in rooms.
            hooks.before("roomMessage", |info| async move {
                let text = info.args[1]["textMessage"].as_str().unwrap_or_default();
                if text.len() > 3 && text == text.to_uppercase() {
                    return Err(ChatServiceError::custom("noShouting", vec![]));
                }
                Ok(Flow::Continue(Box::new(info)))
            });
        },
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
    )
    .await?;
    let lobby = RoomInit {
        whitelist_only: Some(false),
        ..RoomInit::default()
    };
    server.service.add_room("lobby", lobby).await?;
    println!("chat-service listening on http://{}", server.addr);
    server.wait().await
}

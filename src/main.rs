//! The `chat-service` binary: configuration (interface.md 1), logging,
//! authentication as the `onConnect` hook, serving until SIGINT/SIGTERM.

use std::process::ExitCode;

use chat_service::auth::{AuthError, Authenticator};
use chat_service::config::{Config, ConfigError, LogFormat, SqliteSynchronous, StateKind};
use chat_service::hooks_http::HttpHooks;
use chat_service::redis::RedisSettings;
use chat_service::schema::MessageSchemas;
use chat_service::server::{HttpLimits, Server, ServerSettings, StartError, StateSettings, Static};
use chat_service::state::{SqliteSettings, Synchronous};
use chat_service::{ChatService, ChatServiceError, RoomInit, ServiceOptions};

/// jemalloc: a message's buffers are allocated on one worker thread and
/// freed on another (the sockets' writer tasks); glibc's arenas make that a
/// locked, consolidating free. Fan-outs deliver 30-45 % more with it, for
/// +0.3 KB per idle connection (bench/README.md).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let config = match Config::load() {
        Ok(config) => config,
        Err(ConfigError::Info(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(error) => return bad_configuration(&error),
    };
    let auth = match Authenticator::from_config(&config) {
        Ok(auth) => auth,
        Err(error) => return bad_configuration(&error),
    };
    let schemas = match config.message_schemas() {
        Ok(schemas) => schemas,
        Err(error) => return bad_configuration(&error),
    };
    init_logging(config.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("chat-service: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config, auth, schemas)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(StartError::Configuration(error)) => bad_configuration(&error),
        Err(StartError::Other(error)) => {
            eprintln!("chat-service: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The room the built-in demo page offers from the start.
const DEMO_ROOM: &str = "lobby";

/// No Redis call waits longer: a lost Redis gives clear errors, not hangs.
const REDIS_COMMAND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

fn bad_configuration(error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("chat-service: {error}");
    ExitCode::from(2)
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn run(
    config: Config,
    auth: Authenticator,
    schemas: MessageSchemas,
) -> Result<(), StartError> {
    let http_connect = config.http_hooks().is_some_and(|h| h.hooks.connect);
    if auth.is_dev_mode() && !http_connect {
        tracing::warn!("--auth query: any client can log in as any user (development only)");
    }
    // A file size limit reached must be a failed write, not a dead process.
    if let Err(error) = chat_service::server::survive_file_size_limit() {
        tracing::warn!(%error, "cannot catch SIGXFSZ: a file size limit reached will end the process");
    }
    let demo = !config.no_static && config.static_dir.is_none();
    let service = ServiceOptions {
        message_schemas: schemas,
        ..config.service_options()
    };
    // A room's cache holds a whole `roomRecentHistory` answer.
    let history_cache = service.history_max_get_messages.max(1);
    let settings = ServerSettings {
        host: config.host.clone(),
        port: config.port,
        service,
        admin_token: config.admin_token.clone(),
        cors_origin: config.cors_origin.clone(),
        static_files: if config.no_static {
            Static::None
        } else {
            config.static_dir.clone().map_or(Static::Demo, Static::Dir)
        },
        max_payload_bytes: config.max_payload_bytes,
        http: HttpLimits {
            header_timeout: config.http_header_timeout,
            body_timeout: config.http_body_timeout,
        },
        state: match config.state {
            StateKind::Sqlite => StateSettings::Sqlite(SqliteSettings {
                path: config.sqlite_path.clone(),
                synchronous: match config.sqlite_synchronous {
                    SqliteSynchronous::Normal => Synchronous::Normal,
                    SqliteSynchronous::Full => Synchronous::Full,
                },
                history_cache,
            }),
            StateKind::Memory => StateSettings::Memory,
            StateKind::Redis => StateSettings::Redis {
                redis: RedisSettings {
                    url: config.redis_url.clone(),
                    cluster: config.redis_cluster,
                    command_timeout: REDIS_COMMAND_TIMEOUT,
                },
                prefix: config.redis_prefix.clone(),
            },
        },
    };
    let http_hooks = match config.http_hooks().as_ref().map(HttpHooks::new) {
        Some(Err(error)) => return Err(StartError::Configuration(error)),
        Some(Ok(hooks)) => Some(hooks),
        None => None,
    };
    let server = Server::start(
        settings,
        |hooks| {
            hooks.on_connect(move |service: ChatService, id: String| {
                let auth = auth.clone();
                async move { login(&auth, &service, &id) }
            });
            // After the binary's own: a `connect` hook replaces `--auth`.
            if let Some(http_hooks) = &http_hooks {
                http_hooks.install(hooks);
            }
        },
        chat_service::server::shutdown_signal(),
    )
    .await?;
    if demo {
        // The demo page needs a room to chat in even when clients may not
        // create rooms (the default).
        match server
            .service
            .add_room(DEMO_ROOM, RoomInit::default())
            .await
        {
            Ok(()) | Err(ChatServiceError::RoomExists(_)) => {}
            Err(error) => tracing::warn!(%error, "cannot create the demo room"),
        }
    }
    println!("chat-service listening on http://{}", server.addr);
    Ok(server.wait().await?)
}

/// The binary's `onConnect`: credentials from the handshake.
fn login(
    auth: &Authenticator,
    service: &ChatService,
    id: &str,
) -> chat_service::error::Result<chat_service::hooks::Login> {
    let handshake = service.handshake(id);
    let Some(parts) = handshake.parts.as_ref() else {
        return Err(ChatServiceError::NoSocket("connection".into()));
    };
    match auth.authenticate(parts, handshake.auth.as_ref()) {
        Ok((user, data)) => Ok(Some((serde_json::Value::String(user), data))),
        Err(AuthError::Missing) => Ok(None),
        Err(AuthError::Invalid(reason)) => Err(ChatServiceError::internal(reason)),
    }
}

//! The binary's configuration (interface.md sections 1, 5 and 6): every
//! option, its flag, environment variable and TOML key, the layering
//! default < TOML file < environment < flag, and the validation that turns
//! bad configuration into a one-line [`ConfigError`].
//!
//! The flags are declared with clap's derive API on [`Config`] itself, so
//! the doc comments below are the `--help` text and the `default_value`s
//! are the single source of the built-in defaults. clap would read the
//! environment straight from the process, which leaves no room for the
//! TOML layer between default and environment and makes the environment
//! impossible to inject in tests; so the environment attributes are only
//! used for `--help` and for the variable names, and [`Config::load_from`]
//! reads the environment itself through the closure it is given.
//!
//! Layout: this module holds [`Config`] itself and its loading; `layers`
//! the TOML and environment layers, `validate` the checks across options,
//! and `error` [`ConfigError`] with the shaping of clap's errors into it.

mod error;
mod layers;
mod schemas;
#[cfg(test)]
mod testing;
mod validate;

pub use error::ConfigError;
pub(crate) use validate::JwtKeySource;

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};

use error::clap_error;
use layers::{Layers, apply_layers, read_toml};

/// Where the shared state lives (`--state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StateKind {
    /// In this process, kept in the --sqlite-path file across restarts.
    Sqlite,
    /// In this process only: nothing survives a restart.
    Memory,
    /// In Redis (or Valkey), shared by all instances.
    Redis,
}

/// How hard each commit of `--state sqlite` is pushed to the disk
/// (`--sqlite-synchronous`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SqliteSynchronous {
    /// Acked commits survive a crash of the process; a power loss may lose
    /// the last ones (the file stays consistent).
    Normal,
    /// Acked commits survive a power loss too (one fsync per commit).
    Full,
}

/// How a connecting socket proves its user name (`--auth`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AuthMode {
    /// Development mode: the user name is taken from the handshake as is.
    Query,
    /// A signed JWT whose `sub` claim is the user name.
    Jwt,
}

/// Log line format (`--log-format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Every option of the `chat-service` binary (interface.md section 1).
///
/// Build it with [`Config::load`] (or [`Config::load_from`] in tests); the
/// clap-derived `Config::parse` would skip the TOML file and validation.
#[derive(Clone, PartialEq, Parser)]
#[command(
    name = "chat-service",
    version,
    about,
    long_about = None,
    color = clap::ColorChoice::Never,
    after_help = "Every option can also be given as an environment variable (shown \
                  as [env: ...]; booleans take true or false) or as a key of the \
                  --config TOML file (the flag name in snake_case). Precedence, lowest \
                  to highest: built-in default, TOML file, environment, flag."
)]
pub struct Config {
    /// TOML file with options; keys are the flag names in snake_case
    #[arg(long, env = "CHAT_SERVICE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Bind address
    #[arg(
        long,
        env = "CHAT_SERVICE_HOST",
        value_name = "ADDR",
        default_value = "0.0.0.0"
    )]
    pub host: String,

    /// Bind port; 0 picks a free one
    #[arg(long, env = "CHAT_SERVICE_PORT", default_value = "8000")]
    pub port: u16,

    /// socket.io namespace of the service
    #[arg(long, env = "CHAT_SERVICE_NAMESPACE", default_value = "/chat-service")]
    pub namespace: String,

    /// Where the state lives
    #[arg(long, env = "CHAT_SERVICE_STATE", default_value = "sqlite")]
    pub state: StateKind,

    /// The database file of --state sqlite, created when missing; one server process per file
    #[arg(
        long,
        env = "CHAT_SERVICE_SQLITE_PATH",
        value_name = "FILE",
        default_value = "chat-service.db"
    )]
    pub sqlite_path: PathBuf,

    /// With --state sqlite: normal (a power loss may lose the last acked commits) or full (none)
    #[arg(
        long,
        env = "CHAT_SERVICE_SQLITE_SYNCHRONOUS",
        default_value = "normal"
    )]
    pub sqlite_synchronous: SqliteSynchronous,

    /// Redis (or Valkey) server for the state and the socket.io adapter with --state redis
    #[arg(
        long,
        env = "CHAT_SERVICE_REDIS_URL",
        value_name = "URL",
        default_value = "redis://127.0.0.1:6379"
    )]
    pub redis_url: String,

    /// Treat --redis-url (a comma separated list is allowed) as a Redis Cluster
    #[arg(long, env = "CHAT_SERVICE_REDIS_CLUSTER")]
    pub redis_cluster: bool,

    /// Key prefix, so several services can share one Redis
    #[arg(
        long,
        env = "CHAT_SERVICE_REDIS_PREFIX",
        value_name = "PREFIX",
        default_value = "chatservice"
    )]
    pub redis_prefix: String,

    /// This instance's id in the cluster; empty or unset means a random UUID
    // Always a concrete id after `load_from`, which fills in the UUID: clap
    // evaluates a `default_value_t` only once per process, so two configs
    // built in one process (cluster tests) would share it.
    #[arg(
        long,
        env = "CHAT_SERVICE_INSTANCE_ID",
        value_name = "ID",
        default_value = "",
        hide_default_value = true
    )]
    pub instance_id: String,

    /// Clients may roomCreate / roomDelete
    #[arg(long, env = "CHAT_SERVICE_ENABLE_ROOMS_MANAGEMENT")]
    pub enable_rooms_management: bool,

    /// Clients may send directMessage
    #[arg(long, env = "CHAT_SERVICE_ENABLE_DIRECT_MESSAGES")]
    pub enable_direct_messages: bool,

    /// Default of enableUserlistUpdates for new rooms
    #[arg(long, env = "CHAT_SERVICE_ENABLE_USERLIST_UPDATES")]
    pub enable_userlist_updates: bool,

    /// Default of enableAccessListsUpdates for new rooms
    #[arg(long, env = "CHAT_SERVICE_ENABLE_ACCESS_LISTS_UPDATES")]
    pub enable_access_lists_updates: bool,

    /// Errors are objects {name, code, args} instead of strings
    #[arg(long, env = "CHAT_SERVICE_USE_RAW_ERROR_OBJECTS")]
    pub use_raw_error_objects: bool,

    /// Most messages one roomHistoryGet returns; 0 returns none
    #[arg(
        long,
        env = "CHAT_SERVICE_HISTORY_MAX_GET_MESSAGES",
        value_name = "N",
        default_value = "100"
    )]
    pub history_max_get_messages: usize,

    /// History capacity of new rooms; 0 keeps no history
    #[arg(
        long,
        env = "CHAT_SERVICE_HISTORY_MAX_SIZE",
        value_name = "N",
        default_value = "10000"
    )]
    pub history_max_size: usize,

    /// Largest size of a user's direct-message lists; 0 means nothing can be added
    #[arg(
        long,
        env = "CHAT_SERVICE_DIRECT_LIST_SIZE_LIMIT",
        value_name = "N",
        default_value = "1000"
    )]
    pub direct_list_size_limit: usize,

    /// Largest size of a room's lists (userlist excepted); 0 means nothing can be added
    #[arg(
        long,
        env = "CHAT_SERVICE_ROOM_LIST_SIZE_LIMIT",
        value_name = "N",
        default_value = "10000"
    )]
    pub room_list_size_limit: usize,

    /// Longest wait in ms for running commands and disconnects when closing
    #[arg(
        long,
        env = "CHAT_SERVICE_CLOSE_TIMEOUT",
        value_name = "MS",
        default_value = "15000",
        value_parser = parse_millis
    )]
    pub close_timeout: Duration,

    /// Period in ms of this instance's heartbeat writes
    #[arg(
        long,
        env = "CHAT_SERVICE_HEARTBEAT_RATE",
        value_name = "MS",
        default_value = "10000",
        value_parser = parse_millis
    )]
    pub heartbeat_rate: Duration,

    /// Age in ms after which another instance's heartbeat counts as lost
    #[arg(
        long,
        env = "CHAT_SERVICE_HEARTBEAT_TIMEOUT",
        value_name = "MS",
        default_value = "30000",
        value_parser = parse_millis
    )]
    pub heartbeat_timeout: Duration,

    /// Wait in ms for cluster-bus acknowledgements
    #[arg(
        long,
        env = "CHAT_SERVICE_BUS_ACK_TIMEOUT",
        value_name = "MS",
        default_value = "5000",
        value_parser = parse_millis
    )]
    pub bus_ack_timeout: Duration,

    /// Time to live in ms of Redis locks
    #[arg(
        long,
        env = "CHAT_SERVICE_LOCK_TTL",
        value_name = "MS",
        default_value = "10000",
        value_parser = parse_millis
    )]
    pub lock_ttl: Duration,

    /// Largest socket.io packet accepted; a bigger one closes that connection
    #[arg(
        long,
        env = "CHAT_SERVICE_MAX_PAYLOAD_BYTES",
        value_name = "BYTES",
        default_value = "1000000"
    )]
    pub max_payload_bytes: u64,

    /// Time in ms a connection has to send a complete request head (a websocket upgrade included); then it is closed
    #[arg(
        long,
        env = "CHAT_SERVICE_HTTP_HEADER_TIMEOUT",
        value_name = "MS",
        default_value = "10000",
        value_parser = parse_millis
    )]
    pub http_header_timeout: Duration,

    /// Time in ms a request body (long-polling POST, admin API) has to arrive completely; then the connection is closed
    #[arg(
        long,
        env = "CHAT_SERVICE_HTTP_BODY_TIMEOUT",
        value_name = "MS",
        default_value = "30000",
        value_parser = parse_millis
    )]
    pub http_body_timeout: Duration,

    /// Sockets one user may have logged in at once (all instances); 0 means no limit
    #[arg(
        long,
        env = "CHAT_SERVICE_MAX_SOCKETS_PER_USER",
        value_name = "N",
        default_value = "0"
    )]
    pub max_sockets_per_user: usize,

    /// Requests per second per socket (a burst of as many is allowed); 0 means no limit
    #[arg(
        long,
        env = "CHAT_SERVICE_RATE_LIMIT",
        value_name = "N",
        default_value = "0"
    )]
    pub rate_limit: u32,

    /// Rooms one user may own (roomCreate beyond fails with notAllowed); 0 means no limit
    #[arg(
        long,
        env = "CHAT_SERVICE_MAX_ROOMS_PER_USER",
        value_name = "N",
        default_value = "0"
    )]
    pub max_rooms_per_user: usize,

    /// Largest JSON of a room or direct message (badArgument beyond); 0 means only --max-payload-bytes
    #[arg(
        long,
        env = "CHAT_SERVICE_MAX_MESSAGE_BYTES",
        value_name = "BYTES",
        default_value = "0"
    )]
    pub max_message_bytes: usize,

    /// JSON Schema (draft 2020-12) room messages must satisfy instead of {textMessage: string}
    #[arg(long, env = "CHAT_SERVICE_ROOM_MESSAGE_SCHEMA", value_name = "FILE")]
    pub room_message_schema: Option<PathBuf>,

    /// JSON Schema (draft 2020-12) direct messages must satisfy instead of {textMessage: string}
    #[arg(long, env = "CHAT_SERVICE_DIRECT_MESSAGE_SCHEMA", value_name = "FILE")]
    pub direct_message_schema: Option<PathBuf>,

    /// How clients authenticate: query (development only) or jwt
    #[arg(long, env = "CHAT_SERVICE_AUTH", default_value = "query")]
    pub auth: AuthMode,

    /// Handshake query parameter (or auth payload field) holding the user name, with --auth query (default: user, and then userName too)
    // No clap default: whether it was set anywhere decides whether the
    // original quickstart's `userName` is accepted too (interface.md 1).
    #[arg(long, env = "CHAT_SERVICE_AUTH_QUERY_PARAM", value_name = "NAME")]
    pub auth_query_param: Option<String>,

    /// HS256 secret, with --auth jwt (exclusive with --jwt-public-key-file)
    #[arg(
        long,
        env = "CHAT_SERVICE_JWT_SECRET",
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub jwt_secret: Option<String>,

    /// PEM public key (RSA for RS256, P-256 EC for ES256), with --auth jwt
    #[arg(long, env = "CHAT_SERVICE_JWT_PUBLIC_KEY_FILE", value_name = "FILE")]
    pub jwt_public_key_file: Option<PathBuf>,

    /// Bearer token of the admin API; without it the admin API answers 404
    #[arg(
        long,
        env = "CHAT_SERVICE_ADMIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,

    /// Allowed origins for HTTP long-polling and the admin API
    #[arg(
        long,
        env = "CHAT_SERVICE_CORS_ORIGIN",
        value_name = "ORIGIN",
        default_value = "*"
    )]
    pub cors_origin: String,

    /// Directory served at / [default: the built-in demo page]
    #[arg(long, env = "CHAT_SERVICE_STATIC_DIR", value_name = "DIR")]
    pub static_dir: Option<PathBuf>,

    /// Serve nothing at / (wins over --static-dir)
    #[arg(long, env = "CHAT_SERVICE_NO_STATIC")]
    pub no_static: bool,

    /// Backend endpoint of the HTTP hooks (http:// only): every hook call is a POST of JSON to it
    #[arg(long, env = "CHAT_SERVICE_HOOK_URL", value_name = "URL")]
    pub hook_url: Option<String>,

    /// HTTP hooks to call, comma-separated: connect (replaces --auth), disconnect, <command>:before, <command>:after
    #[arg(long, env = "CHAT_SERVICE_HOOKS", value_name = "LIST")]
    pub hooks: Option<String>,

    /// Time in ms one HTTP hook call may take; then it has failed
    #[arg(
        long,
        env = "CHAT_SERVICE_HOOK_TIMEOUT",
        value_name = "MS",
        default_value = "3000",
        value_parser = parse_millis
    )]
    pub hook_timeout: Duration,

    /// Sent as Authorization: Bearer <TOKEN> with every HTTP hook call
    #[arg(
        long,
        env = "CHAT_SERVICE_HOOK_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub hook_token: Option<String>,

    /// Log format; the level comes from RUST_LOG (default info)
    #[arg(long, env = "CHAT_SERVICE_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
}

impl Config {
    /// The options of the chat service itself, without the message schemas
    /// (see [`Config::message_schemas`]).
    pub fn service_options(&self) -> crate::options::ServiceOptions {
        crate::options::ServiceOptions {
            namespace: self.namespace.clone(),
            enable_access_lists_updates: self.enable_access_lists_updates,
            enable_userlist_updates: self.enable_userlist_updates,
            enable_direct_messages: self.enable_direct_messages,
            enable_rooms_management: self.enable_rooms_management,
            history_max_get_messages: self.history_max_get_messages,
            history_max_size: self.history_max_size,
            direct_list_size_limit: self.direct_list_size_limit,
            room_list_size_limit: self.room_list_size_limit,
            use_raw_error_objects: self.use_raw_error_objects,
            close_timeout: self.close_timeout,
            heartbeat_rate: self.heartbeat_rate,
            heartbeat_timeout: self.heartbeat_timeout,
            bus_ack_timeout: self.bus_ack_timeout,
            lock_ttl: self.lock_ttl,
            instance_id: self.instance_id.clone(),
            limits: crate::options::Limits {
                max_sockets_per_user: self.max_sockets_per_user,
                rate_limit: self.rate_limit,
                max_rooms_per_user: self.max_rooms_per_user,
                max_message_bytes: self.max_message_bytes,
            },
            history_reply_bytes: usize::try_from(self.max_payload_bytes).unwrap_or(usize::MAX),
            // Reading and compiling the files can fail: `message_schemas`.
            message_schemas: Default::default(),
        }
    }
}

impl Config {
    /// The HTTP hooks to install (interface.md 7), `None` when `--hooks`
    /// names none. The list and URL were checked by validation.
    pub fn http_hooks(&self) -> Option<crate::hooks_http::HttpHooksSettings> {
        let hooks = crate::hooks_http::HookSet::parse(self.hooks.as_deref()?).ok()?;
        if hooks.is_empty() {
            return None;
        }
        Some(crate::hooks_http::HttpHooksSettings {
            url: self.hook_url.clone()?,
            hooks,
            timeout: self.hook_timeout,
            token: self.hook_token.clone(),
            // An answer may become an ack: no longer than a packet.
            max_answer_bytes: usize::try_from(self.max_payload_bytes).unwrap_or(usize::MAX),
        })
    }
}

impl Config {
    /// Builds the configuration from the process's arguments and
    /// environment.
    pub fn load() -> Result<Config, ConfigError> {
        // Lossy rather than skipping non-UTF-8 values, so that a mangled
        // value shows up in an error message instead of silently vanishing.
        Self::load_from(std::env::args_os(), &|name| {
            std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
        })
    }

    /// Builds the configuration from `args` (the first item is the program
    /// name, as in `std::env::args_os`) and the environment lookup `env`.
    /// An empty environment variable counts as unset.
    pub fn load_from(
        args: impl IntoIterator<Item = impl Into<OsString> + Clone>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        let described = Config::command();
        let parser = described
            .clone()
            .mut_args(|arg| arg.env(None::<&'static str>));

        let matches = match parser.try_get_matches_from(&args) {
            Ok(matches) => matches,
            Err(err) => return Err(clap_error(err, &described, &args)),
        };
        let mut config =
            Config::from_arg_matches(&matches).map_err(|err| clap_error(err, &described, &args))?;

        let layers = Layers {
            matches: &matches,
            command: &described,
            env,
            file: None,
        };
        if let Some(path) = layers.get::<PathBuf>("config")? {
            config.config = Some(path);
        }
        let file = match &config.config {
            Some(path) => Some((path.clone(), read_toml(path)?)),
            None => None,
        };
        let layers = Layers { file, ..layers };
        apply_layers(&mut config, &layers)?;
        if config.instance_id.is_empty() {
            config.instance_id = uuid::Uuid::new_v4().to_string();
        }

        config.validate()?;
        Ok(config)
    }
}

// Hand-written so that the JWT secret and the admin token never reach a log
// through `{:?}`.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn redacted(secret: &Option<String>) -> Option<&'static str> {
            secret.as_ref().map(|_| "<redacted>")
        }
        f.debug_struct("Config")
            .field("config", &self.config)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("namespace", &self.namespace)
            .field("state", &self.state)
            .field("sqlite_path", &self.sqlite_path)
            .field("sqlite_synchronous", &self.sqlite_synchronous)
            .field("redis_url", &self.redis_url)
            .field("redis_cluster", &self.redis_cluster)
            .field("redis_prefix", &self.redis_prefix)
            .field("instance_id", &self.instance_id)
            .field("enable_rooms_management", &self.enable_rooms_management)
            .field("enable_direct_messages", &self.enable_direct_messages)
            .field("enable_userlist_updates", &self.enable_userlist_updates)
            .field(
                "enable_access_lists_updates",
                &self.enable_access_lists_updates,
            )
            .field("use_raw_error_objects", &self.use_raw_error_objects)
            .field("history_max_get_messages", &self.history_max_get_messages)
            .field("history_max_size", &self.history_max_size)
            .field("direct_list_size_limit", &self.direct_list_size_limit)
            .field("room_list_size_limit", &self.room_list_size_limit)
            .field("close_timeout", &self.close_timeout)
            .field("heartbeat_rate", &self.heartbeat_rate)
            .field("heartbeat_timeout", &self.heartbeat_timeout)
            .field("bus_ack_timeout", &self.bus_ack_timeout)
            .field("lock_ttl", &self.lock_ttl)
            .field("max_payload_bytes", &self.max_payload_bytes)
            .field("http_header_timeout", &self.http_header_timeout)
            .field("http_body_timeout", &self.http_body_timeout)
            .field("max_sockets_per_user", &self.max_sockets_per_user)
            .field("rate_limit", &self.rate_limit)
            .field("max_rooms_per_user", &self.max_rooms_per_user)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("room_message_schema", &self.room_message_schema)
            .field("direct_message_schema", &self.direct_message_schema)
            .field("auth", &self.auth)
            .field("auth_query_param", &self.auth_query_param)
            .field("jwt_secret", &redacted(&self.jwt_secret))
            .field("jwt_public_key_file", &self.jwt_public_key_file)
            .field("admin_token", &redacted(&self.admin_token))
            .field("cors_origin", &self.cors_origin)
            .field("static_dir", &self.static_dir)
            .field("no_static", &self.no_static)
            .field("hook_url", &self.hook_url)
            .field("hooks", &self.hooks)
            .field("hook_timeout", &self.hook_timeout)
            .field("hook_token", &redacted(&self.hook_token))
            .field("log_format", &self.log_format)
            .finish()
    }
}

/// Milliseconds as a [`Duration`]; zero is accepted here and refused by
/// validation, so that the message is the same whichever layer gave it.
fn parse_millis(value: &str) -> Result<Duration, String> {
    value
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|err| format!("'{value}': {err} (expected milliseconds)"))
}

#[cfg(test)]
mod tests {
    use super::testing::load;
    use super::*;

    #[test]
    fn built_in_defaults() {
        let c = load(&[], &[]).unwrap();
        assert_eq!(c.config, None);
        assert_eq!(c.host, "0.0.0.0");
        assert_eq!(c.port, 8000);
        assert_eq!(c.namespace, "/chat-service");
        assert_eq!(c.state, StateKind::Sqlite);
        assert_eq!(c.sqlite_path, PathBuf::from("chat-service.db"));
        assert_eq!(c.sqlite_synchronous, SqliteSynchronous::Normal);
        assert_eq!(c.redis_url, "redis://127.0.0.1:6379");
        assert!(!c.redis_cluster);
        assert_eq!(c.redis_prefix, "chatservice");
        assert!(uuid::Uuid::parse_str(&c.instance_id).is_ok());
        assert!(!c.enable_rooms_management);
        assert!(!c.enable_direct_messages);
        assert!(!c.enable_userlist_updates);
        assert!(!c.enable_access_lists_updates);
        assert!(!c.use_raw_error_objects);
        assert_eq!(c.history_max_get_messages, 100);
        assert_eq!(c.history_max_size, 10_000);
        assert_eq!(c.direct_list_size_limit, 1000);
        assert_eq!(c.room_list_size_limit, 10_000);
        assert_eq!(c.close_timeout, Duration::from_millis(15_000));
        assert_eq!(c.heartbeat_rate, Duration::from_millis(10_000));
        assert_eq!(c.heartbeat_timeout, Duration::from_millis(30_000));
        assert_eq!(c.bus_ack_timeout, Duration::from_millis(5_000));
        assert_eq!(c.lock_ttl, Duration::from_millis(10_000));
        assert_eq!(c.max_payload_bytes, 1_000_000);
        assert_eq!(c.auth, AuthMode::Query);
        assert_eq!(c.auth_query_param, None);
        assert_eq!(c.jwt_secret, None);
        assert_eq!(c.jwt_public_key_file, None);
        assert_eq!(c.admin_token, None);
        assert_eq!(c.cors_origin, "*");
        assert_eq!(c.static_dir, None);
        assert!(!c.no_static);
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.hook_url, None);
        assert_eq!(c.hooks, None);
        assert_eq!(c.hook_timeout, Duration::from_millis(3000));
        assert_eq!(c.hook_token, None);
        assert!(c.http_hooks().is_none());
    }

    #[test]
    fn instance_id_is_random_per_load_unless_given() {
        assert_ne!(
            load(&[], &[]).unwrap().instance_id,
            load(&[], &[]).unwrap().instance_id
        );
        assert_eq!(
            load(&["--instance-id", "i1"], &[]).unwrap().instance_id,
            "i1"
        );
        let c = load(&["--instance-id", ""], &[]).unwrap();
        assert!(uuid::Uuid::parse_str(&c.instance_id).is_ok());
    }

    #[test]
    fn help_and_version_are_info() {
        let err = load(&["--help"], &[]).unwrap_err();
        assert_eq!(err.exit_code(), 0);
        let ConfigError::Info(text) = err else {
            panic!("not info: {err:?}")
        };
        assert!(text.contains("Usage: chat-service"), "{text}");
        assert!(text.contains("--close-timeout <MS>"), "{text}");
        assert!(text.contains("[env: CHAT_SERVICE_REDIS_URL"), "{text}");
        assert!(text.contains("[default: 8000]"), "{text}");
        assert!(text.starts_with(env!("CARGO_PKG_DESCRIPTION")), "{text}");

        let err = load(&["--version"], &[]).unwrap_err();
        assert_eq!(err.exit_code(), 0);
        assert_eq!(
            err.to_string().trim(),
            format!("chat-service {}", env!("CARGO_PKG_VERSION"))
        );
    }

    #[test]
    fn debug_redacts_secrets() {
        let c = load(
            &[
                "--jwt-secret",
                "hunter2",
                "--admin-token",
                "letmein",
                "--hook-token",
                "opensesame",
            ],
            &[],
        )
        .unwrap();
        let debug = format!("{c:?}");
        assert!(
            !debug.contains("hunter2")
                && !debug.contains("letmein")
                && !debug.contains("opensesame"),
            "{debug}"
        );
        assert!(debug.contains("<redacted>"));
    }
}

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

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgMatches, Command, CommandFactory, FromArgMatches, Parser, ValueEnum};

/// Where the shared state lives (`--state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StateKind {
    /// In this process only.
    Memory,
    /// In Redis (or Valkey), shared by all instances.
    Redis,
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
    #[arg(long, env = "CHAT_SERVICE_STATE", default_value = "memory")]
    pub state: StateKind,

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

    /// How clients authenticate: query (development only) or jwt
    #[arg(long, env = "CHAT_SERVICE_AUTH", default_value = "query")]
    pub auth: AuthMode,

    /// Handshake query parameter (or auth payload field) holding the user name, with --auth query
    #[arg(
        long,
        env = "CHAT_SERVICE_AUTH_QUERY_PARAM",
        value_name = "NAME",
        default_value = "user"
    )]
    pub auth_query_param: String,

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

    /// Log format; the level comes from RUST_LOG (default info)
    #[arg(long, env = "CHAT_SERVICE_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
}

/// Why the configuration could not be built. `Display` is one line naming
/// the option, except for [`ConfigError::Info`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `--help` or `--version` was asked for: not a failure. Print the text
    /// to stdout as is and exit 0.
    #[error("{0}")]
    Info(String),
    /// The command line itself is wrong (unknown flag, missing or
    /// unparsable value), as reported by clap.
    #[error("{0}")]
    Usage(String),
    /// An option has a value that is not acceptable.
    #[error("invalid value for {option}{}: {reason}", origin_suffix(.origin))]
    InvalidValue {
        /// The flag, e.g. `--close-timeout`.
        option: String,
        /// Where the value came from when it was not the command line or
        /// the result of merging, e.g. `env CHAT_SERVICE_PORT`.
        origin: Option<String>,
        /// What is wrong with it.
        reason: String,
    },
    /// The `--config` file cannot be read, is not TOML or has an unknown key.
    #[error("invalid --config file {}: {reason}", .path.display())]
    File {
        /// The file as given.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

fn origin_suffix(origin: &Option<String>) -> String {
    origin
        .as_ref()
        .map(|o| format!(" (from {o})"))
        .unwrap_or_default()
}

impl ConfigError {
    /// The process exit code interface.md section 6 assigns to this error:
    /// 0 for `--help` / `--version`, 2 (bad configuration) otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            ConfigError::Info(_) => 0,
            _ => 2,
        }
    }

    pub(crate) fn invalid(option: &str, reason: impl Into<String>) -> Self {
        ConfigError::InvalidValue {
            option: option.to_owned(),
            origin: None,
            reason: one_line(&reason.into()),
        }
    }
}

impl Config {
    /// The options of the chat service itself.
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
        }
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

    /// Checks the rules that no single value parser can: zero durations,
    /// the JWT key choice, empty names and secrets.
    fn validate(&self) -> Result<(), ConfigError> {
        for (option, value) in [
            ("--close-timeout", self.close_timeout),
            ("--heartbeat-rate", self.heartbeat_rate),
            ("--heartbeat-timeout", self.heartbeat_timeout),
            ("--bus-ack-timeout", self.bus_ack_timeout),
            ("--lock-ttl", self.lock_ttl),
        ] {
            if value.is_zero() {
                return Err(ConfigError::invalid(option, "must be greater than 0"));
            }
        }
        // socket.io namespaces are paths; socketioxide refuses others at
        // runtime, which would be too late for exit code 2.
        if !self.namespace.starts_with('/') {
            return Err(ConfigError::invalid("--namespace", "must start with /"));
        }
        if self.auth_query_param.is_empty() {
            return Err(ConfigError::invalid(
                "--auth-query-param",
                "must not be empty",
            ));
        }
        // An empty token would make the admin API answer to a bare
        // `Authorization: Bearer `.
        if self.admin_token.as_deref() == Some("") {
            return Err(ConfigError::invalid("--admin-token", "must not be empty"));
        }
        if self.auth == AuthMode::Jwt {
            self.jwt_key_source()?;
        }
        Ok(())
    }

    /// Where `--auth jwt` takes its key from: exactly one, non-empty,
    /// source.
    pub(crate) fn jwt_key_source(&self) -> Result<JwtKeySource<'_>, ConfigError> {
        match (&self.jwt_secret, &self.jwt_public_key_file) {
            (None, None) => Err(ConfigError::invalid(
                "--auth",
                "jwt requires --jwt-secret or --jwt-public-key-file",
            )),
            (Some(_), Some(_)) => Err(ConfigError::invalid(
                "--jwt-secret",
                "cannot be combined with --jwt-public-key-file",
            )),
            (Some(secret), None) if secret.is_empty() => {
                Err(ConfigError::invalid("--jwt-secret", "must not be empty"))
            }
            (Some(secret), None) => Ok(JwtKeySource::Secret(secret)),
            (None, Some(path)) => Ok(JwtKeySource::PublicKeyFile(path)),
        }
    }
}

/// The key option `--auth jwt` uses, once [`Config::jwt_key_source`] has
/// checked there is exactly one.
pub(crate) enum JwtKeySource<'a> {
    Secret(&'a str),
    PublicKeyFile(&'a Path),
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
            .field("auth", &self.auth)
            .field("auth_query_param", &self.auth_query_param)
            .field("jwt_secret", &redacted(&self.jwt_secret))
            .field("jwt_public_key_file", &self.jwt_public_key_file)
            .field("admin_token", &redacted(&self.admin_token))
            .field("cors_origin", &self.cors_origin)
            .field("static_dir", &self.static_dir)
            .field("no_static", &self.no_static)
            .field("log_format", &self.log_format)
            .finish()
    }
}

/// Lists the fields that take part in the TOML and environment layers
/// (all but `config`), once: the list is both the set of accepted TOML
/// keys and the code that applies the layers.
macro_rules! layered_fields {
    ($($field:ident),* $(,)?) => {
        const LAYERED_FIELDS: &[&str] = &[$(stringify!($field)),*];

        fn apply_layers(config: &mut Config, layers: &Layers<'_>) -> Result<(), ConfigError> {
            $(
                if let Some(value) = layers.get(stringify!($field))? {
                    config.$field = value;
                }
            )*
            Ok(())
        }
    };
}

layered_fields!(
    host,
    port,
    namespace,
    state,
    redis_url,
    redis_cluster,
    redis_prefix,
    instance_id,
    enable_rooms_management,
    enable_direct_messages,
    enable_userlist_updates,
    enable_access_lists_updates,
    use_raw_error_objects,
    history_max_get_messages,
    history_max_size,
    direct_list_size_limit,
    room_list_size_limit,
    close_timeout,
    heartbeat_rate,
    heartbeat_timeout,
    bus_ack_timeout,
    lock_ttl,
    max_payload_bytes,
    auth,
    auth_query_param,
    jwt_secret,
    jwt_public_key_file,
    admin_token,
    cors_origin,
    static_dir,
    no_static,
    log_format,
);

/// The sources below the command line, consulted for one field at a time.
struct Layers<'a> {
    matches: &'a ArgMatches,
    /// The command with its environment attributes, for flag and variable
    /// names.
    command: &'a Command,
    env: &'a dyn Fn(&str) -> Option<String>,
    file: Option<(PathBuf, toml::Table)>,
}

impl Layers<'_> {
    /// The value of field `id` from the highest layer below the command
    /// line that sets it, or `None` when the command line sets it or no
    /// layer does (the parsed value, flag or default, then stands).
    fn get<T: LayerValue>(&self, id: &str) -> Result<Option<T>, ConfigError> {
        if self.matches.value_source(id) == Some(ValueSource::CommandLine) {
            return Ok(None);
        }
        if let Some(value) = self.env_value(id)? {
            return Ok(Some(value));
        }
        let Some((path, table)) = &self.file else {
            return Ok(None);
        };
        let Some(value) = table.get(id) else {
            return Ok(None);
        };
        T::from_toml(value)
            .map(Some)
            .map_err(|reason| self.invalid(id, format!("key `{id}` in {}", path.display()), reason))
    }

    fn env_value<T: LayerValue>(&self, id: &str) -> Result<Option<T>, ConfigError> {
        let Some(name) = self
            .command
            .get_arguments()
            .find(|arg| arg.get_id() == id)
            .and_then(|arg| arg.get_env())
            .and_then(|name| name.to_str())
        else {
            return Ok(None);
        };
        match (self.env)(name) {
            Some(value) if !value.is_empty() => T::from_env(&value)
                .map(Some)
                .map_err(|reason| self.invalid(id, format!("env {name}"), reason)),
            _ => Ok(None),
        }
    }

    fn invalid(&self, id: &str, origin: String, reason: String) -> ConfigError {
        ConfigError::InvalidValue {
            option: format!("--{}", id.replace('_', "-")),
            origin: Some(origin),
            reason: one_line(&reason),
        }
    }
}

/// A field type that can come from an environment variable or a TOML value.
trait LayerValue: Sized {
    fn from_env(value: &str) -> Result<Self, String>;
    fn from_toml(value: &toml::Value) -> Result<Self, String>;
}

impl LayerValue for String {
    fn from_env(value: &str) -> Result<Self, String> {
        Ok(value.to_owned())
    }
    fn from_toml(value: &toml::Value) -> Result<Self, String> {
        value
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("expected a string, found {}", value.type_str()))
    }
}

impl LayerValue for PathBuf {
    fn from_env(value: &str) -> Result<Self, String> {
        Ok(PathBuf::from(value))
    }
    fn from_toml(value: &toml::Value) -> Result<Self, String> {
        String::from_toml(value).map(PathBuf::from)
    }
}

impl LayerValue for bool {
    fn from_env(value: &str) -> Result<Self, String> {
        match value.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(format!("expected true or false, found '{value}'")),
        }
    }
    fn from_toml(value: &toml::Value) -> Result<Self, String> {
        value
            .as_bool()
            .ok_or_else(|| format!("expected true or false, found {}", value.type_str()))
    }
}

macro_rules! integer_layer_value {
    ($($ty:ty),*) => {$(
        impl LayerValue for $ty {
            fn from_env(value: &str) -> Result<Self, String> {
                value
                    .parse::<$ty>()
                    .map_err(|err| format!("'{value}': {err}"))
            }
            fn from_toml(value: &toml::Value) -> Result<Self, String> {
                let int = value
                    .as_integer()
                    .ok_or_else(|| format!("expected an integer, found {}", value.type_str()))?;
                <$ty>::try_from(int).map_err(|_| {
                    format!("{int} is not in {}..={}", <$ty>::MIN, <$ty>::MAX)
                })
            }
        }
    )*};
}

integer_layer_value!(u16, u64, usize);

impl LayerValue for Duration {
    fn from_env(value: &str) -> Result<Self, String> {
        parse_millis(value)
    }
    fn from_toml(value: &toml::Value) -> Result<Self, String> {
        u64::from_toml(value).map(Duration::from_millis)
    }
}

macro_rules! enum_layer_value {
    ($($ty:ty),*) => {$(
        impl LayerValue for $ty {
            fn from_env(value: &str) -> Result<Self, String> {
                <$ty as ValueEnum>::from_str(value, false)
                    .map_err(|_| format!("'{value}' is not one of {}", variant_names::<$ty>()))
            }
            fn from_toml(value: &toml::Value) -> Result<Self, String> {
                let text = value.as_str().ok_or_else(|| {
                    format!(
                        "expected one of {}, found {}",
                        variant_names::<$ty>(),
                        value.type_str()
                    )
                })?;
                Self::from_env(text)
            }
        }
    )*};
}

enum_layer_value!(StateKind, AuthMode, LogFormat);

impl<T: LayerValue> LayerValue for Option<T> {
    fn from_env(value: &str) -> Result<Self, String> {
        T::from_env(value).map(Some)
    }
    fn from_toml(value: &toml::Value) -> Result<Self, String> {
        T::from_toml(value).map(Some)
    }
}

fn variant_names<T: ValueEnum>() -> String {
    T::value_variants()
        .iter()
        .filter_map(|v| v.to_possible_value())
        .map(|v| v.get_name().to_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Milliseconds as a [`Duration`]; zero is accepted here and refused by
/// validation, so that the message is the same whichever layer gave it.
fn parse_millis(value: &str) -> Result<Duration, String> {
    value
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|err| format!("'{value}': {err} (expected milliseconds)"))
}

fn read_toml(path: &Path) -> Result<toml::Table, ConfigError> {
    let file_error = |reason: String| ConfigError::File {
        path: path.to_owned(),
        reason: one_line(&reason),
    };
    let text = std::fs::read_to_string(path).map_err(|err| file_error(err.to_string()))?;
    let table: toml::Table = toml::from_str(&text).map_err(|err| {
        let place = err
            .span()
            .map(|span| {
                let before = text.get(..span.start).unwrap_or_default();
                let line = before.matches('\n').count() + 1;
                let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                format!("line {line}, column {column}: ")
            })
            .unwrap_or_default();
        file_error(format!("{place}{}", err.message()))
    })?;
    if let Some(key) = table
        .keys()
        .find(|key| !LAYERED_FIELDS.contains(&key.as_str()))
    {
        let snake = key.replace('-', "_");
        let hint = if LAYERED_FIELDS.contains(&snake.as_str()) {
            format!(" (keys are snake_case: `{snake}`)")
        } else {
            String::new()
        };
        return Err(file_error(format!("unknown key `{key}`{hint}")));
    }
    Ok(table)
}

/// Turns a clap error into the caller's terms: help and version text stay
/// whole, anything else becomes one line.
fn clap_error(err: clap::Error, described: &Command, args: &[OsString]) -> ConfigError {
    use clap::error::ErrorKind;
    match err.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // The parser has its environment attributes stripped, so its
            // help lacks the variable names: ask the described command for
            // the same output. Help stops parsing before clap looks at the
            // environment; values are hidden anyway so nothing leaks.
            let described = described.clone().mut_args(|arg| arg.hide_env_values(true));
            let text = match described.try_get_matches_from(args) {
                Err(help) if help.kind() == err.kind() => help.render().to_string(),
                _ => err.render().to_string(),
            };
            ConfigError::Info(text)
        }
        _ => {
            // Keep the message and its hints (possible values, similar
            // flag); drop the usage block and the pointer to --help.
            let rendered = err.render().to_string();
            let message = rendered
                .lines()
                .map(str::trim)
                .take_while(|line| {
                    !line.starts_with("Usage:") && !line.starts_with("For more information")
                })
                .filter(|line| !line.is_empty())
                .collect::<Vec<_>>()
                .join("; ");
            let message = message.strip_prefix("error: ").unwrap_or(&message);
            ConfigError::Usage(if message.is_empty() {
                "invalid command line".to_owned()
            } else {
                message.to_owned()
            })
        }
    }
}

/// Collapses a possibly multi-line message from a library into one line.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn load(args: &[&str], env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut argv = vec!["chat-service"];
        argv.extend_from_slice(args);
        Config::load_from(argv, &move |name| env.get(name).cloned())
    }

    /// A TOML file in the temp dir, removed on drop.
    struct TempToml(PathBuf);

    impl TempToml {
        fn new(content: &str) -> Self {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "chat-service-config-test-{}-{}.toml",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::write(&path, content).unwrap();
            TempToml(path)
        }
        fn path(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }

    impl Drop for TempToml {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn err_message(result: Result<Config, ConfigError>) -> String {
        let err = result.unwrap_err();
        let message = err.to_string();
        assert!(!message.contains('\n'), "not one line: {message:?}");
        assert_eq!(err.exit_code(), 2);
        message
    }

    #[test]
    fn built_in_defaults() {
        let c = load(&[], &[]).unwrap();
        assert_eq!(c.config, None);
        assert_eq!(c.host, "0.0.0.0");
        assert_eq!(c.port, 8000);
        assert_eq!(c.namespace, "/chat-service");
        assert_eq!(c.state, StateKind::Memory);
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
        assert_eq!(c.auth_query_param, "user");
        assert_eq!(c.jwt_secret, None);
        assert_eq!(c.jwt_public_key_file, None);
        assert_eq!(c.admin_token, None);
        assert_eq!(c.cors_origin, "*");
        assert_eq!(c.static_dir, None);
        assert!(!c.no_static);
        assert_eq!(c.log_format, LogFormat::Text);
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
    fn every_flag_is_layered_with_its_env_name() {
        let command = Config::command();
        let mut ids = Vec::new();
        for arg in command.get_arguments() {
            let id = arg.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            assert_eq!(
                arg.get_long(),
                Some(id.replace('_', "-").as_str()),
                "flag name of {id}"
            );
            let env = format!("CHAT_SERVICE_{}", id.to_uppercase());
            assert_eq!(
                arg.get_env().and_then(|e| e.to_str()),
                Some(env.as_str()),
                "env name of {id}"
            );
            if id != "config" {
                ids.push(id.to_owned());
            }
        }
        let mut layered: Vec<String> = LAYERED_FIELDS.iter().map(|s| s.to_string()).collect();
        ids.sort();
        layered.sort();
        assert_eq!(ids, layered);
    }

    #[test]
    fn precedence_default_toml_env_flag() {
        let file = TempToml::new("port = 1001\nstate = \"redis\"\nclose_timeout = 111\n");
        let path = file.path();

        let c = load(&["--config", path], &[]).unwrap();
        assert_eq!(c.port, 1001);
        assert_eq!(c.state, StateKind::Redis);
        assert_eq!(c.close_timeout, Duration::from_millis(111));
        assert_eq!(c.namespace, "/chat-service", "untouched keys keep defaults");
        assert_eq!(c.config.as_deref(), Some(Path::new(path)));

        let env = [
            ("CHAT_SERVICE_PORT", "1002"),
            ("CHAT_SERVICE_CLOSE_TIMEOUT", "222"),
        ];
        let c = load(&["--config", path], &env).unwrap();
        assert_eq!(c.port, 1002);
        assert_eq!(c.close_timeout, Duration::from_millis(222));
        assert_eq!(c.state, StateKind::Redis);

        let c = load(
            &["--config", path, "--port", "1003", "--state", "memory"],
            &env,
        )
        .unwrap();
        assert_eq!(c.port, 1003);
        assert_eq!(c.state, StateKind::Memory);
        assert_eq!(c.close_timeout, Duration::from_millis(222));
    }

    #[test]
    fn config_file_from_env() {
        let file = TempToml::new("port = 1234\n");
        let c = load(&[], &[("CHAT_SERVICE_CONFIG", file.path())]).unwrap();
        assert_eq!(c.port, 1234);
        assert_eq!(c.config.as_deref(), Some(Path::new(file.path())));

        let other = TempToml::new("port = 4321\n");
        let c = load(
            &["--config", other.path()],
            &[("CHAT_SERVICE_CONFIG", file.path())],
        )
        .unwrap();
        assert_eq!(c.port, 4321, "--config beats CHAT_SERVICE_CONFIG");
    }

    #[test]
    fn booleans_from_every_layer() {
        let file = TempToml::new("enable_rooms_management = true\nredis_cluster = true\n");
        let c = load(&["--config", file.path()], &[]).unwrap();
        assert!(c.enable_rooms_management);
        assert!(c.redis_cluster);

        let env = [("CHAT_SERVICE_ENABLE_ROOMS_MANAGEMENT", "false")];
        let c = load(&["--config", file.path()], &env).unwrap();
        assert!(!c.enable_rooms_management, "env false beats TOML true");
        assert!(c.redis_cluster);

        let c = load(
            &["--config", file.path(), "--enable-rooms-management"],
            &env,
        )
        .unwrap();
        assert!(c.enable_rooms_management, "flag beats env");

        let c = load(&[], &[("CHAT_SERVICE_NO_STATIC", "TRUE")]).unwrap();
        assert!(c.no_static);
    }

    #[test]
    fn optional_values_from_every_layer() {
        let file = TempToml::new("admin_token = \"from-file\"\nstatic_dir = \"/srv/www\"\n");
        let c = load(&["--config", file.path()], &[]).unwrap();
        assert_eq!(c.admin_token.as_deref(), Some("from-file"));
        assert_eq!(c.static_dir.as_deref(), Some(Path::new("/srv/www")));

        let env = [("CHAT_SERVICE_ADMIN_TOKEN", "from-env")];
        let c = load(&["--config", file.path()], &env).unwrap();
        assert_eq!(c.admin_token.as_deref(), Some("from-env"));

        let c = load(
            &["--config", file.path(), "--admin-token", "from-flag"],
            &env,
        )
        .unwrap();
        assert_eq!(c.admin_token.as_deref(), Some("from-flag"));
    }

    #[test]
    fn empty_env_var_counts_as_unset() {
        let c = load(&[], &[("CHAT_SERVICE_PORT", ""), ("CHAT_SERVICE_HOST", "")]).unwrap();
        assert_eq!(c.port, 8000);
        assert_eq!(c.host, "0.0.0.0");
    }

    #[test]
    fn env_value_under_a_flag_is_not_parsed() {
        // The flag wins, so an env value it overrides is never parsed.
        let c = load(&["--port", "9"], &[("CHAT_SERVICE_PORT", "nope")]).unwrap();
        assert_eq!(c.port, 9);
    }

    #[test]
    fn port_zero_is_allowed() {
        assert_eq!(load(&["--port", "0"], &[]).unwrap().port, 0);
        assert_eq!(load(&[], &[("CHAT_SERVICE_PORT", "0")]).unwrap().port, 0);
    }

    #[test]
    fn zero_limits_are_allowed() {
        let c = load(
            &[
                "--history-max-size",
                "0",
                "--history-max-get-messages",
                "0",
                "--direct-list-size-limit",
                "0",
                "--room-list-size-limit",
                "0",
            ],
            &[],
        )
        .unwrap();
        assert_eq!(c.history_max_size, 0);
        assert_eq!(c.history_max_get_messages, 0);
        assert_eq!(c.direct_list_size_limit, 0);
        assert_eq!(c.room_list_size_limit, 0);
    }

    #[test]
    fn zero_durations_are_rejected_from_every_layer() {
        for flag in [
            "--close-timeout",
            "--heartbeat-rate",
            "--heartbeat-timeout",
            "--bus-ack-timeout",
            "--lock-ttl",
        ] {
            let expected = format!("invalid value for {flag}: must be greater than 0");
            assert_eq!(err_message(load(&[flag, "0"], &[])), expected);

            let key = flag.trim_start_matches("--").replace('-', "_");
            let env = format!("CHAT_SERVICE_{}", key.to_uppercase());
            assert_eq!(err_message(load(&[], &[(&env, "0")])), expected);

            let file = TempToml::new(&format!("{key} = 0\n"));
            assert_eq!(err_message(load(&["--config", file.path()], &[])), expected);
        }
    }

    #[test]
    fn jwt_key_choice() {
        assert_eq!(
            err_message(load(&["--auth", "jwt"], &[])),
            "invalid value for --auth: jwt requires --jwt-secret or --jwt-public-key-file"
        );
        assert_eq!(
            err_message(load(
                &[
                    "--auth",
                    "jwt",
                    "--jwt-secret",
                    "s",
                    "--jwt-public-key-file",
                    "k.pem"
                ],
                &[]
            )),
            "invalid value for --jwt-secret: cannot be combined with --jwt-public-key-file"
        );
        assert_eq!(
            err_message(load(&["--auth", "jwt", "--jwt-secret", ""], &[])),
            "invalid value for --jwt-secret: must not be empty"
        );
        let c = load(&["--auth", "jwt"], &[("CHAT_SERVICE_JWT_SECRET", "s")]).unwrap();
        assert_eq!(c.auth, AuthMode::Jwt);
        assert_eq!(c.jwt_secret.as_deref(), Some("s"));
        // Without --auth jwt a stray key option is harmless.
        assert!(load(&["--jwt-secret", "s", "--jwt-public-key-file", "k"], &[]).is_ok());
    }

    #[test]
    fn other_validation_messages() {
        assert_eq!(
            err_message(load(&["--namespace", "chat"], &[])),
            "invalid value for --namespace: must start with /"
        );
        assert_eq!(
            err_message(load(&["--auth-query-param", ""], &[])),
            "invalid value for --auth-query-param: must not be empty"
        );
        assert_eq!(
            err_message(load(&["--admin-token", ""], &[])),
            "invalid value for --admin-token: must not be empty"
        );
    }

    #[test]
    fn bad_enum_values() {
        let m = err_message(load(&["--state", "mongo"], &[]));
        assert!(m.contains("--state") && m.contains("mongo"), "{m}");
        assert_eq!(
            err_message(load(&[], &[("CHAT_SERVICE_AUTH", "oauth")])),
            "invalid value for --auth (from env CHAT_SERVICE_AUTH): 'oauth' is not one of query, jwt"
        );
        let file = TempToml::new("log_format = \"xml\"\n");
        let m = err_message(load(&["--config", file.path()], &[]));
        assert_eq!(
            m,
            format!(
                "invalid value for --log-format (from key `log_format` in {}): \
                 'xml' is not one of text, json",
                file.path()
            )
        );
    }

    #[test]
    fn bad_values_from_env_and_toml_name_the_option() {
        assert_eq!(
            err_message(load(&[], &[("CHAT_SERVICE_PORT", "http")])),
            "invalid value for --port (from env CHAT_SERVICE_PORT): 'http': invalid digit found in string"
        );
        assert_eq!(
            err_message(load(&[], &[("CHAT_SERVICE_REDIS_CLUSTER", "yes")])),
            "invalid value for --redis-cluster (from env CHAT_SERVICE_REDIS_CLUSTER): expected true or false, found 'yes'"
        );
        let file = TempToml::new("port = 70000\n");
        let m = err_message(load(&["--config", file.path()], &[]));
        assert!(
            m.starts_with("invalid value for --port (from key `port` in "),
            "{m}"
        );
        assert!(m.ends_with("70000 is not in 0..=65535"), "{m}");
        let file = TempToml::new("port = \"8000\"\n");
        let m = err_message(load(&["--config", file.path()], &[]));
        assert!(m.ends_with("expected an integer, found string"), "{m}");
        let file = TempToml::new("no_static = 1\n");
        let m = err_message(load(&["--config", file.path()], &[]));
        assert!(m.ends_with("expected true or false, found integer"), "{m}");
    }

    #[test]
    fn toml_file_errors() {
        let m = err_message(load(&["--config", "/nonexistent/chat.toml"], &[]));
        assert!(
            m.starts_with("invalid --config file /nonexistent/chat.toml: "),
            "{m}"
        );

        let file = TempToml::new("port = 1\nport 2\n");
        let m = err_message(load(&["--config", file.path()], &[]));
        assert!(
            m.starts_with(&format!("invalid --config file {}: line 2", file.path())),
            "{m}"
        );

        let file = TempToml::new("prot = 1\n");
        assert_eq!(
            err_message(load(&["--config", file.path()], &[])),
            format!("invalid --config file {}: unknown key `prot`", file.path())
        );

        let file = TempToml::new("redis-url = \"redis://x\"\n");
        assert_eq!(
            err_message(load(&["--config", file.path()], &[])),
            format!(
                "invalid --config file {}: unknown key `redis-url` (keys are snake_case: `redis_url`)",
                file.path()
            )
        );

        let file = TempToml::new("config = \"other.toml\"\n");
        assert!(
            err_message(load(&["--config", file.path()], &[])).contains("unknown key `config`")
        );
    }

    #[test]
    fn clap_errors_are_one_line() {
        assert_eq!(
            err_message(load(&["--bogus"], &[])),
            "unexpected argument '--bogus' found"
        );
        assert_eq!(
            err_message(load(&["--prot", "1"], &[])),
            "unexpected argument '--prot' found; tip: a similar argument exists: '--port'"
        );
        assert_eq!(
            err_message(load(&["--state", "mongo"], &[])),
            "invalid value 'mongo' for '--state <STATE>'; [possible values: memory, redis]"
        );
        let m = err_message(load(&["--port", "x"], &[]));
        assert!(
            m.starts_with("invalid value 'x' for '--port <PORT>'"),
            "{m}"
        );
        let m = err_message(load(&["--port"], &[]));
        assert!(m.contains("--port"), "{m}");
        let m = err_message(load(&["--close-timeout", "1s"], &[]));
        assert!(m.contains("--close-timeout"), "{m}");
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
            &["--jwt-secret", "hunter2", "--admin-token", "letmein"],
            &[],
        )
        .unwrap();
        let debug = format!("{c:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("letmein"),
            "{debug}"
        );
        assert!(debug.contains("<redacted>"));
    }
}

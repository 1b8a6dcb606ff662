//! The layers below the command line, default < TOML file < environment <
//! flag: which fields take part, how each one is looked up in the
//! environment and the `--config` file, and how their values are parsed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgMatches, Command, ValueEnum};

use super::error::one_line;
use super::{AuthMode, Config, ConfigError, LogFormat, SqliteSynchronous, StateKind, parse_millis};

/// Lists the fields that take part in the TOML and environment layers
/// (all but `config`), once: the list is both the set of accepted TOML
/// keys and the code that applies the layers.
macro_rules! layered_fields {
    ($($field:ident),* $(,)?) => {
        const LAYERED_FIELDS: &[&str] = &[$(stringify!($field)),*];

        pub(super) fn apply_layers(
            config: &mut Config,
            layers: &Layers<'_>,
        ) -> Result<(), ConfigError> {
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
    sqlite_path,
    sqlite_synchronous,
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
    http_header_timeout,
    http_body_timeout,
    max_sockets_per_user,
    rate_limit,
    max_rooms_per_user,
    max_message_bytes,
    room_message_schema,
    direct_message_schema,
    auth,
    auth_query_param,
    jwt_secret,
    jwt_public_key_file,
    admin_token,
    cors_origin,
    static_dir,
    no_static,
    hook_url,
    hooks,
    hook_timeout,
    hook_token,
    log_format,
);

/// The sources below the command line, consulted for one field at a time.
pub(super) struct Layers<'a> {
    pub(super) matches: &'a ArgMatches,
    /// The command with its environment attributes, for flag and variable
    /// names.
    pub(super) command: &'a Command,
    pub(super) env: &'a dyn Fn(&str) -> Option<String>,
    pub(super) file: Option<(PathBuf, toml::Table)>,
}

impl Layers<'_> {
    /// The value of field `id` from the highest layer below the command
    /// line that sets it, or `None` when the command line sets it or no
    /// layer does (the parsed value, flag or default, then stands).
    pub(super) fn get<T: LayerValue>(&self, id: &str) -> Result<Option<T>, ConfigError> {
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
pub(super) trait LayerValue: Sized {
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

integer_layer_value!(u16, u32, u64, usize);

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

enum_layer_value!(StateKind, SqliteSynchronous, AuthMode, LogFormat);

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

pub(super) fn read_toml(path: &Path) -> Result<toml::Table, ConfigError> {
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

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;
    use crate::config::testing::{TempToml, err_message, load};

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
    fn sqlite_options_from_every_layer() {
        let file =
            TempToml::new("sqlite_path = \"/var/lib/chat/a.db\"\nsqlite_synchronous = \"full\"\n");
        let c = load(&["--config", file.path()], &[]).unwrap();
        assert_eq!(c.state, StateKind::Sqlite);
        assert_eq!(c.sqlite_path, PathBuf::from("/var/lib/chat/a.db"));
        assert_eq!(c.sqlite_synchronous, SqliteSynchronous::Full);

        let env = [
            ("CHAT_SERVICE_SQLITE_PATH", "b.db"),
            ("CHAT_SERVICE_SQLITE_SYNCHRONOUS", "normal"),
            ("CHAT_SERVICE_STATE", "memory"),
        ];
        let c = load(&["--config", file.path()], &env).unwrap();
        assert_eq!(c.state, StateKind::Memory);
        assert_eq!(c.sqlite_path, PathBuf::from("b.db"));
        assert_eq!(c.sqlite_synchronous, SqliteSynchronous::Normal);

        let c = load(
            &["--sqlite-path", "c.db", "--sqlite-synchronous", "full"],
            &env,
        )
        .unwrap();
        assert_eq!(c.sqlite_path, PathBuf::from("c.db"));
        assert_eq!(c.sqlite_synchronous, SqliteSynchronous::Full);
        assert_eq!(
            err_message(load(&["--sqlite-synchronous", "off"], &[])),
            "invalid value 'off' for '--sqlite-synchronous <SQLITE_SYNCHRONOUS>'; [possible values: normal, full]"
        );
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
}

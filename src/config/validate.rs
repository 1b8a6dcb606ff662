//! The rules no single value parser can check: zero durations, the JWT key
//! choice, empty names and secrets. They run on the merged configuration, so
//! a message is the same whichever layer gave the value.

use std::path::Path;

use super::{AuthMode, Config, ConfigError};

impl Config {
    /// Checks the rules that no single value parser can: zero durations,
    /// the JWT key choice, empty names and secrets.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        for (option, value) in [
            ("--close-timeout", self.close_timeout),
            ("--heartbeat-rate", self.heartbeat_rate),
            ("--heartbeat-timeout", self.heartbeat_timeout),
            ("--bus-ack-timeout", self.bus_ack_timeout),
            ("--lock-ttl", self.lock_ttl),
            ("--hook-timeout", self.hook_timeout),
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
        if self.auth_query_param.as_deref() == Some("") {
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
        self.validate_hooks()
    }

    /// The HTTP hooks (interface.md 7): known names, and a URL to call.
    fn validate_hooks(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.hook_url {
            crate::hooks_http::parse_url(url)
                .map_err(|reason| ConfigError::invalid("--hook-url", reason))?;
        }
        if let Some(list) = &self.hooks {
            let hooks = crate::hooks_http::HookSet::parse(list)
                .map_err(|reason| ConfigError::invalid("--hooks", reason))?;
            if !hooks.is_empty() && self.hook_url.is_none() {
                return Err(ConfigError::invalid("--hooks", "requires --hook-url"));
            }
        }
        match self.hook_token.as_deref() {
            Some("") => return Err(ConfigError::invalid("--hook-token", "must not be empty")),
            Some(token) if http::HeaderValue::from_str(token).is_err() => {
                return Err(ConfigError::invalid(
                    "--hook-token",
                    "must be printable ASCII (it is an HTTP header value)",
                ));
            }
            _ => {}
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::{TempToml, err_message, load};

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
            "--hook-timeout",
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
    fn http_hooks() {
        let c = load(
            &[
                "--hooks",
                "connect,roomMessage:before",
                "--hook-timeout",
                "500",
            ],
            &[
                ("CHAT_SERVICE_HOOK_URL", "http://127.0.0.1:9/hooks"),
                ("CHAT_SERVICE_HOOK_TOKEN", "t"),
            ],
        )
        .unwrap();
        let settings = c.http_hooks().unwrap();
        assert_eq!(settings.url, "http://127.0.0.1:9/hooks");
        assert!(settings.hooks.connect);
        assert_eq!(settings.hooks.before, ["roomMessage"]);
        assert_eq!(settings.timeout, std::time::Duration::from_millis(500));
        assert_eq!(settings.token.as_deref(), Some("t"));
        let file = TempToml::new("hook_url = \"http://h/\"\nhooks = \"roomJoin:after\"\n");
        let c = load(&["--config", file.path()], &[]).unwrap();
        assert_eq!(c.http_hooks().unwrap().hooks.after, ["roomJoin"]);

        assert_eq!(
            err_message(load(&["--hooks", "connect"], &[])),
            "invalid value for --hooks: requires --hook-url"
        );
        assert_eq!(
            err_message(load(
                &["--hook-url", "http://h/", "--hooks", "roomJoin:during"],
                &[]
            )),
            "invalid value for --hooks: unknown hook 'roomJoin:during' (expected connect, \
             disconnect, <command>:before or <command>:after)"
        );
        assert_eq!(
            err_message(load(&["--hook-url", "https://h/"], &[])),
            "invalid value for --hook-url: 'https://h/': expected an http:// URL"
        );
        assert_eq!(
            err_message(load(&["--hook-url", "http://h/", "--hook-token", ""], &[])),
            "invalid value for --hook-token: must not be empty"
        );
        // A URL without hooks calls nothing.
        assert!(
            load(&["--hook-url", "http://h/"], &[])
                .unwrap()
                .http_hooks()
                .is_none()
        );
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
}

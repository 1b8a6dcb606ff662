//! [`ConfigError`], why a configuration could not be built, and the
//! shaping of clap's and other libraries' messages into its one-line form.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Command;

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

/// Turns a clap error into the caller's terms: help and version text stay
/// whole, anything else becomes one line.
pub(super) fn clap_error(err: clap::Error, described: &Command, args: &[OsString]) -> ConfigError {
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
pub(super) fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use crate::config::testing::{err_message, load};

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
            "invalid value 'mongo' for '--state <STATE>'; [possible values: sqlite, memory, redis]"
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
}

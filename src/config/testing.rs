//! Helpers for the configuration tests: loading from given arguments and
//! environment, temporary TOML files, and error messages checked to be one
//! line with exit code 2.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Config, ConfigError};

pub(super) fn load(args: &[&str], env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut argv = vec!["chat-service"];
    argv.extend_from_slice(args);
    Config::load_from(argv, &move |name| env.get(name).cloned())
}

/// A TOML file in the temp dir, removed on drop.
pub(super) struct TempToml(PathBuf);

impl TempToml {
    pub(super) fn new(content: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "chat-service-config-test-{}-{}.toml",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, content).unwrap();
        TempToml(path)
    }
    pub(super) fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempToml {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub(super) fn err_message(result: Result<Config, ConfigError>) -> String {
    let err = result.unwrap_err();
    let message = err.to_string();
    assert!(!message.contains('\n'), "not one line: {message:?}");
    assert_eq!(err.exit_code(), 2);
    message
}

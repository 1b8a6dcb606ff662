//! The hooks over HTTP (interface.md 7), for backends not written in
//! Rust: each configured hook is a `POST <hook-url>` with a JSON body,
//! and its answer decides as a Rust hook would. They are installed as Rust
//! hooks (`Hooks::add_before`, …), so there is one dispatcher and one
//! order: the Rust hooks set before wrap them (Rust before, HTTP before,
//! the command, HTTP after, Rust after), and a service without HTTP hooks
//! runs exactly as before.
//!
//! Layout: this module holds the settings and which hooks to call;
//! `backend` the pooled HTTP client and what counts as an answer;
//! `commands` the before- and after-hooks of the 24 commands; `sockets`
//! `connect` and `disconnect`.

mod backend;
mod commands;
mod sockets;

use std::sync::Arc;
use std::time::Duration;

use http::Uri;
use serde_json::{Map, Value};

use crate::service::ChatService;
use crate::service::hooks::Hooks;
use backend::Backend;

/// What the binary's `--hook-*` options say.
#[derive(Clone)]
pub struct HttpHooksSettings {
    /// The backend endpoint (`http://` only: no TLS client is built in;
    /// put a local proxy in front of an `https://` backend).
    pub url: String,
    /// The hooks to call, as `--hooks` lists them.
    pub hooks: HookSet,
    /// For one call, connecting and reading the answer included.
    pub timeout: Duration,
    /// Sent as `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// The largest answer read; a longer one is a failed call.
    pub max_answer_bytes: usize,
}

// Hand-written so that the token never reaches a log.
impl std::fmt::Debug for HttpHooksSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpHooksSettings")
            .field("url", &self.url)
            .field("hooks", &self.hooks)
            .field("timeout", &self.timeout)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("max_answer_bytes", &self.max_answer_bytes)
            .finish()
    }
}

/// The hooks `--hooks` names: `connect`, `disconnect`, `<command>:before`,
/// `<command>:after`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HookSet {
    pub connect: bool,
    pub disconnect: bool,
    /// Commands with a before-hook.
    pub before: Vec<&'static str>,
    /// Commands with an after-hook.
    pub after: Vec<&'static str>,
}

impl HookSet {
    /// Reads a comma-separated list (spaces around names allowed, empty
    /// entries skipped); the error names the first unknown hook.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut set = HookSet::default();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "connect" => set.connect = true,
                "disconnect" => set.disconnect = true,
                _ => {
                    let known = name.split_once(':').and_then(|(command, when)| {
                        let command = crate::commands::NAMES.iter().find(|c| **c == command)?;
                        match when {
                            "before" => Some(&mut set.before),
                            "after" => Some(&mut set.after),
                            _ => None,
                        }
                        .map(|list| (list, *command))
                    });
                    let Some((list, command)) = known else {
                        return Err(format!(
                            "unknown hook '{name}' (expected connect, disconnect, \
                             <command>:before or <command>:after)"
                        ));
                    };
                    if !list.contains(&command) {
                        list.push(command);
                    }
                }
            }
        }
        Ok(set)
    }

    pub fn is_empty(&self) -> bool {
        *self == HookSet::default()
    }
}

/// Checks a `--hook-url`: an absolute `http://` URL.
pub fn parse_url(url: &str) -> Result<Uri, String> {
    let uri: Uri = url.parse().map_err(|error| format!("'{url}': {error}"))?;
    if uri.scheme_str() != Some("http") || uri.authority().is_none() {
        return Err(format!("'{url}': expected an http:// URL"));
    }
    Ok(uri)
}

/// The HTTP hooks of one backend, ready to install.
pub struct HttpHooks {
    backend: Arc<Backend>,
    hooks: HookSet,
}

impl HttpHooks {
    /// Checks the settings (URL, token) and builds the client.
    pub fn new(settings: &HttpHooksSettings) -> Result<Self, String> {
        Ok(Self {
            backend: Arc::new(Backend::new(settings)?),
            hooks: settings.hooks.clone(),
        })
    }

    /// Installs them into `hooks`, after (inside) the Rust hooks already
    /// there: call it last. `connect` replaces any `onConnect`.
    pub fn install(&self, hooks: &mut Hooks) {
        let set = &self.hooks;
        for command in &set.before {
            commands::install_before(hooks, command, self.backend.clone());
        }
        for command in &set.after {
            commands::install_after(hooks, command, self.backend.clone());
        }
        if set.connect {
            sockets::install_connect(hooks, self.backend.clone());
        }
        if set.disconnect {
            sockets::install_disconnect(hooks, self.backend.clone());
        }
    }
}

/// The fields every hook call sends first: `hook`, `instanceId`, `id`
/// (the socket id, `null` for server-side calls).
fn request(hook: &str, service: &ChatService, id: Option<String>) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("hook".into(), hook.into());
    body.insert("instanceId".into(), service.instance_id().into());
    body.insert("id".into(), id.into());
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_lists() {
        let set =
            HookSet::parse(" connect, roomMessage:before,roomJoin:after ,,roomMessage:before")
                .unwrap();
        assert!(set.connect && !set.disconnect);
        assert_eq!(set.before, ["roomMessage"]);
        assert_eq!(set.after, ["roomJoin"]);
        assert!(HookSet::parse("").unwrap().is_empty());
        for bad in [
            "roomMessage",
            "roomMessage:during",
            "nope:before",
            "Connect",
        ] {
            let error = HookSet::parse(bad).unwrap_err();
            assert!(error.contains(&format!("'{bad}'")), "{error}");
        }
    }

    #[test]
    fn urls() {
        assert!(parse_url("http://127.0.0.1:9000/hooks").is_ok());
        for bad in [
            "https://example.com/",
            "example.com/hooks",
            "/hooks",
            "ftp://x/",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }
}

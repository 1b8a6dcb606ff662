//! The backend of the HTTP hooks: one pooled keep-alive HTTP/1 client
//! (hyper-util's), one `POST` per hook call within `--hook-timeout`, and
//! what counts as an answer: a 2xx status and a JSON object of at most
//! `max_answer_bytes`. Anything else is a failed call, counted and logged
//! here; the callers decide whether it fails closed or open.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Map, Value};

use super::HttpHooksSettings;
use crate::error::{ChatServiceError, Result};
use crate::log_budget::LogBudget;
use crate::metrics;

/// How long an idle connection to the backend is kept for the next call.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The backend endpoint and the client that reaches it.
pub(super) struct Backend {
    client: Client<HttpConnector, Full<Bytes>>,
    url: Uri,
    authorization: Option<HeaderValue>,
    timeout: Duration,
    max_answer_bytes: usize,
}

/// Why a call failed: the `reason` label of the failure metric and the
/// error the caller gets.
type Failure = (&'static str, ChatServiceError);

impl Backend {
    pub(super) fn new(settings: &HttpHooksSettings) -> std::result::Result<Self, String> {
        let url = super::parse_url(&settings.url)?;
        let authorization = match &settings.token {
            Some(token) => Some(
                HeaderValue::try_from(format!("Bearer {token}"))
                    .map_err(|_| "the token is not a valid header value".to_string())?,
            ),
            None => None,
        };
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(connector);
        Ok(Self {
            client,
            url,
            authorization,
            timeout: settings.timeout,
            max_answer_bytes: settings.max_answer_bytes,
        })
    }

    /// One hook call: `body` to the backend, its answer object back.
    /// Measured per hook (calls, failures by reason, latency); a failure
    /// is logged and returned as an internal error naming the hook.
    pub(super) async fn call(&self, hook: &str, body: &Value) -> Result<Map<String, Value>> {
        let started = Instant::now();
        let outcome = match tokio::time::timeout(self.timeout, self.exchange(hook, body)).await {
            Ok(outcome) => outcome,
            Err(_) => Err((
                "timeout",
                ChatServiceError::internal(format!(
                    "hook {hook}: no answer within {} ms",
                    self.timeout.as_millis()
                )),
            )),
        };
        let failure = outcome.as_ref().err().map(|(reason, _)| *reason);
        metrics::hook_called(hook, failure, started.elapsed());
        outcome.map_err(|(_, error)| {
            log_failure(&error);
            error
        })
    }

    async fn exchange(
        &self,
        hook: &str,
        body: &Value,
    ) -> std::result::Result<Map<String, Value>, Failure> {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(self.url.clone())
            .header(CONTENT_TYPE, "application/json");
        if let Some(authorization) = &self.authorization {
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        let request = request
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|error| {
                (
                    "request",
                    ChatServiceError::caused_by(format!("hook {hook}"), error),
                )
            })?;
        let answer = self.client.request(request).await.map_err(|error| {
            (
                "unreachable",
                ChatServiceError::caused_by(format!("hook {hook}"), error),
            )
        })?;
        let status = answer.status();
        if !status.is_success() {
            return Err((
                "status",
                ChatServiceError::internal(format!("hook {hook}: the backend answered {status}")),
            ));
        }
        let bytes = Limited::new(answer.into_body(), self.max_answer_bytes)
            .collect()
            .await
            .map_err(|error| {
                let reason = if error.is::<http_body_util::LengthLimitError>() {
                    format!("the answer is longer than {} bytes", self.max_answer_bytes)
                } else {
                    format!("the answer was cut off ({error})")
                };
                (
                    "answer",
                    ChatServiceError::internal(format!("hook {hook}: {reason}")),
                )
            })?
            .to_bytes();
        match serde_json::from_slice(&bytes) {
            Ok(Value::Object(answer)) => Ok(answer),
            _ => Err((
                "answer",
                ChatServiceError::internal(format!("hook {hook}: the answer is not a JSON object")),
            )),
        }
    }
}

/// What a command hook's answer says (interface.md 7); each field `None`
/// when absent or `null`.
#[derive(Default)]
pub(super) struct Answer {
    /// A string is the error itself, sent to the client as it is;
    /// `{"code", "args"}` a protocol error (or a code of the backend's
    /// own).
    pub(super) error: Option<ChatServiceError>,
    pub(super) result: Option<Vec<Value>>,
    pub(super) args: Option<Vec<Value>>,
}

impl Answer {
    /// Reads an answer object; one of another shape is a failed call too
    /// (logged, counted with reason `answer`).
    pub(super) fn read(hook: &str, mut answer: Map<String, Value>) -> Result<Self> {
        Ok(Answer {
            error: Self::error(hook, &mut answer)?,
            result: list(answer.remove("result"))
                .ok_or_else(|| bad_answer(hook, "result not an array"))?,
            args: list(answer.remove("args"))
                .ok_or_else(|| bad_answer(hook, "args not an array"))?,
        })
    }

    /// Takes the `error` of an answer (`connect` has no other field of
    /// this struct).
    pub(super) fn error(
        hook: &str,
        answer: &mut Map<String, Value>,
    ) -> Result<Option<ChatServiceError>> {
        match answer.remove("error") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(ChatServiceError::thrown(text))),
            Some(Value::Object(mut error)) => {
                let Some(Value::String(code)) = error.remove("code") else {
                    return Err(bad_answer(hook, "error without a code string"));
                };
                let args = list(error.remove("args"))
                    .ok_or_else(|| bad_answer(hook, "error args not an array"))?;
                Ok(Some(ChatServiceError::custom(
                    code,
                    args.unwrap_or_default(),
                )))
            }
            Some(_) => Err(bad_answer(hook, "error neither a string nor an object")),
        }
    }
}

/// An optional array: `Some(None)` when absent or `null`, `None` when
/// something else.
fn list(value: Option<Value>) -> Option<Option<Vec<Value>>> {
    match value {
        None | Some(Value::Null) => Some(None),
        Some(Value::Array(values)) => Some(Some(values)),
        Some(_) => None,
    }
}

/// An answer object not of the hook's shape: a failed call too (logged,
/// counted with reason `answer`).
pub(super) fn bad_answer(hook: &str, what: &str) -> ChatServiceError {
    let error = ChatServiceError::internal(format!("hook {hook}: bad answer: {what}"));
    metrics::hook_failed(hook, "answer");
    log_failure(&error);
    error
}

/// Failed hook calls logged per second at most (all are counted in
/// `chat_service_hook_failures_total`): clients reach a backend that is
/// down at the rate they send commands, which must not flood the log.
const FAILURES_LOGGED_PER_SECOND: u32 = 10;

fn log_failure(error: &ChatServiceError) {
    static BUDGET: LogBudget = LogBudget::new(FAILURES_LOGGED_PER_SECOND);
    if let Some(skipped) = BUDGET.take() {
        tracing::warn!(%error, not_logged_before = skipped, "hook call failed");
    }
}

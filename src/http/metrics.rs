//! `GET /metrics` (interface.md 3): the Prometheus recorder, installed
//! once per process as the global `metrics` recorder, and the handler that
//! renders it in the Prometheus text format. What is measured is in
//! `crate::metrics`.

use std::sync::OnceLock;
use std::time::Duration;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::metrics::{COMMAND_DURATION, DURATION_BUCKETS, HOOK_DURATION, describe};

/// How often histogram samples are folded into their buckets when nobody
/// scrapes (a scrape does it too).
const UPKEEP_PERIOD: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's Prometheus recorder, installed on first use. `None` when
/// another global recorder was installed first (an embedding application's
/// own): its exporter then has the metrics, and `/metrics` answers 404.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE.get_or_init(install).as_ref()
}

fn install() -> Option<PrometheusHandle> {
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(COMMAND_DURATION.into()), DURATION_BUCKETS)
        .and_then(|b| {
            b.set_buckets_for_metric(Matcher::Full(HOOK_DURATION.into()), DURATION_BUCKETS)
        });
    let handle = match builder.and_then(PrometheusBuilder::install_recorder) {
        Ok(handle) => handle,
        Err(error) => {
            tracing::warn!(%error, "metrics: the Prometheus recorder is not installed");
            return None;
        }
    };
    describe();
    let upkeep = handle.clone();
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_PERIOD);
                upkeep.run_upkeep();
            }
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, "metrics: no upkeep thread; histograms are folded at scrapes only");
    }
    Some(handle)
}

/// The `GET /metrics` handler.
pub async fn serve() -> Response {
    match handle() {
        Some(handle) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            handle.render(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

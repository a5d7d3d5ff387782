//! The process's Prometheus recorder and the `GET /metrics` endpoint.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::{CATALOG, Kind};

/// The content type of Prometheus' text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How often histograms are drained when nobody scrapes (bounds their memory).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder as the process's metrics recorder, once: later calls return
/// the same handle. Histograms of the catalogue get its buckets (so dashboards and alerts can
/// aggregate them across pods with `histogram_quantile`), and every metric its help text.
///
/// Called by each program at start and by the API's router, so that the API crate serves its
/// metrics in every program that builds it. If another recorder was installed first (a test
/// harness of its own), this one still renders, but sees nothing; that is logged.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = builder().build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed: GET /metrics shows nothing recorded");
        }
        crate::describe_all();
        let upkeep = handle.clone();
        // A plain thread, not a task: the recorder outlives any one Tokio runtime (tests build
        // one per test).
        let spawned = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            }
        });
        if let Err(error) = spawned {
            tracing::warn!(%error, "could not start the metrics upkeep thread; histograms drain at each scrape only");
        }
        handle
    })
}

/// The builder with the catalogue's histogram buckets.
fn builder() -> PrometheusBuilder {
    let mut builder = PrometheusBuilder::new();
    for metric in CATALOG.iter().filter(|m| m.kind == Kind::Histogram) {
        builder = match builder.set_buckets_for_metric(Matcher::Full(metric.name.to_owned()), metric.buckets) {
            Ok(builder) => builder,
            // Only empty buckets fail, which the catalogue's tests rule out; a histogram without
            // buckets is exported as a summary, still usable.
            Err(error) => {
                tracing::warn!(metric = metric.name, %error, "histogram buckets refused");
                PrometheusBuilder::new()
            }
        };
    }
    builder
}

/// The metrics of this process in Prometheus' text format (installs the recorder if needed).
pub fn render() -> String {
    install().render()
}

/// `GET /metrics`: the process's metrics, for Prometheus to scrape.
pub async fn handler() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], render())
}

/// A router with only `GET /metrics`.
pub fn router() -> Router {
    Router::new().route("/metrics", get(handler))
}

/// Serves [`router`] on `listener` until `shutdown` completes: the metrics port of a program
/// that has no other HTTP endpoint (the scraper). Installs the recorder first.
pub async fn serve(
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    install();
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "metrics listening (GET /metrics)");
    }
    axum::serve(listener, router()).with_graceful_shutdown(shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names;

    #[tokio::test]
    async fn serves_what_is_recorded_with_help_and_buckets() {
        install();
        metrics::counter!(names::CHECKS, "outcome" => "priced", "kind" => "none", "method" => "static").increment(2);
        metrics::histogram!(names::FETCH_DURATION, "method" => "static", "result" => "ok").record(0.3);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(serve(listener, std::future::pending()));
        let response = reqwest::get(format!("http://{addr}/metrics")).await.expect("scrape");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], CONTENT_TYPE);
        let text = response.text().await.expect("body");
        assert!(text.contains(r#"pricetrack_checks_total{outcome="priced",kind="none",method="static"} 2"#), "{text}");
        assert!(text.contains("# HELP pricetrack_checks_total"), "{text}");
        assert!(text.contains("# TYPE pricetrack_fetch_duration_seconds histogram"), "{text}");
        assert!(
            text.contains(r#"pricetrack_fetch_duration_seconds_bucket{method="static",result="ok",le="0.5"} 1"#),
            "{text}"
        );
        server.abort();
    }
}

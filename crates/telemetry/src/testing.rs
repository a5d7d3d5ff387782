//! An OTLP/HTTP collector for tests (feature `testing`): it listens on 127.0.0.1, takes trace
//! export requests in the JSON encoding (`OTEL_EXPORTER_OTLP_PROTOCOL=http/json`) and keeps every
//! span, so that a test can follow one trace across the processes it started.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;

/// One exported span, as far as a test cares. Ids are lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedSpan {
    /// The exporting program's `service.name`.
    pub service: String,
    /// The span's name (`request`, `check`, `deliver`…).
    pub name: String,
    /// Its trace.
    pub trace_id: String,
    /// Its own id.
    pub span_id: String,
    /// Its parent's id; empty for a root span.
    pub parent_span_id: String,
    /// Its attributes (the tracing span's fields), as text.
    pub attributes: BTreeMap<String, String>,
}

impl ExportedSpan {
    /// The value of attribute `key`, as text.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

/// The collector: cheap to clone, every clone sees the same spans.
#[derive(Debug, Clone, Default)]
pub struct OtlpCollector {
    spans: Arc<Mutex<Vec<ExportedSpan>>>,
}

impl OtlpCollector {
    /// Starts listening on a free port of 127.0.0.1; returns the base URL to give programs as
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`. Call inside a Tokio runtime.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn serve(&self) -> String {
        let listener =
            tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port for the collector");
        let addr: SocketAddr = listener.local_addr().expect("the collector's address");
        let router = Router::new().route("/v1/traces", post(receive)).with_state(self.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        format!("http://{addr}")
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ExportedSpan> {
        self.spans.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The first span received that `matches`.
    pub fn find(&self, matches: impl Fn(&ExportedSpan) -> bool) -> Option<ExportedSpan> {
        self.spans().into_iter().find(|span| matches(span))
    }
}

fn any_value_text(value: &Value) -> String {
    for key in ["stringValue", "intValue", "boolValue", "doubleValue"] {
        if let Some(v) = value.get(key) {
            return v.as_str().map_or_else(|| v.to_string(), str::to_owned);
        }
    }
    value.to_string()
}

fn attributes(list: &Value) -> BTreeMap<String, String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|kv| Some((kv["key"].as_str()?.to_owned(), any_value_text(&kv["value"]))))
        .collect()
}

async fn receive(State(collector): State<OtlpCollector>, body: String) -> (StatusCode, &'static str) {
    let Ok(export) = serde_json::from_str::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "{}");
    };
    let mut received = Vec::new();
    for resource_spans in export["resourceSpans"].as_array().into_iter().flatten() {
        let service =
            attributes(&resource_spans["resource"]["attributes"]).get("service.name").cloned().unwrap_or_default();
        for scope_spans in resource_spans["scopeSpans"].as_array().into_iter().flatten() {
            for span in scope_spans["spans"].as_array().into_iter().flatten() {
                let text = |key: &str| span[key].as_str().unwrap_or_default().to_ascii_lowercase();
                received.push(ExportedSpan {
                    service: service.clone(),
                    name: span["name"].as_str().unwrap_or_default().to_owned(),
                    trace_id: text("traceId"),
                    span_id: text("spanId"),
                    parent_span_id: text("parentSpanId"),
                    attributes: attributes(&span["attributes"]),
                });
            }
        }
    }
    collector.spans.lock().unwrap_or_else(PoisonError::into_inner).extend(received);
    (StatusCode::OK, "{}")
}

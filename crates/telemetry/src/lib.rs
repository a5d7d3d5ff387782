//! Logs and traces for every pricetrack program.
//!
//! - [`init`] starts logging to stderr (text or JSON, filtered by `RUST_LOG`) and, when an OTLP
//!   endpoint is configured (`OTEL_EXPORTER_OTLP_ENDPOINT` or
//!   `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), exports pricetrack's spans with OpenTelemetry over
//!   OTLP/HTTP. Nothing is exported otherwise, and nothing about logging changes.
//! - [`current_trace_context`] and [`continue_trace`] carry a W3C trace context across a queue:
//!   the sender puts the current span's context beside the message
//!   ([`pricetrack_domain::ports::OutgoingMessage::trace`]), and the receiver makes its span a
//!   child of it, so that one check is one trace from the API request that queued it, through the
//!   scraper's check, to the delivery of the alert it decided.
//!
//! The exporter reads the standard OpenTelemetry variables (`OTEL_EXPORTER_OTLP_PROTOCOL`:
//! `http/protobuf`, the default, or `http/json`; `OTEL_EXPORTER_OTLP_HEADERS`,
//! `OTEL_EXPORTER_OTLP_TIMEOUT`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
//! `OTEL_TRACES_SAMPLER`, `OTEL_BSP_SCHEDULE_DELAY`, …). gRPC is not built in: point the
//! programs at a collector's OTLP/HTTP port (4318).

#[cfg(feature = "testing")]
pub mod testing;

use std::collections::HashMap;
use std::sync::OnceLock;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use pricetrack_domain::TraceContext;
use pricetrack_settings::LogFormat;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The variables whose presence turns trace export on (the OpenTelemetry specification's names).
pub const ENDPOINT_VARS: [&str; 2] = ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"];

/// Spans exported: pricetrack's own, at info and above (the request, the check, the delivery);
/// dependencies' spans are left out to keep traces small.
const EXPORTED_TARGET: &str = "pricetrack";

/// The W3C header names, as the propagator writes and reads them.
const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";

/// The running provider, for [`flush`] from places that do not hold the [`Telemetry`].
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Exports every span ended so far, when spans are being exported, waiting for the exporter
/// (bounded by its timeout). A Lambda calls this before each invocation returns, since it may be
/// frozen right after.
pub fn flush() {
    if let Some(provider) = PROVIDER.get()
        && let Err(error) = provider.force_flush()
    {
        tracing::warn!(%error, "could not flush spans to the OTLP endpoint");
    }
}

/// Why trace export could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the OTLP trace exporter")]
pub struct TelemetryError(#[source] opentelemetry_otlp::ExporterBuildError);

/// Keeps trace export running; dropping it flushes the spans not yet exported and stops the
/// exporter. Hold it until the program ends.
#[derive(Debug)]
#[must_use = "dropping it stops trace export"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            tracing::warn!(%error, "could not flush spans to the OTLP endpoint at shutdown");
        }
    }
}

/// Whether `lookup` (an environment) configures an OTLP endpoint.
pub fn export_configured(lookup: impl Fn(&str) -> Option<String>) -> bool {
    ENDPOINT_VARS.iter().any(|name| lookup(name).is_some_and(|value| !value.trim().is_empty()))
}

/// Starts logging to stderr, as text lines or one JSON object per line, at the level `RUST_LOG`
/// gives (or `default_filter`, e.g. `info`, when it is unset or invalid); and, when the process
/// environment configures an OTLP endpoint, exports spans as `service` (unless
/// `OTEL_SERVICE_NAME` names it otherwise). Call once, inside a Tokio runtime or not.
///
/// # Errors
/// The exporter cannot be built (e.g. an endpoint that is not a URL). Logging is running even
/// then, so the caller can log the error.
pub fn init(service: &'static str, format: LogFormat, default_filter: &str) -> Result<Telemetry, TelemetryError> {
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    if !export_configured(|name| std::env::var(name).ok()) {
        // Logging alone, exactly as before traces existed: one global filter, the cheapest path.
        let builder = tracing_subscriber::fmt().with_env_filter(filter()).with_writer(std::io::stderr);
        match format {
            LogFormat::Json => builder.json().init(),
            LogFormat::Text => builder.init(),
        }
        return Ok(Telemetry { provider: None });
    }
    // Each layer its own filter: `RUST_LOG` decides what is logged, not what is traced.
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = match format {
        LogFormat::Json => fmt.json().with_filter(filter()).boxed(),
        LogFormat::Text => fmt.with_filter(filter()).boxed(),
    };
    let provider = match tracer_provider(service) {
        Ok(provider) => provider,
        Err(error) => {
            tracing_subscriber::registry().with(fmt).init();
            return Err(error);
        }
    };
    let otel = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(service))
        .with_filter(Targets::new().with_target(EXPORTED_TARGET, tracing::Level::INFO));
    tracing_subscriber::registry().with(fmt).with(otel).init();
    let _ = PROVIDER.set(provider.clone());
    Ok(Telemetry { provider: Some(provider) })
}

/// The tracer provider: OTLP/HTTP through the SDK's batch processor (its own thread).
fn tracer_provider(service: &'static str) -> Result<SdkTracerProvider, TelemetryError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder().with_http().build().map_err(TelemetryError)?;
    let mut resource = opentelemetry_sdk::Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(service);
    }
    Ok(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource.build()).build())
}

/// An error and its causes on one line (`outer: cause: root cause`), for logs and for the texts
/// (a job's last error, the delivery log) that show an error in words.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

/// The trace context of the current span, to send beside a message; `None` when spans are not
/// being exported (there is no trace to continue) or the current span is not in one.
pub fn current_trace_context() -> Option<TraceContext> {
    let context = tracing::Span::current().context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier: HashMap<String, String> = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    TraceContext::parse(carrier.get(TRACEPARENT)?, carrier.get(TRACESTATE).map(String::as_str))
}

/// Makes `span` (created, not yet entered) a child of `trace`, the context a received message
/// carried. Does nothing without a trace, or when spans are not being exported.
pub fn continue_trace(span: &tracing::Span, trace: Option<&TraceContext>) {
    let Some(trace) = trace else { return };
    let mut carrier = HashMap::from([(TRACEPARENT.to_owned(), trace.traceparent().to_owned())]);
    if let Some(state) = trace.tracestate() {
        carrier.insert(TRACESTATE.to_owned(), state.to_owned());
    }
    let parent = TraceContextPropagator::new().extract(&carrier);
    // Without the OpenTelemetry layer there is no trace to join; a span already entered keeps
    // the parent it has. Neither is worth more than this.
    let _ = span.set_parent(parent);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_chain_joins_causes() {
        let err = pricetrack_domain::ports::StoreError::Backend(Box::new(std::io::Error::other("disk full")));
        assert_eq!(error_chain(&err), "job store backend failed: disk full");
    }

    #[test]
    fn export_is_on_only_when_an_endpoint_is_set() {
        assert!(!export_configured(|_| None));
        assert!(!export_configured(|_| Some("  ".to_owned())));
        assert!(export_configured(|name| (name == "OTEL_EXPORTER_OTLP_ENDPOINT").then(|| "http://c:4318".to_owned())));
        assert!(export_configured(|name| {
            (name == "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").then(|| "http://c:4318/v1/traces".to_owned())
        }));
    }

    #[test]
    fn without_export_there_is_no_context_to_send_and_continuing_is_harmless() {
        let span = tracing::info_span!("check");
        let trace = TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", None);
        continue_trace(&span, trace.as_ref());
        let _entered = span.enter();
        assert_eq!(current_trace_context(), None);
    }

    #[test]
    fn a_span_continuing_a_trace_sends_that_trace_on() {
        // A subscriber with the OpenTelemetry layer and an SDK provider exporting nowhere.
        let provider = SdkTracerProvider::builder().build();
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("t")));
        tracing::subscriber::with_default(subscriber, || {
            let incoming =
                TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", Some("vendor=1"))
                    .expect("valid");
            let span = tracing::info_span!("check");
            continue_trace(&span, Some(&incoming));
            let outgoing = span.in_scope(current_trace_context).expect("a span in a trace has a context to send");
            assert_eq!(outgoing.trace_id(), incoming.trace_id(), "the trace goes on");
            assert_ne!(outgoing.traceparent(), incoming.traceparent(), "with this span as the parent");
            assert_eq!(outgoing.tracestate(), Some("vendor=1"));
        });
    }
}

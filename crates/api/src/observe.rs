//! Request observation. The request id (`x-request-id`, made here unless a proxy set one, and
//! sent back), the per-request span and the overall deadline come from tower-http's layers
//! ([`layers`]); what is ours is the one error shape for every error response and the single log
//! line per request, which is where an internal error's source is logged ([`shape_and_log`]).
//! Never logs bodies, headers, query strings, cookies, tokens or emails.

use std::any::Any;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use pricetrack_domain::TraceContext;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{MakeSpan, TraceLayer};

use crate::error::{ApiError, ErrorReport, default_code_for, error_response};

/// Longest a request may take before it is answered with 503.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Wraps `router` in the observation layers, outermost first: request id set and sent back,
/// the request's span, the error shape and log line, the deadline.
pub(crate) fn layers<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, REQUEST_TIMEOUT))
        .layer(axum::middleware::from_fn(shape_and_log))
        .layer(TraceLayer::new_for_http().make_span_with(RequestSpan).on_request(()).on_response(()).on_failure(()))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// The span of one request: method, the matched route (never the raw path, which may carry
/// ids), the request id; status and latency are recorded when it ends. It continues the caller's
/// trace when the request carries a W3C `traceparent`.
#[derive(Clone, Copy)]
struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, request: &axum::http::Request<B>) -> tracing::Span {
        let path = request.extensions().get::<MatchedPath>().map_or("<unmatched>", MatchedPath::as_str);
        let request_id =
            request.extensions().get::<RequestId>().and_then(|id| id.header_value().to_str().ok()).unwrap_or("-");
        let span = tracing::info_span!(
            "request",
            method = %request.method(),
            path = %path,
            request_id = %request_id,
            status = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        );
        // A caller already in a trace (a W3C `traceparent` header) gets this request in it.
        let header = |name: &str| request.headers().get(name).and_then(|value| value.to_str().ok());
        let incoming = header("traceparent").and_then(|parent| TraceContext::parse(parent, header("tracestate")));
        pricetrack_telemetry::continue_trace(&span, incoming.as_ref());
        span
    }
}

/// Gives every error response the one error shape, then logs the request once, inside its span:
/// an internal error with its source, a rejection with its code, a success plainly.
pub(crate) async fn shape_and_log(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let response = next.run(req).await;
    let (response, report) = ensure_error_shape(response);
    let status = response.status();
    let span = tracing::Span::current();
    span.record("status", status.as_u16());
    span.record("latency_ms", u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
    match &report {
        Some(report) if status.is_server_error() => match report.source_chain() {
            Some(error) => tracing::error!(code = report.code, error = %error, "request failed"),
            None => tracing::error!(code = report.code, "request failed"),
        },
        Some(report) => tracing::info!(code = report.code, "request rejected"),
        None => tracing::info!("request finished"),
    }
    response
}

/// Takes the [`ErrorReport`] off an error response, and gives error responses that did not come
/// from an [`ApiError`] (axum's own rejections, a 405 from the router) the one error shape.
fn ensure_error_shape(mut response: Response) -> (Response, Option<ErrorReport>) {
    let status = response.status();
    if let Some(report) = response.extensions_mut().remove::<ErrorReport>() {
        return (response, Some(report));
    }
    if !(status.is_client_error() || status.is_server_error()) {
        return (response, None);
    }
    let (code, message) = default_code_for(status);
    let mut shaped = error_response(status, code, message, None);
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            shaped.headers_mut().append(name.clone(), value.clone());
        }
    }
    (shaped, Some(ErrorReport { code, source: None }))
}

/// The response for a handler that panicked: a plain internal error. The panic payload is not
/// logged, as it may hold any value the code was formatting.
pub(crate) fn panic_response(_payload: Box<dyn Any + Send + 'static>) -> Response {
    ApiError::internal_msg("a request handler panicked").into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::StatusCode;

    use super::*;

    #[test]
    fn foreign_error_responses_get_the_shape_and_keep_headers() {
        let response = Response::builder()
            .status(StatusCode::METHOD_NOT_ALLOWED)
            .header(header::ALLOW, "GET,HEAD")
            .header(header::CONTENT_TYPE, "text/plain")
            .body(Body::from("Method Not Allowed"))
            .expect("response");
        let (shaped, report) = ensure_error_shape(response);
        assert_eq!(shaped.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(shaped.headers().get(header::ALLOW).map(|v| v.as_bytes()), Some(&b"GET,HEAD"[..]));
        assert_eq!(shaped.headers().get(header::CONTENT_TYPE).map(|v| v.as_bytes()), Some(&b"application/json"[..]));
        assert_eq!(report.map(|r| r.code), Some("method_not_allowed"));
    }

    #[test]
    fn success_passes_untouched() {
        let (response, report) = ensure_error_shape(StatusCode::NO_CONTENT.into_response());
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert!(report.is_none());
    }
}

//! The request middleware: one span per request (method, matched path, status, latency), a
//! deadline, the one error shape for every error response, and the single log line per request,
//! which is where an internal error's source is logged. Never logs bodies, headers, query
//! strings, cookies, tokens or emails.

use std::any::Any;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use crate::error::{ApiError, ErrorReport, default_code_for, error_response};

/// Longest a request may take before it is answered with 503 `timeout`.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs a request inside its span and logs how it ended.
pub(crate) async fn observe(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.extensions().get::<MatchedPath>().map_or("<unmatched>", MatchedPath::as_str).to_owned();
    let span = tracing::info_span!(
        "request",
        method = %method,
        path = %path,
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    );
    let started = Instant::now();
    let response = async {
        match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
            Ok(response) => response,
            Err(_) => ApiError::Timeout.into_response(),
        }
    }
    .instrument(span.clone())
    .await;

    let (response, report) = ensure_error_shape(response);
    let status = response.status();
    span.record("status", status.as_u16());
    span.record("latency_ms", u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
    span.in_scope(|| match &report {
        Some(report) if status.is_server_error() => match report.source_chain() {
            Some(error) => tracing::error!(code = report.code, error = %error, "request failed"),
            None => tracing::error!(code = report.code, "request failed"),
        },
        Some(report) => tracing::info!(code = report.code, "request rejected"),
        None => tracing::info!("request finished"),
    });
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

//! HTTP metrics: one middleware layer that counts every request by method, route template and
//! status, and times it. It sits outside the request logging layer and knows nothing of it, so
//! that either can change on its own.
//!
//! The route label is the matched route's template (`/api/v1/jobs/{id}`), never the raw path:
//! job ids, probing bots' random paths and the like would make the number of series unbounded.
//! A request that matched no route is labelled `unmatched`.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use pricetrack_metrics::names;

/// The route label of a request that matched no route.
const UNMATCHED: &str = "unmatched";

/// The layer: add with `.layer(axum::middleware::from_fn(metrics::record))`.
pub(crate) async fn record(req: Request, next: Next) -> Response {
    let method = method_label(req.method());
    let route = req.extensions().get::<MatchedPath>().map_or_else(|| UNMATCHED.to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(req).await;
    let status = pricetrack_metrics::status_label(response.status().as_u16());
    metrics::counter!(names::HTTP_REQUESTS, "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(names::HTTP_REQUEST_DURATION, "method" => method, "route" => route).record(started.elapsed());
    response
}

/// The method label: the standard methods by name, anything else as `other` (a client can send
/// any token as a method).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        let odd = Method::from_bytes(b"PROPFIND").expect("a method token");
        assert_eq!(method_label(&odd), "other");
    }
}

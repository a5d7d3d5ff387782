//! `POST /api/v1/preview {"url"}`: what a check would read on a page, before the user saves a
//! job: title, price, currency, stock, and every candidate price with a selector that finds it
//! again (for the job's `price_selector`).
//!
//! The page is read by a [`PagePreviewer`] that the binary supplies (the same reader a check
//! uses: address guard, politeness, User-Agent, limits, browser fallback). Each user may preview
//! at most [`PREVIEWS_PER_WINDOW`] pages per [`PREVIEW_WINDOW`].

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pricetrack_domain::ProductUrl;
use serde::Serialize;

use crate::body::JsonObject;
use crate::error::ApiError;
use crate::limiter::SignInLimiter;
use crate::session::Session;
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Most previews one user may ask for per [`PREVIEW_WINDOW`].
pub const PREVIEWS_PER_WINDOW: u32 = 20;
/// The window of [`PREVIEWS_PER_WINDOW`].
pub const PREVIEW_WINDOW: Duration = Duration::from_secs(60);

pub use pricetrack_domain::preview::{PagePreview, PagePreviewer, PreviewCandidate, PreviewFailed};

/// One price found on the page, as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = PreviewCandidate)]
pub(crate) struct PreviewCandidateView {
    /// The amount, a decimal string.
    price: String,
    /// Its currency (ISO 4217), when known.
    currency: Option<String>,
    /// Where it was found (`json-ld`, `microdata`, `meta`, `visible`, `shop-rule`).
    source: String,
    /// A CSS selector that finds it again, for the job's `price_selector`; `null` when no
    /// element shows it.
    selector: Option<String>,
    /// The text around it.
    context: String,
    /// Why extraction would not take it (an old price…), when it would not.
    excluded: Option<String>,
}

/// What a check would read on a page, as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = PagePreview)]
pub(crate) struct PagePreviewView {
    /// The product's name, when the page gives one.
    title: Option<String>,
    /// The price a check would record, a decimal string.
    price: Option<String>,
    /// Its currency.
    currency: Option<String>,
    /// `in_stock`, `out_of_stock`…, when the page says.
    availability: Option<String>,
    /// Every price found, the one a check would take first.
    candidates: Vec<PreviewCandidateView>,
}

impl From<PagePreview> for PagePreviewView {
    fn from(preview: PagePreview) -> Self {
        Self {
            title: preview.title,
            price: preview.price,
            currency: preview.currency,
            availability: preview.availability,
            candidates: preview
                .candidates
                .into_iter()
                .map(|c| PreviewCandidateView {
                    price: c.price,
                    currency: c.currency,
                    source: c.source,
                    selector: c.selector,
                    context: c.context,
                    excluded: c.excluded,
                })
                .collect(),
        }
    }
}

/// The previewer and its per-user limit, handed to the handler as an extension.
#[derive(Clone)]
pub(crate) struct Previewing {
    previewer: Arc<dyn PagePreviewer>,
    limiter: Arc<SignInLimiter>,
}

/// The preview route, `POST /api/v1/preview`, with its previewer and per-user limit. Sessions
/// are checked exactly as by the other routes.
pub(crate) fn routes(previewer: Arc<dyn PagePreviewer>) -> OpenApiRouter<AppState> {
    let previewing =
        Previewing { previewer, limiter: Arc::new(SignInLimiter::new(PREVIEWS_PER_WINDOW, PREVIEW_WINDOW)) };
    OpenApiRouter::new().routes(routes!(preview)).layer(axum::Extension(previewing))
}

fn error(status: StatusCode, code: &str, message: &str, retry_after: Option<Duration>) -> Response {
    let body = serde_json::json!({"error": {"code": code, "message": message}});
    let mut response = (status, Json(body)).into_response();
    if let Some(wait) = retry_after
        && let Ok(value) = HeaderValue::from_str(&wait.as_secs().max(1).to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

#[utoipa::path(
    post,
    path = "/api/v1/preview",
    operation_id = "preview_page",
    summary = "What a check would read on a page",
    tag = "jobs",
    request_body(content = crate::openapi::PreviewRequestDoc, content_type = "application/json"),
    responses(
        (status = 200, description = "What a check would read on the page", body = PagePreviewView),
        (status = 400, description = "Invalid input: the field and what is wrong with it", body = crate::openapi::ErrorDoc),
        (status = 401, description = "No valid session", body = crate::openapi::ErrorDoc),
        (status = 403, description = "Refused (see the code)", body = crate::openapi::ErrorDoc),
        (status = 413, description = "Body too large", body = crate::openapi::ErrorDoc),
        (status = 415, description = "Body not declared as JSON", body = crate::openapi::ErrorDoc),
        (status = 422, description = "The page could not be read", body = crate::openapi::ErrorDoc),
        (status = 429, description = "Too many requests; `Retry-After` says when to try again", body = crate::openapi::ErrorDoc),
        (status = 503, description = "A dependency is down: try again after `Retry-After`", body = crate::openapi::ErrorDoc),
        (status = "default", description = "Any other error, in the one error shape", body = crate::openapi::ErrorDoc),
    ),
    security(("session" = [])),
)]
pub(crate) async fn preview(
    State(state): State<AppState>,
    axum::Extension(previewing): axum::Extension<Previewing>,
    session: Session,
    body: JsonObject,
) -> Result<Response, ApiError> {
    body.deny_unknown(&["url"])?;
    let raw_url: String = body.required("url", "a string")?;
    let url = if state.settings.allow_private_targets {
        ProductUrl::parse(&raw_url)
    } else {
        ProductUrl::parse_public(&raw_url)
    }
    .map_err(|e| ApiError::invalid("url", e))?;
    // Every preview counts (the limiter's "success" is never reported); the limit is per user,
    // whatever the address.
    if let Err(wait) = previewing.limiter.begin(std::net::Ipv4Addr::UNSPECIFIED.into(), &session.0.to_string()) {
        return Ok(error(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_previews",
            "too many page previews, try again in a minute",
            Some(wait),
        ));
    }
    match previewing.previewer.preview(&url).await {
        Ok(preview) => {
            let view = PagePreviewView::from(preview);
            Ok(([(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))], Json(view)).into_response())
        }
        Err(PreviewFailed(reason)) => Ok(error(StatusCode::UNPROCESSABLE_ENTITY, "page_not_read", &reason, None)),
    }
}

//! Tracking jobs: create (idempotent with `Idempotency-Key`), list, read, edit (JSON merge
//! patch, `If-Match` on the `ETag`), pause and resume, price history, delete. Every route is scoped to the signed-in user: another
//! user's job, like a malformed id, is simply not found.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::SecondsFormat;
use pricetrack_domain::history::{self, Bucket, PriceAt, PriceStats};
use pricetrack_domain::ports::{IdempotentCreate, ListOrder, OutgoingMessage, PageRequest, WriteOutcome};
use pricetrack_domain::{
    CheckInterval, CheckRequest, Currency, HistoryQuery, Job, JobEdit, JobId, JobKey, JobStatus, Money, NewJob,
    PricePoint, ProductUrl, Resolution, TargetPrice, Timestamp, UserId,
};
use serde::{Deserialize, Serialize};

use crate::body::JsonObject;
use crate::error::ApiError;
use crate::session::Session;
use crate::state::AppState;
use crate::{error_chain, now};

/// Longest accepted `price_selector`, in characters.
const MAX_SELECTOR_CHARS: usize = 512;
/// Longest accepted pagination cursor, in bytes (real ones are far shorter).
const MAX_CURSOR_BYTES: usize = 1024;

/// A job as the API shows it: ids as strings, prices as decimal strings, RFC 3339 UTC times.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Job)]
pub(crate) struct JobView {
    id: String,
    url: String,
    target_price: String,
    currency: Option<String>,
    #[schema(value_type = crate::openapi::JobStatusDoc)]
    status: &'static str,
    last_price: Option<String>,
    last_currency: Option<String>,
    #[schema(value_type = Option<crate::openapi::AvailabilityDoc>)]
    availability: Option<&'static str>,
    last_checked_at: Option<String>,
    last_error: Option<String>,
    created_at: String,
    updated_at: String,
    check_interval_secs: u64,
    price_selector: Option<String>,
    /// The alert rules, cooldown, snooze and channels.
    #[serde(flatten)]
    alerting: crate::rules::AlertingView,
    paused: bool,
    version: u64,
}

fn rfc3339(t: Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl From<&Job> for JobView {
    fn from(job: &Job) -> Self {
        Self {
            id: job.id.to_string(),
            url: job.url.as_str().to_owned(),
            target_price: job.target_price.to_string(),
            currency: job.currency.map(|c| c.as_str().to_owned()),
            status: if job.paused { "paused" } else { job.status.as_str() },
            last_price: job.last_price.map(|p| p.amount.to_string()),
            last_currency: job.last_price.and_then(|p| p.currency).map(|c| c.as_str().to_owned()),
            availability: job.last_availability.map(|a| a.as_str()),
            last_checked_at: job.last_checked_at.map(rfc3339),
            last_error: job.last_error.clone(),
            created_at: rfc3339(job.created_at),
            updated_at: rfc3339(job.updated_at),
            check_interval_secs: job.check_interval.as_secs(),
            price_selector: job.price_selector.clone(),
            alerting: crate::rules::AlertingView::from(&job.alerting),
            paused: job.paused,
            version: job.version,
        }
    }
}

/// One page of jobs.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct JobPage {
    jobs: Vec<JobView>,
    next_cursor: Option<String>,
}

/// Reads and validates a create-job body.
fn new_job(body: &JsonObject, state: &AppState) -> Result<NewJob, ApiError> {
    let mut allowed = vec!["url", "target_price", "currency", "check_interval_secs", "price_selector"];
    allowed.extend(crate::rules::FIELDS);
    body.deny_unknown(&allowed)?;

    let raw_url: String = body.required("url", "a string")?;
    let url = if state.settings.allow_private_targets {
        ProductUrl::parse(&raw_url)
    } else {
        ProductUrl::parse_public(&raw_url)
    }
    .map_err(|e| ApiError::invalid("url", e))?;

    let target_price = target_price(body)?;

    let currency = body
        .optional::<String>("currency", "a string")?
        .map(|c| Currency::parse(&c))
        .transpose()
        .map_err(|e| ApiError::invalid("currency", e))?;

    let policy = &state.settings.schedule;
    let secs = match body.optional::<u64>("check_interval_secs", "a whole number of seconds")? {
        Some(secs) => secs,
        None => policy.default_interval.as_secs(),
    };
    let check_interval = CheckInterval::new(secs, policy).map_err(|e| ApiError::invalid("check_interval_secs", e))?;

    let price_selector =
        body.optional::<String>("price_selector", "a string")?.map(|s| price_selector(&s)).transpose()?;

    Ok(NewJob { url, target_price, currency, check_interval, price_selector })
}

/// `target_price` as a JSON string (`"79.99"`) or number (`79.99`), read from its text: a
/// number never goes through a float.
fn target_price(body: &JsonObject) -> Result<TargetPrice, ApiError> {
    let invalid = |e| ApiError::invalid("target_price", e);
    let raw = body.raw("target_price").ok_or_else(|| ApiError::invalid("target_price", "target_price is required"))?;
    if raw.starts_with('"') {
        let text: String =
            serde_json::from_str(raw).map_err(|_| ApiError::MalformedJson("request body is not valid JSON"))?;
        TargetPrice::parse(&text).map_err(invalid)
    } else if raw.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        TargetPrice::parse(raw).map_err(invalid)
    } else {
        Err(invalid(pricetrack_domain::money::InvalidTargetPrice::NotANumber))
    }
}

/// A CSS selector that overrides price detection: non-empty, at most 512 characters, and one
/// that parses.
fn price_selector(raw: &str) -> Result<String, ApiError> {
    let selector = raw.trim();
    if selector.is_empty() {
        return Err(ApiError::invalid("price_selector", "price_selector must not be empty"));
    }
    if selector.chars().count() > MAX_SELECTOR_CHARS {
        return Err(ApiError::invalid("price_selector", "price_selector must be at most 512 characters"));
    }
    if scraper::Selector::parse(selector).is_err() {
        return Err(ApiError::invalid("price_selector", "price_selector is not a valid CSS selector"));
    }
    Ok(selector.to_owned())
}

/// The job's `ETag`: its version, quoted.
fn etag(job: &Job) -> String {
    format!("\"{}\"", job.version)
}

/// `body` with `status`, the job's `ETag` and, for a creation, its `Location`.
fn job_response(status: StatusCode, job_id: JobId, version_tag: &str, body: String) -> Result<Response, ApiError> {
    let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::ETAG, HeaderValue::from_str(version_tag).map_err(ApiError::internal)?);
    if status == StatusCode::CREATED {
        let location = HeaderValue::from_str(&format!("/api/v1/jobs/{job_id}")).map_err(ApiError::internal)?;
        headers.insert(header::LOCATION, location);
    }
    Ok(response)
}

/// Longest accepted `Idempotency-Key`.
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// The `Idempotency-Key` header: 1 to 255 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(raw) = headers.get("idempotency-key") else { return Ok(None) };
    let invalid = || ApiError::invalid("Idempotency-Key", "Idempotency-Key must be 1 to 255 visible ASCII characters");
    let key = raw.to_str().map_err(|_| invalid())?.trim();
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid());
    }
    Ok(Some(key.to_owned()))
}

/// `POST /api/v1/jobs` -> 201 with the job, its `Location` and `ETag`. The first check is
/// requested at once; if that send fails the job's lease makes it due again, so it is never
/// stuck pending. With an `Idempotency-Key`, the same key from the same user within 24 hours
/// returns the first response (same body, same `Location`) and creates nothing.
#[utoipa::path(
    post,
    path = "/api/v1/jobs",
    operation_id = "create_job",
    summary = "Track a product page",
    tag = "jobs",
    request_body(content = crate::openapi::NewJobDoc, content_type = "application/json"),
    params(("Idempotency-Key" = Option<String>, Header, description = "The same key from the same user within 24 hours returns the first answer and creates nothing (1 to 255 visible ASCII characters)")),
    responses(
        (status = 201, description = "Created; its first check is queued", body = JobView, headers(("Location" = String, description = "The job's URL"), ("ETag" = String, description = "The job's version"))),
        (status = 400, description = "Invalid input: the field and what is wrong with it", body = crate::openapi::ErrorDoc),
        (status = 401, description = "No valid session", body = crate::openapi::ErrorDoc),
        (status = 403, description = "Refused (see the code)", body = crate::openapi::ErrorDoc),
        (status = 409, description = "The `Idempotency-Key` created a job that has since been deleted", body = crate::openapi::ErrorDoc),
        (status = 413, description = "Body too large", body = crate::openapi::ErrorDoc),
        (status = 415, description = "Body not declared as JSON", body = crate::openapi::ErrorDoc),
        (status = 503, description = "A dependency is down: try again after `Retry-After`", body = crate::openapi::ErrorDoc),
        (status = "default", description = "Any other error, in the one error shape", body = crate::openapi::ErrorDoc),
    ),
    security(("session" = [])),
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    Session(user_id): Session,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Response, ApiError> {
    let idempotency = idempotency_key(&headers)?;
    let new = new_job(&body, &state)?;
    crate::quota::ensure_room_for_a_job(&state, user_id).await?;
    let alerting = crate::rules::alerting_from(&body, &state, user_id).await?;
    let now = now();
    let lease = chrono::Duration::from_std(state.settings.schedule.lease).map_err(ApiError::internal)?;
    let mut job = Job::create(user_id, new, now, now + lease);
    job.alerting = alerting;
    let view = serde_json::to_string(&JobView::from(&job)).map_err(ApiError::internal)?;
    match idempotency {
        Some(key) => match state.ports.jobs.create_idempotent(&job, &key, &view, now).await? {
            IdempotentCreate::Created => {}
            IdempotentCreate::Replayed { job_id, response } => {
                // A replay must not point at a job the user has since deleted: its Location
                // would be a 404. Say so instead, and let the client use a new key.
                if state.ports.jobs.get(JobKey { user_id, job_id }).await?.is_none() {
                    return Err(ApiError::IdempotencyKeyReused);
                }
                // The first response as it was: its ETag is the version it showed (0).
                return job_response(StatusCode::CREATED, job_id, "\"0\"", response);
            }
        },
        None => state.ports.jobs.create(&job).await?,
    }

    let request = CheckRequest::new(job.key(), job.version).to_json();
    // In this request's trace, so that the check joins it (issue 13).
    let message = OutgoingMessage::now(request).in_trace(pricetrack_telemetry::current_trace_context());
    match state.ports.queue.send(&[message]).await {
        Ok(failed) if failed.is_empty() => {}
        Ok(_) => {
            tracing::warn!(job_id = %job.id, "first check request not accepted by the queue; the lease will bring the job back")
        }
        Err(e) => {
            tracing::warn!(job_id = %job.id, error = %error_chain(&e), "sending the first check request failed; the lease will bring the job back")
        }
    }
    job_response(StatusCode::CREATED, job.id, &etag(&job), view)
}

/// The query of `GET /api/v1/jobs`.
#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    limit: Option<String>,
    cursor: Option<String>,
    status: Option<String>,
    order: Option<String>,
}

/// `GET /api/v1/jobs?limit=&cursor=&status=&order=newest|oldest` -> 200 `{jobs, next_cursor}`,
/// oldest first unless `order=newest`. `status` (`pending`, `active`, `alerted`, `failing`,
/// `paused`) keeps only the jobs in that status: such a page may hold fewer than `limit` jobs
/// and still have a `next_cursor`.
#[utoipa::path(
    get,
    path = "/api/v1/jobs",
    operation_id = "list_jobs",
    summary = "List tracked products",
    tag = "jobs",
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Jobs per page (default 20)"), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"), ("status" = Option<crate::openapi::JobStatusDoc>, Query, description = "Only jobs in this status (a page may then hold fewer than `limit`)"), ("order" = Option<crate::openapi::OrderDoc>, Query, description = "`oldest` (default) or `newest` first")),
    responses(
        (status = 200, description = "One page of the caller's jobs", body = JobPage),
        (status = 400, description = "Invalid input: the field and what is wrong with it", body = crate::openapi::ErrorDoc),
        (status = 401, description = "No valid session", body = crate::openapi::ErrorDoc),
        (status = 503, description = "A dependency is down: try again after `Retry-After`", body = crate::openapi::ErrorDoc),
        (status = "default", description = "Any other error, in the one error shape", body = crate::openapi::ErrorDoc),
    ),
    security(("session" = [])),
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    Session(user_id): Session,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|_| ApiError::invalid("query", "the query string is not valid"))?;
    let limit = match query.limit.as_deref() {
        None => PageRequest::DEFAULT_LIMIT,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=PageRequest::MAX_LIMIT).contains(n))
            .ok_or_else(|| ApiError::invalid("limit", "limit must be a whole number from 1 to 100"))?,
    };
    let cursor = query.cursor.filter(|c| !c.is_empty());
    if cursor.as_ref().is_some_and(|c| c.len() > MAX_CURSOR_BYTES) {
        return Err(ApiError::invalid("cursor", "cursor is not valid"));
    }
    let order = match query.order.as_deref() {
        None | Some("oldest") => ListOrder::Oldest,
        Some("newest") => ListOrder::Newest,
        Some(_) => return Err(ApiError::invalid("order", "order must be newest or oldest")),
    };
    let status = match query.status.as_deref() {
        None => None,
        Some("paused") => Some("paused"),
        Some(raw) => Some(
            JobStatus::parse(raw)
                .ok_or_else(|| {
                    ApiError::invalid("status", "status must be pending, active, alerted, failing or paused")
                })?
                .as_str(),
        ),
    };
    let page = state.ports.jobs.list_ordered(user_id, &PageRequest { limit, cursor }, order).await?;
    let jobs = page.items.iter().map(JobView::from).filter(|view| status.is_none_or(|s| view.status == s)).collect();
    let body = JobPage { jobs, next_cursor: page.next_cursor };
    Ok(Json(body).into_response())
}

/// The key of the caller's job `raw_id`; a malformed id (or one that is not even UTF-8) is
/// simply not found.
fn key(user_id: UserId, raw_id: Result<Path<String>, PathRejection>) -> Result<JobKey, ApiError> {
    let Path(raw_id) = raw_id.map_err(|_| ApiError::NotFound)?;
    let job_id: JobId = raw_id.parse().map_err(|_| ApiError::NotFound)?;
    Ok(JobKey { user_id, job_id })
}

/// `GET /api/v1/jobs/{id}` -> 200 with the job, or 404.
#[utoipa::path(
    get,
    path = "/api/v1/jobs/{id}",
    operation_id = "get_job",
    summary = "One tracked product",
    tag = "jobs",
    params(("id" = String, Path, description = "The job's id")),
    responses(
        (status = 200, description = "The job", body = JobView, headers(("ETag" = String, description = "The job's version, for `If-Match`"))),
        (status = 401, description = "No valid session", body = crate::openapi::ErrorDoc),
        (status = 404, description = "No such resource of the caller's", body = crate::openapi::ErrorDoc),
        (status = 503, description = "A dependency is down: try again after `Retry-After`", body = crate::openapi::ErrorDoc),
        (status = "default", description = "Any other error, in the one error shape", body = crate::openapi::ErrorDoc),
    ),
    security(("session" = [])),
)]
pub(crate) async fn get(
    State(state): State<AppState>,
    Session(user_id): Session,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let job = state.ports.jobs.get(key(user_id, id)?).await?.ok_or(ApiError::NotFound)?;
    let body = serde_json::to_string(&JobView::from(&job)).map_err(ApiError::internal)?;
    job_response(StatusCode::OK, job.id, &etag(&job), body)
}

/// Reads and validates a JSON merge patch of a job: the fields of creation but `url`, plus
/// `paused`; `null` clears `currency` and `price_selector` and is refused for the other fields
/// read here. The alerting fields ([`crate::rules::FIELDS`]) are allowed here and read, with
/// their channel checks, by [`crate::rules::alerting_edit`].
fn job_edit(body: &JsonObject, state: &AppState) -> Result<JobEdit, ApiError> {
    let mut allowed = vec!["target_price", "currency", "check_interval_secs", "price_selector", "paused"];
    allowed.extend(crate::rules::FIELDS);
    body.deny_unknown(&allowed)?;
    let is_null = |name: &str| body.is_null(name);
    let target_price = if is_null("target_price") {
        return Err(ApiError::invalid("target_price", "target_price cannot be cleared"));
    } else if body.raw("target_price").is_some() {
        Some(target_price(body)?)
    } else {
        None
    };
    let currency = if is_null("currency") {
        Some(None)
    } else {
        body.optional::<String>("currency", "a string")?
            .map(|c| Currency::parse(&c).map(Some))
            .transpose()
            .map_err(|e| ApiError::invalid("currency", e))?
    };
    let check_interval = if is_null("check_interval_secs") {
        return Err(ApiError::invalid("check_interval_secs", "check_interval_secs cannot be cleared"));
    } else {
        body.optional::<u64>("check_interval_secs", "a whole number of seconds")?
            .map(|secs| CheckInterval::new(secs, &state.settings.schedule))
            .transpose()
            .map_err(|e| ApiError::invalid("check_interval_secs", e))?
    };
    let price_selector = if is_null("price_selector") {
        Some(None)
    } else {
        body.optional::<String>("price_selector", "a string")?.map(|s| price_selector(&s).map(Some)).transpose()?
    };
    let paused = if is_null("paused") {
        return Err(ApiError::invalid("paused", "paused must be true or false"));
    } else {
        body.optional::<bool>("paused", "true or false")?
    };
    Ok(JobEdit { target_price, currency, check_interval, price_selector, paused, ..JobEdit::default() })
}

/// How often an edit without `If-Match` is re-applied when a check got in between.
const EDIT_ATTEMPTS: u32 = 5;

/// `PATCH /api/v1/jobs/{id}` (JSON merge patch) -> 200 with the job and its new `ETag`; 412
/// when `If-Match` names another version (nothing changes); 404 for another user's job.
///
/// The write is conditional on the version read: a check recorded in between makes it fail,
/// and without `If-Match` the edit is applied again to the fresh job, so the check's result
/// is kept; with `If-Match` the client asked for that exact version, so it gets 412.
#[utoipa::path(
    patch,
    path = "/api/v1/jobs/{id}",
    operation_id = "edit_job",
    summary = "Edit, pause or resume a tracked product",
    tag = "jobs",
    request_body(content = crate::openapi::JobPatchDoc, content_type = "application/merge-patch+json"),
    params(("id" = String, Path, description = "The job's id"), ("If-Match" = Option<String>, Header, description = "Apply only to this version (the `ETag`)")),
    responses(
        (status = 200, description = "The edited job", body = JobView, headers(("ETag" = String, description = "The job's new version"))),
        (status = 400, description = "Invalid input: the field and what is wrong with it", body = crate::openapi::ErrorDoc),
        (status = 401, description = "No valid session", body = crate::openapi::ErrorDoc),
        (status = 403, description = "Refused (see the code)", body = crate::openapi::ErrorDoc),
        (status = 404, description = "No such resource of the caller's", body = crate::openapi::ErrorDoc),
        (status = 412, description = "`If-Match` names another version: nothing changed", body = crate::openapi::ErrorDoc),
        (status = 413, description = "Body too large", body = crate::openapi::ErrorDoc),
        (status = 415, description = "Body not declared as JSON", body = crate::openapi::ErrorDoc),
        (status = 503, description = "A dependency is down: try again after `Retry-After`", body = crate::openapi::ErrorDoc),
        (status = "default", description = "Any other error, in the one error shape", body = crate::openapi::ErrorDoc),
    ),
    security(("session" = [])),
)]
pub(crate) async fn patch(
    State(state): State<AppState>,
    Session(user_id): Session,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Response, ApiError> {
    let key = key(user_id, id)?;
    let if_match = headers.get(header::IF_MATCH).map(|v| v.to_str().unwrap_or_default().trim().to_owned());
    let mut edit = job_edit(&body, &state)?;
    edit.alerting = crate::rules::alerting_edit(&body, &state, user_id).await?;
    for _ in 0..EDIT_ATTEMPTS {
        let job = state.ports.jobs.get(key).await?.ok_or(ApiError::NotFound)?;
        if let Some(expected) = &if_match {
            let current = etag(&job);
            if expected != "*" && expected.trim_start_matches("W/") != current {
                return Err(ApiError::PreconditionFailed);
            }
        }
        let edited = job.edited(&edit, now());
        match state.ports.jobs.update(&edited, job.version).await? {
            WriteOutcome::Applied => {
                let body = serde_json::to_string(&JobView::from(&edited)).map_err(ApiError::internal)?;
                return job_response(StatusCode::OK, edited.id, &etag(&edited), body);
            }
            WriteOutcome::Gone => return Err(ApiError::NotFound),
            WriteOutcome::VersionMismatch if if_match.is_some() => return Err(ApiError::PreconditionFailed),
            WriteOutcome::VersionMismatch => {}
        }
    }
    Err(ApiError::internal_msg("a job edit kept losing to concurrent checks"))
}

/// The query of `GET /api/v1/jobs/{id}/history`.
#[derive(Debug, Deserialize)]
pub(crate) struct HistoryParams {
    from: Option<String>,
    to: Option<String>,
    resolution: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// One point of a history response: a raw run-length point or a bucket. Money as decimal
/// strings, with the currency beside.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = PricePoint)]
pub(crate) struct PointView {
    at: String,
    price: Option<String>,
    currency: Option<String>,
    #[schema(value_type = Option<crate::openapi::AvailabilityDoc>)]
    availability: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_seen_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    checks: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last: Option<String>,
}

fn amount(m: Option<Money>) -> Option<String> {
    m.map(|m| m.amount.to_string())
}

fn currency_of(m: Option<Money>) -> Option<String> {
    m.and_then(|m| m.currency).map(|c| c.as_str().to_owned())
}

impl From<&PricePoint> for PointView {
    fn from(p: &PricePoint) -> Self {
        Self {
            at: rfc3339(p.first_seen_at),
            price: amount(p.price),
            currency: currency_of(p.price),
            availability: p.availability.map(|a| a.as_str()),
            last_seen_at: Some(rfc3339(p.last_seen_at)),
            checks: Some(p.checks),
            min: None,
            max: None,
            last: None,
        }
    }
}

impl From<&Bucket> for PointView {
    fn from(b: &Bucket) -> Self {
        Self {
            at: rfc3339(b.start),
            price: amount(b.last),
            currency: currency_of(b.last.or(b.min)),
            availability: b.availability.map(|a| a.as_str()),
            last_seen_at: None,
            checks: None,
            min: amount(b.min),
            max: amount(b.max),
            last: amount(b.last),
        }
    }
}

/// A price with its currency and when it was first seen.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = PriceAt)]
pub(crate) struct PriceAtView {
    price: String,
    currency: Option<String>,
    at: String,
}

/// A price with its currency.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Money)]
pub(crate) struct MoneyView {
    price: String,
    currency: Option<String>,
}

fn money_view(m: Option<Money>) -> Option<MoneyView> {
    m.map(|m| MoneyView { price: m.amount.to_string(), currency: m.currency.map(|c| c.as_str().to_owned()) })
}

fn price_at_view(p: Option<PriceAt>) -> Option<PriceAtView> {
    p.map(|p| PriceAtView {
        price: p.price.amount.to_string(),
        currency: p.price.currency.map(|c| c.as_str().to_owned()),
        at: rfc3339(p.at),
    })
}

/// The statistics of a history response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = PriceStats)]
pub(crate) struct StatsView {
    current: Option<MoneyView>,
    lowest: Option<PriceAtView>,
    highest: Option<PriceAtView>,
    average_30d: Option<MoneyView>,
    average_90d: Option<MoneyView>,
    average_all: Option<MoneyView>,
    change_pct_vs_lowest: Option<String>,
    change_pct_vs_first: Option<String>,
}

impl From<&PriceStats> for StatsView {
    fn from(s: &PriceStats) -> Self {
        Self {
            current: money_view(s.current),
            lowest: price_at_view(s.lowest),
            highest: price_at_view(s.highest),
            average_30d: money_view(s.average_30d),
            average_90d: money_view(s.average_90d),
            average_all: money_view(s.average_all),
            change_pct_vs_lowest: s.change_pct_vs_lowest.map(|d| d.to_string()),
            change_pct_vs_first: s.change_pct_vs_first.map(|d| d.to_string()),
        }
    }
}

/// The body of `GET /api/v1/jobs/{id}/history`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = History)]
pub(crate) struct HistoryView {
    points: Vec<PointView>,
    stats: StatsView,
    next_cursor: Option<String>,
}

/// Most points read to compute statistics and buckets (run-length points: far more than a
/// year of a job whose price changes every day).
const MAX_HISTORY_POINTS: usize = 50_000;

fn time_param(raw: Option<&str>, field: &str) -> Result<Option<Timestamp>, ApiError> {
    raw.filter(|r| !r.is_empty())
        .map(|r| {
            chrono::DateTime::parse_from_rfc3339(r)
                .map(|t| t.with_timezone(&chrono::Utc))
                .map_err(|_| ApiError::invalid(field, format!("{field} must be an RFC 3339 time")))
        })
        .transpose()
}

/// `GET /api/v1/jobs/{id}/history?from=&to=&resolution=raw|hour|day&limit=&cursor=` -> 200
/// `{points, stats, next_cursor}`. `raw` (the default) pages the stored run-length points
/// newest first (`limit` 1 to 1000, default 100); `hour` and `day` return one point per bucket
/// with `min`, `max` and `last`, oldest first, unpaged. `stats` cover the whole range.
#[utoipa::path(
    get,
    path = "/api/v1/jobs/{id}/history",
    operation_id = "job_history",
    summary = "Price history and statistics",
    tag = "jobs",
    params(("id" = String, Path, description = "The job's id"), ("from" = Option<String>, Query, format = DateTime, description = "Start of the range (RFC 3339)"), ("to" = Option<String>, Query, format = DateTime, description = "End of the range (RFC 3339)"), ("resolution" = Option<crate::openapi::ResolutionDoc>, Query, description = "`raw` (default): stored points, newest first, paged; `hour` or `day`: one bucket each, oldest first"), ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Raw points per page (default 100)"), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")),
    responses(
        (status = 200, description = "Points and statistics", body = HistoryView),
        (status = 400, description = "Invalid input: the field and what is wrong with it", body = crate::openapi::ErrorDoc),
        (status = 401, description = "No valid session", body = crate::openapi::ErrorDoc),
        (status = 404, description = "No such resource of the caller's", body = crate::openapi::ErrorDoc),
        (status = 503, description = "A dependency is down: try again after `Retry-After`", body = crate::openapi::ErrorDoc),
        (status = "default", description = "Any other error, in the one error shape", body = crate::openapi::ErrorDoc),
    ),
    security(("session" = [])),
)]
pub(crate) async fn history(
    State(state): State<AppState>,
    Session(user_id): Session,
    id: Result<Path<String>, PathRejection>,
    query: Result<Query<HistoryParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let key = key(user_id, id)?;
    let Query(params) = query.map_err(|_| ApiError::invalid("query", "the query string is not valid"))?;
    let from = time_param(params.from.as_deref(), "from")?;
    let to = time_param(params.to.as_deref(), "to")?;
    let resolution = match params.resolution.as_deref() {
        None | Some("") => Resolution::Raw,
        Some(raw) => Resolution::parse(raw)
            .ok_or_else(|| ApiError::invalid("resolution", "resolution must be raw, hour or day"))?,
    };
    let limit = match params.limit.as_deref() {
        None => 100,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=HistoryQuery::MAX_LIMIT).contains(n))
            .ok_or_else(|| ApiError::invalid("limit", "limit must be a whole number from 1 to 1000"))?,
    };
    let cursor = params.cursor.filter(|c| !c.is_empty());
    if cursor.as_ref().is_some_and(|c| c.len() > MAX_CURSOR_BYTES) {
        return Err(ApiError::invalid("cursor", "cursor is not valid"));
    }
    let jobs = &state.ports.jobs;
    let job = jobs.get(key).await?.ok_or(ApiError::NotFound)?;

    // Every point of the range, for the statistics and the buckets.
    let mut all = Vec::new();
    let mut next = None;
    loop {
        let query = HistoryQuery { from, to, limit: HistoryQuery::MAX_LIMIT, cursor: next };
        let page = jobs.history(key, &query).await?;
        all.extend(page.items);
        next = page.next_cursor;
        if next.is_none() || all.len() >= MAX_HISTORY_POINTS {
            break;
        }
    }
    let now = now();
    let stats = history::stats(&all, now);
    let (points, next_cursor) = match resolution {
        Resolution::Raw => {
            let page = jobs.history(key, &HistoryQuery { from, to, limit, cursor }).await?;
            (page.items.iter().map(PointView::from).collect(), page.next_cursor)
        }
        bucketed => {
            let start = from.unwrap_or_else(|| all.iter().map(|p| p.first_seen_at).min().unwrap_or(job.created_at));
            let end = to.unwrap_or(now);
            (history::buckets(&all, bucketed, start, end).iter().map(PointView::from).collect(), None)
        }
    };
    Ok(Json(HistoryView { points, stats: StatsView::from(&stats), next_cursor }).into_response())
}

/// `DELETE /api/v1/jobs/{id}` -> 204, or 404.
#[utoipa::path(
    delete,
    path = "/api/v1/jobs/{id}",
    operation_id = "delete_job",
    summary = "Stop tracking a product (its history goes too)",
    tag = "jobs",
    params(("id" = String, Path, description = "The job's id")),
    responses(
        (status = 204, description = "The job and its history are deleted"),
        (status = 401, description = "No valid session", body = crate::openapi::ErrorDoc),
        (status = 403, description = "Refused (see the code)", body = crate::openapi::ErrorDoc),
        (status = 404, description = "No such resource of the caller's", body = crate::openapi::ErrorDoc),
        (status = 503, description = "A dependency is down: try again after `Retry-After`", body = crate::openapi::ErrorDoc),
        (status = "default", description = "Any other error, in the one error shape", body = crate::openapi::ErrorDoc),
    ),
    security(("session" = [])),
)]
pub(crate) async fn delete(
    State(state): State<AppState>,
    Session(user_id): Session,
    id: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    if state.ports.jobs.delete(key(user_id, id)?).await? { Ok(StatusCode::NO_CONTENT) } else { Err(ApiError::NotFound) }
}

/// `DELETE /api/v1/jobs` -> 204: all of the caller's jobs are gone.
#[utoipa::path(
    delete,
    path = "/api/v1/jobs",
    operation_id = "delete_all_jobs",
    summary = "Stop tracking every product",
    tag = "jobs",
    responses(
        (status = 204, description = "Every job of the caller, with its history, is deleted"),
        (status = 401, description = "No valid session", body = crate::openapi::ErrorDoc),
        (status = 403, description = "Refused (see the code)", body = crate::openapi::ErrorDoc),
        (status = 503, description = "A dependency is down: try again after `Retry-After`", body = crate::openapi::ErrorDoc),
        (status = "default", description = "Any other error, in the one error shape", body = crate::openapi::ErrorDoc),
    ),
    security(("session" = [])),
)]
pub(crate) async fn delete_all(
    State(state): State<AppState>,
    Session(user_id): Session,
) -> Result<StatusCode, ApiError> {
    state.ports.jobs.delete_all(user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors() {
        assert_eq!(price_selector("  .price > span ").expect("valid"), ".price > span");
        assert!(price_selector("").is_err());
        assert!(price_selector("   ").is_err());
        assert!(price_selector("div[").is_err());
        assert!(price_selector(&"a".repeat(513)).is_err());
    }

    fn price(json: &str) -> Result<TargetPrice, ApiError> {
        target_price(&JsonObject::parse(json.as_bytes()).expect("object"))
    }

    #[test]
    fn target_prices() {
        assert_eq!(price(r#"{"target_price":"79.99"}"#).expect("valid").to_string(), "79.99");
        assert_eq!(price(r#"{"target_price":79.99}"#).expect("valid").to_string(), "79.99");
        assert_eq!(price(r#"{"target_price": 100}"#).expect("valid").to_string(), "100");
        for bad in [
            r#"{"target_price":"0"}"#,
            r#"{"target_price":0}"#,
            r#"{"target_price":-1}"#,
            r#"{"target_price":"abc"}"#,
            r#"{"target_price":1e3}"#,
            r#"{"target_price":true}"#,
            r#"{"target_price":[1]}"#,
            r#"{"target_price":null}"#,
            r#"{}"#,
        ] {
            assert!(
                matches!(price(bad), Err(ApiError::InvalidField { ref field, .. }) if field == "target_price"),
                "{bad}"
            );
        }
    }
}

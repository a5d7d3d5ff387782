//! Tracking jobs: create, list, read, delete. Every route is scoped to the signed-in user: another
//! user's job, like a malformed id, is simply not found.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::SecondsFormat;
use pricetrack_domain::ports::PageRequest;
use pricetrack_domain::{
    CheckInterval, CheckRequest, Currency, Job, JobId, JobKey, NewJob, ProductUrl, TargetPrice, Timestamp, UserId,
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
#[derive(Debug, Serialize)]
struct JobView {
    id: String,
    url: String,
    target_price: String,
    currency: Option<String>,
    status: &'static str,
    last_price: Option<String>,
    last_currency: Option<String>,
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
            status: job.status.as_str(),
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
        }
    }
}

/// One page of jobs.
#[derive(Debug, Serialize)]
struct JobPage {
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

/// `POST /api/v1/jobs` -> 202 with the job. The first check is requested at once; if that send
/// fails the job's lease makes it due again, so it is never stuck pending.
pub(crate) async fn create(
    State(state): State<AppState>,
    Session(user_id): Session,
    body: JsonObject,
) -> Result<Response, ApiError> {
    let new = new_job(&body, &state)?;
    crate::quota::ensure_room_for_a_job(&state, user_id).await?;
    let alerting = crate::rules::alerting_from(&body, &state, user_id).await?;
    let now = now();
    let lease = chrono::Duration::from_std(state.settings.schedule.lease).map_err(ApiError::internal)?;
    let mut job = Job::create(user_id, new, now, now + lease);
    job.alerting = alerting;
    state.ports.jobs.create(&job).await?;

    let request = CheckRequest::new(job.key(), job.version).to_json();
    match state.ports.queue.send_batch(&[request]).await {
        Ok(failed) if failed.is_empty() => {}
        Ok(_) => {
            tracing::warn!(job_id = %job.id, "first check request not accepted by the queue; the lease will bring the job back")
        }
        Err(e) => {
            tracing::warn!(job_id = %job.id, error = %error_chain(&e), "sending the first check request failed; the lease will bring the job back")
        }
    }
    Ok((StatusCode::ACCEPTED, Json(JobView::from(&job))).into_response())
}

/// The query of `GET /api/v1/jobs`.
#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

/// `GET /api/v1/jobs?limit=&cursor=` -> 200 `{jobs, next_cursor}`, oldest first.
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
    let page = state.ports.jobs.list(user_id, &PageRequest { limit, cursor }).await?;
    let body = JobPage { jobs: page.items.iter().map(JobView::from).collect(), next_cursor: page.next_cursor };
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
pub(crate) async fn get(
    State(state): State<AppState>,
    Session(user_id): Session,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let job = state.ports.jobs.get(key(user_id, id)?).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(JobView::from(&job)).into_response())
}

/// `DELETE /api/v1/jobs/{id}` -> 204, or 404.
pub(crate) async fn delete(
    State(state): State<AppState>,
    Session(user_id): Session,
    id: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    if state.ports.jobs.delete(key(user_id, id)?).await? { Ok(StatusCode::NO_CONTENT) } else { Err(ApiError::NotFound) }
}

/// `DELETE /api/v1/jobs` -> 204: all of the caller's jobs are gone.
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

//! The delivery log: each of the user's alerts with its deliveries, newest first.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use chrono::SecondsFormat;
use pricetrack_domain::ports::PageRequest;
use pricetrack_domain::{AlertEntry, DeliveryRecord, Timestamp};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::session::Session;
use crate::state::AppState;

/// Longest accepted pagination cursor, in bytes.
const MAX_CURSOR_BYTES: usize = 1024;

/// RFC 3339 UTC with milliseconds.
pub(crate) fn rfc3339(t: Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Delivery)]
pub(crate) struct DeliveryView {
    /// The channel's id, or `operator` for the operator's webhook.
    channel: String,
    #[schema(value_type = crate::openapi::DeliveryStatusDoc)]
    status: &'static str,
    attempts: u32,
    last_error: Option<String>,
    delivered_at: Option<String>,
    next_attempt_at: Option<String>,
}

impl From<&DeliveryRecord> for DeliveryView {
    fn from(record: &DeliveryRecord) -> Self {
        Self {
            channel: record.channel.clone(),
            status: record.status.as_str(),
            attempts: record.attempts,
            last_error: record.last_error.clone(),
            delivered_at: record.delivered_at.map(rfc3339),
            next_attempt_at: record.next_attempt_at.map(rfc3339),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Alert)]
pub(crate) struct AlertView {
    id: String,
    job_id: String,
    url: String,
    #[schema(value_type = crate::openapi::AlertRuleKindDoc)]
    kind: &'static str,
    price: String,
    currency: Option<String>,
    previous_price: Option<String>,
    lowest_price: Option<String>,
    target_price: String,
    checked_at: String,
    deliveries: Vec<DeliveryView>,
}

impl From<&AlertEntry> for AlertView {
    fn from(entry: &AlertEntry) -> Self {
        let alert = &entry.alert;
        Self {
            id: alert.id.to_string(),
            job_id: alert.job_id.to_string(),
            url: alert.url.as_str().to_owned(),
            kind: alert.details.rule.as_str(),
            price: alert.price.amount.to_string(),
            currency: alert.price.currency.map(|c| c.as_str().to_owned()),
            previous_price: alert.details.previous_price.map(|m| m.amount.to_string()),
            lowest_price: alert.details.lowest_price.map(|m| m.amount.to_string()),
            target_price: alert.target_price.to_string(),
            checked_at: rfc3339(alert.checked_at),
            deliveries: entry.deliveries.iter().map(DeliveryView::from).collect(),
        }
    }
}

/// The query of `GET /api/v1/alerts`.
#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

/// `GET /api/v1/alerts?limit=&cursor=` -> 200 `{alerts, next_cursor}`, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/alerts",
    operation_id = "list_alerts",
    summary = "The delivery log",
    tag = "alerts",
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Alerts per page (default 20)"), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")),
    responses(
        (status = 200, description = "The caller's alerts, newest first, with their deliveries", body = crate::openapi::AlertPageDoc),
        (status = 400, description = "Invalid input: the field and what is wrong with it", body = crate::openapi::ErrorDoc),
        (status = 401, description = "No valid session", body = crate::openapi::ErrorDoc),
        (status = 404, description = "No such resource of the caller's", body = crate::openapi::ErrorDoc),
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
    let ports = state.ports.delivery.as_ref().ok_or(ApiError::NotFound)?;
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
    let page = ports.log.list(user_id, &PageRequest { limit, cursor }).await?;
    Ok(Json(serde_json::json!({
        "alerts": page.items.iter().map(AlertView::from).collect::<Vec<_>>(),
        "next_cursor": page.next_cursor,
    }))
    .into_response())
}

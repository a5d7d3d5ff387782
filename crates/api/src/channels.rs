//! Each user's notification channels: create, list, read, update, delete, test. Secrets are
//! accepted at creation (or update) and never shown again; a webhook's signing secret is made
//! here and shown once, in the creation answer.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pricetrack_domain::delivery::ProbeError;
use pricetrack_domain::{
    Alert, AlertId, Channel, ChannelId, ChannelKey, ChannelKind, ChannelStatus, ChannelTarget, JobId, Money,
    ProductUrl, TargetPrice, UserId,
};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::alerts::rfc3339;
use crate::body::JsonObject;
use crate::error::ApiError;
use crate::now;
use crate::session::Session;
use crate::state::{AppState, DeliveryPorts};

/// Most channels one user may have.
pub(crate) const MAX_CHANNELS_PER_USER: usize = 20;
/// Longest channel name, in characters.
const MAX_NAME_CHARS: usize = 100;
/// Longest text field (topic, chat id, token, URL), in characters.
const MAX_FIELD_CHARS: usize = 2048;

/// A channel as the API shows it: never a secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Channel)]
pub(crate) struct ChannelView {
    id: String,
    name: String,
    #[schema(value_type = crate::openapi::ChannelKindDoc)]
    kind: &'static str,
    #[schema(value_type = crate::openapi::ChannelStatusDoc)]
    status: &'static str,
    last_error: Option<String>,
    /// The kind's fields, secrets left out.
    #[schema(value_type = Object)]
    settings: Value,
    created_at: String,
    updated_at: String,
    /// The webhook signing secret, in the creation answer only.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

impl From<&Channel> for ChannelView {
    fn from(channel: &Channel) -> Self {
        Self {
            id: channel.id.to_string(),
            name: channel.name.clone(),
            kind: channel.target.kind().as_str(),
            status: channel.status.as_str(),
            last_error: channel.last_error.clone(),
            settings: channel.target.public_view(),
            created_at: rfc3339(channel.created_at),
            updated_at: rfc3339(channel.updated_at),
            secret: None,
        }
    }
}

/// The fields of each kind: (name, required, default).
fn kind_fields(kind: ChannelKind) -> &'static [(&'static str, bool, Option<&'static str>)] {
    match kind {
        ChannelKind::Webhook => &[("url", true, None)],
        ChannelKind::Ntfy => {
            &[("server", false, Some("https://ntfy.sh")), ("topic", true, None), ("token", false, None)]
        }
        ChannelKind::Gotify => &[("server", true, None), ("token", true, None)],
        ChannelKind::Discord | ChannelKind::Slack => &[("webhook_url", true, None)],
        ChannelKind::Telegram => &[
            ("bot_token", true, None),
            ("chat_id", true, None),
            ("api_url", false, Some(pricetrack_domain::channel::TELEGRAM_API_URL)),
        ],
        ChannelKind::Apprise => &[("server", true, None), ("urls", true, None)],
        ChannelKind::Email => &[("address", true, None)],
    }
}

fn parse_kind(raw: &str) -> Result<ChannelKind, ApiError> {
    serde_json::from_value(Value::String(raw.to_owned())).map_err(|_| {
        ApiError::invalid("kind", "kind must be one of webhook, ntfy, gotify, discord, slack, telegram, apprise, email")
    })
}

/// Reads the kind's fields from `body` over `base` (the stored target's fields on update) into
/// a target. Every field is a string.
fn target_from(body: &JsonObject, kind: ChannelKind, mut base: Map<String, Value>) -> Result<ChannelTarget, ApiError> {
    base.insert("kind".into(), Value::String(kind.as_str().into()));
    for (field, required, default) in kind_fields(kind) {
        match body.optional::<String>(field, "a string")? {
            Some(value) => {
                let value = value.trim().to_owned();
                if value.chars().count() > MAX_FIELD_CHARS {
                    return Err(ApiError::invalid(
                        *field,
                        format!("{field} must be at most {MAX_FIELD_CHARS} characters"),
                    ));
                }
                base.insert((*field).into(), Value::String(value));
            }
            None if base.contains_key(*field) => {}
            None => match default {
                Some(default) => {
                    base.insert((*field).into(), Value::String((*default).into()));
                }
                None if *required => return Err(ApiError::invalid(*field, format!("{field} is required"))),
                None => {}
            },
        }
    }
    let target: ChannelTarget = serde_json::from_value(Value::Object(base)).map_err(|e| {
        // The serde message names the field and never repeats the value.
        let field = kind_fields(kind).iter().map(|(f, _, _)| *f).find(|f| e.to_string().contains(f)).unwrap_or("kind");
        ApiError::invalid(field, format!("{field} is not valid (URLs must be absolute http or https URLs)"))
    })?;
    target.validate().map_err(|e| ApiError::invalid(e.field, e.reason))?;
    Ok(target)
}

fn delivery(state: &AppState) -> Result<&DeliveryPorts, ApiError> {
    state.ports.delivery.as_ref().ok_or(ApiError::NotFound)
}

fn channel_name(body: &JsonObject) -> Result<Option<String>, ApiError> {
    let Some(name) = body.optional::<String>("name", "a string")? else { return Ok(None) };
    let name = name.trim().to_owned();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::invalid("name", "name must be 1 to 100 characters"));
    }
    Ok(Some(name))
}

fn refused(error: ProbeError) -> ApiError {
    ApiError::invalid("url", format!("the channel's address is refused: {}", error.reason))
}

fn allowed_fields(kind: ChannelKind, extra: &[&'static str]) -> Vec<&'static str> {
    let mut allowed: Vec<&'static str> = kind_fields(kind).iter().map(|(f, _, _)| *f).collect();
    allowed.extend_from_slice(extra);
    allowed
}

/// `POST /api/v1/channels {name, kind, ...}` -> 201 with the channel (and, for a webhook, its
/// signing secret, shown this once).
#[utoipa::path(
    post,
    path = "/api/v1/channels",
    operation_id = "create_channel",
    summary = "Add a place to send alerts",
    tag = "channels",
    request_body(content = crate::openapi::NewChannelDoc, content_type = "application/json"),
    responses(
        (status = 201, description = "Created (a webhook's signing `secret` is in this answer only)", body = ChannelView),
        (status = 400, description = "Invalid input: the field and what is wrong with it", body = crate::openapi::ErrorDoc),
        (status = 401, description = "No valid session", body = crate::openapi::ErrorDoc),
        (status = 403, description = "Refused (see the code)", body = crate::openapi::ErrorDoc),
        (status = 404, description = "No such resource of the caller's", body = crate::openapi::ErrorDoc),
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
    body: JsonObject,
) -> Result<Response, ApiError> {
    let ports = delivery(&state)?;
    let kind = parse_kind(&body.required::<String>("kind", "a string")?)?;
    body.deny_unknown(&allowed_fields(kind, &["name", "kind"]))?;
    let name = channel_name(&body)?.unwrap_or_else(|| kind.as_str().to_owned());
    let mut base = Map::new();
    let secret = (kind == ChannelKind::Webhook).then(|| ports.probe.new_webhook_secret());
    if let Some(secret) = &secret {
        base.insert("secret".into(), Value::String(secret.expose().to_owned()));
    }
    let target = target_from(&body, kind, base)?;
    ports.probe.check(&target).await.map_err(refused)?;
    if ports.channels.list(user_id).await?.len() >= MAX_CHANNELS_PER_USER {
        return Err(ApiError::invalid("kind", format!("at most {MAX_CHANNELS_PER_USER} channels per account")));
    }
    let channel = Channel::create(user_id, name, target, now());
    ports.channels.create(&channel).await?;
    if let Err(e) = ports.probe.created(&channel).await {
        tracing::warn!(channel_id = %channel.id, error = %e, "channel stored, but its set-up step failed");
    }
    let mut view = ChannelView::from(&channel);
    view.secret = secret.map(|s| s.expose().to_owned());
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// `GET /api/v1/channels` -> 200 `{channels}`, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/channels",
    operation_id = "list_channels",
    summary = "List alert channels",
    tag = "channels",
    responses(
        (status = 200, description = "The caller's channels, oldest first", body = crate::openapi::ChannelListDoc),
        (status = 401, description = "No valid session", body = crate::openapi::ErrorDoc),
        (status = 404, description = "No such resource of the caller's", body = crate::openapi::ErrorDoc),
        (status = 503, description = "A dependency is down: try again after `Retry-After`", body = crate::openapi::ErrorDoc),
        (status = "default", description = "Any other error, in the one error shape", body = crate::openapi::ErrorDoc),
    ),
    security(("session" = [])),
)]
pub(crate) async fn list(State(state): State<AppState>, Session(user_id): Session) -> Result<Response, ApiError> {
    let channels = delivery(&state)?.channels.list(user_id).await?;
    Ok(Json(serde_json::json!({ "channels": channels.iter().map(ChannelView::from).collect::<Vec<_>>() }))
        .into_response())
}

fn key(user_id: UserId, raw_id: Result<Path<String>, PathRejection>) -> Result<ChannelKey, ApiError> {
    let Path(raw_id) = raw_id.map_err(|_| ApiError::NotFound)?;
    let channel_id: ChannelId = raw_id.parse().map_err(|_| ApiError::NotFound)?;
    Ok(ChannelKey { user_id, channel_id })
}

/// `GET /api/v1/channels/{id}` -> 200 with the channel, or 404.
#[utoipa::path(
    get,
    path = "/api/v1/channels/{id}",
    operation_id = "get_channel",
    summary = "One alert channel",
    tag = "channels",
    params(("id" = String, Path, description = "The channel's id")),
    responses(
        (status = 200, description = "The channel", body = ChannelView),
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
    let channel = delivery(&state)?.channels.get(key(user_id, id)?).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(ChannelView::from(&channel)).into_response())
}

/// `PATCH /api/v1/channels/{id} {name?, <the kind's fields>?}` -> 200 with the channel. Any
/// change re-activates a failing channel (the user fixed it).
#[utoipa::path(
    patch,
    path = "/api/v1/channels/{id}",
    operation_id = "edit_channel",
    summary = "Change an alert channel",
    tag = "channels",
    request_body(content = crate::openapi::ChannelPatchDoc, content_type = "application/json"),
    params(("id" = String, Path, description = "The channel's id")),
    responses(
        (status = 200, description = "The changed channel (active again)", body = ChannelView),
        (status = 400, description = "Invalid input: the field and what is wrong with it", body = crate::openapi::ErrorDoc),
        (status = 401, description = "No valid session", body = crate::openapi::ErrorDoc),
        (status = 403, description = "Refused (see the code)", body = crate::openapi::ErrorDoc),
        (status = 404, description = "No such resource of the caller's", body = crate::openapi::ErrorDoc),
        (status = 413, description = "Body too large", body = crate::openapi::ErrorDoc),
        (status = 415, description = "Body not declared as JSON", body = crate::openapi::ErrorDoc),
        (status = 503, description = "A dependency is down: try again after `Retry-After`", body = crate::openapi::ErrorDoc),
        (status = "default", description = "Any other error, in the one error shape", body = crate::openapi::ErrorDoc),
    ),
    security(("session" = [])),
)]
pub(crate) async fn update(
    State(state): State<AppState>,
    Session(user_id): Session,
    id: Result<Path<String>, PathRejection>,
    body: JsonObject,
) -> Result<Response, ApiError> {
    let ports = delivery(&state)?;
    let mut channel = ports.channels.get(key(user_id, id)?).await?.ok_or(ApiError::NotFound)?;
    let kind = channel.target.kind();
    body.deny_unknown(&allowed_fields(kind, &["name"]))?;
    if let Some(name) = channel_name(&body)? {
        channel.name = name;
    }
    let base = match serde_json::to_value(&channel.target).map_err(ApiError::internal)? {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    channel.target = target_from(&body, kind, base)?;
    ports.probe.check(&channel.target).await.map_err(refused)?;
    channel.status = ChannelStatus::Active;
    channel.consecutive_failures = 0;
    channel.last_error = None;
    channel.updated_at = now();
    if !ports.channels.update(&channel).await? {
        return Err(ApiError::NotFound);
    }
    Ok(Json(ChannelView::from(&channel)).into_response())
}

/// `DELETE /api/v1/channels/{id}` -> 204, or 404.
#[utoipa::path(
    delete,
    path = "/api/v1/channels/{id}",
    operation_id = "delete_channel",
    summary = "Remove an alert channel",
    tag = "channels",
    params(("id" = String, Path, description = "The channel's id")),
    responses(
        (status = 204, description = "Deleted"),
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
    let ports = delivery(&state)?;
    let key = key(user_id, id)?;
    let channel = ports.channels.get(key).await?.ok_or(ApiError::NotFound)?;
    // What the channel left outside the store goes first: should it fail, the channel still
    // exists and the user can try again.
    release(ports, &channel).await?;
    if ports.channels.delete(key).await? { Ok(StatusCode::NO_CONTENT) } else { Err(ApiError::NotFound) }
}

/// Undoes what the channel's creation set up outside the store (on AWS, an email channel's SNS
/// subscription, which holds the address): 503 if that fails, so the deletion can be retried.
pub(crate) async fn release(ports: &DeliveryPorts, channel: &Channel) -> Result<(), ApiError> {
    ports.probe.deleted(channel).await.map_err(|e| {
        tracing::warn!(channel_id = %channel.id, reason = %e.reason, "could not release a deleted channel");
        ApiError::Unavailable(Some(Box::new(e)))
    })
}

/// `POST /api/v1/channels/{id}/test` -> 200 `{delivered: true}` or `{delivered: false, error,
/// retryable}`: a test message sent now. A delivered test re-activates a failing channel.
#[utoipa::path(
    post,
    path = "/api/v1/channels/{id}/test",
    operation_id = "test_channel",
    summary = "Send a test message now",
    tag = "channels",
    params(("id" = String, Path, description = "The channel's id")),
    responses(
        (status = 200, description = "The outcome of a test message sent now", body = crate::openapi::ChannelTestOutcomeDoc),
        (status = 401, description = "No valid session", body = crate::openapi::ErrorDoc),
        (status = 403, description = "Refused (see the code)", body = crate::openapi::ErrorDoc),
        (status = 404, description = "No such resource of the caller's", body = crate::openapi::ErrorDoc),
        (status = 503, description = "A dependency is down: try again after `Retry-After`", body = crate::openapi::ErrorDoc),
        (status = "default", description = "Any other error, in the one error shape", body = crate::openapi::ErrorDoc),
    ),
    security(("session" = [])),
)]
pub(crate) async fn test(
    State(state): State<AppState>,
    Session(user_id): Session,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let ports = delivery(&state)?;
    let channel = ports.channels.get(key(user_id, id)?).await?.ok_or(ApiError::NotFound)?;
    let alert = test_alert(user_id)?;
    match ports.probe.test(&channel, &alert).await {
        Ok(()) => {
            ports.channels.record_success(channel.key(), now()).await?;
            Ok(Json(serde_json::json!({ "delivered": true })).into_response())
        }
        Err(e) => Ok(Json(serde_json::json!({ "delivered": false, "error": e.reason, "retryable": e.retryable }))
            .into_response()),
    }
}

/// A made-up alert for a test message.
fn test_alert(user_id: UserId) -> Result<Alert, ApiError> {
    let amount = |raw: &str| raw.parse::<rust_decimal::Decimal>().map_err(ApiError::internal);
    Ok(Alert {
        id: AlertId::new(),
        job_id: JobId::new(),
        user_id,
        url: ProductUrl::parse("https://example.com/pricetrack-test").map_err(ApiError::internal)?,
        price: Money::new(amount("19.99")?, None),
        target_price: TargetPrice::parse("20").map_err(ApiError::internal)?,
        checked_at: now(),
        details: Default::default(),
    })
}

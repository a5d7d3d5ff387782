//! A job's alerting settings in the API: `rules`, `cooldown_hours`, `snooze_until`, `channels`.

use pricetrack_domain::rules::MAX_COOLDOWN_HOURS;
use pricetrack_domain::{AlertRule, Alerting, AlertingEdit, ChannelId, ChannelKey, Timestamp, UserId};
use serde::Serialize;

use crate::alerts::rfc3339;
use crate::body::JsonObject;
use crate::error::ApiError;
use crate::state::AppState;

/// The body fields this module reads.
pub(crate) const FIELDS: [&str; 4] = ["rules", "cooldown_hours", "snooze_until", "channels"];

/// Reads the alerting settings of a create-job body (defaults for what is absent). Named
/// channels must be the caller's.
pub(crate) async fn alerting_from(body: &JsonObject, state: &AppState, user_id: UserId) -> Result<Alerting, ApiError> {
    let mut alerting = Alerting::default();
    if let Some(rules) = rules(body)? {
        alerting.rules = rules;
    }
    alerting.cooldown_hours = cooldown_hours(body)?;
    alerting.snooze_until = snooze_until(body)?;
    alerting.channels = channels(body, state, user_id).await?;
    Ok(alerting)
}

/// Reads the alerting settings of a job edit (a JSON merge patch), validated as at creation:
/// absent leaves a setting as it is; `null` clears `cooldown_hours`, `snooze_until` and
/// `channels` (back to every channel of the owner), and is refused for `rules` (a job needs at
/// least one rule); `rules` replaces the whole list.
pub(crate) async fn alerting_edit(
    body: &JsonObject,
    state: &AppState,
    user_id: UserId,
) -> Result<AlertingEdit, ApiError> {
    if body.is_null("rules") {
        return Err(ApiError::invalid(
            "rules",
            "rules cannot be cleared; send [{\"kind\":\"below_target\"}] for the default",
        ));
    }
    Ok(AlertingEdit {
        rules: rules(body)?,
        cooldown_hours: if body.is_null("cooldown_hours") { Some(None) } else { cooldown_hours(body)?.map(Some) },
        snooze_until: if body.is_null("snooze_until") { Some(None) } else { snooze_until(body)?.map(Some) },
        channels: if body.is_null("channels") { Some(None) } else { channels(body, state, user_id).await?.map(Some) },
    })
}

/// `rules`: a non-empty list, each kind once, percentages in (0, 100).
fn rules(body: &JsonObject) -> Result<Option<Vec<AlertRule>>, ApiError> {
    let Some(rules) = body.optional::<Vec<AlertRule>>(
        "rules",
        "a list of rules such as [{\"kind\":\"below_target\"}, {\"kind\":\"drop_percent\",\"percent\":\"10\",\"baseline\":\"first_seen\"}]",
    )?
    else {
        return Ok(None);
    };
    let alerting = Alerting { rules, ..Alerting::default() };
    alerting.validate().map_err(|e| ApiError::invalid("rules", e))?;
    Ok(Some(alerting.rules))
}

/// `cooldown_hours`: whole hours, at most [`MAX_COOLDOWN_HOURS`].
fn cooldown_hours(body: &JsonObject) -> Result<Option<u32>, ApiError> {
    let hours = body.optional::<u32>("cooldown_hours", "a whole number of hours")?;
    if hours.is_some_and(|h| h > MAX_COOLDOWN_HOURS) {
        return Err(ApiError::invalid("cooldown_hours", "cooldown_hours must be at most 720"));
    }
    Ok(hours)
}

/// `snooze_until`: an RFC 3339 time.
fn snooze_until(body: &JsonObject) -> Result<Option<Timestamp>, ApiError> {
    body.optional::<Timestamp>("snooze_until", "an RFC 3339 time")
}

/// `channels`: ids of the caller's own channels.
async fn channels(body: &JsonObject, state: &AppState, user_id: UserId) -> Result<Option<Vec<ChannelId>>, ApiError> {
    let Some(channels) = body.optional::<Vec<ChannelId>>("channels", "a list of channel ids")? else {
        return Ok(None);
    };
    let ports = state
        .ports
        .delivery
        .as_ref()
        .ok_or_else(|| ApiError::invalid("channels", "channels are not available on this server"))?;
    for channel_id in &channels {
        if ports.channels.get(ChannelKey { user_id, channel_id: *channel_id }).await?.is_none() {
            return Err(ApiError::invalid("channels", "channels must name your own channels"));
        }
    }
    Ok(Some(channels))
}

/// The alerting settings as a job shows them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Alerting)]
pub(crate) struct AlertingView {
    #[schema(value_type = Vec<crate::openapi::AlertRuleDoc>)]
    rules: Vec<AlertRule>,
    cooldown_hours: Option<u32>,
    snooze_until: Option<String>,
    channels: Option<Vec<String>>,
    lowest_price: Option<String>,
}

impl From<&Alerting> for AlertingView {
    fn from(alerting: &Alerting) -> Self {
        Self {
            rules: alerting.rules.clone(),
            cooldown_hours: alerting.cooldown_hours,
            snooze_until: alerting.snooze_until.map(rfc3339),
            channels: alerting.channels.as_ref().map(|ids| ids.iter().map(ToString::to_string).collect()),
            lowest_price: alerting.lowest_price.map(|m| m.amount.to_string()),
        }
    }
}

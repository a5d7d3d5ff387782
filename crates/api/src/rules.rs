//! A job's alerting settings in the API: `rules`, `cooldown_hours`, `snooze_until`, `channels`.

use pricetrack_domain::rules::MAX_COOLDOWN_HOURS;
use pricetrack_domain::{AlertRule, Alerting, ChannelId, ChannelKey, Timestamp, UserId};
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
    if let Some(rules) = body.optional::<Vec<AlertRule>>(
        "rules",
        "a list of rules such as [{\"kind\":\"below_target\"}, {\"kind\":\"drop_percent\",\"percent\":\"10\",\"baseline\":\"first_seen\"}]",
    )? {
        alerting.rules = rules;
    }
    alerting.cooldown_hours = body.optional::<u32>("cooldown_hours", "a whole number of hours")?;
    if alerting.cooldown_hours.is_some_and(|h| h > MAX_COOLDOWN_HOURS) {
        return Err(ApiError::invalid("cooldown_hours", "cooldown_hours must be at most 720"));
    }
    alerting.snooze_until = body.optional::<Timestamp>("snooze_until", "an RFC 3339 time")?;
    alerting.validate().map_err(|e| ApiError::invalid("rules", e))?;
    if let Some(channels) = body.optional::<Vec<ChannelId>>("channels", "a list of channel ids")? {
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
        alerting.channels = Some(channels);
    }
    Ok(alerting)
}

/// Reads `rules` and `cooldown_hours` of a job's merge patch, validated as at creation: `rules`
/// cannot be cleared (a job with no rule could never alert), `null` clears the cooldown.
#[allow(clippy::type_complexity, reason = "a merge patch's absent / clear / set, for two fields")]
pub(crate) fn rules_edit(body: &JsonObject) -> Result<(Option<Vec<AlertRule>>, Option<Option<u32>>), ApiError> {
    if body.is_null("rules") {
        return Err(ApiError::invalid("rules", "rules cannot be cleared: name at least one rule"));
    }
    let rules = body.optional::<Vec<AlertRule>>(
        "rules",
        "a list of rules such as [{\"kind\":\"below_target\"}, {\"kind\":\"drop_percent\",\"percent\":\"10\",\"baseline\":\"first_seen\"}]",
    )?;
    if let Some(rules) = &rules {
        let check = Alerting { rules: rules.clone(), ..Alerting::default() };
        check.validate().map_err(|e| ApiError::invalid("rules", e))?;
    }
    let cooldown_hours = if body.is_null("cooldown_hours") {
        Some(None)
    } else {
        match body.optional::<u32>("cooldown_hours", "a whole number of hours")? {
            Some(h) if h > MAX_COOLDOWN_HOURS => {
                return Err(ApiError::invalid("cooldown_hours", "cooldown_hours must be at most 720"));
            }
            other => other.map(Some),
        }
    };
    Ok((rules, cooldown_hours))
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

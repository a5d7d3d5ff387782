//! Alerts through an SNS topic: every alert to the delivery queue (subscribed with a filter on
//! `kind = alert`), and email channels as SNS email subscriptions made when a user adds one.

use async_trait::async_trait;
use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;
use pricetrack_domain::ports::{BackendError, Notifier, NotifyError};
use pricetrack_domain::{Alert, AlertDetails, AlertId, JobId, Timestamp, UserId};
use serde::{Deserialize, Serialize};

use crate::schema;

fn backend(e: impl Into<BackendError>) -> NotifyError {
    NotifyError::Backend(e.into())
}

/// The body of an alert published to the topic (the SNS `Message`), as JSON:
///
/// ```json
/// {"alert_id": "…", "job_id": "…", "user_id": "…", "url": "https://shop.example/p/1",
///  "price": "49.99", "currency": "EUR", "target_price": "50",
///  "checked_at": "2025-01-01T12:00:00Z"}
/// ```
///
/// Decimals are text, never floats; `currency` is `null` when the page did not say. Carries no
/// email address: SNS knows where to deliver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertMessage {
    /// Unique per crossing: the same when an alert is published again, for de-duplication.
    pub alert_id: AlertId,
    /// The job whose target was reached.
    pub job_id: JobId,
    /// Its owner.
    pub user_id: UserId,
    /// The product page.
    pub url: String,
    /// The price found, as decimal text.
    pub price: String,
    /// The price's ISO 4217 currency, if known.
    pub currency: Option<String>,
    /// The job's target, as decimal text.
    pub target_price: String,
    /// When the check ran.
    pub checked_at: Timestamp,
    /// The rule that fired, the previous and lowest prices, and the job's channels.
    #[serde(default, flatten)]
    pub details: AlertDetails,
}

impl AlertMessage {
    /// The message of an alert.
    pub fn from_alert(alert: &Alert) -> Self {
        Self {
            alert_id: alert.id,
            job_id: alert.job_id,
            user_id: alert.user_id,
            url: alert.url.as_str().to_owned(),
            price: alert.price.amount.to_string(),
            currency: alert.price.currency.map(|c| c.as_str().to_owned()),
            target_price: alert.target_price.amount().to_string(),
            checked_at: alert.checked_at,
            details: alert.details.clone(),
        }
    }

    /// The JSON text.
    pub fn to_json(&self) -> String {
        // A struct of strings and ids always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The filter policy that lets a subscription receive only `user_id`'s alerts:
/// `{"user_id":["<user_id>"]}`, matched against the message attribute
/// [`schema::USER_ID_ATTRIBUTE`].
pub fn user_filter_policy(user_id: UserId) -> String {
    serde_json::json!({ schema::USER_ID_ATTRIBUTE: [user_id.to_string()] }).to_string()
}

/// [`Notifier`] on one SNS topic shared by every user: hands alerts to the delivery stage.
///
/// `publish` sends the [`AlertMessage`] JSON with subject [`schema::ALERT_SUBJECT`] and the
/// message attributes [`schema::KIND_ATTRIBUTE`] (`alert`), [`schema::USER_ID_ATTRIBUTE`] and
/// [`schema::ALERT_ID_ATTRIBUTE`]; the delivery queue's subscription takes every alert. Nothing
/// is subscribed at sign-up: a user's email subscription is made only when they add an email
/// channel ([`SnsEmail::subscribe`]), and SNS asks the address to confirm it first.
///
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct SnsNotifier {
    client: Client,
    topic_arn: String,
}

impl SnsNotifier {
    /// A notifier publishing to the topic `topic_arn`.
    pub fn new(client: Client, topic_arn: String) -> Self {
        Self { client, topic_arn }
    }

    /// The topic's ARN.
    pub fn topic_arn(&self) -> &str {
        &self.topic_arn
    }
}

fn string_attribute(value: String) -> Result<MessageAttributeValue, BackendError> {
    MessageAttributeValue::builder().data_type("String").string_value(value).build().map_err(Into::into)
}

#[async_trait]
impl Notifier for SnsNotifier {
    async fn publish(&self, alert: &Alert) -> Result<(), NotifyError> {
        let message = AlertMessage::from_alert(alert);
        let request = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(schema::ALERT_SUBJECT)
            .message(message.to_json())
            .message_attributes(
                schema::KIND_ATTRIBUTE,
                string_attribute(schema::KIND_ALERT.to_owned()).map_err(backend)?,
            )
            .message_attributes(
                schema::USER_ID_ATTRIBUTE,
                string_attribute(alert.user_id.to_string()).map_err(backend)?,
            )
            .message_attributes(schema::ALERT_ID_ATTRIBUTE, string_attribute(alert.id.to_string()).map_err(backend)?);
        // The check's trace goes on to the delivery: SNS hands these attributes to the delivery
        // queue's raw-delivery subscription, where the deliverer reads them as any queue message's.
        let request = match pricetrack_telemetry::current_trace_context() {
            Some(trace) => {
                let request = request.message_attributes(
                    crate::queue::TRACEPARENT,
                    string_attribute(trace.traceparent().to_owned()).map_err(backend)?,
                );
                match trace.tracestate() {
                    Some(state) => request.message_attributes(
                        crate::queue::TRACESTATE,
                        string_attribute(state.to_owned()).map_err(backend)?,
                    ),
                    None => request,
                }
            }
            None => request,
        };
        request.send().await.map_err(backend)?;
        Ok(())
    }
}

/// Email channels on AWS through the alert topic: an email channel is an SNS email subscription
/// filtered on its channel id ([`schema::email_channel_filter_policy`]), made when the user adds
/// the channel (SNS mails a confirmation first: that is the address check); an alert email is a
/// publication with `kind = email` and that channel id. Addresses are never logged.
#[derive(Debug, Clone)]
pub struct SnsEmail {
    client: Client,
    topic_arn: String,
}

impl SnsEmail {
    /// Email channels on the topic `topic_arn`.
    pub fn new(client: Client, topic_arn: String) -> Self {
        Self { client, topic_arn }
    }

    /// Subscribes `address` for the emails of channel `channel_id`.
    pub async fn subscribe(&self, channel_id: &str, address: &str) -> Result<(), BackendError> {
        self.client
            .subscribe()
            .topic_arn(&self.topic_arn)
            .protocol("email")
            .endpoint(address)
            .attributes("FilterPolicy", schema::email_channel_filter_policy(channel_id))
            .send()
            .await?;
        Ok(())
    }

    /// Removes the subscriptions of channel `channel_id` (its email address leaves the topic);
    /// returns how many. A subscription still waiting for its confirmation has no ARN to remove
    /// it by: SNS drops it on its own when it is not confirmed in time, and no alert email is
    /// published for a deleted channel meanwhile.
    pub async fn unsubscribe(&self, channel_id: &str) -> Result<usize, BackendError> {
        let wanted: serde_json::Value = serde_json::from_str(&schema::email_channel_filter_policy(channel_id))?;
        let mut removed = 0;
        let mut next = None;
        loop {
            let page = self
                .client
                .list_subscriptions_by_topic()
                .topic_arn(&self.topic_arn)
                .set_next_token(next)
                .send()
                .await?;
            for subscription in page.subscriptions.unwrap_or_default() {
                let Some(arn) = subscription.subscription_arn.filter(|arn| arn.starts_with("arn:")) else { continue };
                if subscription.protocol.as_deref() != Some("email") {
                    continue;
                }
                let attributes = self.client.get_subscription_attributes().subscription_arn(&arn).send().await?;
                let policy = attributes
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get("FilterPolicy"))
                    .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok());
                if policy.as_ref() == Some(&wanted) {
                    self.client.unsubscribe().subscription_arn(&arn).send().await?;
                    removed += 1;
                }
            }
            next = page.next_token;
            if next.is_none() {
                return Ok(removed);
            }
        }
    }

    /// Publishes one email (`subject`, `body`) for channel `channel_id`.
    pub async fn publish(&self, channel_id: &str, subject: &str, body: &str) -> Result<(), BackendError> {
        // SNS subjects: ASCII, no line breaks, at most 100 characters.
        let subject: String = subject.chars().filter(|c| c.is_ascii() && !c.is_ascii_control()).take(100).collect();
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(subject)
            .message(body)
            .message_attributes(schema::KIND_ATTRIBUTE, string_attribute(schema::KIND_EMAIL.to_owned())?)
            .message_attributes(schema::CHANNEL_ID_ATTRIBUTE, string_attribute(channel_id.to_owned())?)
            .send()
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use pricetrack_domain::{Money, ProductUrl, TargetPrice};
    use rust_decimal::Decimal;

    use super::*;

    #[test]
    fn alert_message_keeps_decimals_as_text() {
        let alert = Alert {
            id: AlertId::new(),
            job_id: JobId::new(),
            user_id: UserId::new(),
            url: ProductUrl::parse("https://shop.example/p/1").expect("url"),
            price: Money::new(Decimal::from_str("49.90").expect("decimal"), None),
            target_price: TargetPrice::parse("50").expect("target"),
            checked_at: chrono::Utc::now(),
            details: Default::default(),
        };
        let json: serde_json::Value = serde_json::from_str(&AlertMessage::from_alert(&alert).to_json()).expect("json");
        assert_eq!(json["price"], "49.90");
        assert_eq!(json["target_price"], "50");
        assert_eq!(json["currency"], serde_json::Value::Null);
        assert_eq!(json["alert_id"], alert.id.to_string());
    }

    #[test]
    fn filter_policy_names_the_user() {
        let user = UserId::new();
        assert_eq!(user_filter_policy(user), format!("{{\"user_id\":[\"{user}\"]}}"));
    }
}

//! The delivery stage's records and ports: each user's channels, and the delivery log (one
//! record per alert and channel).
//!
//! A check decides an alert and leaves it in the job's outbox; the delivery stage takes it from
//! there. Each (alert, channel) pair is one delivery with its own attempts, back-off and status,
//! keyed by the alert id plus the channel, so that a redelivered alert whose log shows it
//! delivered is never sent again.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::ports::{Page, PageRequest, StoreError};
use crate::{Alert, AlertId, Channel, ChannelKey, Timestamp, UserId};

/// Where one delivery goes: a user's channel, or the operator's global webhook.
pub const OPERATOR_CHANNEL: &str = "operator";

/// How far one delivery got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not delivered yet; retried.
    Pending,
    /// The channel accepted it. Never sent again.
    Delivered,
    /// Given up: a permanent refusal, 24 hours of failures, or a failing channel.
    Failed,
}

impl DeliveryStatus {
    /// The wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    /// Parses a wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Delivered),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// One (alert, channel) delivery, as the log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    /// The alert.
    pub alert_id: AlertId,
    /// The alert's owner.
    pub user_id: UserId,
    /// The channel's id, or [`OPERATOR_CHANNEL`].
    pub channel: String,
    /// Pending, delivered or failed.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// Why the last attempt failed (never holds a secret).
    pub last_error: Option<String>,
    /// When the channel accepted it.
    pub delivered_at: Option<Timestamp>,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<Timestamp>,
    /// When the first attempt was made: retries stop 24 hours after it.
    pub first_attempt_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

impl DeliveryRecord {
    /// The idempotency key sent with every attempt: the alert id and the channel.
    pub fn idempotency_key(&self) -> String {
        idempotency_key(self.alert_id, &self.channel)
    }
}

/// `<alert id>.<channel>`: the same for every attempt of one (alert, channel) delivery.
pub fn idempotency_key(alert_id: AlertId, channel: &str) -> String {
    format!("{alert_id}.{channel}")
}

/// An alert with its deliveries, for the user's delivery log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertEntry {
    /// The alert.
    pub alert: Alert,
    /// One record per channel it went (or goes) to.
    pub deliveries: Vec<DeliveryRecord>,
}

/// Where each user's channels live.
///
/// Contract (checked by [`crate::delivery_testing`]):
/// - channels are addressed by [`ChannelKey`]; another user's id finds nothing;
/// - `list` returns a user's channels oldest first;
/// - `update` replaces a channel only if it exists (it never creates one);
/// - `delete_all` removes every channel of a user and none of another user's;
/// - `record_success` clears the failure count and the error and re-activates the channel;
///   `record_failure` counts a failed delivery and marks the channel failing when `permanent`
///   or after [`Channel::FAILING_AFTER`] in a row, atomically (two deliverers at once lose no
///   count).
#[async_trait]
pub trait ChannelStore: Send + Sync + 'static {
    /// Stores a new channel. [`StoreError::AlreadyExists`] if its id is taken.
    async fn create(&self, channel: &Channel) -> Result<(), StoreError>;

    /// Reads one channel.
    async fn get(&self, key: ChannelKey) -> Result<Option<Channel>, StoreError>;

    /// Every channel of a user, oldest first.
    async fn list(&self, user_id: UserId) -> Result<Vec<Channel>, StoreError>;

    /// Replaces a channel; `false` if there is none.
    async fn update(&self, channel: &Channel) -> Result<bool, StoreError>;

    /// Deletes one channel; `false` if there was none.
    async fn delete(&self, key: ChannelKey) -> Result<bool, StoreError>;

    /// Deletes every channel of a user; returns how many.
    async fn delete_all(&self, user_id: UserId) -> Result<u64, StoreError>;

    /// A delivery to the channel succeeded.
    async fn record_success(&self, key: ChannelKey, now: Timestamp) -> Result<(), StoreError>;

    /// A delivery to the channel failed for good (`reason` is shown to the user).
    async fn record_failure(
        &self,
        key: ChannelKey,
        reason: &str,
        permanent: bool,
        now: Timestamp,
    ) -> Result<(), StoreError>;
}

/// The delivery log.
///
/// Contract (checked by [`crate::delivery_testing`]):
/// - `record_alert` keeps an alert once (a second call with the same id changes nothing);
/// - `put` writes a delivery record unless the stored one is already `delivered`: a delivered
///   record is final, so a late or duplicate attempt can never turn it back (returns `false`);
/// - `list` returns a user's alerts newest first, each with its deliveries, in pages that
///   together hold every alert once; another user's alerts never show;
/// - `deliveries` returns every record of one alert, ordered by channel;
/// - `delete_all` removes a user's alerts and every delivery record of them, and nothing of
///   another user.
#[async_trait]
pub trait DeliveryLog: Send + Sync + 'static {
    /// Keeps an alert (idempotent).
    async fn record_alert(&self, alert: &Alert) -> Result<(), StoreError>;

    /// Reads one delivery.
    async fn get(&self, alert_id: AlertId, channel: &str) -> Result<Option<DeliveryRecord>, StoreError>;

    /// Writes a delivery record unless the stored one is delivered; `true` when written.
    async fn put(&self, record: &DeliveryRecord) -> Result<bool, StoreError>;

    /// Every delivery record of one alert, by channel. The deliverer reads them to settle
    /// deliveries whose destination is gone (a deleted channel), which would otherwise stay
    /// pending for ever.
    async fn deliveries(&self, alert_id: AlertId) -> Result<Vec<DeliveryRecord>, StoreError>;

    /// A page of a user's alerts, newest first.
    async fn list(&self, user_id: UserId, page: &PageRequest) -> Result<Page<AlertEntry>, StoreError>;

    /// Deletes a user's alerts and deliveries; returns how many alerts.
    async fn delete_all(&self, user_id: UserId) -> Result<u64, StoreError>;
}

/// Why a channel refused a message or cannot be used; safe to show the user (no secret, no URL
/// that may hold a key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct ProbeError {
    /// What happened.
    pub reason: String,
    /// Retrying may help (a timeout, a 5xx, a 429).
    pub retryable: bool,
}

/// What the API needs from the delivery stage: checking a new channel's addresses against the
/// address guard, and sending a test message now.
#[async_trait]
pub trait ChannelProbe: Send + Sync + 'static {
    /// Refuses a target whose URLs are not http(s) or point at internal addresses.
    async fn check(&self, target: &crate::ChannelTarget) -> Result<(), ProbeError>;

    /// Sends `alert` to `channel` now.
    async fn test(&self, channel: &Channel, alert: &Alert) -> Result<(), ProbeError>;

    /// A fresh Standard Webhooks signing secret (`whsec_<base64 of 32 random bytes>`).
    fn new_webhook_secret(&self) -> crate::ChannelSecret;

    /// Called once a channel is stored (AWS: an email channel's SNS subscription, whose
    /// confirmation mail is the address check). Nothing by default.
    async fn created(&self, _channel: &Channel) -> Result<(), ProbeError> {
        Ok(())
    }

    /// Called once a channel is deleted (AWS: an email channel's SNS subscription is removed,
    /// so the address does not stay with the topic). Nothing by default.
    async fn deleted(&self, _channel: &Channel) -> Result<(), ProbeError> {
        Ok(())
    }
}

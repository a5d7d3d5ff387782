//! The delivery use case: one alert to each of its channels, once, with retries.

use std::sync::Arc;
use std::time::Duration;

use pricetrack_domain::delivery::{ChannelStore, DeliveryLog, OPERATOR_CHANNEL, idempotency_key};
use pricetrack_domain::ports::{JobStore, StoreError};
use pricetrack_domain::{
    Alert, Channel, ChannelStatus, ChannelTarget, DeliveryRecord, DeliveryStatus, JobKey, Timestamp,
};
use pricetrack_metrics::names;
use rand::Rng;

use crate::sender::{ChannelSender, Outgoing, SendError};

/// How deliveries are retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Wait after the first failed attempt; doubled after each further one.
    pub base: Duration,
    /// Longest wait between two attempts.
    pub max: Duration,
    /// Retries stop this long after the first attempt: the delivery is failed.
    pub give_up_after: Duration,
}

impl Default for RetryPolicy {
    /// 10 s, doubling, at most 1 h apart, for 24 h.
    fn default() -> Self {
        Self {
            base: Duration::from_secs(10),
            max: Duration::from_secs(3600),
            give_up_after: Duration::from_secs(24 * 3600),
        }
    }
}

impl RetryPolicy {
    /// The wait after `attempts` failed attempts: `base * 2^(attempts-1)`, capped at `max`, with
    /// "equal jitter" (between half and all of it) so that deliveries failed together do not
    /// retry together; never shorter than the receiver's `Retry-After`.
    pub fn delay(&self, attempts: u32, retry_after: Option<Duration>) -> Duration {
        let exponent = attempts.saturating_sub(1).min(30);
        let full = self.base.saturating_mul(1_u32 << exponent).min(self.max);
        let half = full / 2;
        let jitter_ms = rand::rng().random_range(0..=u64::try_from(half.as_millis()).unwrap_or(u64::MAX));
        let delay = half + Duration::from_millis(jitter_ms);
        match retry_after {
            Some(wait) => delay.max(wait.min(self.give_up_after)),
            None => delay,
        }
    }
}

/// Where one delivery goes.
#[derive(Debug, Clone)]
enum Destination {
    /// A user's channel.
    Channel(Box<Channel>),
    /// The operator's global webhook.
    Operator,
}

/// How handling one alert ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliverOutcome {
    /// Every delivery is delivered or failed: the alert is done.
    Done,
    /// Some deliveries wait for a retry; the earliest is due at this time.
    RetryAt(Timestamp),
}

/// The operator's global webhook (`PRICETRACK_WEBHOOK_URL`): every alert, signed with nothing,
/// in the JSON format pricetrack always sent (with the owner's email). A
/// [`NotifyError::Refused`](pricetrack_domain::ports::NotifyError::Refused) from it fails the
/// delivery at once; any other error is retried like a user channel's 5xx.
#[derive(Clone)]
pub struct OperatorWebhook {
    /// Sends it.
    pub notifier: Arc<dyn pricetrack_domain::ports::Notifier>,
}

/// Delivers alerts: each to every channel of its owner (or the job's channels), plus the
/// operator's webhook, each (alert, channel) pair once.
///
/// Guarantees: a delivery whose log record says delivered is never attempted again; a failing
/// channel delays only its own deliveries (each channel is attempted on its own); a permanent
/// refusal fails the delivery at once; retries follow [`RetryPolicy`].
pub struct Deliverer {
    channels: Arc<dyn ChannelStore>,
    log: Arc<dyn DeliveryLog>,
    sender: ChannelSender,
    operator: Option<OperatorWebhook>,
    retry: RetryPolicy,
    /// When set, an alert whose job is gone is not delivered (see [`Deliverer::with_jobs`]).
    jobs: Option<Arc<dyn JobStore>>,
}

/// Why a pending delivery whose channel is gone was failed.
pub const CHANNEL_DELETED: &str = "the channel was deleted";
/// Why a pending delivery to the operator's webhook was failed once none is configured.
pub const OPERATOR_REMOVED: &str = "the operator's webhook is no longer configured";
/// Why the pending deliveries of an alert whose job is gone were failed.
pub const JOB_DELETED: &str = "the job was deleted";

impl std::fmt::Debug for Deliverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliverer").field("retry", &self.retry).finish_non_exhaustive()
    }
}

impl Deliverer {
    /// A deliverer over these stores.
    pub fn new(
        channels: Arc<dyn ChannelStore>,
        log: Arc<dyn DeliveryLog>,
        sender: ChannelSender,
        operator: Option<OperatorWebhook>,
        retry: RetryPolicy,
    ) -> Self {
        Self { channels, log, sender, operator, retry, jobs: None }
    }

    /// Checks each alert's job before delivering it: an alert whose job is gone (deleted, or its
    /// account deleted) is sent nowhere more, its pending deliveries are failed, and an alert
    /// the log never saw is not recorded at all, so a message that comes back after its owner
    /// deleted the account writes nothing of them again.
    pub fn with_jobs(mut self, jobs: Arc<dyn JobStore>) -> Self {
        self.jobs = Some(jobs);
        self
    }

    /// The sender (for channel tests and URL checks).
    pub fn sender(&self) -> &ChannelSender {
        &self.sender
    }

    /// Delivers `alert` to every destination not yet done whose next attempt is due. An `Err`
    /// (a store failed) means: try the whole alert again later; what was recorded stays.
    ///
    /// A pending delivery whose destination is gone (the channel was deleted, the operator's
    /// webhook is no longer configured, or the job was deleted) is failed with the reason, so
    /// that no delivery stays pending for ever.
    pub async fn deliver(&self, alert: &Alert) -> Result<DeliverOutcome, StoreError> {
        let recorded = self.log.deliveries(alert.id).await?;
        if let Some(jobs) = &self.jobs
            && jobs.get(JobKey { user_id: alert.user_id, job_id: alert.job_id }).await?.is_none()
        {
            tracing::info!(alert_id = %alert.id, "the alert's job is gone; not delivered");
            for record in recorded {
                self.settle(record, JOB_DELETED).await?;
            }
            return Ok(DeliverOutcome::Done);
        }
        self.log.record_alert(alert).await?;
        let channels = self.channels.list(alert.user_id).await?;
        for record in recorded {
            let gone = if record.channel == OPERATOR_CHANNEL {
                self.operator.is_none().then_some(OPERATOR_REMOVED)
            } else {
                (!channels.iter().any(|c| c.id.to_string() == record.channel)).then_some(CHANNEL_DELETED)
            };
            if let Some(reason) = gone {
                self.settle(record, reason).await?;
            }
        }
        let mut destinations: Vec<Destination> = channels
            .into_iter()
            .filter(|channel| alert.details.channels.as_ref().is_none_or(|wanted| wanted.contains(&channel.id)))
            .map(|channel| Destination::Channel(Box::new(channel)))
            .collect();
        if self.operator.is_some() {
            destinations.push(Destination::Operator);
        }
        // Each destination on its own: a slow channel does not hold the others back.
        let results =
            futures::future::join_all(destinations.iter().map(|destination| self.deliver_to(alert, destination))).await;
        let mut next: Option<Timestamp> = None;
        for result in results {
            if let Some(at) = result? {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        Ok(next.map_or(DeliverOutcome::Done, DeliverOutcome::RetryAt))
    }

    /// Fails `record` with `reason` if it is still pending (a delivered or failed one is left as
    /// it is).
    async fn settle(&self, mut record: DeliveryRecord, reason: &str) -> Result<(), StoreError> {
        if record.status != DeliveryStatus::Pending {
            return Ok(());
        }
        tracing::info!(alert_id = %record.alert_id, channel = %record.channel, reason, "pending delivery failed: its destination is gone");
        record.status = DeliveryStatus::Failed;
        record.next_attempt_at = None;
        record.last_error = Some(reason.to_owned());
        record.updated_at = chrono::Utc::now();
        self.log.put(&record).await?;
        Ok(())
    }

    /// One (alert, destination): `Some(time)` when it waits for a retry at that time.
    async fn deliver_to(&self, alert: &Alert, destination: &Destination) -> Result<Option<Timestamp>, StoreError> {
        let channel_key = match destination {
            Destination::Channel(channel) => channel.id.to_string(),
            Destination::Operator => OPERATOR_CHANNEL.to_owned(),
        };
        let now = chrono::Utc::now();
        let existing = self.log.get(alert.id, &channel_key).await?;
        let mut record = match existing {
            Some(record) if record.status != DeliveryStatus::Pending => return Ok(None),
            Some(record) => {
                if let Some(at) = record.next_attempt_at
                    && at > now
                {
                    return Ok(Some(at));
                }
                record
            }
            None => DeliveryRecord {
                alert_id: alert.id,
                user_id: alert.user_id,
                channel: channel_key.clone(),
                status: DeliveryStatus::Pending,
                attempts: 0,
                last_error: None,
                delivered_at: None,
                next_attempt_at: None,
                first_attempt_at: now,
                updated_at: now,
            },
        };
        if let Destination::Channel(channel) = destination
            && channel.status == ChannelStatus::Failing
        {
            record.status = DeliveryStatus::Failed;
            record.next_attempt_at = None;
            record.updated_at = now;
            record.last_error = Some(format!(
                "the channel is failing ({}); fix it and test it to resume",
                channel.last_error.as_deref().unwrap_or("too many failures")
            ));
            self.log.put(&record).await?;
            count_delivery(destination, "channel_failing");
            return Ok(None);
        }

        let key = idempotency_key(alert.id, &channel_key);
        let sent = match destination {
            Destination::Channel(channel) => self.send_checked(&channel.target, alert, &key, &channel_key).await,
            Destination::Operator => match &self.operator {
                Some(operator) => operator.notifier.publish(alert).await.map_err(operator_error),
                None => Ok(()),
            },
        };
        let now = chrono::Utc::now();
        record.attempts = record.attempts.saturating_add(1);
        record.updated_at = now;
        let mut channel_failure: Option<(String, bool)> = None;
        match sent {
            Ok(()) => {
                record.status = DeliveryStatus::Delivered;
                record.delivered_at = Some(now);
                record.next_attempt_at = None;
                record.last_error = None;
                tracing::info!(alert_id = %alert.id, channel = %channel_key, attempts = record.attempts, "alert delivered");
                count_delivery(destination, "delivered");
                if let Ok(latency) = (now - alert.checked_at).to_std() {
                    metrics::histogram!(names::ALERT_DELIVERY_LATENCY, "channel_kind" => channel_kind(destination))
                        .record(latency);
                }
            }
            Err(SendError::Permanent { reason }) => {
                tracing::warn!(alert_id = %alert.id, channel = %channel_key, %reason, "delivery refused for good");
                count_delivery(destination, "failed");
                record.status = DeliveryStatus::Failed;
                record.next_attempt_at = None;
                record.last_error = Some(reason.clone());
                channel_failure = Some((reason, true));
            }
            Err(SendError::Retryable { reason, retry_after }) => {
                let waited = (now - record.first_attempt_at).to_std().unwrap_or_default();
                record.last_error = Some(reason.clone());
                if waited >= self.retry.give_up_after {
                    tracing::warn!(alert_id = %alert.id, channel = %channel_key, %reason, "delivery given up after retrying");
                    count_delivery(destination, "given_up");
                    record.status = DeliveryStatus::Failed;
                    record.next_attempt_at = None;
                    channel_failure = Some((reason, false));
                } else {
                    let delay = self.retry.delay(record.attempts, retry_after);
                    let at = now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::hours(1));
                    tracing::info!(alert_id = %alert.id, channel = %channel_key, %reason, retry_in_ms = delay.as_millis(), "delivery failed; will retry");
                    count_delivery(destination, "retry");
                    record.next_attempt_at = Some(at);
                }
            }
        }
        self.log.put(&record).await?;
        if let Destination::Channel(channel) = destination {
            match (record.status, channel_failure) {
                (DeliveryStatus::Delivered, _) => self.channels.record_success(channel.key(), now).await?,
                (DeliveryStatus::Failed, Some((reason, permanent))) => {
                    self.channels.record_failure(channel.key(), &reason, permanent, now).await?;
                }
                _ => {}
            }
        }
        Ok(record.next_attempt_at)
    }

    /// Sends after checking every URL of the target against the address guard (names are
    /// resolved again when connecting).
    async fn send_checked(
        &self,
        target: &ChannelTarget,
        alert: &Alert,
        key: &str,
        channel: &str,
    ) -> Result<(), SendError> {
        for url in target.urls().map_err(|e| SendError::Permanent { reason: e.to_string() })? {
            self.sender.check_url(&url).await?;
        }
        self.sender.send(target, Outgoing { alert, idempotency_key: key, channel }).await
    }

    /// Sends a test message to `channel` now and says how it went (for
    /// `POST /channels/{id}/test`).
    pub async fn test(&self, channel: &Channel, alert: &Alert) -> Result<(), SendError> {
        let key = idempotency_key(alert.id, "test");
        self.send_checked(&channel.target, alert, &key, &channel.id.to_string()).await
    }
}

/// The operator's webhook failed: a refusal (a 4xx other than 408/429) is permanent at once,
/// as for a user's channel; anything else is retried.
fn operator_error(e: pricetrack_domain::ports::NotifyError) -> SendError {
    let reason = pricetrack_telemetry::error_chain(&e);
    match e {
        pricetrack_domain::ports::NotifyError::Refused(_) => SendError::Permanent { reason },
        pricetrack_domain::ports::NotifyError::Backend(_) => SendError::Retryable { reason, retry_after: None },
    }
}

fn probe_error(e: SendError) -> pricetrack_domain::delivery::ProbeError {
    let retryable = matches!(e, SendError::Retryable { .. });
    pricetrack_domain::delivery::ProbeError { reason: e.to_string(), retryable }
}

#[async_trait::async_trait]
impl pricetrack_domain::delivery::ChannelProbe for Deliverer {
    async fn check(&self, target: &ChannelTarget) -> Result<(), pricetrack_domain::delivery::ProbeError> {
        for url in target.urls().map_err(|e| SendError::Permanent { reason: e.to_string() }).map_err(probe_error)? {
            self.sender.check_url(&url).await.map_err(probe_error)?;
        }
        Ok(())
    }

    async fn test(&self, channel: &Channel, alert: &Alert) -> Result<(), pricetrack_domain::delivery::ProbeError> {
        Deliverer::test(self, channel, alert).await.map_err(probe_error)
    }

    fn new_webhook_secret(&self) -> pricetrack_domain::ChannelSecret {
        pricetrack_domain::ChannelSecret::new(crate::signature::new_secret())
    }
}

/// The `channel_kind` label of a destination: the channel's kind, or `operator`.
fn channel_kind(destination: &Destination) -> &'static str {
    match destination {
        Destination::Channel(channel) => channel.target.kind().as_str(),
        Destination::Operator => "operator",
    }
}

/// Counts one delivery attempt (or a delivery failed without one) by channel kind and outcome.
fn count_delivery(destination: &Destination, outcome: &'static str) {
    metrics::counter!(names::DELIVERIES, "channel_kind" => channel_kind(destination), "outcome" => outcome)
        .increment(1);
}

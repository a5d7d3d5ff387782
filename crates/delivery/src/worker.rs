//! The delivery workers: alerts from the delivery queue through the [`Deliverer`], and the
//! notifier that puts alerts on that queue.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pricetrack_domain::Alert;
use pricetrack_domain::ports::{CheckQueue, Delivery, Notifier, NotifyError, OutgoingMessage};
use pricetrack_metrics::names;
use pricetrack_scraper::count_queue_op;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::deliverer::{DeliverOutcome, Deliverer};

/// How the delivery workers run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryWorkerSettings {
    /// Alerts delivered at once.
    pub workers: usize,
    /// The delivery queue's visibility timeout: a message being delivered is extended by this
    /// much every third of it.
    pub visibility_timeout: Duration,
    /// Longest wait of one receive.
    pub receive_wait: Duration,
    /// On shutdown, how long deliveries in flight may take to finish.
    pub shutdown_grace: Duration,
}

impl Default for DeliveryWorkerSettings {
    fn default() -> Self {
        Self {
            workers: 4,
            visibility_timeout: Duration::from_secs(60),
            receive_wait: Duration::from_secs(20),
            shutdown_grace: Duration::from_secs(20),
        }
    }
}

/// Longest a message can be put off on SQS (12 hours).
const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 3600);
/// Pause after a failed receive.
const RECEIVE_BACKOFF: Duration = Duration::from_secs(1);

/// Receives alerts from `queue` and delivers them until `shutdown`, then lets deliveries in
/// flight finish within the grace.
///
/// A message is acknowledged once every delivery of its alert is delivered or failed. While some
/// wait for a retry, the message is put off (its visibility extended) until the earliest retry
/// is due, so retries need no check and no other process. A store failure leaves the message to
/// come back after its visibility timeout; a body that is not an alert is logged (without its
/// content) and left for the dead-letter queue.
pub async fn run_delivery_workers(
    queue: Arc<dyn CheckQueue>,
    deliverer: Arc<Deliverer>,
    settings: DeliveryWorkerSettings,
    shutdown: CancellationToken,
) {
    let workers = settings.workers.max(1);
    let slots = Arc::new(Semaphore::new(workers));
    let mut running = JoinSet::new();
    loop {
        while running.try_join_next().is_some() {}
        let acquired = tokio::select! {
            permit = Arc::clone(&slots).acquire_owned() => permit,
            () = shutdown.cancelled() => break,
        };
        let Ok(first) = acquired else { break };
        let free = slots.available_permits() + 1;
        let received = tokio::select! {
            received = queue.receive(free.min(10), settings.receive_wait) => received,
            () = shutdown.cancelled() => break,
        };
        count_queue_op(QUEUE, "receive", received.as_ref().map(|_| ()));
        let messages = match received {
            Ok(messages) => {
                metrics::counter!(names::QUEUE_MESSAGES_RECEIVED, "queue" => QUEUE)
                    .increment(u64::try_from(messages.len()).unwrap_or(u64::MAX));
                messages
            }
            Err(e) => {
                tracing::warn!(error = %pricetrack_telemetry::error_chain(&e), "delivery queue receive failed");
                drop(first);
                tokio::select! {
                    () = tokio::time::sleep(RECEIVE_BACKOFF) => continue,
                    () = shutdown.cancelled() => break,
                }
            }
        };
        let mut permits = vec![first];
        for message in messages {
            let permit = match permits.pop() {
                Some(permit) => permit,
                None => match Arc::clone(&slots).acquire_owned().await {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            let queue = Arc::clone(&queue);
            let deliverer = Arc::clone(&deliverer);
            let visibility = settings.visibility_timeout;
            running.spawn(async move {
                handle(queue.as_ref(), &deliverer, message, visibility).await;
                drop(permit);
            });
        }
    }
    if tokio::time::timeout(settings.shutdown_grace, async { while running.join_next().await.is_some() {} })
        .await
        .is_err()
    {
        tracing::warn!("deliveries still in flight after the grace; their alerts come back later");
        running.abort_all();
    }
}

/// Delivers one message's alert in a span of its own, which continues the trace of the check
/// that decided the alert when the message carries it.
async fn handle(queue: &dyn CheckQueue, deliverer: &Deliverer, message: Delivery, visibility: Duration) {
    let span = tracing::info_span!("deliver", receive_count = message.receive_count);
    pricetrack_telemetry::continue_trace(&span, message.trace.as_ref());
    deliver_message(queue, deliverer, message, visibility).instrument(span).await;
}

/// Delivers one message's alert, extending its visibility while it runs.
async fn deliver_message(queue: &dyn CheckQueue, deliverer: &Deliverer, message: Delivery, visibility: Duration) {
    let alert = match parse_alert(&message.body) {
        Some(alert) => alert,
        None => {
            tracing::error!(
                receive_count = message.receive_count,
                "a delivery message is not an alert; left for the dead-letter queue"
            );
            return;
        }
    };
    let heartbeat = async {
        let every = (visibility / 3).max(Duration::from_millis(50));
        loop {
            tokio::time::sleep(every).await;
            let extended = queue.extend(&message.receipt, visibility).await;
            count_queue_op(QUEUE, "heartbeat", extended.as_ref().map(|_| ()));
            if let Err(e) = extended {
                tracing::warn!(alert_id = %alert.id, error = %pricetrack_telemetry::error_chain(&e), "could not extend a delivery message");
            }
        }
    };
    let outcome = tokio::select! {
        outcome = deliverer.deliver(&alert) => outcome,
        () = heartbeat => return,
    };
    match outcome {
        Ok(DeliverOutcome::Done) => {
            let acked = queue.ack(&message.receipt).await;
            count_queue_op(QUEUE, "delete", acked.as_ref().map(|_| ()));
            if let Err(e) = acked {
                tracing::warn!(alert_id = %alert.id, error = %pricetrack_telemetry::error_chain(&e), "could not acknowledge a delivered alert; the log keeps it from being sent again");
            }
        }
        Ok(DeliverOutcome::RetryAt(at)) => {
            let wait =
                (at - chrono::Utc::now()).to_std().unwrap_or_default().clamp(Duration::from_secs(1), MAX_VISIBILITY);
            let put_off = queue.extend(&message.receipt, wait).await;
            count_queue_op(QUEUE, "put_off", put_off.as_ref().map(|_| ()));
            if let Err(e) = put_off {
                tracing::warn!(alert_id = %alert.id, error = %pricetrack_telemetry::error_chain(&e), "could not put a delivery off; it comes back after its visibility timeout");
            }
        }
        Err(e) => {
            tracing::warn!(alert_id = %alert.id, error = %pricetrack_telemetry::error_chain(&e), "delivery store failed; the alert comes back later");
        }
    }
}

/// The `queue` label of the delivery queue's operations.
const QUEUE: &str = "delivery";

/// An alert as the SNS topic carries it (`pricetrack_aws::AlertMessage`): flat, decimals as text.
#[derive(serde::Deserialize)]
struct FlatAlert {
    alert_id: pricetrack_domain::AlertId,
    job_id: pricetrack_domain::JobId,
    user_id: pricetrack_domain::UserId,
    url: pricetrack_domain::ProductUrl,
    price: rust_decimal::Decimal,
    currency: Option<pricetrack_domain::Currency>,
    target_price: pricetrack_domain::TargetPrice,
    checked_at: pricetrack_domain::Timestamp,
    #[serde(default, flatten)]
    details: pricetrack_domain::AlertDetails,
}

impl From<FlatAlert> for Alert {
    fn from(flat: FlatAlert) -> Self {
        Self {
            id: flat.alert_id,
            job_id: flat.job_id,
            user_id: flat.user_id,
            url: flat.url,
            price: pricetrack_domain::Money::new(flat.price, flat.currency),
            target_price: flat.target_price,
            checked_at: flat.checked_at,
            details: flat.details,
        }
    }
}

/// An alert from a message body: the alert's JSON (`pricetrack serve`), the topic's flat alert
/// message (AWS, raw delivery), or either inside an SNS envelope (`{"Message": "..."}`).
pub fn parse_alert(body: &str) -> Option<Alert> {
    if let Ok(alert) = serde_json::from_str::<Alert>(body) {
        return Some(alert);
    }
    if let Ok(flat) = serde_json::from_str::<FlatAlert>(body) {
        return Some(flat.into());
    }
    let envelope: serde_json::Value = serde_json::from_str(body).ok()?;
    parse_alert(envelope.get("Message")?.as_str()?)
}

/// [`Notifier`] that hands alerts to the delivery stage by putting them on the delivery queue
/// (`pricetrack serve`: the durable SQLite queue). Quick and local: a check never waits for a
/// channel.
#[derive(Clone)]
pub struct QueueNotifier {
    queue: Arc<dyn CheckQueue>,
}

impl std::fmt::Debug for QueueNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueNotifier").finish_non_exhaustive()
    }
}

impl QueueNotifier {
    /// A notifier putting alerts on `queue`.
    pub fn new(queue: Arc<dyn CheckQueue>) -> Self {
        Self { queue }
    }
}

#[async_trait]
impl Notifier for QueueNotifier {
    async fn publish(&self, alert: &Alert) -> Result<(), NotifyError> {
        let body = serde_json::to_string(alert).map_err(|e| NotifyError::Backend(Box::new(e)))?;
        // In the check's trace, so that the delivery joins it.
        let message = OutgoingMessage::now(body).in_trace(pricetrack_telemetry::current_trace_context());
        let failed = self.queue.send(&[message]).await.map_err(|e| NotifyError::Backend(Box::new(e)))?;
        if !failed.is_empty() {
            return Err(NotifyError::Backend("the delivery queue refused the alert".into()));
        }
        Ok(())
    }
}

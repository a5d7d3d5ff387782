//! The check queue on SQS.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName, SendMessageBatchRequestEntry};
use pricetrack_domain::TraceContext;
use pricetrack_domain::ports::{BackendError, CheckQueue, Delivery, MAX_SEND_DELAY, OutgoingMessage, QueueError};

fn backend(e: impl Into<BackendError>) -> QueueError {
    QueueError::Backend(e.into())
}

/// Most messages SQS takes in one `SendMessageBatch` or hands out in one `ReceiveMessage`.
const SQS_BATCH_MAX: usize = 10;
/// Longest long-poll wait SQS allows.
const SQS_MAX_WAIT_SECS: u64 = 20;
/// Longest visibility timeout SQS allows (12 hours).
const SQS_MAX_VISIBILITY_SECS: u64 = 43_200;
/// Longest message delay SQS allows (15 minutes).
const SQS_MAX_DELAY_SECS: u64 = 900;

/// [`CheckQueue`] on an SQS standard queue, whose redrive policy (see [`crate::bootstrap`])
/// sends a message received too many times to the dead-letter queue.
///
/// - `send` sends `SendMessageBatch` requests of 10 and reports the entries SQS refused; a
///   message's trace travels in the message attributes [`TRACEPARENT`] and [`TRACESTATE`];
/// - `receive` long-polls (`WaitTimeSeconds` is the wait rounded to whole seconds, at most 20)
///   for at most 10 messages and reads each one's `ApproximateReceiveCount`;
/// - a receipt is the message's `ReceiptHandle`: `extend` is `ChangeMessageVisibility`, `ack`
///   is `DeleteMessage`. A handle SQS calls invalid, or a message no longer in flight, is
///   [`QueueError::StaleReceipt`].
///
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct SqsCheckQueue {
    client: Client,
    queue_url: String,
    receive_waits: Option<ReceiveWaits>,
}

/// The timeouts of a long-poll receive: an attempt may take the poll's wait time plus
/// [`RECEIVE_MARGIN`], and the operation that much more than the client's own (a receive that
/// waits 20 s is not a hung call; one that waits 26 s is).
#[derive(Debug, Clone, Copy)]
struct ReceiveWaits {
    connect: Duration,
    operation: Duration,
}

/// What a long-poll receive may take beyond its wait time before it counts as hung.
pub const RECEIVE_MARGIN: Duration = Duration::from_secs(5);

impl SqsCheckQueue {
    /// A queue adapter for the queue at `queue_url`.
    pub fn new(client: Client, queue_url: String) -> Self {
        Self { client, queue_url, receive_waits: None }
    }

    /// The same adapter, whose receives get the wait time plus [`RECEIVE_MARGIN`] on top of the
    /// client's `waits` (the client itself should carry `waits`).
    pub fn with_waits(mut self, waits: &pricetrack_settings::waits::AwsWaits) -> Self {
        self.receive_waits = Some(ReceiveWaits { connect: waits.connect, operation: waits.operation });
        self
    }

    /// Whether the queue answers: one `GetQueueAttributes` (for readiness probes).
    pub async fn ping(&self) -> Result<(), QueueError> {
        self.client
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout)
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// The queue's URL.
    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }
}

/// The message attribute carrying a message's W3C `traceparent` (SNS passes its own message
/// attributes of the same names on to a raw-delivery subscription, so alerts keep theirs).
pub const TRACEPARENT: &str = "traceparent";
/// The message attribute carrying a message's W3C `tracestate`.
pub const TRACESTATE: &str = "tracestate";

/// The message attributes that carry `trace`, or none.
fn trace_attributes(
    trace: Option<&TraceContext>,
) -> Result<Option<std::collections::HashMap<String, MessageAttributeValue>>, aws_sdk_sqs::error::BuildError> {
    let Some(trace) = trace else { return Ok(None) };
    let string = |value: &str| MessageAttributeValue::builder().data_type("String").string_value(value).build();
    let mut attributes = std::collections::HashMap::from([(TRACEPARENT.to_owned(), string(trace.traceparent())?)]);
    if let Some(state) = trace.tracestate() {
        attributes.insert(TRACESTATE.to_owned(), string(state)?);
    }
    Ok(Some(attributes))
}

/// Whole seconds for SQS: rounded to the nearest second, at most `max`.
fn whole_seconds(duration: Duration, max: u64) -> i32 {
    let secs = duration.as_millis().saturating_add(500) / 1000;
    i32::try_from(secs.min(u128::from(max))).unwrap_or(i32::MAX)
}

#[async_trait]
impl CheckQueue for SqsCheckQueue {
    async fn send(&self, messages: &[OutgoingMessage]) -> Result<Vec<usize>, QueueError> {
        let bodies = messages;
        let mut failed = Vec::new();
        let mut last_error = None;
        let mut sent_any = false;
        for (chunk_no, chunk) in bodies.chunks(SQS_BATCH_MAX).enumerate() {
            let offset = chunk_no * SQS_BATCH_MAX;
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, message)| {
                    let entry =
                        SendMessageBatchRequestEntry::builder().id(i.to_string()).message_body(message.body.clone());
                    // SQS delays in whole seconds, up to 15 minutes.
                    let entry = if message.delay.is_zero() {
                        entry
                    } else {
                        entry.delay_seconds(whole_seconds(message.delay, MAX_SEND_DELAY.as_secs()))
                    };
                    entry.set_message_attributes(trace_attributes(message.trace.as_ref())?).build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?;
            match self.client.send_message_batch().queue_url(&self.queue_url).set_entries(Some(entries)).send().await {
                Ok(out) => {
                    sent_any |= !out.successful.is_empty();
                    for entry in &out.failed {
                        // An id we did not send would be SQS's bug: count the whole chunk as failed.
                        match entry.id.parse::<usize>() {
                            Ok(i) if i < chunk.len() => failed.push(offset + i),
                            _ => failed.extend(offset..offset + chunk.len()),
                        }
                    }
                }
                Err(e) => {
                    // The other chunks may still go through; these are left to the lease.
                    failed.extend(offset..offset + chunk.len());
                    last_error = Some(e);
                }
            }
        }
        match last_error {
            // Nothing went out and a request failed: the queue is down, say so.
            Some(e) if !sent_any => Err(backend(e)),
            _ => {
                failed.sort_unstable();
                failed.dedup();
                Ok(failed)
            }
        }
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        let max = max.clamp(1, SQS_BATCH_MAX);
        let wait_secs = whole_seconds(wait, SQS_MAX_WAIT_SECS);
        let mut request = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(i32::try_from(max).unwrap_or(1))
            .wait_time_seconds(wait_secs)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_attribute_names(TRACEPARENT)
            .message_attribute_names(TRACESTATE)
            .customize();
        if let Some(waits) = self.receive_waits {
            let poll = Duration::from_secs(u64::try_from(wait_secs).unwrap_or(0)) + RECEIVE_MARGIN;
            let timeouts = aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(waits.connect)
                .operation_attempt_timeout(poll)
                .operation_timeout(waits.operation + poll)
                .build();
            request = request.config_override(aws_sdk_sqs::config::Builder::default().timeout_config(timeouts));
        }
        let out = request.send().await.map_err(backend)?;
        let mut deliveries = Vec::new();
        for message in out.messages.unwrap_or_default() {
            let (Some(receipt), Some(body)) = (message.receipt_handle, message.body) else {
                tracing::warn!(message_id = message.message_id.as_deref(), "SQS message without receipt or body");
                continue;
            };
            let receive_count = message
                .attributes
                .as_ref()
                .and_then(|attributes| attributes.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|count| count.parse().ok())
                .unwrap_or(1);
            let trace = message.message_attributes.as_ref().and_then(|attributes| {
                let value = |name: &str| attributes.get(name).and_then(|value| value.string_value.as_deref());
                TraceContext::parse(value(TRACEPARENT)?, value(TRACESTATE))
            });
            deliveries.push(Delivery { receipt, body, receive_count, trace });
        }
        Ok(deliveries)
    }

    async fn extend(&self, receipt: &str, visibility: Duration) -> Result<(), QueueError> {
        let secs = visibility.as_millis().div_ceil(1000).min(u128::from(SQS_MAX_VISIBILITY_SECS));
        let result = self
            .client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .visibility_timeout(i32::try_from(secs).unwrap_or(i32::MAX))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_receipt_handle_is_invalid() || e.is_message_not_inflight()) =>
            {
                Err(QueueError::StaleReceipt)
            }
            Err(e) => Err(backend(e)),
        }
    }

    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        let result = self.client.delete_message().queue_url(&self.queue_url).receipt_handle(receipt).send().await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_receipt_handle_is_invalid() || e.is_invalid_id_format()) =>
            {
                Err(QueueError::StaleReceipt)
            }
            Err(e) => Err(backend(e)),
        }
    }

    /// A copy of the body is sent with `DelaySeconds` (whole seconds, rounded up) and the
    /// received copy deleted, so that waiting for a busy host never raises the receive count
    /// that leads to the dead-letter queue. Longer than SQS's 15-minute delay: the visibility is
    /// extended instead. Should the delete fail after the send, the job gets two requests of
    /// the same version; the second is found stale.
    async fn defer(&self, delivery: &Delivery, delay: Duration) -> Result<(), QueueError> {
        let secs = delay.as_millis().div_ceil(1000);
        if secs > u128::from(SQS_MAX_DELAY_SECS) {
            return self.extend(&delivery.receipt, delay).await;
        }
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(&delivery.body)
            .delay_seconds(i32::try_from(secs).unwrap_or(0))
            .set_message_attributes(trace_attributes(delivery.trace.as_ref()).map_err(backend)?)
            .send()
            .await
            .map_err(backend)?;
        self.ack(&delivery.receipt).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_round_to_whole_seconds_within_the_sqs_limit() {
        assert_eq!(whole_seconds(Duration::ZERO, 20), 0);
        assert_eq!(whole_seconds(Duration::from_millis(400), 20), 0);
        assert_eq!(whole_seconds(Duration::from_millis(500), 20), 1);
        assert_eq!(whole_seconds(Duration::from_secs(1), 20), 1);
        assert_eq!(whole_seconds(Duration::from_secs(90), 20), 20);
    }
}

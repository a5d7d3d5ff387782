//! The delivery stage on AWS: the deliverer over DynamoDB (channels, delivery log) and SNS
//! (email channels), and the channel probe the API uses.

use std::sync::Arc;

use async_trait::async_trait;
use pricetrack_aws::{AwsAdapters, SnsEmail};
use pricetrack_delivery::{AlertText, ChannelSender, Deliverer, EmailSender, RetryPolicy, SendError};
use pricetrack_domain::delivery::{ChannelProbe, ChannelStore, DeliveryLog, ProbeError};
use pricetrack_domain::{Alert, Channel, ChannelSecret, ChannelTarget, Email};

/// [`EmailSender`] through the alert topic: one publication for the channel's own email
/// subscription (made when the user added the channel).
#[derive(Debug, Clone)]
pub struct SnsEmailSender {
    email: SnsEmail,
}

#[async_trait]
impl EmailSender for SnsEmailSender {
    async fn send(
        &self,
        _to: &Email,
        channel: &str,
        text: &AlertText,
        _idempotency_key: &str,
    ) -> Result<(), SendError> {
        self.email.publish(channel, &text.title, &text.body).await.map_err(|_| SendError::Retryable {
            reason: "the alert topic could not be reached".into(),
            retry_after: None,
        })
    }
}

/// The delivery stage's parts: the deliverer, and the stores it works on (which the API also
/// reads).
pub struct DeliveryParts {
    /// Delivers alerts; checks and tests channels.
    pub deliverer: Arc<Deliverer>,
    /// Each user's channels.
    pub channels: Arc<dyn ChannelStore>,
    /// The delivery log.
    pub log: Arc<dyn DeliveryLog>,
}

/// The deliverer of the AWS deployment: channels and the delivery log in `table`, email through
/// `topic_arn`.
pub fn deliverer(
    aws: &AwsAdapters,
    table: &str,
    topic_arn: &str,
    allow_private: bool,
    retry: RetryPolicy,
) -> anyhow::Result<DeliveryParts> {
    let channels: Arc<dyn ChannelStore> = Arc::new(aws.channel_store(table));
    let log: Arc<dyn DeliveryLog> = Arc::new(aws.delivery_log(table));
    let email: Arc<dyn EmailSender> = Arc::new(SnsEmailSender { email: aws.email(topic_arn) });
    let sender = ChannelSender::new(allow_private, Some(email))?;
    Ok(DeliveryParts {
        // An alert of a deleted job (or account) is delivered no further and writes nothing back.
        deliverer: Arc::new(
            Deliverer::new(channels.clone(), log.clone(), sender, None, retry)
                .with_jobs(Arc::new(aws.job_store(table))),
        ),
        channels,
        log,
    })
}

/// [`ChannelProbe`] of the AWS API: the deliverer's checks and tests, and an email channel's SNS
/// subscription when the channel is added (sign-up subscribes nothing).
pub struct AwsChannelProbe {
    /// Checks and tests channels.
    pub deliverer: Arc<Deliverer>,
    /// Subscribes email channels.
    pub email: SnsEmail,
}

#[async_trait]
impl ChannelProbe for AwsChannelProbe {
    async fn check(&self, target: &ChannelTarget) -> Result<(), ProbeError> {
        ChannelProbe::check(self.deliverer.as_ref(), target).await
    }

    async fn test(&self, channel: &Channel, alert: &Alert) -> Result<(), ProbeError> {
        ChannelProbe::test(self.deliverer.as_ref(), channel, alert).await
    }

    fn new_webhook_secret(&self) -> ChannelSecret {
        self.deliverer.new_webhook_secret()
    }

    async fn created(&self, channel: &Channel) -> Result<(), ProbeError> {
        if let ChannelTarget::Email { address } = &channel.target {
            self.email.subscribe(&channel.id.to_string(), address.as_str()).await.map_err(|_| ProbeError {
                reason: "the email subscription could not be made".into(),
                retryable: true,
            })?;
        }
        Ok(())
    }

    async fn deleted(&self, channel: &Channel) -> Result<(), ProbeError> {
        if let ChannelTarget::Email { .. } = &channel.target {
            self.email.unsubscribe(&channel.id.to_string()).await.map_err(|_| ProbeError {
                reason: "the email subscription could not be removed".into(),
                retryable: true,
            })?;
        }
        Ok(())
    }
}

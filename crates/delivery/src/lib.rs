//! The delivery stage of pricetrack. A check decides an alert and stores it (the job's outbox);
//! the outbox is handed to the delivery queue ([`QueueNotifier`] in one process, the SNS topic
//! feeding an SQS queue on AWS), and [`run_delivery_workers`] delivers each alert to its
//! channels with a [`Deliverer`]: one delivery per (alert, channel), recorded in the delivery
//! log, retried with back-off, never sent again once the log shows it delivered. A check never
//! waits for a channel.
//!
//! - [`ChannelSender`]: the wire formats (Standard Webhooks, ntfy, Gotify, Discord, Slack,
//!   Telegram, Apprise, email), through the product pages' address guard;
//! - [`signature`]: Standard Webhooks signing and verification;
//! - [`Deliverer`]: the use case; [`RetryPolicy`]: back-off and the 24-hour limit.

mod deliverer;
pub mod email;
mod message;
mod sender;
pub mod signature;
mod worker;

pub use deliverer::{
    CHANNEL_DELETED, DeliverOutcome, Deliverer, JOB_DELETED, OPERATOR_REMOVED, OperatorWebhook, RetryPolicy,
};
pub use email::{EmailSender, SmtpEmailSender, SmtpSetupError};
pub use message::{AlertPayload, AlertText, money_text};
pub use sender::{ChannelSender, Outgoing, SendError, SenderBuildError, classify};
pub use worker::{DeliveryWorkerSettings, QueueNotifier, parse_alert, run_delivery_workers};

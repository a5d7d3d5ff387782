//! Email channels: the port, and SMTP (`PRICETRACK_SMTP_URL`) for `pricetrack serve`.

use async_trait::async_trait;
use pricetrack_domain::Email;

use crate::message::AlertText;
use crate::sender::SendError;

/// Sends one alert email.
#[async_trait]
pub trait EmailSender: Send + Sync + 'static {
    /// Sends `text` to `to`; `idempotency_key` goes into the Message-ID so a repeat can be told.
    async fn send(&self, to: &Email, text: &AlertText, idempotency_key: &str) -> Result<(), SendError>;
}

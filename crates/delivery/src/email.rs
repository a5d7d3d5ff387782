//! Email channels: the port, and SMTP (`PRICETRACK_SMTP_URL`) for `pricetrack serve`.

use async_trait::async_trait;
use pricetrack_domain::Email;

use crate::message::AlertText;
use crate::sender::SendError;

/// Sends one alert email.
#[async_trait]
pub trait EmailSender: Send + Sync + 'static {
    /// Sends `text` to `to` (the address of channel `channel`); `idempotency_key` goes into the
    /// Message-ID so a repeat can be told.
    async fn send(&self, to: &Email, channel: &str, text: &AlertText, idempotency_key: &str) -> Result<(), SendError>;
}

/// [`EmailSender`] over SMTP (lettre), configured by a URL such as
/// `smtps://user:pass@smtp.example:465` (TLS), `smtp://user:pass@host:587?tls=required`
/// (STARTTLS) or `smtp://127.0.0.1:2525` (plain, local relays and tests).
#[derive(Clone)]
pub struct SmtpEmailSender {
    transport: lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
    from: lettre::message::Mailbox,
}

impl std::fmt::Debug for SmtpEmailSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL holds the password: never shown.
        f.debug_struct("SmtpEmailSender").finish_non_exhaustive()
    }
}

/// Why the SMTP sender could not be set up. Never repeats the URL (it holds a password).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmtpSetupError {
    /// The URL is not an SMTP URL lettre understands.
    #[error("not a valid SMTP URL (smtp:// or smtps://)")]
    Url,
    /// The sender address is not a mailbox.
    #[error("not a valid sender address")]
    From,
}

impl SmtpEmailSender {
    /// Time allowed for one SMTP conversation.
    pub const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

    /// A sender over the SMTP server at `url`, mailing from `from` (`Name <address>` or an
    /// address).
    pub fn new(url: &str, from: &str) -> Result<Self, SmtpSetupError> {
        let transport = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url)
            .map_err(|_| SmtpSetupError::Url)?
            .timeout(Some(Self::TIMEOUT))
            .build();
        let from = from.parse().map_err(|_| SmtpSetupError::From)?;
        Ok(Self { transport, from })
    }
}

#[async_trait]
impl EmailSender for SmtpEmailSender {
    async fn send(&self, to: &Email, _channel: &str, text: &AlertText, idempotency_key: &str) -> Result<(), SendError> {
        use lettre::AsyncTransport;

        let to = to
            .as_str()
            .parse::<lettre::message::Mailbox>()
            .map_err(|_| SendError::Permanent { reason: "the email address is not valid".into() })?;
        let domain = self.from.email.domain().to_owned();
        let message = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(text.title.clone())
            .message_id(Some(format!("<{idempotency_key}@{domain}>")))
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(text.body.clone())
            .map_err(|_| SendError::Permanent { reason: "the email could not be built".into() })?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => {
                Err(SendError::Permanent { reason: "the mail server refused the message".into() })
            }
            Err(_) => Err(SendError::Retryable {
                reason: "the mail server could not be reached or refused for now".into(),
                retry_after: None,
            }),
        }
    }
}

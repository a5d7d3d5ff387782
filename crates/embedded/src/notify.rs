//! Notifiers for the single-process mode: a JSON webhook, or the log when none is configured.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pricetrack_domain::ports::{NotifyError, UserStore};
use pricetrack_domain::{Alert, AlertId, JobId, Timestamp, UserId};
use serde::Serialize;
use url::Url;

use crate::EmbeddedError;

/// Why a webhook delivery failed (the source of a [`NotifyError`]). Carries neither
/// the webhook's URL (it may hold a token) nor the recipient's email.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The webhook answered with a status other than 2xx.
    #[error("webhook answered HTTP {0}")]
    Status(u16),
    /// The alert's user no longer exists, so there is no one to send it to.
    #[error("the alert's recipient does not exist")]
    UnknownRecipient,
}

/// What the webhook receives: one alert, with the owner's email.
#[derive(Debug, Serialize)]
struct WebhookAlert<'a> {
    alert_id: AlertId,
    job_id: JobId,
    user_id: UserId,
    email: &'a str,
    url: &'a str,
    /// Decimal text, never a float.
    price: String,
    /// ISO 4217 code, or `null` when the page did not say.
    currency: Option<&'a str>,
    /// Decimal text, never a float.
    target_price: String,
    checked_at: Timestamp,
}

/// [`Notifier`](pricetrack_domain::ports::Notifier) that POSTs each alert as JSON to a
/// configured URL:
///
/// ```json
/// {"alert_id": "…", "job_id": "…", "user_id": "…", "email": "ada@example.com",
///  "url": "https://shop.example/p/1", "price": "49.99", "currency": "EUR",
///  "target_price": "50", "checked_at": "2025-01-01T12:00:00Z"}
/// ```
///
/// with the header `Idempotency-Key: <alert_id>`, which stays the same when an alert is
/// published again, so the receiver can de-duplicate. Anything but a 2xx answer within
/// [`WebhookNotifier::TIMEOUT`] is an error: [`NotifyError::Backend`] (worth retrying) for a
/// timeout, a connection failure, 408, 429 or a 5xx; [`NotifyError::Refused`] (permanent) for
/// any other status and for a recipient that no longer exists. Redirects are not followed.
#[derive(Clone)]
pub struct WebhookNotifier {
    client: reqwest::Client,
    url: Url,
    users: Arc<dyn UserStore>,
}

impl fmt::Debug for WebhookNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may carry a secret: show its host only.
        f.debug_struct("WebhookNotifier").field("host", &self.url.host_str()).finish_non_exhaustive()
    }
}

impl WebhookNotifier {
    /// Time allowed for one delivery, connection included.
    pub const TIMEOUT: Duration = Duration::from_secs(10);

    /// A notifier posting to `url`, reading each recipient's email from `users`.
    pub fn new(url: Url, users: Arc<dyn UserStore>) -> Result<Self, EmbeddedError> {
        let client = reqwest::Client::builder()
            .timeout(Self::TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("pricetrack/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(EmbeddedError::HttpClient)?;
        Ok(Self { client, url, users })
    }
}

#[async_trait]
impl pricetrack_domain::ports::Notifier for WebhookNotifier {
    async fn publish(&self, alert: &Alert) -> Result<(), NotifyError> {
        let user = self
            .users
            .get(alert.user_id)
            .await
            .map_err(|e| NotifyError::Backend(Box::new(e)))?
            // The user is gone (the account was deleted): no later attempt can find them.
            .ok_or(NotifyError::Refused(Box::new(WebhookError::UnknownRecipient)))?;
        let body = WebhookAlert {
            alert_id: alert.id,
            job_id: alert.job_id,
            user_id: alert.user_id,
            email: user.email.as_str(),
            url: alert.url.as_str(),
            price: alert.price.amount.to_string(),
            currency: alert.price.currency.as_ref().map(|c| c.as_str()),
            target_price: alert.target_price.amount().to_string(),
            checked_at: alert.checked_at,
        };
        let response = self
            .client
            .post(self.url.clone())
            .header("Idempotency-Key", alert.id.to_string())
            .json(&body)
            .send()
            .await
            // Without the URL: it may hold a token, and this error reaches the logs.
            .map_err(|e| NotifyError::Backend(Box::new(e.without_url())))?;
        match response.status().as_u16() {
            200..=299 => Ok(()),
            // Worth another try later: the receiver is busy, timed out, or failed.
            status @ (408 | 429 | 500..=599) => Err(NotifyError::Backend(Box::new(WebhookError::Status(status)))),
            // Any other answer (a 4xx, a redirect, which is not followed) will be the same next
            // time: retrying it for a day would only repeat the refusal.
            status => Err(NotifyError::Refused(Box::new(WebhookError::Status(status)))),
        }
    }
}

/// [`Notifier`](pricetrack_domain::ports::Notifier) for when no webhook is configured: logs
/// that an alert is ready, by id only (no email, no product URL), and always succeeds.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogNotifier;

#[async_trait]
impl pricetrack_domain::ports::Notifier for LogNotifier {
    async fn publish(&self, alert: &Alert) -> Result<(), NotifyError> {
        tracing::info!(
            alert_id = %alert.id,
            job_id = %alert.job_id,
            user_id = %alert.user_id,
            price = %alert.price,
            target_price = %alert.target_price,
            "price alert (no webhook configured)"
        );
        Ok(())
    }
}

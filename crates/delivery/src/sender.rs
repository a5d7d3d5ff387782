//! Sending one alert to one channel, in the format its service documents.

use std::time::Duration;

use pricetrack_domain::{Alert, ChannelTarget};
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::json;
use url::Url;

use crate::email::EmailSender;
use crate::message::{AlertPayload, AlertText};
use crate::signature;

/// Why one attempt failed, and whether trying again may help. The reason is shown to the user
/// and logged: it never holds a URL (which may carry a key) or a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// A timeout, a connection failure, a 5xx, 408 or 429: try again later (not before
    /// `retry_after` when the receiver said so).
    #[error("{reason}")]
    Retryable {
        /// What happened.
        reason: String,
        /// The receiver's `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// Any other 4xx, a refused address, a channel that cannot work: retrying cannot help.
    #[error("{reason}")]
    Permanent {
        /// What happened.
        reason: String,
    },
}

impl SendError {
    fn permanent(reason: impl Into<String>) -> Self {
        Self::Permanent { reason: reason.into() }
    }

    fn retryable(reason: impl Into<String>) -> Self {
        Self::Retryable { reason: reason.into(), retry_after: None }
    }
}

/// One message to send: the alert and the key that stays the same across its attempts.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    /// The alert.
    pub alert: &'a Alert,
    /// `<alert id>.<channel>`: `Idempotency-Key` and `webhook-id`.
    pub idempotency_key: &'a str,
    /// The channel's id (email on AWS goes to the channel's own SNS subscription).
    pub channel: &'a str,
}

/// Sends alerts to channels over HTTP (through the address guard) or SMTP.
#[derive(Clone)]
pub struct ChannelSender {
    client: reqwest::Client,
    allow_private: bool,
    email: Option<std::sync::Arc<dyn EmailSender>>,
}

impl std::fmt::Debug for ChannelSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelSender").field("allow_private", &self.allow_private).finish_non_exhaustive()
    }
}

/// Why the HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("could not build the delivery HTTP client")]
pub struct SenderBuildError(#[source] reqwest::Error);

impl ChannelSender {
    /// Time allowed for one attempt, connection included.
    pub const TIMEOUT: Duration = Duration::from_secs(10);

    /// A sender whose requests go through the address guard (unless `allow_private`), with
    /// `email` for email channels (none: email channels fail permanently).
    pub fn new(allow_private: bool, email: Option<std::sync::Arc<dyn EmailSender>>) -> Result<Self, SenderBuildError> {
        let client = pricetrack_scraper::guarded_client_builder(allow_private)
            .timeout(Self::TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("pricetrack/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(SenderBuildError)?;
        Ok(Self { client, allow_private, email })
    }

    /// Whether `url` may be reached: http(s), not a literal internal address, and not a name that
    /// resolves to one (a name that does not resolve now passes: the resolver checks it again
    /// when connecting). For channel creation and every delivery.
    pub async fn check_url(&self, url: &Url) -> Result<(), SendError> {
        pricetrack_scraper::check_target(url, self.allow_private).map_err(|e| SendError::permanent(e.to_string()))?;
        if let Some(host) = url.host_str()
            && url.host().is_some_and(|h| matches!(h, url::Host::Domain(_)))
        {
            match pricetrack_scraper::resolve_public(host, self.allow_private).await {
                // A name that does not resolve now may later: the delivery checks it again.
                Ok(_) | Err(pricetrack_scraper::GuardError::UnknownHost { .. }) => {}
                Err(e) => return Err(SendError::permanent(format!("refused to deliver: {e}"))),
            }
        }
        Ok(())
    }

    /// Sends one alert to one channel.
    pub async fn send(&self, target: &ChannelTarget, message: Outgoing<'_>) -> Result<(), SendError> {
        let urls = target.urls().map_err(|e| SendError::permanent(e.to_string()))?;
        for url in &urls {
            pricetrack_scraper::check_target(url, self.allow_private)
                .map_err(|e| SendError::permanent(format!("refused to deliver: {e}")))?;
        }
        let alert = message.alert;
        let text = AlertText::of(alert);
        let key = message.idempotency_key;
        let request = match target {
            ChannelTarget::Webhook { url, secret } => {
                let body = serde_json::to_vec(&json!({
                    "type": "price.alert",
                    "timestamp": alert.checked_at,
                    "data": AlertPayload::of(alert),
                }))
                .map_err(|e| SendError::permanent(e.to_string()))?;
                let timestamp = chrono::Utc::now().timestamp();
                let signature = signature::sign(secret.expose(), key, timestamp, &body)
                    .map_err(|e| SendError::permanent(e.to_string()))?;
                self.client
                    .post(url.clone())
                    .header("content-type", "application/json")
                    .header("webhook-id", key)
                    .header("webhook-timestamp", timestamp.to_string())
                    .header("webhook-signature", signature)
                    .body(body)
            }
            ChannelTarget::Ntfy { server, topic, token } => {
                let url = join(server, &[topic])?;
                let mut request = self
                    .client
                    .post(url)
                    .header("Title", header_text(&text.title))
                    .header("Click", alert.url.as_str())
                    .header("Tags", "moneybag")
                    .body(text.body.clone());
                if let Some(token) = token {
                    request = request.bearer_auth(token.expose());
                }
                request
            }
            ChannelTarget::Gotify { server, token } => {
                self.client.post(join(server, &["message"])?).header("X-Gotify-Key", token.expose()).json(&json!({
                    "title": text.title,
                    "message": text.body,
                    "priority": 5,
                    "extras": {"client::notification": {"click": {"url": alert.url.as_str()}}},
                }))
            }
            ChannelTarget::Discord { webhook_url } => self
                .client
                .post(parse(webhook_url.expose())?)
                .json(&json!({"username": "pricetrack", "content": format!("**{}**\n{}", text.title, text.body)})),
            ChannelTarget::Slack { webhook_url } => self
                .client
                .post(parse(webhook_url.expose())?)
                .json(&json!({"text": format!("*{}*\n{}", text.title, text.body)})),
            ChannelTarget::Telegram { bot_token, chat_id, api_url } => {
                let method = format!("bot{}", bot_token.expose());
                self.client.post(join(api_url, &[&method, "sendMessage"])?).json(&json!({
                    "chat_id": chat_id,
                    "text": format!("{}\n{}", text.title, text.body),
                }))
            }
            ChannelTarget::Apprise { server, urls } => self
                .client
                .post(join(server, &["notify", ""])?)
                .json(&json!({"urls": urls.expose(), "title": text.title, "body": text.body, "type": "info"})),
            ChannelTarget::Email { address } => {
                let Some(email) = &self.email else {
                    return Err(SendError::permanent("email delivery is not configured on this server"));
                };
                return email.send(address, message.channel, &text, key).await;
            }
        };
        let response =
            request.header("Idempotency-Key", key).send().await.map_err(|e| transport_error(&e.without_url()))?;
        classify(response.status().as_u16(), response.headers())
    }
}

/// `base` with `segments` appended as path segments (escaped), whatever `base` ends with.
fn join(base: &Url, segments: &[&str]) -> Result<Url, SendError> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| SendError::permanent("the server URL cannot have a path"))?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

fn parse(raw: &str) -> Result<Url, SendError> {
    Url::parse(raw).map_err(|_| SendError::permanent("the webhook URL is not a URL"))
}

/// HTTP header values must be visible ASCII: anything else becomes `?`.
fn header_text(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii() && !c.is_ascii_control() { c } else { '?' }).collect()
}

fn transport_error(error: &reqwest::Error) -> SendError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if let Some(refusal) = cause.downcast_ref::<pricetrack_scraper::GuardError>() {
            return SendError::permanent(format!("refused to deliver: {refusal}"));
        }
        source = cause.source();
    }
    if error.is_timeout() {
        SendError::retryable("the channel did not answer in time")
    } else if error.is_connect() {
        SendError::retryable("could not connect to the channel")
    } else {
        SendError::retryable("the connection to the channel failed")
    }
}

/// 2xx: delivered; 408, 429 and 5xx: retry (after `Retry-After` if given); any other status:
/// permanent (redirects are not followed: a moved channel must be updated).
pub fn classify(status: u16, headers: &HeaderMap) -> Result<(), SendError> {
    match status {
        200..=299 => Ok(()),
        408 | 429 | 500..=599 => Err(SendError::Retryable {
            reason: format!("the channel answered HTTP {status}"),
            retry_after: headers
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .and_then(|v| pricetrack_scraper::parse_retry_after(v, chrono::Utc::now())),
        }),
        _ => Err(SendError::permanent(format!("the channel answered HTTP {status}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        let none = HeaderMap::new();
        assert_eq!(classify(204, &none), Ok(()));
        assert!(matches!(classify(503, &none), Err(SendError::Retryable { .. })));
        assert!(matches!(classify(408, &none), Err(SendError::Retryable { .. })));
        assert!(matches!(classify(404, &none), Err(SendError::Permanent { .. })));
        assert!(matches!(classify(301, &none), Err(SendError::Permanent { .. })));
        let mut later = HeaderMap::new();
        later.insert(reqwest::header::RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(
            classify(429, &later),
            Err(SendError::Retryable {
                reason: "the channel answered HTTP 429".into(),
                retry_after: Some(Duration::from_secs(7))
            })
        );
    }

    #[test]
    fn join_appends_escaped_segments() {
        let base = Url::parse("https://ntfy.example/").expect("url");
        assert_eq!(join(&base, &["my topic"]).expect("join").as_str(), "https://ntfy.example/my%20topic");
        let base = Url::parse("https://apprise.example/api").expect("url");
        assert_eq!(join(&base, &["notify", ""]).expect("join").as_str(), "https://apprise.example/api/notify/");
    }
}

//! A notification channel: where a user wants their alerts delivered.

use std::fmt;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::{ChannelId, Email, Timestamp, UserId};

/// Why a channel's settings are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidChannel {
    /// The offending field.
    pub field: &'static str,
    /// What is wrong, safe to show (never repeats a secret).
    pub reason: String,
}

impl InvalidChannel {
    fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self { field, reason: reason.into() }
    }
}

/// The kinds of channel, by wire name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// A JSON POST signed as the Standard Webhooks specification says.
    Webhook,
    /// An ntfy topic.
    Ntfy,
    /// A Gotify server.
    Gotify,
    /// A Discord incoming webhook.
    Discord,
    /// A Slack incoming webhook.
    Slack,
    /// A Telegram chat, through a bot.
    Telegram,
    /// An Apprise API server and its target URLs.
    Apprise,
    /// An email address.
    Email,
}

impl ChannelKind {
    /// The wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Ntfy => "ntfy",
            Self::Gotify => "gotify",
            Self::Discord => "discord",
            Self::Slack => "slack",
            Self::Telegram => "telegram",
            Self::Apprise => "apprise",
            Self::Email => "email",
        }
    }
}

/// A secret value (token, signing secret, URL with a key in it). `Debug` and `Display` never
/// show it; it is stored, used to deliver, and never returned after creation.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChannelSecret(String);

impl ChannelSecret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself: only for delivering and for the one answer at creation.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ChannelSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChannelSecret(***)")
    }
}

/// Where and how a channel delivers, with its secrets. Stored as JSON tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChannelTarget {
    /// Standard Webhooks: `url` receives a signed JSON POST.
    Webhook {
        /// Where to POST.
        url: Url,
        /// `whsec_<base64>`: the HMAC-SHA256 key, shown once at creation.
        secret: ChannelSecret,
    },
    /// ntfy: `server`/`topic`, with an optional access token.
    Ntfy {
        /// The ntfy server, e.g. `https://ntfy.sh`.
        server: Url,
        /// The topic.
        topic: String,
        /// Bearer token for a protected topic.
        token: Option<ChannelSecret>,
    },
    /// Gotify: `server` with an application token.
    Gotify {
        /// The Gotify server.
        server: Url,
        /// The application token.
        token: ChannelSecret,
    },
    /// A Discord incoming webhook URL (the URL holds the key).
    Discord {
        /// The webhook URL.
        webhook_url: ChannelSecret,
    },
    /// A Slack incoming webhook URL (the URL holds the key).
    Slack {
        /// The webhook URL.
        webhook_url: ChannelSecret,
    },
    /// Telegram: a bot token and the chat to post to.
    Telegram {
        /// The bot's token.
        bot_token: ChannelSecret,
        /// The chat id (a number, or `@channelname`).
        chat_id: String,
        /// The Bot API's base URL (`https://api.telegram.org` unless a local Bot API server).
        api_url: Url,
    },
    /// An Apprise API server and the Apprise URLs it should notify.
    Apprise {
        /// The Apprise API server, e.g. `http://apprise:8000`.
        server: Url,
        /// Apprise target URLs (they hold the services' keys).
        urls: ChannelSecret,
    },
    /// An email address.
    Email {
        /// The recipient.
        address: Email,
    },
}

/// The Telegram Bot API, unless a channel names another.
pub const TELEGRAM_API_URL: &str = "https://api.telegram.org";

impl ChannelTarget {
    /// The kind.
    pub fn kind(&self) -> ChannelKind {
        match self {
            Self::Webhook { .. } => ChannelKind::Webhook,
            Self::Ntfy { .. } => ChannelKind::Ntfy,
            Self::Gotify { .. } => ChannelKind::Gotify,
            Self::Discord { .. } => ChannelKind::Discord,
            Self::Slack { .. } => ChannelKind::Slack,
            Self::Telegram { .. } => ChannelKind::Telegram,
            Self::Apprise { .. } => ChannelKind::Apprise,
            Self::Email { .. } => ChannelKind::Email,
        }
    }

    /// Every URL a delivery connects to, for the address guard (at creation and at delivery).
    /// A URL that does not parse is refused.
    pub fn urls(&self) -> Result<Vec<Url>, InvalidChannel> {
        Ok(match self {
            Self::Webhook { url, .. } => vec![url.clone()],
            Self::Ntfy { server, .. } | Self::Gotify { server, .. } | Self::Apprise { server, .. } => {
                vec![server.clone()]
            }
            Self::Discord { webhook_url } | Self::Slack { webhook_url } => {
                vec![Url::parse(webhook_url.expose()).map_err(|_| InvalidChannel::new("webhook_url", "not a URL"))?]
            }
            Self::Telegram { api_url, .. } => vec![api_url.clone()],
            Self::Email { .. } => Vec::new(),
        })
    }

    /// Checks what can be checked without the network: http(s) URLs without credentials, no
    /// empty names. The address guard (what a URL resolves to) is the adapter's.
    pub fn validate(&self) -> Result<(), InvalidChannel> {
        for url in self.urls()? {
            if url.scheme() != "http" && url.scheme() != "https" {
                return Err(InvalidChannel::new("url", "must be an http or https URL"));
            }
            if url.host_str().is_none_or(str::is_empty) {
                return Err(InvalidChannel::new("url", "must name a host"));
            }
        }
        match self {
            Self::Ntfy { topic, .. } if topic.trim().is_empty() || topic.contains('/') => {
                Err(InvalidChannel::new("topic", "must be a non-empty topic name without '/'"))
            }
            Self::Gotify { token, .. } if token.expose().trim().is_empty() => {
                Err(InvalidChannel::new("token", "must not be empty"))
            }
            Self::Telegram { bot_token, chat_id, .. }
                if bot_token.expose().trim().is_empty() || chat_id.trim().is_empty() =>
            {
                Err(InvalidChannel::new("bot_token", "bot_token and chat_id must not be empty"))
            }
            Self::Apprise { urls, .. } if urls.expose().trim().is_empty() => {
                Err(InvalidChannel::new("urls", "must name at least one Apprise URL"))
            }
            Self::Webhook { secret, .. } if !secret.expose().starts_with("whsec_") => {
                Err(InvalidChannel::new("secret", "must be a whsec_ secret"))
            }
            _ => Ok(()),
        }
    }

    /// What may be shown about the target after creation: no secret, and for URLs that hold a
    /// key (Discord, Slack) only the host.
    pub fn public_view(&self) -> serde_json::Value {
        let host = |secret: &ChannelSecret| {
            Url::parse(secret.expose()).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default()
        };
        match self {
            Self::Webhook { url, .. } => serde_json::json!({ "url": url.as_str() }),
            Self::Ntfy { server, topic, token } => {
                serde_json::json!({ "server": server.as_str(), "topic": topic, "has_token": token.is_some() })
            }
            Self::Gotify { server, .. } => serde_json::json!({ "server": server.as_str() }),
            Self::Discord { webhook_url } | Self::Slack { webhook_url } => {
                serde_json::json!({ "webhook_host": host(webhook_url) })
            }
            Self::Telegram { chat_id, api_url, .. } => {
                serde_json::json!({ "chat_id": chat_id, "api_url": api_url.as_str() })
            }
            Self::Apprise { server, .. } => serde_json::json!({ "server": server.as_str() }),
            Self::Email { address } => serde_json::json!({ "address": address.as_str() }),
        }
    }
}

/// Whether a channel still gets deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelStatus {
    /// Deliveries are attempted.
    Active,
    /// The channel failed permanently or too often in a row: alerts to it are logged as failed
    /// until the user fixes it (an update or a successful test re-activates it).
    Failing,
}

impl ChannelStatus {
    /// The wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Failing => "failing",
        }
    }

    /// Parses a wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "active" => Some(Self::Active),
            "failing" => Some(Self::Failing),
            _ => None,
        }
    }
}

/// Addresses one channel: its owner and its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChannelKey {
    /// The owner.
    pub user_id: UserId,
    /// The channel.
    pub channel_id: ChannelId,
}

/// A user's notification channel, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    /// Identifier.
    pub id: ChannelId,
    /// Owner.
    pub user_id: UserId,
    /// A name the user chose ("phone", "family chat").
    pub name: String,
    /// Where and how to deliver, secrets included.
    pub target: ChannelTarget,
    /// Active or failing.
    pub status: ChannelStatus,
    /// Why the channel is failing, or the last delivery error.
    pub last_error: Option<String>,
    /// Deliveries that ended failed since the last success.
    pub consecutive_failures: u32,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

impl Channel {
    /// Failed deliveries in a row after which a channel is marked failing.
    pub const FAILING_AFTER: u32 = 10;

    /// A new, active channel.
    pub fn create(user_id: UserId, name: String, target: ChannelTarget, now: Timestamp) -> Self {
        Self {
            id: ChannelId::new(),
            user_id,
            name,
            target,
            status: ChannelStatus::Active,
            last_error: None,
            consecutive_failures: 0,
            created_at: now,
            updated_at: now,
        }
    }

    /// This channel's key.
    pub fn key(&self) -> ChannelKey {
        ChannelKey { user_id: self.user_id, channel_id: self.id }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug_or_the_public_view() {
        let target = ChannelTarget::Discord {
            webhook_url: ChannelSecret::new("https://discord.com/api/webhooks/1/very-secret-key"),
        };
        assert!(!format!("{target:?}").contains("very-secret-key"));
        let view = target.public_view().to_string();
        assert!(!view.contains("very-secret-key"), "{view}");
        assert!(view.contains("discord.com"), "{view}");
        let webhook = ChannelTarget::Webhook {
            url: Url::parse("https://hooks.example/in").expect("url"),
            secret: ChannelSecret::new("whsec_c2VjcmV0"),
        };
        assert!(!webhook.public_view().to_string().contains("whsec_"));
    }

    #[test]
    fn validation_refuses_bad_urls_and_empty_fields() {
        let ftp = ChannelTarget::Gotify {
            server: Url::parse("ftp://gotify.example").expect("url"),
            token: ChannelSecret::new("t"),
        };
        assert_eq!(ftp.validate().expect_err("ftp").field, "url");
        let topic =
            ChannelTarget::Ntfy { server: Url::parse("https://ntfy.sh").expect("url"), topic: " ".into(), token: None };
        assert_eq!(topic.validate().expect_err("empty topic").field, "topic");
        let json = serde_json::to_string(&topic).expect("json");
        assert!(json.contains("\"kind\":\"ntfy\""), "{json}");
    }
}

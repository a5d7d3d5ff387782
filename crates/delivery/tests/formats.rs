//! Each channel kind against a stand-in on 127.0.0.1 that checks the request shape its service
//! documents, and email against a real SMTP server (aiosmtpd).

#![allow(clippy::unwrap_used)]

mod support;

use std::str::FromStr;
use std::time::Duration;

use pricetrack_delivery::{ChannelSender, Outgoing, SendError, SmtpEmailSender};
use pricetrack_domain::{
    Alert, AlertDetails, AlertId, AlertRuleKind, ChannelSecret, ChannelTarget, Currency, Email, JobId, Money,
    ProductUrl, TargetPrice, UserId,
};
use rust_decimal::Decimal;
use support::{Receiver, SmtpServer};
use url::Url;

fn money(raw: &str) -> Money {
    Money::new(Decimal::from_str(raw).unwrap(), Some(Currency::EUR))
}

fn alert() -> Alert {
    Alert {
        id: AlertId::new(),
        job_id: JobId::new(),
        user_id: UserId::new(),
        url: ProductUrl::parse("https://shop.example/p/kettle").unwrap(),
        price: money("24.99"),
        target_price: TargetPrice::parse("25").unwrap(),
        checked_at: chrono::Utc::now(),
        details: AlertDetails {
            rule: AlertRuleKind::NewLow,
            previous_price: Some(money("29.99")),
            lowest_price: Some(money("24.99")),
            channels: None,
        },
    }
}

fn sender() -> ChannelSender {
    ChannelSender::new(true, None).unwrap()
}

async fn send(target: &ChannelTarget, alert: &Alert) -> Result<(), SendError> {
    sender().send(target, Outgoing { alert, idempotency_key: "key-1", channel: "channel-1" }).await
}

fn url(raw: &str) -> Url {
    Url::parse(raw).unwrap()
}

/// The message names the rule, the price, the previous price, the lowest seen and the link.
fn assert_message(text: &str) {
    for part in [
        "a new lowest price",
        "24.99 EUR",
        "Previous price: 29.99 EUR",
        "Lowest seen: 24.99 EUR",
        "https://shop.example/p/kettle",
    ] {
        assert!(text.contains(part), "{part:?} missing from {text:?}");
    }
}

#[tokio::test]
async fn webhook_is_signed_as_standard_webhooks_say() {
    let receiver = Receiver::start().await;
    let secret = pricetrack_delivery::signature::new_secret();
    let target = ChannelTarget::Webhook { url: url(&receiver.url("/in")), secret: ChannelSecret::new(secret.clone()) };
    let alert = alert();
    send(&target, &alert).await.unwrap();
    let request = receiver.requests().pop().unwrap();
    assert_eq!(request.method, "POST");
    assert_eq!(request.header("content-type").as_deref(), Some("application/json"));
    let id = request.header("webhook-id").unwrap();
    assert_eq!(id, "key-1");
    assert_eq!(request.header("idempotency-key").as_deref(), Some("key-1"));
    let timestamp: i64 = request.header("webhook-timestamp").unwrap().parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 60);
    pricetrack_delivery::signature::verify(
        &secret,
        &id,
        timestamp,
        &request.body,
        &request.header("webhook-signature").unwrap(),
    )
    .expect("signature verifies");
    let body = request.json();
    assert_eq!(body["type"], "price.alert");
    assert_eq!(body["data"]["alert_id"], alert.id.to_string());
    assert_eq!(body["data"]["rule"], "new_low");
    assert_eq!(body["data"]["price"], "24.99");
    assert_eq!(body["data"]["previous_price"], "29.99");
    assert_eq!(body["data"]["lowest_price"], "24.99");
    assert_message(body["data"]["message"].as_str().unwrap());
}

#[tokio::test]
async fn ntfy_posts_the_text_to_the_topic_with_title_click_and_token() {
    let receiver = Receiver::start().await;
    let target = ChannelTarget::Ntfy {
        server: url(&receiver.url("/")),
        topic: "deals".into(),
        token: Some(ChannelSecret::new("tk_abc")),
    };
    send(&target, &alert()).await.unwrap();
    let request = receiver.requests().pop().unwrap();
    // ntfy: POST https://ntfy.sh/<topic> with the message as the body; Title, Click, Tags headers;
    // Authorization: Bearer <token>.
    assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/deals"));
    assert_eq!(request.header("title").as_deref(), Some("Price alert: a new lowest price"));
    assert_eq!(request.header("click").as_deref(), Some("https://shop.example/p/kettle"));
    assert_eq!(request.header("authorization").as_deref(), Some("Bearer tk_abc"));
    assert_message(&request.text());
}

#[tokio::test]
async fn gotify_posts_a_message_with_the_application_token() {
    let receiver = Receiver::start().await;
    let target = ChannelTarget::Gotify { server: url(&receiver.url("/gotify/")), token: ChannelSecret::new("AppTok") };
    send(&target, &alert()).await.unwrap();
    let request = receiver.requests().pop().unwrap();
    // Gotify: POST /message with X-Gotify-Key and {title, message, priority}.
    assert_eq!(request.path, "/gotify/message");
    assert_eq!(request.header("x-gotify-key").as_deref(), Some("AppTok"));
    let body = request.json();
    assert_eq!(body["title"], "Price alert: a new lowest price");
    assert!(body["priority"].is_number());
    assert_message(body["message"].as_str().unwrap());
}

#[tokio::test]
async fn discord_and_slack_post_their_incoming_webhook_json() {
    let receiver = Receiver::start().await;
    let discord = ChannelTarget::Discord { webhook_url: ChannelSecret::new(receiver.url("/api/webhooks/1/tok")) };
    send(&discord, &alert()).await.unwrap();
    let request = receiver.requests().pop().unwrap();
    // Discord: POST the webhook URL with {content} (at most 2000 characters).
    assert_eq!(request.path, "/api/webhooks/1/tok");
    let body = request.json();
    let content = body["content"].as_str().unwrap();
    assert!(content.chars().count() <= 2000);
    assert_message(content);

    let slack = ChannelTarget::Slack { webhook_url: ChannelSecret::new(receiver.url("/services/T/B/X")) };
    send(&slack, &alert()).await.unwrap();
    let request = receiver.requests().pop().unwrap();
    // Slack: POST the webhook URL with {text}.
    assert_eq!(request.path, "/services/T/B/X");
    assert_message(request.json()["text"].as_str().unwrap());
}

#[tokio::test]
async fn telegram_calls_send_message_for_the_chat() {
    let receiver = Receiver::start().await;
    let target = ChannelTarget::Telegram {
        bot_token: ChannelSecret::new("123:ABC"),
        chat_id: "-10042".into(),
        api_url: url(&receiver.url("/")),
    };
    send(&target, &alert()).await.unwrap();
    let request = receiver.requests().pop().unwrap();
    // Bot API: POST /bot<token>/sendMessage with {chat_id, text}.
    assert_eq!(request.path, "/bot123:ABC/sendMessage");
    let body = request.json();
    assert_eq!(body["chat_id"], "-10042");
    assert_message(body["text"].as_str().unwrap());
}

#[tokio::test]
async fn apprise_posts_urls_title_and_body_to_notify() {
    let receiver = Receiver::start().await;
    let target = ChannelTarget::Apprise {
        server: url(&receiver.url("/")),
        urls: ChannelSecret::new("mailto://user:pass@example.com tgram://bot/chat"),
    };
    send(&target, &alert()).await.unwrap();
    let request = receiver.requests().pop().unwrap();
    // Apprise API (stateless): POST /notify/ with {urls, title, body}.
    assert_eq!(request.path, "/notify/");
    let body = request.json();
    assert_eq!(body["urls"], "mailto://user:pass@example.com tgram://bot/chat");
    assert_eq!(body["title"], "Price alert: a new lowest price");
    assert_message(body["body"].as_str().unwrap());
}

#[tokio::test]
async fn answers_are_classified_for_retries() {
    let receiver = Receiver::start().await;
    let target = ChannelTarget::Slack { webhook_url: ChannelSecret::new(receiver.url("/hook")) };
    receiver.script(&[404], 200);
    assert!(matches!(send(&target, &alert()).await, Err(SendError::Permanent { .. })));
    receiver.script(&[503], 200);
    assert!(matches!(send(&target, &alert()).await, Err(SendError::Retryable { .. })));
    receiver.script(&[429], 200);
    assert!(matches!(send(&target, &alert()).await, Err(SendError::Retryable { .. })));
    send(&target, &alert()).await.unwrap();
    // Nothing listens here: a connection failure is retryable.
    let closed = ChannelTarget::Slack { webhook_url: ChannelSecret::new("http://127.0.0.1:9/hook") };
    assert!(matches!(send(&closed, &alert()).await, Err(SendError::Retryable { .. })));
}

#[tokio::test]
async fn the_address_guard_refuses_internal_channels_for_good() {
    let guarded = ChannelSender::new(false, None).unwrap();
    let alert = alert();
    for raw in ["http://127.0.0.1:9/hook", "http://169.254.169.254/", "http://[::1]/x", "http://localhost:9/x"] {
        let target = ChannelTarget::Slack { webhook_url: ChannelSecret::new(raw) };
        let result = guarded.send(&target, Outgoing { alert: &alert, idempotency_key: "k", channel: "c" }).await;
        assert!(
            matches!(result, Err(SendError::Permanent { ref reason }) if reason.contains("refused")),
            "{raw}: {result:?}"
        );
    }
}

#[tokio::test]
async fn email_reaches_a_real_smtp_server() {
    let smtp = SmtpServer::start().await;
    let email = SmtpEmailSender::new(&format!("smtp://127.0.0.1:{}", smtp.port), "pricetrack <alerts@pricetrack.test>")
        .unwrap();
    let sender = ChannelSender::new(true, Some(std::sync::Arc::new(email))).unwrap();
    let target = ChannelTarget::Email { address: Email::parse("ada@example.com").unwrap() };
    let alert = alert();
    sender
        .send(&target, Outgoing { alert: &alert, idempotency_key: "alert-1.channel-1", channel: "channel-1" })
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let messages = loop {
        let messages = smtp.messages();
        if !messages.is_empty() || tokio::time::Instant::now() > deadline {
            break messages;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(messages.len(), 1, "one email received");
    let message = &messages[0];
    assert!(message.contains("To: ada@example.com"), "{message}");
    assert!(message.contains("Subject: Price alert: a new lowest price"), "{message}");
    assert!(message.contains("Message-ID: <alert-1.channel-1@pricetrack.test>"), "{message}");
    assert_message(&message.replace("=\r\n", "").replace("=\n", ""));
}

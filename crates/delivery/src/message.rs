//! What an alert says, the same on every channel: the rule, the price, the previous price, the
//! lowest seen, and the link.

use pricetrack_domain::{Alert, Money};
use serde::Serialize;

/// An alert as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertText {
    /// One line, e.g. `Price alert: below your target`.
    pub title: String,
    /// A few lines naming the rule, the prices and the link.
    pub body: String,
}

/// `24.99 EUR`, or `24.99` when the currency is unknown.
pub fn money_text(money: &Money) -> String {
    match money.currency {
        Some(currency) => format!("{} {currency}", money.amount),
        None => money.amount.to_string(),
    }
}

impl AlertText {
    /// The text of `alert`.
    pub fn of(alert: &Alert) -> Self {
        let rule = alert.rule_text();
        let mut body = format!("{rule}: now {}", money_text(&alert.price));
        body.push_str(&format!(" (target {})", alert.target_price));
        if let Some(previous) = &alert.details.previous_price {
            body.push_str(&format!("\nPrevious price: {}", money_text(previous)));
        }
        if let Some(lowest) = &alert.details.lowest_price {
            body.push_str(&format!("\nLowest seen: {}", money_text(lowest)));
        }
        body.push('\n');
        body.push_str(alert.url.as_str());
        Self { title: format!("Price alert: {rule}"), body }
    }
}

/// The JSON an alert is delivered as to webhooks (`data` of a Standard Webhooks message).
#[derive(Debug, Clone, Serialize)]
pub struct AlertPayload<'a> {
    /// The alert's id.
    pub alert_id: String,
    /// The job.
    pub job_id: String,
    /// The rule that fired (`below_target`, `drop_percent`, `back_in_stock`, `new_low`).
    pub rule: &'static str,
    /// The product page.
    pub url: &'a str,
    /// Decimal text.
    pub price: String,
    /// ISO 4217 code or null.
    pub currency: Option<&'a str>,
    /// Decimal text, or null.
    pub previous_price: Option<String>,
    /// Decimal text, or null.
    pub lowest_price: Option<String>,
    /// Decimal text.
    pub target_price: String,
    /// When the check ran.
    pub checked_at: pricetrack_domain::Timestamp,
    /// The alert as text.
    pub message: String,
}

impl<'a> AlertPayload<'a> {
    /// The payload of `alert`.
    pub fn of(alert: &'a Alert) -> Self {
        Self {
            alert_id: alert.id.to_string(),
            job_id: alert.job_id.to_string(),
            rule: alert.details.rule.as_str(),
            url: alert.url.as_str(),
            price: alert.price.amount.to_string(),
            currency: alert.price.currency.as_ref().map(|c| c.as_str()),
            previous_price: alert.details.previous_price.as_ref().map(|m| m.amount.to_string()),
            lowest_price: alert.details.lowest_price.as_ref().map(|m| m.amount.to_string()),
            target_price: alert.target_price.amount().to_string(),
            checked_at: alert.checked_at,
            message: AlertText::of(alert).body,
        }
    }
}

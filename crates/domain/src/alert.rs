//! An alert: a job's rule fired on a check.

use serde::{Deserialize, Serialize};

use crate::{AlertId, ChannelId, JobId, Money, ProductUrl, TargetPrice, Timestamp, UserId};

/// One firing of a job's rule (one crossing). Delivered at least once; receivers de-duplicate
/// on [`Alert::id`] (with the channel), which stays the same across re-publications.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// Unique per crossing.
    pub id: AlertId,
    /// The job whose rule fired.
    pub job_id: JobId,
    /// Its owner.
    pub user_id: UserId,
    /// The product page.
    pub url: ProductUrl,
    /// The price found.
    pub price: Money,
    /// The job's target.
    pub target_price: TargetPrice,
    /// When the check ran.
    pub checked_at: Timestamp,
    /// Which rule fired, the prices around it, and where to deliver (absent in alerts decided
    /// before rules existed: a `below_target` alert to every channel).
    #[serde(default, flatten)]
    pub details: AlertDetails,
}

/// What an alert says beyond the price, and where it goes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertDetails {
    /// The rule that fired.
    #[serde(default)]
    pub rule: AlertRuleKind,
    /// The price of the check before this one, if any.
    #[serde(default)]
    pub previous_price: Option<Money>,
    /// The lowest price seen since tracking began (this one included).
    #[serde(default)]
    pub lowest_price: Option<Money>,
    /// The job's channels when it names some; `None`: every channel of the owner.
    #[serde(default)]
    pub channels: Option<Vec<ChannelId>>,
}

/// The kinds of alert rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertRuleKind {
    /// The price is at or below the job's target.
    #[default]
    BelowTarget,
    /// The price dropped by at least a percentage from a baseline.
    DropPercent,
    /// The product was out of stock and is back in stock with a price.
    BackInStock,
    /// The lowest price since tracking began.
    NewLow,
}

impl AlertRuleKind {
    /// The wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::BelowTarget => "below_target",
            Self::DropPercent => "drop_percent",
            Self::BackInStock => "back_in_stock",
            Self::NewLow => "new_low",
        }
    }

    /// What the rule means, in words.
    pub fn describe(&self) -> &'static str {
        match self {
            Self::BelowTarget => "at or below your target",
            Self::DropPercent => "the price dropped",
            Self::BackInStock => "back in stock",
            Self::NewLow => "a new lowest price",
        }
    }
}

impl Alert {
    /// The rule that fired, in words.
    pub fn rule_text(&self) -> &'static str {
        self.details.rule.describe()
    }
}

//! Alert rules on a job: which conditions alert, once per crossing, with a cooldown and a snooze.
//!
//! Every rule is a condition on a successful, priced check. It fires on the check that finds the
//! condition holding while the rule is armed, then stays quiet (fired) until a check finds the
//! condition no longer holding, which re-arms it:
//! - `below_target`: the price is at or below the job's target (the first check counts);
//! - `drop_percent {percent, baseline}`: the price is at least `percent` % below the baseline:
//!   `first_seen` (the first price the job saw) or `previous` (the price of the last successful
//!   priced check before this one);
//! - `back_in_stock`: an earlier check saw the product out of stock, and this one sees it in stock
//!   (or on pre-order) with a price;
//! - `new_low`: the price is below the lowest price seen before (never on the first price).
//!
//! A check that fires several rules makes one alert, naming the first in the order above. While
//! the job is snoozed (`snooze_until` in the future) or within `cooldown_hours` of its last alert,
//! rules do not fire and stay armed, so a condition that still holds alerts after the pause.
//! Failed and unpriced checks never fire a rule (an out-of-stock check only arms
//! `back_in_stock`).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::{AlertRuleKind, Availability, ChannelId, Money, TargetPrice, Timestamp};

/// What a `drop_percent` rule compares against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Baseline {
    /// The first price the job saw.
    FirstSeen,
    /// The price of the previous successful priced check.
    Previous,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AlertRule {
    /// At or below the job's target.
    BelowTarget,
    /// At least `percent` % below the baseline.
    DropPercent {
        /// Between 0 (exclusive) and 100 (exclusive).
        percent: Decimal,
        /// What the drop is measured from.
        baseline: Baseline,
    },
    /// Back in stock with a price after being out of stock.
    BackInStock,
    /// Below the lowest price seen before.
    NewLow,
}

impl AlertRule {
    /// The kind of this rule.
    pub fn kind(&self) -> AlertRuleKind {
        match self {
            Self::BelowTarget => AlertRuleKind::BelowTarget,
            Self::DropPercent { .. } => AlertRuleKind::DropPercent,
            Self::BackInStock => AlertRuleKind::BackInStock,
            Self::NewLow => AlertRuleKind::NewLow,
        }
    }
}

/// Why a list of rules is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidRules {
    /// No rule at all: the job could never alert.
    #[error("rules must name at least one rule")]
    Empty,
    /// The same kind twice.
    #[error("rules must not name a kind twice")]
    Duplicate,
    /// A percentage outside (0, 100).
    #[error("percent must be greater than 0 and less than 100")]
    Percent,
    /// A cooldown over 30 days.
    #[error("cooldown_hours must be at most 720")]
    Cooldown,
}

/// A job's alerting: its rules, cooldown, snooze and channels, and what the rules remember.
/// Stored with the job as one value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alerting {
    /// The rules (`[below_target]` unless the user chose).
    #[serde(default = "default_rules")]
    pub rules: Vec<AlertRule>,
    /// No second alert within this many hours of the last one.
    #[serde(default)]
    pub cooldown_hours: Option<u32>,
    /// No alert before this time.
    #[serde(default)]
    pub snooze_until: Option<Timestamp>,
    /// The channels this job alerts; `None`: every channel of its owner.
    #[serde(default)]
    pub channels: Option<Vec<ChannelId>>,
    /// Rules other than `below_target` that fired and are not re-armed yet (`below_target` keeps
    /// its state in the job's `alert_state`).
    #[serde(default)]
    pub fired: Vec<AlertRuleKind>,
    /// The first price seen.
    #[serde(default)]
    pub first_price: Option<Money>,
    /// The lowest price seen.
    #[serde(default)]
    pub lowest_price: Option<Money>,
    /// When the job last alerted.
    #[serde(default)]
    pub last_alert_at: Option<Timestamp>,
    /// A check saw the product out of stock since the last in-stock price (arms `back_in_stock`).
    #[serde(default)]
    pub seen_out_of_stock: bool,
}

fn default_rules() -> Vec<AlertRule> {
    vec![AlertRule::BelowTarget]
}

impl Default for Alerting {
    fn default() -> Self {
        Self {
            rules: default_rules(),
            cooldown_hours: None,
            snooze_until: None,
            channels: None,
            fired: Vec::new(),
            first_price: None,
            lowest_price: None,
            last_alert_at: None,
            seen_out_of_stock: false,
        }
    }
}

/// An owner's change to a job's alerting settings (a JSON merge patch, already validated):
/// `None` leaves a field as it is; for the optional fields `Some(None)` clears it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlertingEdit {
    /// The new rules, replacing the old list whole.
    pub rules: Option<Vec<AlertRule>>,
    /// A new cooldown, or `Some(None)` to clear it.
    pub cooldown_hours: Option<Option<u32>>,
    /// A new snooze, or `Some(None)` to clear it.
    pub snooze_until: Option<Option<Timestamp>>,
    /// New channels, or `Some(None)` for every channel of the owner.
    pub channels: Option<Option<Vec<ChannelId>>>,
}

impl AlertingEdit {
    /// Whether the edit changes nothing.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// Longest cooldown: 30 days.
pub const MAX_COOLDOWN_HOURS: u32 = 720;

/// What one priced check tells the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PricedCheck {
    /// The price found.
    pub price: Money,
    /// The availability found.
    pub availability: Option<Availability>,
    /// The price of the previous successful priced check.
    pub previous_price: Option<Money>,
    /// The job's target.
    pub target: TargetPrice,
    /// Whether `below_target` is armed (the job's `alert_state`).
    pub below_target_armed: bool,
    /// When the check ran.
    pub now: Timestamp,
}

/// What the rules decided on one priced check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleDecision {
    /// The rule whose alert to send, if any.
    pub fired: Option<AlertRuleKind>,
    /// Whether `below_target` is armed after this check.
    pub below_target_armed: bool,
    /// The alerting state after this check.
    pub alerting: Alerting,
}

/// `a` and `b` can be compared: same currency, or one unknown.
fn comparable(a: &Money, b: &Money) -> bool {
    match (a.currency, b.currency) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    }
}

impl Alerting {
    /// Checks the settings a user gave.
    pub fn validate(&self) -> Result<(), InvalidRules> {
        if self.rules.is_empty() {
            return Err(InvalidRules::Empty);
        }
        for (i, rule) in self.rules.iter().enumerate() {
            if self.rules[..i].iter().any(|other| other.kind() == rule.kind()) {
                return Err(InvalidRules::Duplicate);
            }
            if let AlertRule::DropPercent { percent, .. } = rule
                && (*percent <= Decimal::ZERO || *percent >= Decimal::ONE_HUNDRED)
            {
                return Err(InvalidRules::Percent);
            }
        }
        if self.cooldown_hours.is_some_and(|h| h > MAX_COOLDOWN_HOURS) {
            return Err(InvalidRules::Cooldown);
        }
        Ok(())
    }

    /// Applies an owner's edit and returns the kinds of rule it changed (added, removed, or given
    /// other parameters). Each changed rule is re-armed: a new or redefined condition is a new
    /// crossing, so it alerts on the next check that finds it holding, as a new job would. Rules
    /// left as they were keep their state, so an edit never repeats an alert already sent.
    /// `below_target` keeps its state on the job: the caller re-arms it when it is named.
    pub fn apply_edit(&mut self, edit: &AlertingEdit) -> Vec<AlertRuleKind> {
        let mut changed = Vec::new();
        if let Some(rules) = &edit.rules {
            for rule in self.rules.iter().chain(rules) {
                let before = self.rules.iter().find(|r| r.kind() == rule.kind());
                let after = rules.iter().find(|r| r.kind() == rule.kind());
                if before != after && !changed.contains(&rule.kind()) {
                    changed.push(rule.kind());
                }
            }
            self.rules.clone_from(rules);
            self.fired.retain(|kind| !changed.contains(kind));
        }
        if let Some(cooldown) = edit.cooldown_hours {
            self.cooldown_hours = cooldown;
        }
        if let Some(snooze) = edit.snooze_until {
            self.snooze_until = snooze;
        }
        if let Some(channels) = &edit.channels {
            self.channels.clone_from(channels);
        }
        changed
    }

    fn has(&self, kind: AlertRuleKind) -> bool {
        self.rules.iter().any(|rule| rule.kind() == kind)
    }

    /// Whether alerts are held back at `now` (snoozed, or within the cooldown).
    pub fn paused(&self, now: Timestamp) -> bool {
        if self.snooze_until.is_some_and(|until| now < until) {
            return true;
        }
        match (self.cooldown_hours, self.last_alert_at) {
            (Some(hours), Some(last)) => now < last + chrono::Duration::hours(i64::from(hours)),
            _ => false,
        }
    }

    /// An unpriced check (no price shown): out of stock arms `back_in_stock`; nothing fires.
    pub fn record_unpriced(&mut self, availability: Availability) {
        if availability == Availability::OutOfStock {
            self.seen_out_of_stock = true;
        }
    }

    /// Applies one priced check: which conditions hold, which rule fires, what re-arms.
    pub fn decide(&self, check: &PricedCheck) -> RuleDecision {
        let mut next = self.clone();
        let price = check.price;
        let in_stock = check.availability != Some(Availability::OutOfStock);

        // Which conditions hold, in the order that names the alert.
        let below = price.amount <= check.target.amount();
        let dropped = self.rules.iter().any(|rule| match rule {
            AlertRule::DropPercent { percent, baseline } => {
                let base = match baseline {
                    Baseline::FirstSeen => self.first_price,
                    Baseline::Previous => check.previous_price,
                };
                base.filter(|b| comparable(b, &price)).is_some_and(|base| {
                    let threshold = base.amount * (Decimal::ONE_HUNDRED - *percent) / Decimal::ONE_HUNDRED;
                    price.amount <= threshold
                })
            }
            _ => false,
        });
        let back = self.seen_out_of_stock && in_stock;
        let new_low =
            self.lowest_price.filter(|low| comparable(low, &price)).is_some_and(|low| price.amount < low.amount);
        let holding = [
            (AlertRuleKind::BelowTarget, below),
            (AlertRuleKind::BackInStock, back),
            (AlertRuleKind::DropPercent, dropped),
            (AlertRuleKind::NewLow, new_low),
        ];

        let paused = self.paused(check.now);
        let mut below_target_armed = check.below_target_armed;
        let mut fired = None;
        for (kind, holds) in holding {
            let armed = match kind {
                AlertRuleKind::BelowTarget => below_target_armed,
                other => !next.fired.contains(&other),
            };
            if !holds {
                // Re-arm.
                match kind {
                    AlertRuleKind::BelowTarget => below_target_armed = true,
                    other => next.fired.retain(|k| *k != other),
                }
                continue;
            }
            if !armed || !self.has(kind) || paused {
                continue;
            }
            match kind {
                AlertRuleKind::BelowTarget => below_target_armed = false,
                other => next.fired.push(other),
            }
            fired.get_or_insert(kind);
        }

        // What the rules remember.
        if next.first_price.is_none() {
            next.first_price = Some(price);
        }
        if next.lowest_price.is_none_or(|low| !comparable(&low, &price) || price.amount < low.amount) {
            next.lowest_price = Some(price);
        }
        // In stock re-arms nothing and disarms back_in_stock; out of stock (with a price) arms it.
        next.seen_out_of_stock = !in_stock;
        if fired.is_some() {
            next.last_alert_at = Some(check.now);
        }
        RuleDecision { fired, below_target_armed, alerting: next }
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;
    use crate::Currency;

    fn eur(raw: &str) -> Money {
        Money::new(Decimal::from_str(raw).expect("decimal"), Some(Currency::EUR))
    }

    /// Runs a sequence of checks (price, availability) through `alerting`; returns which rule
    /// fired on each.
    fn run(
        mut alerting: Alerting,
        target: &str,
        checks: &[(Option<&str>, Availability)],
    ) -> Vec<Option<AlertRuleKind>> {
        let target = TargetPrice::parse(target).expect("target");
        let mut armed = true;
        let mut previous = None;
        let mut now = chrono::Utc::now();
        let mut out = Vec::new();
        for (price, availability) in checks {
            now += chrono::Duration::hours(1);
            match price {
                None => {
                    alerting.record_unpriced(*availability);
                    out.push(None);
                }
                Some(raw) => {
                    let price = eur(raw);
                    let decision = alerting.decide(&PricedCheck {
                        price,
                        availability: Some(*availability),
                        previous_price: previous,
                        target,
                        below_target_armed: armed,
                        now,
                    });
                    armed = decision.below_target_armed;
                    alerting = decision.alerting;
                    previous = Some(price);
                    out.push(decision.fired);
                }
            }
        }
        out
    }

    fn only(rule: AlertRule) -> Alerting {
        Alerting { rules: vec![rule], ..Alerting::default() }
    }

    use AlertRuleKind as K;
    use Availability::{InStock, OutOfStock};

    #[test]
    fn an_edit_re_arms_the_rules_it_changes_and_keeps_the_others() {
        let ten = AlertRule::DropPercent { percent: Decimal::from(10), baseline: Baseline::FirstSeen };
        let twenty = AlertRule::DropPercent { percent: Decimal::from(20), baseline: Baseline::FirstSeen };
        let mut alerting = Alerting {
            rules: vec![AlertRule::BelowTarget, ten.clone(), AlertRule::NewLow],
            fired: vec![K::DropPercent, K::NewLow],
            ..Alerting::default()
        };
        let channel = ChannelId::new();
        let snooze = chrono::Utc::now();
        let changed = alerting.apply_edit(&AlertingEdit {
            rules: Some(vec![twenty.clone(), AlertRule::NewLow, AlertRule::BackInStock]),
            cooldown_hours: Some(Some(6)),
            snooze_until: Some(Some(snooze)),
            channels: Some(Some(vec![channel])),
        });
        assert_eq!(changed, vec![K::BelowTarget, K::DropPercent, K::BackInStock], "removed, redefined, added");
        assert_eq!(alerting.rules, vec![twenty, AlertRule::NewLow, AlertRule::BackInStock]);
        assert_eq!(alerting.fired, vec![K::NewLow], "the redefined rule is re-armed, the unchanged one is not");
        assert_eq!((alerting.cooldown_hours, alerting.snooze_until), (Some(6), Some(snooze)));
        assert_eq!(alerting.channels, Some(vec![channel]));

        // Clearing, and an empty edit, which changes nothing.
        let changed = alerting.apply_edit(&AlertingEdit {
            cooldown_hours: Some(None),
            snooze_until: Some(None),
            channels: Some(None),
            ..AlertingEdit::default()
        });
        assert!(changed.is_empty());
        assert_eq!((alerting.cooldown_hours, alerting.snooze_until, alerting.channels.clone()), (None, None, None));
        let before = alerting.clone();
        assert!(AlertingEdit::default().is_empty());
        assert!(alerting.apply_edit(&AlertingEdit::default()).is_empty());
        assert_eq!(alerting, before);

        // The same rules sent again: nothing re-armed, no second alert for the same crossing.
        let same = alerting.rules.clone();
        assert!(alerting.apply_edit(&AlertingEdit { rules: Some(same), ..AlertingEdit::default() }).is_empty());
        assert_eq!(alerting.fired, vec![K::NewLow]);
    }

    #[test]
    fn below_target_fires_once_per_crossing_and_rearms() {
        let fired = run(
            only(AlertRule::BelowTarget),
            "50",
            &[(Some("40"), InStock), (Some("45"), InStock), (Some("60"), InStock), (Some("49"), InStock)],
        );
        // The first check counts; staying below is quiet; above re-arms; the next crossing fires.
        assert_eq!(fired, vec![Some(K::BelowTarget), None, None, Some(K::BelowTarget)]);
    }

    #[test]
    fn drop_percent_from_first_seen() {
        let rule = AlertRule::DropPercent { percent: Decimal::from(10), baseline: Baseline::FirstSeen };
        let fired = run(
            only(rule),
            "1",
            &[
                (Some("100"), InStock), // first seen: no drop yet
                (Some("95"), InStock),  // 5 %: quiet
                (Some("90"), InStock),  // 10 %: fires
                (Some("85"), InStock),  // still down: quiet
                (Some("99"), InStock),  // back up: re-arms
                (Some("89"), InStock),  // down again: fires
            ],
        );
        assert_eq!(fired, vec![None, None, Some(K::DropPercent), None, None, Some(K::DropPercent)]);
    }

    #[test]
    fn drop_percent_from_the_previous_price() {
        let rule = AlertRule::DropPercent { percent: Decimal::from(20), baseline: Baseline::Previous };
        let fired = run(
            only(rule),
            "1",
            &[
                (Some("100"), InStock),
                (Some("85"), InStock), // 15 % below the previous: quiet
                (Some("60"), InStock), // 29 % below 85: fires
                (Some("60"), InStock), // no drop from 60: re-arms
                (Some("45"), InStock), // 25 % below 60: fires again
            ],
        );
        assert_eq!(fired, vec![None, None, Some(K::DropPercent), None, Some(K::DropPercent)]);
    }

    #[test]
    fn back_in_stock_needs_an_out_of_stock_check_first() {
        let fired = run(
            only(AlertRule::BackInStock),
            "1",
            &[
                (Some("30"), InStock), // never out of stock: quiet
                (None, OutOfStock),    // arms
                (None, OutOfStock),
                (Some("31"), InStock),    // back: fires
                (Some("31"), InStock),    // stays in stock: quiet
                (Some("31"), OutOfStock), // out again (with a price): arms
                (Some("29"), InStock),    // back: fires
            ],
        );
        assert_eq!(fired, vec![None, None, None, Some(K::BackInStock), None, None, Some(K::BackInStock)]);
    }

    #[test]
    fn new_low_never_on_the_first_price_and_rearms_above_the_low() {
        let fired = run(
            only(AlertRule::NewLow),
            "1",
            &[
                (Some("50"), InStock), // first: no low before it
                (Some("55"), InStock),
                (Some("45"), InStock), // new low: fires
                (Some("40"), InStock), // lower still, but not re-armed: quiet
                (Some("42"), InStock), // above the low: re-arms
                (Some("39"), InStock), // new low: fires
            ],
        );
        assert_eq!(fired, vec![None, None, Some(K::NewLow), None, None, Some(K::NewLow)]);
    }

    #[test]
    fn several_rules_make_one_alert_named_by_the_first() {
        let alerting = Alerting { rules: vec![AlertRule::NewLow, AlertRule::BelowTarget], ..Alerting::default() };
        let fired = run(alerting, "50", &[(Some("60"), InStock), (Some("40"), InStock), (Some("41"), InStock)]);
        assert_eq!(fired, vec![None, Some(K::BelowTarget), None], "both held at once: one alert, then quiet");
    }

    #[test]
    fn cooldown_holds_a_second_alert_back_and_the_rule_stays_armed() {
        let alerting = Alerting {
            rules: vec![AlertRule::BelowTarget, AlertRule::NewLow],
            cooldown_hours: Some(3),
            ..Alerting::default()
        };
        // Hourly checks: alert at 40; new low 30 an hour later is within the cooldown; three
        // hours after the first alert the new low (still holding, still armed) fires.
        let fired = run(
            alerting,
            "50",
            &[(Some("40"), InStock), (Some("30"), InStock), (Some("30"), InStock), (Some("29"), InStock)],
        );
        assert_eq!(fired, vec![Some(K::BelowTarget), None, None, Some(K::NewLow)]);
    }

    #[test]
    fn snooze_holds_alerts_until_it_ends() {
        let now = chrono::Utc::now();
        let alerting = Alerting { snooze_until: Some(now + chrono::Duration::minutes(150)), ..Alerting::default() };
        // Checks at +1h, +2h (snoozed), +3h (snooze over: the crossing still holds and fires).
        let fired = run(alerting, "50", &[(Some("40"), InStock), (Some("40"), InStock), (Some("40"), InStock)]);
        assert_eq!(fired, vec![None, None, Some(K::BelowTarget)]);
    }

    #[test]
    fn validation() {
        assert_eq!(Alerting { rules: vec![], ..Alerting::default() }.validate(), Err(InvalidRules::Empty));
        let twice = Alerting { rules: vec![AlertRule::NewLow, AlertRule::NewLow], ..Alerting::default() };
        assert_eq!(twice.validate(), Err(InvalidRules::Duplicate));
        let zero = only(AlertRule::DropPercent { percent: Decimal::ZERO, baseline: Baseline::Previous });
        assert_eq!(zero.validate(), Err(InvalidRules::Percent));
        let long = Alerting { cooldown_hours: Some(721), ..Alerting::default() };
        assert_eq!(long.validate(), Err(InvalidRules::Cooldown));
        assert_eq!(Alerting::default().validate(), Ok(()));
        let json =
            serde_json::to_value(AlertRule::DropPercent { percent: Decimal::from(15), baseline: Baseline::FirstSeen })
                .expect("json");
        assert_eq!(json, serde_json::json!({"kind": "drop_percent", "percent": "15", "baseline": "first_seen"}));
    }
}

//! A tracking job and the rules that move it from one state to the next.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::rules::{Alerting, PricedCheck};
use crate::{
    Alert, AlertDetails, AlertId, Availability, CheckFailure, CheckOutcome, Currency, JobId, Money, Observation,
    ProductUrl, TargetPrice, Timestamp, UserId,
};

/// Where a job is in its life, as its owner sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Created, no price seen yet (a job whose product is out of stock without a price stays
    /// pending after its checks).
    Pending,
    /// Checked; the price is above the target.
    Active,
    /// Checked; the price is at or below the target and the owner was alerted.
    Alerted,
    /// Several checks in a row failed.
    Failing,
}

impl JobStatus {
    /// The wire name, e.g. `pending`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Alerted => "alerted",
            Self::Failing => "failing",
        }
    }

    /// Parses a wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "pending" => Some(Self::Pending),
            "active" => Some(Self::Active),
            "alerted" => Some(Self::Alerted),
            "failing" => Some(Self::Failing),
            _ => None,
        }
    }
}

/// Whether the next crossing of the target should alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// The last known price was above the target (or none is known): a crossing alerts.
    Armed,
    /// This crossing already alerted: stays quiet until the price goes back above the target.
    Fired,
}

impl AlertState {
    /// The wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Armed => "armed",
            Self::Fired => "fired",
        }
    }

    /// Parses a wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "armed" => Some(Self::Armed),
            "fired" => Some(Self::Fired),
            _ => None,
        }
    }
}

/// Why a check interval is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidCheckInterval {
    /// Below the operator's floor, which protects shops from being hammered.
    #[error("check_interval_secs must be at least {min}")]
    TooShort {
        /// The floor in seconds.
        min: u64,
    },
    /// Above [`CheckInterval::MAX_SECS`].
    #[error("check_interval_secs must be at most 2592000 (30 days)")]
    TooLong,
}

/// Seconds between two checks of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CheckInterval(u64);

impl CheckInterval {
    /// Longest interval: 30 days.
    pub const MAX_SECS: u64 = 30 * 24 * 3600;

    /// Validates an interval against the operator's floor.
    pub fn new(secs: u64, policy: &SchedulePolicy) -> Result<Self, InvalidCheckInterval> {
        let min = policy.min_interval.as_secs();
        if secs < min {
            return Err(InvalidCheckInterval::TooShort { min });
        }
        if secs > Self::MAX_SECS {
            return Err(InvalidCheckInterval::TooLong);
        }
        Ok(Self(secs))
    }

    /// Rebuilds a stored interval without re-checking the floor (the floor may have moved since).
    pub fn from_stored(secs: u64) -> Self {
        Self(secs.clamp(1, Self::MAX_SECS))
    }

    /// Seconds.
    pub fn as_secs(&self) -> u64 {
        self.0
    }

    /// As a duration.
    pub fn as_duration(&self) -> Duration {
        Duration::from_secs(self.0)
    }
}

/// The operator's scheduling rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulePolicy {
    /// Floor for a job's interval.
    pub min_interval: Duration,
    /// Interval of a job created without one.
    pub default_interval: Duration,
    /// How long a claimed job stays off the due list while its check runs. Longer than the
    /// slowest check plus the queue's visibility timeout: when it runs out the job is due again,
    /// which is what brings back a job whose worker died.
    pub lease: Duration,
    /// Consecutive failed checks after which a job shows as `failing`.
    pub failing_after: u32,
    /// Largest share of the interval added or removed at random, so jobs created together do
    /// not hit a shop together. In thousandths (100 = ±10%).
    pub jitter_permille: u32,
    /// How far apart the rescheduler puts the check requests of one shop host that fall due in
    /// the same run (each one this much later than the one before, up to the queue's longest
    /// delay), so a host's due jobs reach the scrapers spread over time instead of at once. The
    /// scrapers' per-host spacing still holds; this keeps them from deferring a burst. Zero (the
    /// default) sends them all at once, as the single-process mode does: its one politeness
    /// limiter paces a host without putting anything back.
    pub host_spread: Duration,
}

impl Default for SchedulePolicy {
    fn default() -> Self {
        Self {
            min_interval: Duration::from_secs(60),
            default_interval: Duration::from_secs(3600),
            lease: Duration::from_secs(300),
            failing_after: 3,
            jitter_permille: 100,
            host_spread: Duration::ZERO,
        }
    }
}

impl SchedulePolicy {
    /// The next due time after a check at `now`, with `jitter` in `[-1000, 1000]` thousandths of
    /// the allowed jitter (the caller draws it; the domain stays deterministic).
    pub fn next_check_at(&self, now: Timestamp, interval: CheckInterval, jitter: i32) -> Timestamp {
        let interval_ms = i64::try_from(interval.as_duration().as_millis()).unwrap_or(i64::MAX / 4);
        let spread = interval_ms.saturating_mul(i64::from(self.jitter_permille)) / 1000;
        let offset = spread * i64::from(jitter.clamp(-1000, 1000)) / 1000;
        let floor_ms = i64::try_from(self.min_interval.as_millis()).unwrap_or(0);
        let delay = (interval_ms + offset).max(floor_ms.min(interval_ms));
        now + chrono::Duration::milliseconds(delay)
    }
}

/// Addresses one job: its owner and its id. Stores keep a user's jobs together under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct JobKey {
    /// The owner.
    pub user_id: UserId,
    /// The job.
    pub job_id: JobId,
}

/// What a user asks for when creating a job, already validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// The product page.
    pub url: ProductUrl,
    /// Alert at or below this price.
    pub target_price: TargetPrice,
    /// The target's currency, if the user gave one.
    pub currency: Option<Currency>,
    /// Seconds between checks.
    pub check_interval: CheckInterval,
    /// An optional CSS selector that overrides price detection.
    pub price_selector: Option<String>,
}

/// A tracking job, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Identifier.
    pub id: JobId,
    /// Owner.
    pub user_id: UserId,
    /// The product page.
    pub url: ProductUrl,
    /// Alert at or below this price.
    pub target_price: TargetPrice,
    /// The target's currency, if given.
    pub currency: Option<Currency>,
    /// Optional CSS selector overriding price detection.
    pub price_selector: Option<String>,
    /// Seconds between checks.
    pub check_interval: CheckInterval,
    /// Status shown to the owner.
    pub status: JobStatus,
    /// Whether the next crossing alerts.
    pub alert_state: AlertState,
    /// The last price found.
    pub last_price: Option<Money>,
    /// Availability at the last successful check.
    pub last_availability: Option<Availability>,
    /// When the last check (successful or not) ran.
    pub last_checked_at: Option<Timestamp>,
    /// Why the last check failed; `None` after a success.
    pub last_error: Option<String>,
    /// Failed checks since the last success.
    pub consecutive_failures: u32,
    /// When the job is next due. While a check is queued or running this is the lease expiry.
    pub next_check_at: Timestamp,
    /// Paused by its owner: never claimed (no due entry) until resumed.
    pub paused: bool,
    /// An alert decided but not yet known to be published (the outbox). Cleared after publish;
    /// whoever handles the job next publishes it again if it is still here.
    pub pending_alert: Option<Alert>,
    /// Bumped by every claim and every recorded check: writes are conditional on it.
    pub version: u64,
    /// The job's alert rules, cooldown, snooze and channels, and what the rules remember
    /// ([`crate::rules`]). `below_target`'s state is `alert_state`.
    pub alerting: Alerting,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// An owner's change to a job (a JSON merge patch, already validated): `None` leaves a field
/// as it is; for the optional fields `Some(None)` clears it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JobEdit {
    /// New target.
    pub target_price: Option<TargetPrice>,
    /// New currency, or `Some(None)` to clear it.
    pub currency: Option<Option<Currency>>,
    /// New interval.
    pub check_interval: Option<CheckInterval>,
    /// New selector, or `Some(None)` to clear it.
    pub price_selector: Option<Option<String>>,
    /// Pause (`true`) or resume (`false`).
    pub paused: Option<bool>,
    /// Changes to the alert rules, cooldown, snooze and channels.
    pub alerting: crate::AlertingEdit,
}

/// What recording one check does to a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckTransition {
    /// The job after the check, with `version` bumped; store it conditionally on the old version.
    pub job: Job,
    /// The observation to keep as history: successful checks only, priced or not.
    pub observation: Option<Observation>,
}

impl Job {
    /// A new job for `user_id`, due at once. `lease_until` is the lease held by the check request
    /// sent right after creation; if that send fails, the job becomes due when the lease ends.
    pub fn create(user_id: UserId, new: NewJob, now: Timestamp, lease_until: Timestamp) -> Self {
        Self {
            id: JobId::new(),
            user_id,
            url: new.url,
            target_price: new.target_price,
            currency: new.currency,
            price_selector: new.price_selector,
            check_interval: new.check_interval,
            status: JobStatus::Pending,
            alert_state: AlertState::Armed,
            last_price: None,
            last_availability: None,
            last_checked_at: None,
            last_error: None,
            consecutive_failures: 0,
            next_check_at: lease_until,
            paused: false,
            pending_alert: None,
            version: 0,
            alerting: Alerting::default(),
            created_at: now,
            updated_at: now,
        }
    }

    /// This job's key.
    pub fn key(&self) -> JobKey {
        JobKey { user_id: self.user_id, job_id: self.id }
    }

    /// Applies one check's outcome. The alert rule lives here:
    /// - a failed check never alerts and never changes the price;
    /// - an unpriced check (out of stock, no price shown) is a success without a price: it
    ///   clears the error and the failure count, records the availability, and leaves the last
    ///   price, the alert state and the outbox as they were (no alert, no re-arming; its
    ///   observation has no price);
    /// - a price at or below the target (same currency when both are known) while `armed`
    ///   fires exactly one alert, put in the outbox (`pending_alert`);
    /// - while `fired`, further low prices stay quiet; a price above the target re-arms.
    pub fn after_check(
        &self,
        outcome: &CheckOutcome,
        now: Timestamp,
        policy: &SchedulePolicy,
        jitter: i32,
    ) -> CheckTransition {
        let mut job = self.clone();
        job.version = self.version + 1;
        job.updated_at = now;
        job.last_checked_at = Some(now);
        job.next_check_at = policy.next_check_at(now, self.check_interval, jitter);

        let offer = match outcome {
            CheckOutcome::Priced(offer) => match (self.currency, offer.price.currency) {
                (Some(expected), Some(found)) if expected != found => {
                    let failure =
                        CheckFailure::CurrencyMismatch { expected: expected.to_string(), found: found.to_string() };
                    job.record_failure(&failure, policy);
                    return CheckTransition { job, observation: None };
                }
                _ => offer,
            },
            CheckOutcome::Unpriced { availability, .. } => {
                job.record_unpriced(*availability);
                let observation =
                    Observation { job_id: self.id, observed_at: now, price: None, availability: Some(*availability) };
                return CheckTransition { job, observation: Some(observation) };
            }
            CheckOutcome::Failed(failure) => {
                job.record_failure(failure, policy);
                return CheckTransition { job, observation: None };
            }
        };

        job.last_price = Some(offer.price);
        job.last_availability = offer.availability;
        job.last_error = None;
        job.consecutive_failures = 0;
        // The rules (crate::rules): `below_target` keeps its state in `alert_state`.
        let decision = self.alerting.decide(&PricedCheck {
            price: offer.price,
            availability: offer.availability,
            previous_price: self.last_price,
            target: self.target_price,
            below_target_armed: self.alert_state == AlertState::Armed,
            now,
        });
        job.alerting = decision.alerting;
        job.alert_state = if decision.below_target_armed { AlertState::Armed } else { AlertState::Fired };
        job.status =
            if offer.price.amount <= self.target_price.amount() { JobStatus::Alerted } else { JobStatus::Active };
        if let Some(rule) = decision.fired {
            job.pending_alert = Some(Alert {
                id: AlertId::new(),
                job_id: self.id,
                user_id: self.user_id,
                url: self.url.clone(),
                price: offer.price,
                target_price: self.target_price,
                checked_at: now,
                details: AlertDetails {
                    rule,
                    previous_price: self.last_price,
                    lowest_price: job.alerting.lowest_price,
                    channels: job.alerting.channels.clone(),
                },
            });
        }
        let observation = Observation {
            job_id: self.id,
            observed_at: now,
            price: Some(offer.price),
            availability: offer.availability,
        };
        CheckTransition { job, observation: Some(observation) }
    }

    /// The job after its owner's `edit` at `now`, `version` bumped (store it conditionally on
    /// the old version, as a check is).
    ///
    /// - A changed target (or currency) re-arms the alert: the next check compares the price
    ///   with the new target, so a target lowered below the current price waits for the next
    ///   crossing, and one raised to or above the current price alerts once at the next check.
    /// - Pausing takes the job off the due list (stores keep no due entry for a paused job).
    ///   Resuming makes it due at `now`: it is checked as soon as the scheduler next runs.
    /// - A shorter interval brings the next check forward to `now + interval` at the latest.
    pub fn edited(&self, edit: &JobEdit, now: Timestamp) -> Job {
        let mut job = self.clone();
        job.version = self.version + 1;
        job.updated_at = now;
        if let Some(target) = edit.target_price {
            job.target_price = target;
        }
        if let Some(currency) = edit.currency {
            job.currency = currency;
        }
        let changed_rules = job.alerting.apply_edit(&edit.alerting);
        if job.target_price != self.target_price
            || job.currency != self.currency
            || changed_rules.contains(&crate::AlertRuleKind::BelowTarget)
        {
            job.alert_state = AlertState::Armed;
        }
        if let Some(selector) = &edit.price_selector {
            job.price_selector.clone_from(selector);
        }
        if let Some(interval) = edit.check_interval {
            job.check_interval = interval;
            let at_latest =
                now + chrono::Duration::seconds(i64::try_from(interval.as_secs()).unwrap_or(i64::MAX / 2000));
            if job.next_check_at > at_latest {
                job.next_check_at = at_latest;
            }
        }
        if let Some(paused) = edit.paused {
            if self.paused && !paused {
                job.next_check_at = now;
            }
            job.paused = paused;
        }
        job
    }

    /// A successful check that found no price. Nothing is known about the price, so the alert
    /// rule has nothing to act on: the status goes back to what the last price and the alert
    /// state say (out of `failing`), and both stay as they were.
    fn record_unpriced(&mut self, availability: Availability) {
        self.alerting.record_unpriced(availability);
        self.last_availability = Some(availability);
        self.last_error = None;
        self.consecutive_failures = 0;
        self.status = match (self.alert_state, self.last_price) {
            (AlertState::Fired, _) => JobStatus::Alerted,
            (AlertState::Armed, Some(_)) => JobStatus::Active,
            (AlertState::Armed, None) => JobStatus::Pending,
        };
    }

    fn record_failure(&mut self, failure: &CheckFailure, policy: &SchedulePolicy) {
        self.last_error = Some(failure.to_string());
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        if self.consecutive_failures >= policy.failing_after {
            self.status = JobStatus::Failing;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use rust_decimal::Decimal;

    use super::*;
    use crate::{AlertRule, CheckedOffer};

    fn job(target: &str, currency: Option<Currency>) -> Job {
        let now = chrono::Utc::now();
        let policy = SchedulePolicy::default();
        Job::create(
            UserId::new(),
            NewJob {
                url: ProductUrl::parse("https://shop.example/p/1").expect("url"),
                target_price: TargetPrice::parse(target).expect("target"),
                currency,
                check_interval: CheckInterval::new(3600, &policy).expect("interval"),
                price_selector: None,
            },
            now,
            now,
        )
    }

    fn priced(amount: &str, currency: Option<Currency>) -> CheckOutcome {
        CheckOutcome::Priced(CheckedOffer {
            price: Money::new(Decimal::from_str(amount).expect("decimal"), currency),
            availability: Some(Availability::InStock),
            method: "json-ld".into(),
        })
    }

    fn check(job: &Job, outcome: &CheckOutcome) -> Job {
        job.after_check(outcome, chrono::Utc::now(), &SchedulePolicy::default(), 0).job
    }

    #[test]
    fn first_check_below_target_alerts_once() {
        let j = job("80", Some(Currency::EUR));
        let after = check(&j, &priced("79.99", Some(Currency::EUR)));
        assert_eq!(after.status, JobStatus::Alerted);
        assert_eq!(after.alert_state, AlertState::Fired);
        assert!(after.pending_alert.is_some());
        assert_eq!(after.version, j.version + 1);

        // The outbox is cleared after publish; a second low price stays quiet.
        let mut published = after.clone();
        published.pending_alert = None;
        let again = check(&published, &priced("70", Some(Currency::EUR)));
        assert_eq!(again.status, JobStatus::Alerted);
        assert!(again.pending_alert.is_none());
    }

    #[test]
    fn price_equal_to_target_alerts() {
        let after = check(&job("80", None), &priced("80.00", None));
        assert!(after.pending_alert.is_some());
    }

    #[test]
    fn price_above_target_rearms() {
        let j = job("80", None);
        let mut fired = check(&j, &priced("50", None));
        fired.pending_alert = None;
        let up = check(&fired, &priced("90", None));
        assert_eq!(up.status, JobStatus::Active);
        assert_eq!(up.alert_state, AlertState::Armed);
        let down = check(&up, &priced("60", None));
        assert!(down.pending_alert.is_some(), "second crossing alerts again");
    }

    #[test]
    fn failures_never_alert_nor_touch_the_price() {
        let j = job("80", None);
        let ok = check(&j, &priced("90", None));
        let mut current = ok.clone();
        for n in 1..=3 {
            let t = current.after_check(
                &CheckOutcome::Failed(CheckFailure::NoPrice),
                chrono::Utc::now(),
                &SchedulePolicy::default(),
                0,
            );
            assert!(t.observation.is_none());
            current = t.job;
            assert_eq!(current.consecutive_failures, n);
            assert_eq!(current.last_price, ok.last_price);
            assert!(current.pending_alert.is_none());
            assert_eq!(current.last_error.as_deref(), Some("no price found on the page"));
        }
        assert_eq!(current.status, JobStatus::Failing);
        let recovered = check(&current, &priced("85", None));
        assert_eq!(recovered.status, JobStatus::Active);
        assert_eq!(recovered.last_error, None);
        assert_eq!(recovered.consecutive_failures, 0);
    }

    fn unpriced() -> CheckOutcome {
        CheckOutcome::Unpriced { availability: Availability::OutOfStock, method: "json-ld".into() }
    }

    fn fail(job: &Job) -> Job {
        check(job, &CheckOutcome::Failed(CheckFailure::NoPrice))
    }

    #[test]
    fn unpriced_check_is_a_success_that_keeps_the_last_price() {
        let j = job("80", Some(Currency::EUR));
        let seen = check(&j, &priced("90", Some(Currency::EUR)));
        let now = seen.last_checked_at.expect("checked") + chrono::Duration::hours(1);
        let t = seen.after_check(&unpriced(), now, &SchedulePolicy::default(), 0);
        let gap = t.observation.as_ref().expect("an unpriced check is history too");
        assert_eq!((gap.price, gap.availability), (None, Some(Availability::OutOfStock)));
        let after = t.job;
        assert_eq!(after.last_checked_at, Some(now));
        assert!(after.next_check_at > now);
        assert_eq!(after.version, seen.version + 1);
        assert_eq!(after.last_price, seen.last_price, "the last price seen stays");
        assert_eq!(after.last_availability, Some(Availability::OutOfStock));
        assert_eq!(after.last_error, None);
        assert_eq!(after.consecutive_failures, 0);
        assert_eq!(after.status, JobStatus::Active);
        assert_eq!(after.alert_state, AlertState::Armed);
        assert!(after.pending_alert.is_none());
    }

    #[test]
    fn unpriced_check_of_a_new_job_leaves_it_pending_without_error() {
        let j = job("80", None);
        let after = check(&j, &unpriced());
        assert_eq!(after.status, JobStatus::Pending, "no price seen yet");
        assert_eq!(after.last_price, None);
        assert_eq!(after.last_error, None);
        assert!(after.last_checked_at.is_some());
        assert_eq!(after.last_availability, Some(Availability::OutOfStock));
        assert_eq!(after.alert_state, AlertState::Armed);
        assert!(after.pending_alert.is_none());
    }

    #[test]
    fn a_failing_job_recovers_on_an_unpriced_check() {
        // With a price seen before: back to active, price kept.
        let seen = check(&job("80", None), &priced("90", None));
        let failing = fail(&fail(&fail(&seen)));
        assert_eq!(failing.status, JobStatus::Failing);
        let recovered = check(&failing, &unpriced());
        assert_eq!(recovered.status, JobStatus::Active);
        assert_eq!(recovered.consecutive_failures, 0);
        assert_eq!(recovered.last_error, None);
        assert_eq!(recovered.last_price, seen.last_price);
        assert_eq!(recovered.alert_state, AlertState::Armed);

        // After an alert: back to alerted, still fired (the crossing already alerted).
        let mut fired = check(&job("80", None), &priced("70", None));
        fired.pending_alert = None;
        let failing = fail(&fail(&fail(&fired)));
        assert_eq!(failing.status, JobStatus::Failing);
        let recovered = check(&failing, &unpriced());
        assert_eq!(recovered.status, JobStatus::Alerted);
        assert_eq!(recovered.alert_state, AlertState::Fired);
        assert!(recovered.pending_alert.is_none(), "no new alert");

        // Never priced: back to pending.
        let failing = fail(&fail(&fail(&job("80", None))));
        assert_eq!(check(&failing, &unpriced()).status, JobStatus::Pending);
    }

    #[test]
    fn unpriced_check_keeps_the_outbox_untouched_and_never_fires() {
        // Fired, the alert not yet published.
        let fired = check(&job("80", None), &priced("70", None));
        let pending = fired.pending_alert.clone().expect("alert in the outbox");
        // Re-armed by a higher price before the alert was published: armed with a pending alert.
        let rearmed = check(&fired, &priced("90", None));
        assert_eq!(rearmed.alert_state, AlertState::Armed);
        assert_eq!(rearmed.pending_alert.as_ref(), Some(&pending));

        for before in [fired, rearmed] {
            let t = before.after_check(&unpriced(), chrono::Utc::now(), &SchedulePolicy::default(), 0);
            assert!(t.observation.is_some_and(|o| o.price.is_none()), "a gap in the history");
            assert_eq!(t.job.pending_alert, before.pending_alert, "outbox untouched");
            assert_eq!(t.job.alert_state, before.alert_state, "neither fires nor re-arms");
            assert_eq!(t.job.status, before.status);
            assert_eq!(t.job.last_price, before.last_price);
        }
    }

    #[test]
    fn unpriced_check_never_alerts_an_armed_job() {
        // Armed, target far above any price: a priced check would fire; an unpriced one cannot.
        let seen = check(&job("1000", None), &priced("1500", None));
        assert_eq!(seen.alert_state, AlertState::Armed);
        let after = check(&seen, &unpriced());
        assert!(after.pending_alert.is_none());
        assert_eq!(after.alert_state, AlertState::Armed);
        assert_eq!(after.status, JobStatus::Active);
        // The product is back in stock below the target: that check alerts as usual.
        let back = check(&after, &priced("900", None));
        assert!(back.pending_alert.is_some());
        assert_eq!(back.last_availability, Some(Availability::InStock));
    }

    #[test]
    fn other_currency_never_alerts() {
        let after = check(&job("80", Some(Currency::EUR)), &priced("10", Some(Currency::USD)));
        assert!(after.pending_alert.is_none());
        assert_eq!(after.last_price, None);
        assert!(after.last_error.as_deref().unwrap_or_default().contains("USD"));
    }

    #[test]
    fn next_check_respects_jitter_bounds() {
        let policy = SchedulePolicy::default();
        let now = chrono::Utc::now();
        let interval = CheckInterval::from_stored(1000);
        let early = policy.next_check_at(now, interval, -1000);
        let late = policy.next_check_at(now, interval, 1000);
        assert_eq!((early - now).num_seconds(), 900);
        assert_eq!((late - now).num_seconds(), 1100);
    }

    #[test]
    fn edits_merge_and_re_arm_on_target_change() {
        let mut fired = check(&job("80", None), &priced("70", None));
        assert_eq!(fired.alert_state, AlertState::Fired);
        fired.pending_alert = None;
        let now = chrono::Utc::now();
        let same = fired.edited(&JobEdit { price_selector: Some(Some(".p".into())), ..JobEdit::default() }, now);
        assert_eq!(same.version, fired.version + 1);
        assert_eq!(same.alert_state, AlertState::Fired, "no target change, no re-arming");
        assert_eq!(same.price_selector.as_deref(), Some(".p"));
        let cleared = same.edited(&JobEdit { price_selector: Some(None), ..JobEdit::default() }, now);
        assert_eq!(cleared.price_selector, None);
        // Raised above the current price: armed, and the next check at 70 alerts once.
        let raised = fired
            .edited(&JobEdit { target_price: Some(TargetPrice::parse("75").expect("t")), ..JobEdit::default() }, now);
        assert_eq!(raised.alert_state, AlertState::Armed);
        let mut after = check(&raised, &priced("70", None));
        assert!(after.pending_alert.as_ref().is_some_and(|a| a.target_price == raised.target_price));
        after.pending_alert = None;
        assert!(check(&after, &priced("70", None)).pending_alert.is_none(), "once");
        // Lowered below the current price: re-armed, quiet until the price crosses it.
        let lowered = fired
            .edited(&JobEdit { target_price: Some(TargetPrice::parse("60").expect("t")), ..JobEdit::default() }, now);
        assert_eq!(lowered.alert_state, AlertState::Armed);
        assert!(check(&lowered, &priced("70", None)).pending_alert.is_none());
        assert!(check(&lowered, &priced("59", None)).pending_alert.is_some());
    }

    #[test]
    fn an_edit_of_the_rules_re_arms_below_target_only_when_it_changes() {
        let mut fired = check(&job("80", None), &priced("70", None));
        assert_eq!(fired.alert_state, AlertState::Fired);
        fired.pending_alert = None;
        let now = chrono::Utc::now();
        let rules = |rules: Vec<AlertRule>| JobEdit {
            alerting: crate::AlertingEdit { rules: Some(rules), ..crate::AlertingEdit::default() },
            ..JobEdit::default()
        };
        // Adding a rule leaves below_target fired: no second alert for the same crossing.
        let added = fired.edited(&rules(vec![AlertRule::BelowTarget, AlertRule::NewLow]), now);
        assert_eq!(added.alert_state, AlertState::Fired);
        assert_eq!(added.alerting.rules, vec![AlertRule::BelowTarget, AlertRule::NewLow]);
        assert!(check(&added, &priced("70", None)).pending_alert.is_none());
        // Dropping below_target, then naming it again: a new rule, armed, alerting on the next
        // check that finds the price at or below the target.
        let dropped = added.edited(&rules(vec![AlertRule::NewLow]), now);
        let again = dropped.edited(&rules(vec![AlertRule::BelowTarget]), now);
        assert_eq!(again.alert_state, AlertState::Armed);
        assert!(check(&again, &priced("70", None)).pending_alert.is_some());
    }

    #[test]
    fn pause_and_resume() {
        let j = job("80", None);
        let now = chrono::Utc::now() + chrono::Duration::hours(2);
        let paused = j.edited(&JobEdit { paused: Some(true), ..JobEdit::default() }, now);
        assert!(paused.paused);
        let resumed = paused.edited(&JobEdit { paused: Some(false), ..JobEdit::default() }, now);
        assert!(!resumed.paused);
        assert_eq!(resumed.next_check_at, now, "due at once");
        let shorter = j.edited(
            &JobEdit { check_interval: Some(CheckInterval::from_stored(60)), ..JobEdit::default() },
            j.created_at,
        );
        assert!(shorter.next_check_at <= j.created_at + chrono::Duration::seconds(60));
    }

    #[test]
    fn interval_floor() {
        let policy = SchedulePolicy::default();
        assert!(CheckInterval::new(59, &policy).is_err());
        assert!(CheckInterval::new(60, &policy).is_ok());
        assert!(CheckInterval::new(CheckInterval::MAX_SECS + 1, &policy).is_err());
    }
}

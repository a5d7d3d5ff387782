//! The check use case: handle one check request from start to end.

use std::sync::Arc;

use pricetrack_domain::gate::{GateDecision, HostGate};
use pricetrack_domain::ports::{BackendError, JobStore, Notifier, StoreError, WriteOutcome};
use pricetrack_domain::{
    Alert, AlertId, CheckFailure, CheckOutcome, CheckRequest, Job, JobId, Money, SchedulePolicy, Timestamp,
};
use pricetrack_extract::Offer;
use pricetrack_metrics::names;
use rand::Rng;

use crate::fetch::PageFetcher;
use crate::reader::{PageReader, Rendering};

/// How late after its reserved turn at a host a check may still start (see
/// [`Checker::with_host_gate`]); later, the turn is given up and the check deferred.
const LATE_START_TOLERANCE: std::time::Duration = std::time::Duration::from_millis(50);
/// When a check that missed its turn is tried again.
const LATE_START_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// Where the checker reads the time (a test can pin it).
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// How handling a check request ended. Every variant means "done": acknowledge the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandleOutcome {
    /// The job no longer exists (deleted): nothing was checked, nothing was written.
    JobGone,
    /// The request carries another version than the job's: it was already handled or a newer
    /// claim superseded it. Nothing was checked (a pending alert, if any, was handed to delivery).
    Stale,
    /// The page was checked and the outcome recorded.
    Recorded {
        /// What the check found.
        outcome: CheckOutcome,
        /// The alert this check decided, if any (handed to the delivery stage, or left in the
        /// outbox when the delivery stage's intake failed).
        alert: Option<AlertId>,
    },
    /// The page was checked, but meanwhile the job was deleted or claimed again: the outcome
    /// was dropped (the newer claim's request checks again).
    Discarded,
    /// The job's shop host is at its fleet-wide limit: nothing was fetched or written. Put the
    /// request back on the queue for `retry_after` and take other work.
    Deferred {
        /// When to try again, from now.
        retry_after: std::time::Duration,
    },
}

/// Why a check request could not be handled. The message must not be acknowledged: it is
/// delivered again later, and an undelivered alert stays in the job's outbox meanwhile.
#[derive(Debug, thiserror::Error)]
pub enum CheckerError {
    /// The job store failed.
    #[error("job store failed")]
    Store(#[from] StoreError),
    /// The fleet-wide host gate could not be asked.
    #[error("host gate failed")]
    Gate(#[source] BackendError),
}

/// Handles check requests: reads the job, fetches and reads its page, records the outcome with a
/// write conditional on the job's version, and hands the alert the outcome decided to the
/// delivery stage (the notifier port: the delivery queue or the alert topic). It never calls a
/// channel, and a delivery stage that is down never stops checks.
///
/// Guarantees (see the design notes): a deleted job is never written again; one alert per
/// crossing (only the writer that won the conditional write publishes, and an alert stays in the
/// job's outbox until published, then is republished with the same id by whoever handles the job
/// next); a failed check never alerts and never stores a price.
pub struct Checker {
    jobs: Arc<dyn JobStore>,
    notifier: Arc<dyn Notifier>,
    /// Fetches and reads pages (the browser included, when there is one).
    reader: PageReader,
    policy: SchedulePolicy,
    clock: Clock,
    /// The fleet-wide per-host budget, when several processes check pages.
    gate: Option<Arc<dyn HostGate>>,
}

impl std::fmt::Debug for Checker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checker").field("policy", &self.policy).finish_non_exhaustive()
    }
}

impl Checker {
    /// A checker over these ports, reading the system clock.
    pub fn new(
        jobs: Arc<dyn JobStore>,
        notifier: Arc<dyn Notifier>,
        fetcher: Arc<dyn PageFetcher>,
        policy: SchedulePolicy,
    ) -> Self {
        Self { jobs, notifier, reader: PageReader::new(fetcher), policy, clock: Arc::new(chrono::Utc::now), gate: None }
    }

    /// Adds a browser: a page whose static HTML shows no price is rendered by `browser` and read
    /// again, and pages of `always_for_hosts` (host names, matching subdomains too: the shop
    /// rules of shops known to draw their price with JavaScript) go to the browser directly.
    pub fn with_browser(mut self, browser: Arc<dyn PageFetcher>, always_for_hosts: Vec<String>) -> Self {
        self.reader = self.reader.with_browser(browser, always_for_hosts);
        self
    }

    /// Makes every check ask `gate` for its host first (fleet-wide politeness): a busy host
    /// makes [`Checker::handle`] answer [`HandleOutcome::Deferred`] without fetching anything.
    pub fn with_host_gate(mut self, gate: Arc<dyn HostGate>) -> Self {
        self.gate = Some(gate);
        self
    }

    /// Replaces the clock (the time a check is recorded at).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The scheduling policy used for the next due time.
    pub fn policy(&self) -> &SchedulePolicy {
        &self.policy
    }

    /// Handles one check request:
    /// 1. reads the job; gone: done;
    /// 2. hands over the alert in its outbox, if any, whatever the version (a previous handler
    ///    died or failed between its write and its hand-over); a failed hand-over is logged and
    ///    the check goes on;
    /// 3. another version than the request's: stale, done;
    /// 4. fetches and reads the page, applies the outcome ([`Job::after_check`]) and writes it
    ///    conditionally on the version read; if that write wins and fired an alert, hands it over
    ///    and empties the outbox.
    ///
    /// A page that fails or shows no price is not an error: it is recorded as a failed check
    /// (or, when the page says the product is out of stock, as an unpriced one).
    /// An `Err` (job store failure) means "retry later".
    pub async fn handle(&self, request: CheckRequest) -> Result<HandleOutcome, CheckerError> {
        let key = request.key();
        let Some(mut job) = self.jobs.get(key).await? else {
            tracing::debug!(job_id = %key.job_id, "job is gone; dropping its check request");
            return Ok(HandleOutcome::JobGone);
        };

        if let Some(alert) = job.pending_alert.clone() {
            tracing::info!(job_id = %key.job_id, alert_id = %alert.id, "handing over an alert left in the outbox");
            match self.hand_over(&job, &alert).await? {
                Some(WriteOutcome::Gone) => return Ok(HandleOutcome::JobGone),
                // Handed over: the outbox is empty now (the check below must not write it back).
                Some(_) => job.pending_alert = None,
                // Not taken: it stays in the outbox, written back with the check's outcome.
                None => {}
            }
        }

        if job.version != request.job_version {
            tracing::debug!(
                job_id = %key.job_id,
                job_version = job.version,
                request_version = request.job_version,
                "stale check request"
            );
            return Ok(HandleOutcome::Stale);
        }

        let pass = match &self.gate {
            None => None,
            Some(gate) => match gate.enter(job.url.host()).await.map_err(CheckerError::Gate)? {
                GateDecision::Busy { retry_after } => {
                    metrics::counter!(names::POLITENESS_DEFERRALS, "reason" => "host_busy").increment(1);
                    tracing::debug!(job_id = %key.job_id, retry_after_ms = retry_after.as_millis() as u64, "shop host busy; check deferred");
                    return Ok(HandleOutcome::Deferred { retry_after });
                }
                GateDecision::Enter(pass) => {
                    // At most one spacing: the host's turn, reserved for this check.
                    if let Ok(wait) = (pass.start_at - chrono::Utc::now()).to_std() {
                        tokio::time::sleep(wait).await;
                        metrics::histogram!(names::POLITENESS_WAIT, "reason" => "fleet_turn").record(wait);
                    }
                    // Woken too late (an overloaded process), the request would land close to
                    // the next process's turn: skip this turn rather than crowd the shop.
                    let late = (chrono::Utc::now() - pass.start_at).to_std().unwrap_or_default();
                    if late > LATE_START_TOLERANCE {
                        if let Err(e) = gate.leave(&pass).await {
                            tracing::warn!(job_id = %key.job_id, error = %e, "could not give a host slot back; it expires by itself");
                        }
                        tracing::info!(job_id = %key.job_id, late_ms = late.as_millis() as u64, "missed the host's turn; check deferred");
                        metrics::counter!(names::POLITENESS_DEFERRALS, "reason" => "missed_turn").increment(1);
                        return Ok(HandleOutcome::Deferred { retry_after: LATE_START_RETRY });
                    }
                    Some((gate, pass))
                }
            },
        };
        let outcome = self.check(&job).await;
        if let Some((gate, pass)) = pass
            && let Err(e) = gate.leave(&pass).await
        {
            tracing::warn!(job_id = %key.job_id, error = %e, "could not give a host slot back; it expires by itself");
        }
        let now = (self.clock)();
        let mut transition = job.after_check(&outcome, now, &self.policy, jitter());
        let mut written = self.jobs.record_check(&transition.job, job.version, transition.observation.as_ref()).await?;
        if written == WriteOutcome::VersionMismatch
            && let Some(fresh) = self.jobs.get(key).await?
            && fresh.last_checked_at == job.last_checked_at
            && !fresh.paused
        {
            // The owner edited the job during the check (no other check was recorded since):
            // the outcome is applied to the edited job, so neither the edit nor the check's
            // result is lost. The edited target decides the alert.
            transition = fresh.after_check(&outcome, now, &self.policy, jitter());
            written = self.jobs.record_check(&transition.job, fresh.version, transition.observation.as_ref()).await?;
        }
        match written {
            WriteOutcome::Applied => {
                // Decided by this check (not the one left in the outbox by an earlier check).
                let already_pending = job.pending_alert.as_ref().map(|a| a.id);
                let alert = transition.job.pending_alert.as_ref().filter(|a| Some(a.id) != already_pending);
                record_gap(&job, now);
                if let Some(alert) = alert {
                    tracing::info!(job_id = %key.job_id, alert_id = %alert.id, rule = alert.details.rule.as_str(), "alert decided");
                    metrics::counter!(names::ALERTS_DECIDED, "rule" => alert.details.rule.as_str()).increment(1);
                    self.hand_over(&transition.job, alert).await?;
                }
                Ok(HandleOutcome::Recorded { outcome, alert: alert.map(|a| a.id) })
            }
            WriteOutcome::Gone | WriteOutcome::VersionMismatch => {
                tracing::info!(
                    job_id = %key.job_id,
                    ?written,
                    "job deleted or claimed again during its check; outcome dropped"
                );
                Ok(HandleOutcome::Discarded)
            }
        }
    }

    /// Hands an alert to the delivery stage, then empties the job's outbox if it still holds
    /// that alert. The delivery stage's intake failing never holds the check back: the alert
    /// stays in the outbox (`None`) and whoever handles the job next hands it over again.
    async fn hand_over(&self, job: &Job, alert: &Alert) -> Result<Option<WriteOutcome>, CheckerError> {
        if let Err(e) = self.notifier.publish(alert).await {
            metrics::counter!(names::ALERT_HANDOVERS, "result" => "failed").increment(1);
            tracing::warn!(
                job_id = %job.id,
                alert_id = %alert.id,
                error = %e,
                "the delivery stage did not take the alert; it stays in the outbox"
            );
            return Ok(None);
        }
        metrics::counter!(names::ALERT_HANDOVERS, "result" => "ok").increment(1);
        Ok(Some(self.jobs.clear_pending_alert(job.key(), alert.id).await?))
    }

    /// Fetches the job's page and reads its offer ([`PageReader::read`]). Never fails:
    /// failures are outcomes.
    async fn check(&self, job: &Job) -> CheckOutcome {
        let read = self.reader.read(&job.url, job.price_selector.as_deref()).await;
        if let Some(offer) = &read.offer {
            log_disagreements(job.id, offer);
        }
        if let CheckOutcome::Failed(failure) = &read.outcome {
            tracing::info!(job_id = %job.id, error = %failure, "check failed");
        }
        count_check(&read.outcome, read.rendering.unwrap_or(Rendering::Static));
        read.outcome
    }
}

/// Counts a check by outcome (`priced`, `unpriced`, `failed`, `blocked`), kind of failure and
/// method (`static`, `browser`).
fn count_check(outcome: &CheckOutcome, method: Rendering) {
    let (outcome, kind) = match outcome {
        CheckOutcome::Priced(_) => ("priced", "none"),
        CheckOutcome::Unpriced { .. } => ("unpriced", "none"),
        CheckOutcome::Failed(CheckFailure::Blocked) => ("blocked", "none"),
        CheckOutcome::Failed(CheckFailure::Fetch(_)) => ("failed", "fetch"),
        CheckOutcome::Failed(CheckFailure::Forbidden(_)) => ("failed", "forbidden"),
        CheckOutcome::Failed(CheckFailure::NoPrice) => ("failed", "no_price"),
        CheckOutcome::Failed(CheckFailure::CurrencyMismatch { .. }) => ("failed", "currency_mismatch"),
    };
    metrics::counter!(names::CHECKS, "outcome" => outcome, "kind" => kind, "method" => method.as_str()).increment(1);
    // The check's span (the worker's `check`) says the same, for a trace.
    let span = tracing::Span::current();
    span.record("outcome", outcome);
    span.record("method", method.as_str());
}

/// Records how long after its previous check this one came, in multiples of the job's interval:
/// the freshness objective is "checked within twice the interval" (docs/operations.md).
#[allow(clippy::float_arithmetic, reason = "a ratio for a histogram; precision is irrelevant")]
fn record_gap(job: &Job, now: Timestamp) {
    let interval = job.check_interval.as_secs();
    let Some(previous) = job.last_checked_at else { return };
    let Ok(gap) = (now - previous).to_std() else { return };
    if interval == 0 {
        return;
    }
    #[allow(clippy::cast_precision_loss, reason = "intervals are at most 30 days in seconds")]
    let intervals = gap.as_secs_f64() / interval as f64;
    metrics::histogram!(names::CHECK_GAP).record(intervals);
}

/// One log line when the page's extraction methods read different prices: the chosen one is
/// kept, but a page whose sources disagree is worth a look (a stale template, a wrong rule).
fn log_disagreements(job_id: JobId, offer: &Offer) {
    if offer.disagreements.is_empty() {
        return;
    }
    let others = offer
        .disagreements
        .iter()
        .map(|other| format!("{}={}", other.method, money_text(&other.price)))
        .collect::<Vec<_>>()
        .join(", ");
    tracing::info!(
        job_id = %job_id,
        method = %offer.method,
        price = %offer.price.as_ref().map(money_text).unwrap_or_default(),
        disagreeing = %others,
        "extraction methods disagree on the price; the one the shopper sees was kept"
    );
}

/// `24.99 EUR`, or `24.99` when the currency is unknown.
fn money_text(money: &Money) -> String {
    match money.currency {
        Some(currency) => format!("{} {currency}", money.amount),
        None => money.amount.to_string(),
    }
}

/// A random jitter in `[-1000, 1000]` thousandths, for [`SchedulePolicy::next_check_at`].
fn jitter() -> i32 {
    rand::rng().random_range(-1000..=1000)
}

//! The check use case: handle one check request from start to end.

use std::sync::Arc;

use pricetrack_domain::ports::{JobStore, Notifier, NotifyError, StoreError, WriteOutcome};
use pricetrack_domain::{Alert, AlertId, CheckOutcome, CheckRequest, Job, JobId, Money, SchedulePolicy, Timestamp};
use pricetrack_extract::Offer;
use rand::Rng;

use crate::fetch::PageFetcher;
use crate::reader::PageReader;

/// Where the checker reads the time (a test can pin it).
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// How handling a check request ended. Every variant means "done": acknowledge the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandleOutcome {
    /// The job no longer exists (deleted): nothing was checked, nothing was written.
    JobGone,
    /// The request carries another version than the job's: it was already handled or a newer
    /// claim superseded it. Nothing was checked (a pending alert, if any, was published).
    Stale,
    /// The page was checked and the outcome recorded.
    Recorded {
        /// What the check found.
        outcome: CheckOutcome,
        /// The alert this check fired and published, if any.
        alert: Option<AlertId>,
    },
    /// The page was checked, but meanwhile the job was deleted or claimed again: the outcome
    /// was dropped (the newer claim's request checks again).
    Discarded,
}

/// Why a check request could not be handled. The message must not be acknowledged: it is
/// delivered again later, and an undelivered alert stays in the job's outbox meanwhile.
#[derive(Debug, thiserror::Error)]
pub enum CheckerError {
    /// The job store failed.
    #[error("job store failed")]
    Store(#[from] StoreError),
    /// An alert could not be published.
    #[error("alert could not be published")]
    Notify(#[from] NotifyError),
}

/// Handles check requests: reads the job, fetches and reads its page, records the outcome with a
/// write conditional on the job's version, and publishes the alert the outcome fired.
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
        Self { jobs, notifier, reader: PageReader::new(fetcher), policy, clock: Arc::new(chrono::Utc::now) }
    }

    /// Adds a browser: a page whose static HTML shows no price is rendered by `browser` and read
    /// again, and pages of `always_for_hosts` (host names, matching subdomains too: the shop
    /// rules of shops known to draw their price with JavaScript) go to the browser directly.
    pub fn with_browser(mut self, browser: Arc<dyn PageFetcher>, always_for_hosts: Vec<String>) -> Self {
        self.reader = self.reader.with_browser(browser, always_for_hosts);
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
    /// 2. publishes the alert in its outbox, if any, whatever the version (a previous handler
    ///    died or failed between its write and its publish);
    /// 3. another version than the request's: stale, done;
    /// 4. fetches and reads the page, applies the outcome ([`Job::after_check`]) and writes it
    ///    conditionally on the version read; if that write wins and fired an alert, publishes it
    ///    and empties the outbox.
    ///
    /// A page that fails or shows no price is not an error: it is recorded as a failed check
    /// (or, when the page says the product is out of stock, as an unpriced one).
    /// An `Err` (store or notifier failure) means "retry later".
    pub async fn handle(&self, request: CheckRequest) -> Result<HandleOutcome, CheckerError> {
        let key = request.key();
        let Some(mut job) = self.jobs.get(key).await? else {
            tracing::debug!(job_id = %key.job_id, "job is gone; dropping its check request");
            return Ok(HandleOutcome::JobGone);
        };

        if let Some(alert) = job.pending_alert.take() {
            tracing::info!(job_id = %key.job_id, alert_id = %alert.id, "publishing an alert left in the outbox");
            if self.publish(&job, &alert).await? == WriteOutcome::Gone {
                return Ok(HandleOutcome::JobGone);
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

        let outcome = self.check(&job).await;
        let now = (self.clock)();
        let transition = job.after_check(&outcome, now, &self.policy, jitter());
        let written = self.jobs.record_check(&transition.job, job.version, transition.observation.as_ref()).await?;
        match written {
            WriteOutcome::Applied => {
                let alert = transition.job.pending_alert.as_ref();
                if let Some(alert) = alert {
                    tracing::info!(job_id = %key.job_id, alert_id = %alert.id, "target price reached");
                    self.publish(&transition.job, alert).await?;
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

    /// Publishes an alert, then empties the job's outbox if it still holds that alert.
    async fn publish(&self, job: &Job, alert: &Alert) -> Result<WriteOutcome, CheckerError> {
        self.notifier.publish(alert).await?;
        Ok(self.jobs.clear_pending_alert(job.key(), alert.id).await?)
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
        read.outcome
    }
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

//! The check use case: handle one check request from start to end.

use std::sync::Arc;

use pricetrack_domain::ports::{JobStore, Notifier, NotifyError, StoreError, WriteOutcome};
use pricetrack_domain::{
    Alert, AlertId, CheckFailure, CheckOutcome, CheckRequest, CheckedOffer, Job, JobId, Money, SchedulePolicy,
    Timestamp,
};
use pricetrack_extract::Offer;
use rand::Rng;

use crate::fetch::PageFetcher;

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
    fetcher: Arc<dyn PageFetcher>,
    /// Renders pages that need JavaScript, when a browser is available.
    browser: Option<BrowserUse>,
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
        Self { jobs, notifier, fetcher, browser: None, policy, clock: Arc::new(chrono::Utc::now) }
    }

    /// Adds a browser: a page whose static HTML shows no price is rendered by `browser` and read
    /// again, and pages of `always_for_hosts` (host names, matching subdomains too: the shop
    /// rules of shops known to draw their price with JavaScript) go to the browser directly.
    pub fn with_browser(mut self, browser: Arc<dyn PageFetcher>, always_for_hosts: Vec<String>) -> Self {
        let always_for_hosts = always_for_hosts
            .into_iter()
            .map(|host| host.trim().trim_start_matches('.').to_ascii_lowercase())
            .filter(|host| !host.is_empty())
            .collect();
        self.browser = Some(BrowserUse { fetcher: browser, always_for_hosts });
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

    /// Fetches the job's page and reads its offer. Never fails: failures are outcomes.
    ///
    /// The static fetch comes first; the browser (if any) renders the page when the static HTML
    /// shows no price, or at once for the hosts of its shop rules. Fetch failures (an HTTP
    /// error, a refused address, a timeout) are not retried in the browser: it would meet them
    /// again, and the shop would see two requests.
    async fn check(&self, job: &Job) -> CheckOutcome {
        let Some(browser) = &self.browser else {
            return self.check_with(self.fetcher.as_ref(), job, Rendering::Static).await;
        };
        if browser.always_for(job.url.host()) {
            return self.check_with(browser.fetcher.as_ref(), job, Rendering::Browser).await;
        }
        match self.check_with(self.fetcher.as_ref(), job, Rendering::Static).await {
            CheckOutcome::Failed(CheckFailure::NoPrice) => {
                tracing::info!(job_id = %job.id, "no price in the static page; rendering it in the browser");
                self.check_with(browser.fetcher.as_ref(), job, Rendering::Browser).await
            }
            outcome => outcome,
        }
    }

    /// Fetches the page with `fetcher` and reads its offer.
    async fn check_with(&self, fetcher: &dyn PageFetcher, job: &Job, rendering: Rendering) -> CheckOutcome {
        let page = match fetcher.fetch(&job.url).await {
            Ok(page) => page,
            Err(e) => {
                tracing::info!(job_id = %job.id, error = %e, "page fetch failed");
                return CheckOutcome::Failed(e.to_check_failure());
            }
        };
        let selector = job.price_selector.clone();
        let job_id = job.id;
        // HTML parsing is CPU work on up to a few MiB: keep it off the async worker threads.
        let extracted = tokio::task::spawn_blocking(move || match selector {
            Some(selector) => pricetrack_extract::extract_with_selector(&page.body, &selector),
            None => pricetrack_extract::extract_offer(&page.body, Some(&page.final_url)),
        })
        .await;
        let offer = match extracted {
            Ok(Ok(offer)) => offer,
            Ok(Err(e)) => {
                tracing::info!(job_id = %job_id, error = %e, "no offer found on the page");
                return CheckOutcome::Failed(CheckFailure::NoPrice);
            }
            Err(e) => {
                tracing::error!(job_id = %job_id, error = %e, "price extraction panicked");
                return CheckOutcome::Failed(CheckFailure::NoPrice);
            }
        };
        log_disagreements(job_id, &offer);
        let mut outcome = outcome_from_offer(offer);
        if rendering == Rendering::Browser {
            // Recorded with the method, so that a look at the job tells how its price was read.
            match &mut outcome {
                CheckOutcome::Priced(CheckedOffer { method, .. }) | CheckOutcome::Unpriced { method, .. } => {
                    method.push_str("+browser");
                }
                CheckOutcome::Failed(_) => {}
            }
        }
        outcome
    }
}

/// Which fetcher read a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rendering {
    /// Plain HTTP.
    Static,
    /// The headless browser.
    Browser,
}

/// The browser and when to use it.
struct BrowserUse {
    fetcher: Arc<dyn PageFetcher>,
    /// Lower-case host names whose pages always need the browser.
    always_for_hosts: Vec<String>,
}

impl BrowserUse {
    /// True when `host` (or a domain it is under) is one of the hosts that always need it.
    fn always_for(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.always_for_hosts.iter().any(|rule| {
            host == *rule
                || (host.len() > rule.len()
                    && host.ends_with(rule.as_str())
                    && host[..host.len() - rule.len()].ends_with('.'))
        })
    }
}

/// What an extracted offer means for the job: a price; or, without a price, a page that says
/// the product is unavailable (a successful check that never alerts); else no price at all.
fn outcome_from_offer(offer: Offer) -> CheckOutcome {
    let method = offer.method.as_str().to_owned();
    match (offer.price, offer.availability) {
        // A zero (or negative) price is a parse accident far more often than a free
        // product, and it is below every target: never let it alert.
        (Some(price), availability) if !price.amount.is_zero() && !price.amount.is_sign_negative() => {
            CheckOutcome::Priced(CheckedOffer { price, availability, method })
        }
        (None, Some(availability)) => CheckOutcome::Unpriced { availability, method },
        _ => CheckOutcome::Failed(CheckFailure::NoPrice),
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
        "extraction methods disagree on the price; the most specific one was kept"
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

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use pricetrack_domain::{Availability, Currency};
    use pricetrack_extract::{ExtractionMethod, SourcePrice};
    use rust_decimal::Decimal;

    use super::*;

    fn offer(price: Option<&str>, availability: Option<Availability>) -> Offer {
        Offer {
            title: Some("Kettle".into()),
            price: price.map(|p| Money::new(Decimal::from_str(p).expect("decimal"), Some(Currency::EUR))),
            availability,
            method: ExtractionMethod::JsonLd,
            disagreements: Vec::new(),
        }
    }

    #[test]
    fn browser_rules_match_the_host_and_its_subdomains_only() {
        struct Never;
        #[async_trait::async_trait]
        impl PageFetcher for Never {
            async fn fetch(&self, _: &pricetrack_domain::ProductUrl) -> Result<crate::FetchedPage, crate::FetchError> {
                Err(crate::FetchError::Connect { host: String::new() })
            }
        }
        let rules = BrowserUse { fetcher: Arc::new(Never), always_for_hosts: vec!["shop.example".into()] };
        assert!(rules.always_for("shop.example"));
        assert!(rules.always_for("WWW.Shop.Example"));
        assert!(!rules.always_for("evilshop.example"));
        assert!(!rules.always_for("shop.example.org"));
    }

    #[test]
    fn a_priced_offer_is_priced() {
        let mut priced = offer(Some("24.99"), Some(Availability::InStock));
        priced.disagreements.push(SourcePrice {
            method: ExtractionMethod::Microdata,
            price: Money::new(Decimal::from_str("29.99").expect("decimal"), None),
        });
        let CheckOutcome::Priced(found) = outcome_from_offer(priced) else { panic!("expected a price") };
        assert_eq!(found.price.amount, Decimal::from_str("24.99").expect("decimal"));
        assert_eq!(found.availability, Some(Availability::InStock));
        assert_eq!(found.method, "json-ld");
    }

    #[test]
    fn an_out_of_stock_offer_without_a_price_is_unpriced() {
        assert_eq!(
            outcome_from_offer(offer(None, Some(Availability::OutOfStock))),
            CheckOutcome::Unpriced { availability: Availability::OutOfStock, method: "json-ld".into() }
        );
    }

    #[test]
    fn no_price_and_no_availability_or_a_zero_price_is_no_price() {
        assert_eq!(outcome_from_offer(offer(None, None)), CheckOutcome::Failed(CheckFailure::NoPrice));
        assert_eq!(
            outcome_from_offer(offer(Some("0"), Some(Availability::InStock))),
            CheckOutcome::Failed(CheckFailure::NoPrice)
        );
    }
}

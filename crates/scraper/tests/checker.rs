//! The check use case against real SQLite and a local shop.

mod support;

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use pricetrack_domain::ports::{JobStore, Notifier};
use pricetrack_domain::{
    AlertState, Availability, CheckFailure, CheckOutcome, CheckRequest, Currency, HistoryQuery, JobStatus, Money,
    ProductUrl, SchedulePolicy,
};
use pricetrack_scraper::{
    Checker, FetchError, FetchedPage, HandleOutcome, PageFetcher, StaticFetcher, StaticFetcherSettings,
};
use rust_decimal::Decimal;
use support::{Env, RecordingNotifier, Shop, checker};

fn eur(amount: &str) -> Money {
    Money::new(Decimal::from_str(amount).expect("decimal"), Some(Currency::EUR))
}

fn later(hours: i64) -> pricetrack_domain::Timestamp {
    chrono::Utc::now() + chrono::Duration::hours(hours)
}

#[tokio::test]
async fn price_below_target_alerts_exactly_once() {
    let env = Env::new().await;
    let shop = Shop::start().await;
    shop.set_price(Some("49.99"));
    let job = env.create_job(shop.url(), "80").await;
    let request = env.claim_request(job.key(), chrono::Utc::now()).await;
    let notifier = Arc::new(RecordingNotifier::default());
    let checker = checker(&env, &notifier);

    let outcome = checker.handle(request).await.expect("handled");
    let HandleOutcome::Recorded { outcome: CheckOutcome::Priced(offer), alert: Some(alert_id) } = outcome else {
        panic!("expected a priced check that alerts, got {outcome:?}");
    };
    assert_eq!(offer.price, eur("49.99"));
    assert_eq!(offer.method, "json-ld");

    let alerts = notifier.alerts();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].id, alert_id);
    assert_eq!(alerts[0].price, eur("49.99"));
    assert_eq!(alerts[0].user_id, env.user.id);

    let stored = env.job(job.key()).await.expect("job");
    assert_eq!(stored.status, JobStatus::Alerted);
    assert_eq!(stored.alert_state, AlertState::Fired);
    assert_eq!(stored.pending_alert, None, "outbox emptied after publish");
    assert_eq!(stored.last_price, Some(eur("49.99")));
    assert_eq!(stored.version, request.job_version + 1);
    assert!(stored.next_check_at > chrono::Utc::now() + chrono::Duration::minutes(50));
    let observations = env
        .jobs
        .history(job.key(), &HistoryQuery { limit: 10, ..HistoryQuery::default() })
        .await
        .expect("history")
        .items;
    assert_eq!(observations.len(), 1);
    assert_eq!(observations[0].price, Some(eur("49.99")));
}

#[tokio::test]
async fn the_same_request_handled_twice_alerts_once_and_fetches_once() {
    let env = Env::new().await;
    let shop = Shop::start().await;
    shop.set_price(Some("10"));
    let job = env.create_job(shop.url(), "80").await;
    let request = env.claim_request(job.key(), chrono::Utc::now()).await;
    let notifier = Arc::new(RecordingNotifier::default());
    let checker = checker(&env, &notifier);

    assert!(matches!(checker.handle(request).await.expect("first"), HandleOutcome::Recorded { .. }));
    assert_eq!(checker.handle(request).await.expect("second"), HandleOutcome::Stale);
    assert_eq!(notifier.alerts().len(), 1);
    assert_eq!(shop.hits(), 1, "a redelivered request does not fetch again");
}

#[tokio::test]
async fn a_stale_version_is_acknowledged_without_fetching() {
    let env = Env::new().await;
    let shop = Shop::start().await;
    shop.set_price(Some("10"));
    let job = env.create_job(shop.url(), "80").await;
    let current = env.claim_request(job.key(), chrono::Utc::now()).await;
    let notifier = Arc::new(RecordingNotifier::default());
    let checker = checker(&env, &notifier);

    for version in [current.job_version - 1, current.job_version + 1] {
        let stale = CheckRequest::new(job.key(), version);
        assert_eq!(checker.handle(stale).await.expect("handled"), HandleOutcome::Stale);
    }
    assert_eq!(shop.hits(), 0);
    assert!(notifier.alerts().is_empty());
    assert_eq!(env.job(job.key()).await.expect("job").version, current.job_version, "untouched");
}

#[tokio::test]
async fn a_deleted_job_is_acknowledged_and_not_recreated() {
    let env = Env::new().await;
    let shop = Shop::start().await;
    shop.set_price(Some("10"));
    let job = env.create_job(shop.url(), "80").await;
    let request = env.claim_request(job.key(), chrono::Utc::now()).await;
    assert!(env.jobs.delete(job.key()).await.expect("delete"));
    let notifier = Arc::new(RecordingNotifier::default());

    assert_eq!(checker(&env, &notifier).handle(request).await.expect("handled"), HandleOutcome::JobGone);
    assert_eq!(env.job(job.key()).await, None);
    assert_eq!(shop.hits(), 0);
    assert!(notifier.alerts().is_empty());
}

/// Deletes the job while its page is being fetched.
struct DeletingFetcher {
    inner: StaticFetcher,
    jobs: Arc<dyn JobStore>,
    key: pricetrack_domain::JobKey,
}

#[async_trait]
impl PageFetcher for DeletingFetcher {
    async fn fetch(&self, url: &ProductUrl) -> Result<FetchedPage, FetchError> {
        let page = self.inner.fetch(url).await;
        self.jobs.delete(self.key).await.expect("delete");
        page
    }
}

#[tokio::test]
async fn a_job_deleted_during_its_check_is_not_recreated_and_does_not_alert() {
    let env = Env::new().await;
    let shop = Shop::start().await;
    shop.set_price(Some("10"));
    let job = env.create_job(shop.url(), "80").await;
    let request = env.claim_request(job.key(), chrono::Utc::now()).await;
    let notifier = Arc::new(RecordingNotifier::default());
    let fetcher = DeletingFetcher {
        inner: StaticFetcher::new(StaticFetcherSettings {
            allow_private_targets: true,
            ..StaticFetcherSettings::default()
        })
        .expect("fetcher"),
        jobs: Arc::clone(&env.jobs),
        key: job.key(),
    };
    let checker = Checker::new(
        Arc::clone(&env.jobs),
        Arc::clone(&notifier) as Arc<dyn Notifier>,
        Arc::new(fetcher),
        SchedulePolicy::default(),
    );

    assert_eq!(checker.handle(request).await.expect("handled"), HandleOutcome::Discarded);
    assert_eq!(env.job(job.key()).await, None, "not re-created");
    assert!(notifier.alerts().is_empty());
    assert!(
        env.jobs
            .history(job.key(), &HistoryQuery { limit: 10, ..HistoryQuery::default() })
            .await
            .expect("history")
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn a_page_without_a_price_is_a_failed_check_without_alert_or_price() {
    let env = Env::new().await;
    let shop = Shop::start().await;
    shop.set_price(None);
    let job = env.create_job(shop.url(), "80").await;
    let request = env.claim_request(job.key(), chrono::Utc::now()).await;
    let notifier = Arc::new(RecordingNotifier::default());

    let outcome = checker(&env, &notifier).handle(request).await.expect("not an error");
    assert_eq!(outcome, HandleOutcome::Recorded { outcome: CheckOutcome::Failed(CheckFailure::NoPrice), alert: None });
    let stored = env.job(job.key()).await.expect("job");
    assert_eq!(stored.last_price, None);
    assert_eq!(stored.pending_alert, None);
    assert_eq!(stored.alert_state, AlertState::Armed);
    assert_eq!(stored.last_error.as_deref(), Some("no price found on the page"));
    assert_eq!(stored.consecutive_failures, 1);
    assert!(stored.last_checked_at.is_some());
    assert!(notifier.alerts().is_empty());
    assert!(
        env.jobs
            .history(job.key(), &HistoryQuery { limit: 10, ..HistoryQuery::default() })
            .await
            .expect("history")
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn a_robot_check_is_a_failed_check_that_says_so() {
    let env = Env::new().await;
    let shop = Shop::start().await;
    shop.set_page(Some(
        r#"<html><head><title>Robot Check</title></head><body><form method="get" action="/errors/validateCaptcha">
<h4>Type the characters you see in this image:</h4><input name="field-keywords"></form></body></html>"#,
    ));
    let job = env.create_job(shop.url(), "80").await;
    let request = env.claim_request(job.key(), chrono::Utc::now()).await;
    let notifier = Arc::new(RecordingNotifier::default());

    let outcome = checker(&env, &notifier).handle(request).await.expect("not an error");
    assert_eq!(outcome, HandleOutcome::Recorded { outcome: CheckOutcome::Failed(CheckFailure::Blocked), alert: None });
    let stored = env.job(job.key()).await.expect("job");
    assert_eq!(stored.last_error.as_deref(), Some("the shop showed a robot check instead of the page"));
    assert_eq!((stored.last_price, stored.consecutive_failures), (None, 1));
    assert!(notifier.alerts().is_empty());
}

/// A shop page for a sold-out product: the price is hidden, the JSON-LD says out of stock.
const SOLD_OUT_PAGE: &str = r#"<html><head><title>Kettle</title><script type="application/ld+json">
{"@context":"https://schema.org","@type":"Product","name":"Kettle",
 "offers":{"@type":"Offer","priceCurrency":"EUR","availability":"https://schema.org/OutOfStock"}}
</script></head><body><h1>Kettle</h1><p class="stock">Sold out</p></body></html>"#;

#[tokio::test]
async fn an_out_of_stock_page_without_a_price_is_a_successful_check() {
    let env = Env::new().await;
    let shop = Shop::start().await;
    let job = env.create_job(shop.url(), "80").await;
    let notifier = Arc::new(RecordingNotifier::default());
    let checker = checker(&env, &notifier);

    // A price above the target, then a page without any price: one failure on record.
    shop.set_price(Some("90"));
    checker.handle(env.claim_request(job.key(), chrono::Utc::now()).await).await.expect("priced check");
    shop.set_price(None);
    checker.handle(env.claim_request(job.key(), later(2)).await).await.expect("failed check");
    let failed = env.job(job.key()).await.expect("job");
    assert_eq!(failed.consecutive_failures, 1);
    assert!(failed.last_error.is_some());

    // Sold out, price hidden: a successful check that clears the error and keeps the price.
    shop.set_page(Some(SOLD_OUT_PAGE));
    let request = env.claim_request(job.key(), later(4)).await;
    let outcome = checker.handle(request).await.expect("handled");
    assert_eq!(
        outcome,
        HandleOutcome::Recorded {
            outcome: CheckOutcome::Unpriced { availability: Availability::OutOfStock, method: "json-ld".into() },
            alert: None,
        }
    );
    let stored = env.job(job.key()).await.expect("job");
    assert_eq!(stored.last_error, None);
    assert_eq!(stored.consecutive_failures, 0);
    assert_eq!(stored.last_availability, Some(Availability::OutOfStock));
    assert_eq!(stored.last_availability.map(|a| a.as_str()), Some("out_of_stock"));
    assert_eq!(stored.last_price, Some(eur("90")), "the last price seen stays");
    assert_eq!(stored.status, JobStatus::Active);
    assert_eq!(stored.alert_state, AlertState::Armed);
    assert_eq!(stored.pending_alert, None);
    assert!(stored.last_checked_at > failed.last_checked_at);
    assert_eq!(stored.version, request.job_version + 1);
    assert!(notifier.alerts().is_empty());
    assert_eq!(
        env.jobs
            .history(job.key(), &HistoryQuery { limit: 10, ..HistoryQuery::default() })
            .await
            .expect("history")
            .items
            .len(),
        2,
        "the priced check and the sold-out gap are history; the failed check is not"
    );
}

#[tokio::test]
async fn a_failed_fetch_is_recorded_with_a_readable_error() {
    let env = Env::new().await;
    let job = env.create_job(ProductUrl::parse("http://127.0.0.1:9/product").expect("url"), "80").await;
    let request = env.claim_request(job.key(), chrono::Utc::now()).await;
    let notifier = Arc::new(RecordingNotifier::default());
    // The production fetcher: the loopback target is refused before any connection.
    let checker = Checker::new(
        Arc::clone(&env.jobs),
        Arc::clone(&notifier) as Arc<dyn Notifier>,
        Arc::new(StaticFetcher::new(StaticFetcherSettings::default()).expect("fetcher")),
        SchedulePolicy::default(),
    );

    let outcome = checker.handle(request).await.expect("not an error");
    assert!(
        matches!(
            &outcome,
            HandleOutcome::Recorded { outcome: CheckOutcome::Failed(CheckFailure::Forbidden(_)), alert: None }
        ),
        "{outcome:?}"
    );
    let stored = env.job(job.key()).await.expect("job");
    assert_eq!(
        stored.last_error.as_deref(),
        Some("refused to fetch the page: the address of 127.0.0.1 is on a private or internal network")
    );
    assert_eq!(stored.last_price, None);
    assert!(notifier.alerts().is_empty());
}

#[tokio::test]
async fn a_failed_hand_over_keeps_the_alert_and_never_holds_the_check_back() {
    let env = Env::new().await;
    let shop = Shop::start().await;
    shop.set_price(Some("10"));
    let job = env.create_job(shop.url(), "80").await;
    let request = env.claim_request(job.key(), chrono::Utc::now()).await;
    let notifier = Arc::new(RecordingNotifier::default());
    let checker = checker(&env, &notifier);

    // The delivery stage's intake is down: the check is recorded all the same.
    notifier.set_failing(true);
    let outcome = checker.handle(request).await.expect("a failed hand-over is not an error");
    assert!(matches!(outcome, HandleOutcome::Recorded { alert: Some(_), .. }), "{outcome:?}");
    let stored = env.job(job.key()).await.expect("job");
    let pending = stored.pending_alert.clone().expect("alert kept in the outbox");
    assert_eq!(stored.alert_state, AlertState::Fired);
    assert!(stored.last_checked_at.is_some());

    // Still down at the next check: the job is checked again (last_checked_at moves), the alert
    // stays pending with its id.
    let next = env.claim_request(job.key(), later(2)).await;
    assert!(matches!(checker.handle(next).await.expect("check"), HandleOutcome::Recorded { alert: None, .. }));
    let again = env.job(job.key()).await.expect("job");
    assert!(again.last_checked_at > stored.last_checked_at, "checks go on while delivery is down");
    assert_eq!(again.pending_alert.map(|a| a.id), Some(pending.id));
    assert_eq!(shop.hits(), 2);

    // Back up: a redelivered (stale) request hands the same alert over and checks nothing.
    notifier.set_failing(false);
    assert_eq!(checker.handle(next).await.expect("redelivery"), HandleOutcome::Stale);
    let alerts = notifier.alerts();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].id, pending.id, "the same alert id, so receivers can de-duplicate");
    assert_eq!(env.job(job.key()).await.expect("job").pending_alert, None);
    assert_eq!(shop.hits(), 2);

    // Later checks below the target stay quiet: the crossing already alerted.
    let next = env.claim_request(job.key(), later(4)).await;
    assert!(matches!(checker.handle(next).await.expect("check"), HandleOutcome::Recorded { alert: None, .. }));
    assert_eq!(notifier.alerts().len(), 1);
}

#[tokio::test]
async fn an_alert_left_in_the_outbox_is_handed_over_before_the_next_check() {
    let env = Env::new().await;
    let shop = Shop::start().await;
    shop.set_price(Some("10"));
    let job = env.create_job(shop.url(), "80").await;
    let request = env.claim_request(job.key(), chrono::Utc::now()).await;
    let notifier = Arc::new(RecordingNotifier::default());
    let checker = checker(&env, &notifier);
    notifier.set_failing(true);
    checker.handle(request).await.expect("recorded");
    let pending = env.job(job.key()).await.expect("job").pending_alert.expect("pending");

    // The next claim hands the old alert over, then checks.
    notifier.set_failing(false);
    shop.set_price(Some("90"));
    let next = env.claim_request(job.key(), later(2)).await;
    let outcome = checker.handle(next).await.expect("handled");
    assert!(matches!(outcome, HandleOutcome::Recorded { alert: None, .. }), "{outcome:?}");
    let alerts = notifier.alerts();
    assert_eq!(alerts.iter().map(|a| a.id).collect::<Vec<_>>(), vec![pending.id]);
    let stored = env.job(job.key()).await.expect("job");
    assert_eq!(stored.pending_alert, None, "not written back by the check");
    assert_eq!(stored.alert_state, AlertState::Armed);
}

#[tokio::test]
async fn a_price_back_above_target_rearms_and_the_next_crossing_alerts_again() {
    let env = Env::new().await;
    let shop = Shop::start().await;
    let job = env.create_job(shop.url(), "80").await;
    let notifier = Arc::new(RecordingNotifier::default());
    let checker = checker(&env, &notifier);

    let mut at = chrono::Utc::now();
    for (price, alerts, status) in [
        ("50", 1, JobStatus::Alerted),
        ("60", 1, JobStatus::Alerted),
        ("90", 1, JobStatus::Active),
        ("79.99", 2, JobStatus::Alerted),
    ] {
        shop.set_price(Some(price));
        let request = env.claim_request(job.key(), at).await;
        checker.handle(request).await.expect("handled");
        assert_eq!(notifier.alerts().len(), alerts, "after {price}");
        assert_eq!(env.job(job.key()).await.expect("job").status, status, "after {price}");
        at += chrono::Duration::hours(2);
    }
    let alerts = notifier.alerts();
    assert_ne!(alerts[0].id, alerts[1].id, "one alert per crossing");
    assert_eq!(alerts[1].price, eur("79.99"));
    assert_eq!(
        env.jobs
            .history(job.key(), &HistoryQuery { limit: 10, ..HistoryQuery::default() })
            .await
            .expect("history")
            .items
            .len(),
        4
    );
}

/// Stands in for the browser at this level (the real one is tested in `pricetrack-browser` and
/// end to end): serves a rendered page and counts its calls.
struct RenderedPage {
    html: String,
    calls: std::sync::atomic::AtomicUsize,
}

impl RenderedPage {
    fn new(html: &str) -> Arc<Self> {
        Arc::new(Self { html: html.to_owned(), calls: std::sync::atomic::AtomicUsize::new(0) })
    }

    fn calls(&self) -> usize {
        self.calls.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[async_trait]
impl PageFetcher for RenderedPage {
    async fn fetch(&self, url: &ProductUrl) -> Result<FetchedPage, FetchError> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(FetchedPage { final_url: url.as_url().clone(), status: 200, body: self.html.clone() })
    }
}

const RENDERED: &str = r#"<html><body><span itemprop="price" content="19.99">19,99 €</span>
<meta itemprop="priceCurrency" content="EUR"></body></html>"#;

#[tokio::test]
async fn a_page_without_a_price_in_its_html_is_rendered_in_the_browser() {
    let env = Env::new().await;
    let shop = Shop::start().await;
    shop.set_page(Some("<html><body><div id=app>loading…</div><script src=app.js></script></body></html>"));
    let job = env.create_job(shop.url(), "25").await;
    let request = env.claim_request(job.key(), chrono::Utc::now()).await;
    let notifier = Arc::new(RecordingNotifier::default());
    let browser = RenderedPage::new(RENDERED);
    let checker = checker(&env, &notifier).with_browser(Arc::clone(&browser) as Arc<dyn PageFetcher>, Vec::new());

    let outcome = checker.handle(request).await.expect("handled");
    let HandleOutcome::Recorded { outcome: CheckOutcome::Priced(offer), alert: Some(_) } = outcome else {
        panic!("expected a rendered price that alerts, got {outcome:?}");
    };
    assert_eq!(offer.price.amount, Decimal::from_str("19.99").expect("decimal"));
    assert_eq!(offer.method, "microdata+browser");
    assert_eq!((shop.hits(), browser.calls()), (1, 1), "static first, then the browser");
    assert_eq!(notifier.alerts().len(), 1);
}

#[tokio::test]
async fn the_browser_is_not_used_when_the_static_page_has_a_price_or_failed_to_load() {
    let env = Env::new().await;
    let shop = Shop::start().await;
    shop.set_price(Some("30"));
    let job = env.create_job(shop.url(), "25").await;
    let notifier = Arc::new(RecordingNotifier::default());
    let browser = RenderedPage::new(RENDERED);
    let checker = checker(&env, &notifier).with_browser(Arc::clone(&browser) as Arc<dyn PageFetcher>, Vec::new());

    let request = env.claim_request(job.key(), chrono::Utc::now()).await;
    let outcome = checker.handle(request).await.expect("handled");
    assert!(
        matches!(outcome, HandleOutcome::Recorded { outcome: CheckOutcome::Priced(_), alert: None }),
        "{outcome:?}"
    );
    assert_eq!(browser.calls(), 0);

    // A page that does not load is not retried in the browser: it would fail there too.
    let gone = env.create_job(ProductUrl::parse(&format!("{}/missing", shop.base)).expect("url"), "25").await;
    let request = env.claim_request(gone.key(), later(2)).await;
    let outcome = checker.handle(request).await.expect("handled");
    assert!(
        matches!(outcome, HandleOutcome::Recorded { outcome: CheckOutcome::Failed(CheckFailure::Fetch(_)), .. }),
        "{outcome:?}"
    );
    assert_eq!(browser.calls(), 0);
}

#[tokio::test]
async fn hosts_of_browser_rules_go_to_the_browser_directly() {
    let env = Env::new().await;
    let shop = Shop::start().await;
    shop.set_price(Some("30"));
    let job = env.create_job(shop.url(), "25").await;
    let request = env.claim_request(job.key(), chrono::Utc::now()).await;
    let notifier = Arc::new(RecordingNotifier::default());
    let browser = RenderedPage::new(RENDERED);
    let checker =
        checker(&env, &notifier).with_browser(Arc::clone(&browser) as Arc<dyn PageFetcher>, vec![" 127.0.0.1 ".into()]);

    let outcome = checker.handle(request).await.expect("handled");
    let HandleOutcome::Recorded { outcome: CheckOutcome::Priced(offer), .. } = outcome else {
        panic!("expected a price, got {outcome:?}");
    };
    assert_eq!(offer.method, "microdata+browser");
    assert_eq!((shop.hits(), browser.calls()), (0, 1), "the static fetch is skipped");
}

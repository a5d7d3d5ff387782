//! Fleet-wide politeness: three `scraper` processes on moto share one budget per shop host.
//! Measured at the shops: never more requests in flight than the configured concurrency, starts
//! at least the configured spacing apart, and a second shop's checks are not held back by the
//! first one's queue.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use common::{Service, aws_env, fresh_resources, set_visibility_timeout, take_messages, wait_for};
use pricetrack_aws::{DynamoJobStore, SqsCheckQueue, aws_sdk_dynamodb, aws_sdk_sqs};
use pricetrack_domain::ports::JobStore;
use pricetrack_domain::testing::{now_ms, sample_job};
use pricetrack_domain::{JobKey, ProductUrl, SchedulePolicy, UserId};

const SCRAPER: &str = env!("CARGO_BIN_EXE_scraper");
/// The budget under test.
const CONCURRENCY: usize = 2;
const SPACING: Duration = Duration::from_millis(500);
/// How long the busy shop takes to answer: long enough that requests would overlap without a
/// shared limit.
const BUSY_SHOP_ANSWER: Duration = Duration::from_millis(1200);
/// Starts closer than the spacing by less than this are scheduling jitter: a check starts at
/// most 50 ms after its turn (or gives it up), and on a loaded 2-core machine the request then
/// reaches the shop's handler a few tens of ms later, unevenly.
const JITTER: Duration = Duration::from_millis(100);

/// A shop that records when each request arrived and the most requests it had in flight.
#[derive(Clone, Default)]
struct MeasuringShop {
    answer_after: Duration,
    starts: Arc<Mutex<Vec<Instant>>>,
    in_flight: Arc<AtomicUsize>,
    most_in_flight: Arc<AtomicUsize>,
}

struct Leaving(Arc<AtomicUsize>);

impl Drop for Leaving {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn page(State(shop): State<MeasuringShop>) -> axum::response::Html<&'static str> {
    shop.starts.lock().expect("starts").push(Instant::now());
    let now_in_flight = shop.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    let _leaving = Leaving(Arc::clone(&shop.in_flight));
    shop.most_in_flight.fetch_max(now_in_flight, Ordering::SeqCst);
    tokio::time::sleep(shop.answer_after).await;
    axum::response::Html(
        r#"<!doctype html><html><head><title>Widget</title>
<script type="application/ld+json">{"@context":"https://schema.org","@type":"Product","name":"Widget",
"offers":{"@type":"Offer","price":"99.00","priceCurrency":"EUR"}}</script></head><body></body></html>"#,
    )
}

impl MeasuringShop {
    /// Serves at `http://<ip>:<port>/widget` (distinct loopback addresses are distinct hosts).
    async fn serve(&self, ip: &str) -> String {
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.expect("bind loopback");
        let addr = listener.local_addr().expect("addr");
        let router = Router::new().route("/widget", get(page)).with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.expect("shop") });
        format!("http://{addr}/widget")
    }

    fn starts(&self) -> Vec<Instant> {
        let mut starts = self.starts.lock().expect("starts").clone();
        starts.sort();
        starts
    }
}

async fn due_jobs(store: &DynamoJobStore, url: &str, count: usize) -> Vec<JobKey> {
    let user = UserId::new();
    let mut keys = Vec::new();
    for _ in 0..count {
        let mut job = sample_job(user, now_ms() - chrono::Duration::seconds(1));
        job.url = ProductUrl::parse(url).expect("shop url");
        store.create(&job).await.expect("create job");
        keys.push(job.key());
    }
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_scrapers_share_one_budget_per_shop_host() {
    let (config, resources) = fresh_resources("fleet").await;
    set_visibility_timeout(&config, &resources.queue_url, 10).await;
    let store = DynamoJobStore::new(aws_sdk_dynamodb::Client::new(&config), resources.table.clone());
    let queue = SqsCheckQueue::new(aws_sdk_sqs::Client::new(&config), resources.queue_url.clone());

    let busy = MeasuringShop { answer_after: BUSY_SHOP_ANSWER, ..MeasuringShop::default() };
    let quiet = MeasuringShop { answer_after: Duration::from_millis(20), ..MeasuringShop::default() };
    let busy_url = busy.serve("127.0.0.1").await;
    let quiet_url = quiet.serve("127.0.0.2").await;
    let busy_jobs = due_jobs(&store, &busy_url, 30).await;
    let quiet_jobs = due_jobs(&store, &quiet_url, 3).await;

    // All 33 requests are on the queue before any scraper starts: the worst case for the busy shop.
    let report = pricetrack_rescheduler::run_once(&store, &queue, now_ms(), &SchedulePolicy::default(), 100)
        .await
        .expect("rescheduler run");
    assert_eq!((report.sent, report.failed), (33, 0), "{report:?}");

    let mut env = aws_env(&resources);
    for (k, v) in [
        ("PRICETRACK_ALLOW_PRIVATE_TARGETS", "true"),
        ("PRICETRACK_HOST_CONCURRENCY", "2"),
        ("PRICETRACK_HOST_MIN_DELAY", "500ms"),
        ("PRICETRACK_WORKERS", "5"),
        ("PRICETRACK_VISIBILITY_TIMEOUT_SECS", "10"),
        ("PRICETRACK_MIN_CHECK_INTERVAL_SECS", "1"),
    ] {
        env.insert(k.to_owned(), v.to_owned());
    }
    let started = Instant::now();
    let mut scrapers: Vec<Service> =
        (1..=3).map(|n| Service::start(&format!("scraper-{n}"), SCRAPER, &[], &env)).collect();

    // Not slowed by the first: done in well under half the time the busy shop's checks take.
    let quiet_done = wait_for("the quiet shop's 3 checks", Duration::from_secs(60), async || {
        (quiet.starts().len() >= 3).then(Instant::now)
    })
    .await;
    wait_for("the busy shop's 30 checks", Duration::from_secs(120), async || (busy.starts().len() >= 30).then_some(()))
        .await;
    let busy_done = Instant::now();
    for key in busy_jobs.iter().chain(&quiet_jobs) {
        let key = *key;
        let store = &store;
        wait_for("every job's outcome recorded", Duration::from_secs(30), async || {
            let job = store.get(key).await.expect("get job")?;
            job.last_price.is_some().then_some(())
        })
        .await;
    }
    for scraper in &mut scrapers {
        scraper.assert_running();
    }

    let most = busy.most_in_flight.load(Ordering::SeqCst);
    assert!(most <= CONCURRENCY, "the busy shop saw {most} requests at once (limit {CONCURRENCY})");
    assert_eq!(most, CONCURRENCY, "the budget was never used in full: the test measures nothing");
    let starts = busy.starts();
    assert_eq!(starts.len(), 30, "each job checked once");
    let closest = starts.windows(2).map(|pair| pair[1] - pair[0]).min().expect("30 starts");
    assert!(closest + JITTER >= SPACING, "two requests to the busy shop only {closest:?} apart (spacing {SPACING:?})");

    let quiet_took = quiet_done - started;
    let busy_took = busy_done - started;
    assert!(
        quiet_took * 2 < busy_took,
        "the quiet shop waited for the busy one: its checks took {quiet_took:?}, the busy shop's {busy_took:?}"
    );
    // Waiting for a host is never a failed delivery: nothing reached the dead-letter queue.
    let dead = take_messages(&config, &resources.dead_letter_queue_url, Duration::ZERO).await;
    assert!(dead.is_empty(), "{} messages in the dead-letter queue", dead.len());
    println!(
        "fleet politeness: busy shop 30 checks in {busy_took:?}, closest starts {closest:?}, most in flight {most}; \
         quiet shop 3 checks in {quiet_took:?}"
    );
}

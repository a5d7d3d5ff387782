//! PoliteFetcher around StaticFetcher against local axum servers: spacing, per-host concurrency,
//! and back-off after 429/503; and through the checker, with jobs in SQLite.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use pricetrack_domain::ports::Notifier;
use pricetrack_domain::{CheckFailure, ProductUrl, SchedulePolicy};
use pricetrack_scraper::{
    Checker, FetchError, FetchedPage, HandleOutcome, PageFetcher, PoliteFetcher, PolitenessSettings, StaticFetcher,
    StaticFetcherSettings,
};
use support::{Env, RecordingNotifier};

const PAGE: &str = "<html><head><title>Kettle</title></head><body>49,99 €</body></html>";

#[derive(Default)]
struct ServerState {
    /// When each request to `/page` arrived.
    arrivals: Mutex<Vec<Instant>>,
    /// Requests being served now, and the most seen at once.
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// How long `/page` takes.
    delay: Mutex<Duration>,
    /// Requests to `/limited` and `/busy`.
    limited_hits: AtomicUsize,
    busy_hits: AtomicUsize,
}

type Shared = Arc<ServerState>;

async fn page(State(state): State<Shared>) -> impl IntoResponse {
    state.arrivals.lock().expect("lock").push(Instant::now());
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let delay = *state.delay.lock().expect("lock");
    tokio::time::sleep(delay).await;
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE)
}

/// 429 with `Retry-After: 2` on the first request, the page afterwards.
async fn limited(State(state): State<Shared>) -> Response {
    if state.limited_hits.fetch_add(1, Ordering::SeqCst) == 0 {
        (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "2")], "slow down").into_response()
    } else {
        PAGE.into_response()
    }
}

/// Always 503, without `Retry-After`.
async fn busy(State(state): State<Shared>) -> Response {
    state.busy_hits.fetch_add(1, Ordering::SeqCst);
    (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response()
}

async fn serve() -> (u16, Shared) {
    let state = Shared::default();
    let app = Router::new()
        .route("/page", get(page))
        .route("/limited", get(limited))
        .route("/busy", get(busy))
        .with_state(Arc::clone(&state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (port, state)
}

fn polite(settings: PolitenessSettings) -> Arc<PoliteFetcher> {
    let inner = StaticFetcher::new(StaticFetcherSettings {
        deadline: Duration::from_secs(5),
        allow_private_targets: true,
        ..StaticFetcherSettings::default()
    })
    .expect("client");
    Arc::new(PoliteFetcher::new(Arc::new(inner), settings))
}

fn url(host: &str, port: u16, path: &str) -> ProductUrl {
    ProductUrl::parse(&format!("http://{host}:{port}{path}")).expect("url")
}

#[test]
fn defaults_are_documented_values() {
    let settings = PolitenessSettings::default();
    assert_eq!(settings.max_concurrent_per_host, 2);
    assert_eq!(settings.min_delay, Duration::from_secs(1));
    assert_eq!(settings.max_backoff, Duration::from_secs(3600));
}

#[tokio::test]
async fn requests_to_the_same_host_are_spaced_by_the_minimum_delay() {
    let (port, state) = serve().await;
    let min_delay = Duration::from_millis(400);
    let fetcher = polite(PolitenessSettings { min_delay, ..PolitenessSettings::default() });
    // Two servers on one host name share the host's limits: the key is the name, not the port.
    let (other_port, other_state) = serve().await;
    let urls =
        [url("127.0.0.1", port, "/page"), url("127.0.0.1", other_port, "/page"), url("127.0.0.1", port, "/page")];
    let tasks: Vec<_> = urls
        .into_iter()
        .map(|u| {
            let fetcher = Arc::clone(&fetcher);
            tokio::spawn(async move { fetcher.fetch(&u).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("join").expect("page");
    }
    let mut arrivals = state.arrivals.lock().expect("lock").clone();
    arrivals.extend(other_state.arrivals.lock().expect("lock").iter().copied());
    arrivals.sort();
    assert_eq!(arrivals.len(), 3);
    for pair in arrivals.windows(2) {
        let gap = pair[1] - pair[0];
        // A few milliseconds of connection jitter between the reserved start and the arrival.
        assert!(gap + Duration::from_millis(30) >= min_delay, "requests {gap:?} apart");
    }
}

#[tokio::test]
async fn different_hosts_are_not_delayed() {
    let (port, state) = serve().await;
    let fetcher = polite(PolitenessSettings { min_delay: Duration::from_secs(3), ..PolitenessSettings::default() });
    let started = Instant::now();
    let a = {
        let fetcher = Arc::clone(&fetcher);
        tokio::spawn(async move { fetcher.fetch(&url("127.0.0.1", port, "/page")).await })
    };
    let b = {
        let fetcher = Arc::clone(&fetcher);
        tokio::spawn(async move { fetcher.fetch(&url("localhost", port, "/page")).await })
    };
    a.await.expect("join").expect("page");
    b.await.expect("join").expect("page");
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    assert_eq!(state.arrivals.lock().expect("lock").len(), 2);
    assert_eq!(fetcher.tracked_hosts(), 2);
}

#[tokio::test]
async fn concurrency_per_host_never_exceeds_the_limit() {
    let (port, state) = serve().await;
    *state.delay.lock().expect("lock") = Duration::from_millis(250);
    let fetcher = polite(PolitenessSettings { min_delay: Duration::ZERO, ..PolitenessSettings::default() });
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let fetcher = Arc::clone(&fetcher);
            tokio::spawn(async move { fetcher.fetch(&url("127.0.0.1", port, "/page")).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("join").expect("page");
    }
    assert_eq!(state.arrivals.lock().expect("lock").len(), 6);
    assert_eq!(state.max_in_flight.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn retry_after_backs_the_host_off_and_fails_fast() {
    let (port, state) = serve().await;
    let fetcher = polite(PolitenessSettings { min_delay: Duration::ZERO, ..PolitenessSettings::default() });
    let target = url("127.0.0.1", port, "/limited");

    let err = fetcher.fetch(&target).await.expect_err("429");
    assert!(matches!(err, FetchError::Throttled { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.starts_with("the shop asked us to slow down; retrying after "), "{message}");
    assert!(matches!(err.to_check_failure(), CheckFailure::Fetch(m) if m == message));
    assert_eq!(state.limited_hits.load(Ordering::SeqCst), 1);

    // Within the two seconds: refused without reaching the shop, other paths of the host too.
    let asked = Instant::now();
    let err = fetcher.fetch(&target).await.expect_err("backed off");
    assert!(matches!(err, FetchError::Throttled { .. }), "{err:?}");
    let err = fetcher.fetch(&url("127.0.0.1", port, "/page")).await.expect_err("backed off");
    assert!(matches!(err, FetchError::Throttled { .. }), "{err:?}");
    assert!(asked.elapsed() < Duration::from_millis(200), "not fast: {:?}", asked.elapsed());
    assert_eq!(state.limited_hits.load(Ordering::SeqCst), 1);
    assert!(state.arrivals.lock().expect("lock").is_empty());

    tokio::time::sleep(Duration::from_millis(2200)).await;
    fetcher.fetch(&target).await.expect("page after the back-off");
    assert_eq!(state.limited_hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn service_unavailable_without_retry_after_backs_off_exponentially() {
    let (port, state) = serve().await;
    let fetcher = polite(PolitenessSettings {
        min_delay: Duration::ZERO,
        initial_backoff: Duration::from_millis(500),
        ..PolitenessSettings::default()
    });
    let target = url("127.0.0.1", port, "/busy");

    let first = fetcher.fetch(&target).await.expect_err("503");
    let FetchError::Throttled { until: first_until } = first else { panic!("{first:?}") };
    let err = fetcher.fetch(&target).await.expect_err("backed off");
    assert!(matches!(err, FetchError::Throttled { .. }), "{err:?}");
    assert_eq!(state.busy_hits.load(Ordering::SeqCst), 1);

    tokio::time::sleep(Duration::from_millis(600)).await;
    let second = fetcher.fetch(&target).await.expect_err("503 again");
    let FetchError::Throttled { until: second_until } = second else { panic!("{second:?}") };
    assert_eq!(state.busy_hits.load(Ordering::SeqCst), 2);
    // The second back-off is twice the first (1 s after 0.5 s).
    let first_wait = first_until - chrono::Utc::now();
    let second_wait = second_until - chrono::Utc::now();
    assert!(second_wait > first_wait + chrono::Duration::milliseconds(800), "{first_wait} then {second_wait}");
}

/// A fetcher that never touches the network.
struct Fake;

#[async_trait]
impl PageFetcher for Fake {
    async fn fetch(&self, url: &ProductUrl) -> Result<FetchedPage, FetchError> {
        Ok(FetchedPage { final_url: url.as_url().clone(), status: 200, body: PAGE.to_owned() })
    }
}

#[tokio::test]
async fn idle_hosts_are_forgotten() {
    let fetcher = PoliteFetcher::new(
        Arc::new(Fake),
        PolitenessSettings { min_delay: Duration::ZERO, max_hosts: 3, ..PolitenessSettings::default() },
    );
    for i in 0..20 {
        let target = ProductUrl::parse(&format!("https://shop{i}.example/p")).expect("url");
        fetcher.fetch(&target).await.expect("page");
        assert!(fetcher.tracked_hosts() <= 3, "{} hosts", fetcher.tracked_hosts());
    }
    // Host names are compared in lower case.
    fetcher.fetch(&ProductUrl::parse("https://SHOP19.example/q").expect("url")).await.expect("page");
    assert!(fetcher.tracked_hosts() <= 3);
}

fn polite_checker(env: &Env, fetcher: Arc<PoliteFetcher>) -> Checker {
    let notifier = Arc::new(RecordingNotifier::default());
    Checker::new(Arc::clone(&env.jobs), notifier as Arc<dyn Notifier>, fetcher, SchedulePolicy::default())
}

#[tokio::test]
async fn two_jobs_on_the_same_host_are_spaced() {
    let env = Env::new().await;
    let (port, state) = serve().await;
    let min_delay = Duration::from_millis(500);
    let checker =
        Arc::new(polite_checker(&env, polite(PolitenessSettings { min_delay, ..PolitenessSettings::default() })));
    let a = env.create_job(url("127.0.0.1", port, "/page"), "10").await.key();
    let b = env.create_job(url("127.0.0.1", port, "/page"), "10").await.key();
    let at = chrono::Utc::now();
    let claimed = env.claim_at(at).await;
    let requests: Vec<_> = claimed
        .iter()
        .filter(|c| c.key == a || c.key == b)
        .map(|c| pricetrack_domain::CheckRequest::new(c.key, c.version))
        .collect();
    assert_eq!(requests.len(), 2);
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|request| {
            let checker = Arc::clone(&checker);
            tokio::spawn(async move { checker.handle(request).await })
        })
        .collect();
    for task in tasks {
        let outcome = task.await.expect("join").expect("handled");
        assert!(matches!(outcome, HandleOutcome::Recorded { .. }), "{outcome:?}");
    }
    let arrivals = state.arrivals.lock().expect("lock").clone();
    assert_eq!(arrivals.len(), 2);
    let gap = arrivals[1] - arrivals[0];
    assert!(gap + Duration::from_millis(30) >= min_delay, "checks {gap:?} apart");
    for key in [a, b] {
        let job = env.job(key).await.expect("job");
        // Both pages were fetched (the page has no structured price; what matters is the fetch).
        assert!(job.last_checked_at.is_some(), "{job:?}");
        assert!(!job.last_error.unwrap_or_default().contains("slow down"));
    }
}

#[tokio::test]
async fn a_throttled_check_says_so_in_last_error() {
    let env = Env::new().await;
    let (port, state) = serve().await;
    let checker = polite_checker(&env, polite(PolitenessSettings::default()));
    let key = env.create_job(url("127.0.0.1", port, "/limited"), "10").await.key();
    let request = env.claim_request(key, chrono::Utc::now()).await;
    let outcome = checker.handle(request).await.expect("handled");
    assert!(matches!(outcome, HandleOutcome::Recorded { .. }), "{outcome:?}");
    let job = env.job(key).await.expect("job");
    let error = job.last_error.expect("last_error");
    assert!(error.contains("the shop asked us to slow down; retrying after "), "{error}");
    assert!(job.last_price.is_none());
    assert_eq!(state.limited_hits.load(Ordering::SeqCst), 1);
}

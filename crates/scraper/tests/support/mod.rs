//! Shared test fixtures: a local shop server, a recording notifier, a SQLite database.

#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use pricetrack_domain::ports::{ClaimedJob, JobStore, Notifier, NotifyError, UserStore};
use pricetrack_domain::{
    Alert, CheckInterval, CheckRequest, Currency, Email, Job, JobKey, NewJob, PasswordHash, ProductUrl, SchedulePolicy,
    TargetPrice, Timestamp, User, UserId,
};
use pricetrack_embedded::Database;
use pricetrack_scraper::{Checker, StaticFetcher, StaticFetcherSettings};

/// What the shop serves at `/product`.
#[derive(Default)]
pub struct ShopState {
    /// The price shown, or none (a page without a price).
    pub price: Mutex<Option<String>>,
    /// A whole page served instead of the priced one, when set.
    pub page: Mutex<Option<String>>,
    /// How long the page takes.
    pub delay: Mutex<Duration>,
    /// Requests served (counted when they arrive).
    pub hits: AtomicUsize,
}

/// A local shop on 127.0.0.1.
#[derive(Clone)]
pub struct Shop {
    pub base: String,
    pub state: Arc<ShopState>,
}

impl Shop {
    pub async fn start() -> Self {
        let state = Arc::new(ShopState::default());
        let app = Router::new().route("/product", get(product)).with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base: format!("http://{addr}"), state }
    }

    pub fn url(&self) -> ProductUrl {
        ProductUrl::parse(&format!("{}/product", self.base)).expect("url")
    }

    pub fn set_price(&self, price: Option<&str>) {
        *self.state.price.lock().expect("lock") = price.map(str::to_owned);
    }

    /// Serves `html` as the product page (instead of the priced page) until cleared with `None`.
    pub fn set_page(&self, html: Option<&str>) {
        *self.state.page.lock().expect("lock") = html.map(str::to_owned);
    }

    pub fn set_delay(&self, delay: Duration) {
        *self.state.delay.lock().expect("lock") = delay;
    }

    pub fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }
}

async fn product(State(state): State<Arc<ShopState>>) -> impl IntoResponse {
    state.hits.fetch_add(1, Ordering::SeqCst);
    let delay = *state.delay.lock().expect("lock");
    tokio::time::sleep(delay).await;
    let page = state.page.lock().expect("lock").clone();
    let price = state.price.lock().expect("lock").clone();
    let body = match (page, price) {
        (Some(page), _) => page,
        (None, Some(price)) => format!(
            r#"<html><head><title>Kettle</title><script type="application/ld+json">
            {{"@context":"https://schema.org","@type":"Product","name":"Kettle",
              "offers":{{"@type":"Offer","price":"{price}","priceCurrency":"EUR",
                         "availability":"https://schema.org/InStock"}}}}
            </script></head><body><h1>Kettle</h1></body></html>"#
        ),
        (None, None) => {
            "<html><head><title>Kettle</title></head><body><h1>Kettle</h1><p>Sold out, no price.</p></body></html>"
                .to_owned()
        }
    };
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body)
}

/// A notifier that records what it publishes, and can be made to fail.
#[derive(Default)]
pub struct RecordingNotifier {
    pub published: Mutex<Vec<Alert>>,
    pub failing: AtomicBool,
    pub attempts: AtomicUsize,
}

impl RecordingNotifier {
    pub fn alerts(&self) -> Vec<Alert> {
        self.published.lock().expect("lock").clone()
    }

    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}

#[async_trait]
impl Notifier for RecordingNotifier {
    async fn publish(&self, alert: &Alert) -> Result<(), NotifyError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        if self.failing.load(Ordering::SeqCst) {
            return Err(NotifyError::Backend("notifier is down".into()));
        }
        self.published.lock().expect("lock").push(alert.clone());
        Ok(())
    }
}

/// A fresh SQLite database in a temporary directory.
pub struct Env {
    pub db: Database,
    pub jobs: Arc<dyn JobStore>,
    pub user: User,
    _dir: tempfile::TempDir,
}

impl Env {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Database::open(&dir.path().join("pricetrack.db")).await.expect("open db");
        let jobs: Arc<dyn JobStore> = Arc::new(db.jobs());
        let user = User {
            id: UserId::new(),
            email: Email::parse(&format!("u{}@example.com", UserId::new().as_uuid().simple())).expect("email"),
            created_at: chrono::Utc::now(),
        };
        db.users()
            .create(&user, &PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()))
            .await
            .expect("user");
        Self { db, jobs, user, _dir: dir }
    }

    /// Creates a job due now with the given target (EUR).
    pub async fn create_job(&self, url: ProductUrl, target: &str) -> Job {
        let now = chrono::Utc::now();
        let policy = SchedulePolicy::default();
        let job = Job::create(
            self.user.id,
            NewJob {
                url,
                target_price: TargetPrice::parse(target).expect("target"),
                currency: Some(Currency::EUR),
                check_interval: CheckInterval::new(3600, &policy).expect("interval"),
                price_selector: None,
            },
            now,
            now - chrono::Duration::seconds(1),
        );
        self.jobs.create(&job).await.expect("create job");
        job
    }

    /// Claims every job due at `at`, as the rescheduler would.
    pub async fn claim_at(&self, at: Timestamp) -> Vec<ClaimedJob> {
        let lease = chrono::Duration::from_std(SchedulePolicy::default().lease).expect("lease");
        self.jobs.claim_due(at, at + lease, 100).await.expect("claim")
    }

    /// Claims the one due job and returns the check request for it.
    pub async fn claim_request(&self, key: JobKey, at: Timestamp) -> CheckRequest {
        let claimed = self.claim_at(at).await;
        let mine = claimed.iter().find(|c| c.key == key).expect("job claimed");
        CheckRequest::new(mine.key, mine.version)
    }

    pub async fn job(&self, key: JobKey) -> Option<Job> {
        self.jobs.get(key).await.expect("get")
    }
}

pub fn local_fetcher() -> Arc<StaticFetcher> {
    Arc::new(
        StaticFetcher::new(StaticFetcherSettings { allow_private_targets: true, ..StaticFetcherSettings::default() })
            .expect("fetcher"),
    )
}

pub fn checker(env: &Env, notifier: &Arc<RecordingNotifier>) -> Checker {
    Checker::new(
        Arc::clone(&env.jobs),
        Arc::clone(notifier) as Arc<dyn Notifier>,
        local_fetcher(),
        SchedulePolicy::default(),
    )
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if condition().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

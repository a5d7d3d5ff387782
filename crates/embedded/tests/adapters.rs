//! What the contract suites cannot say about the SQLite adapters: durability across restarts,
//! receipt rotation, the storage format, and the notifiers' wire format.

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use pricetrack_domain::ports::{CheckQueue, JobStore, Notifier, NotifyError, QueueError, UserStore};
use pricetrack_domain::testing::{fully_populated_job, sample_user};
use pricetrack_domain::{Alert, AlertId, Currency, JobId, Money, ProductUrl, TargetPrice, UserId};
use pricetrack_embedded::{Database, LogNotifier, QueueSettings, WebhookNotifier};
use rust_decimal::Decimal;
use sqlx::Row;

fn short_visibility() -> QueueSettings {
    QueueSettings { visibility_timeout: Duration::from_secs(1), max_receive_count: 5 }
}

#[tokio::test]
async fn open_creates_parent_directories_and_reopens() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("a").join("b").join("pricetrack.db");
    let db = Database::open(&path).await.expect("open creates the file and its directories");
    db.jobs().ping().await.expect("ping");
    db.close().await;
    assert!(path.exists(), "the database file must exist");
    let again = Database::open(&path).await.expect("reopening an up-to-date database must succeed");
    again.users().ping().await.expect("ping");
}

#[tokio::test]
async fn queue_survives_reopening_the_database() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("pricetrack.db");

    let db = Database::open(&path).await.expect("open");
    let queue = db.queue(short_visibility());
    let waiting = "waiting".to_owned();
    let in_flight = "in flight".to_owned();
    queue.send_batch(std::slice::from_ref(&in_flight)).await.expect("send");
    let got = queue.receive(10, Duration::from_secs(1)).await.expect("receive");
    assert_eq!(got.len(), 1, "the in-flight message is received before the restart");
    queue.send_batch(std::slice::from_ref(&waiting)).await.expect("send");
    db.close().await;
    drop(db);

    let db = Database::open(&path).await.expect("reopen");
    let queue = db.queue(short_visibility());
    let mut bodies = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while bodies.len() < 2 && tokio::time::Instant::now() < deadline {
        for delivery in queue.receive(10, Duration::from_secs(1)).await.expect("receive") {
            let expected_count = if delivery.body == in_flight { 2 } else { 1 };
            assert_eq!(delivery.receive_count, expected_count, "receive counts survive the restart");
            queue.ack(&delivery.receipt).await.expect("ack");
            bodies.push(delivery.body);
        }
    }
    bodies.sort();
    assert_eq!(
        bodies,
        vec![in_flight, waiting],
        "a waiting message and one in flight at the restart must both be delivered after it"
    );
}

#[tokio::test]
async fn a_receipt_from_an_earlier_receive_is_stale() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = Database::open(&dir.path().join("pricetrack.db")).await.expect("open");
    let queue = db.queue(short_visibility());
    queue.send_batch(&["body".to_owned()]).await.expect("send");
    let first = queue.receive(1, Duration::from_secs(1)).await.expect("receive").remove(0);
    let second = queue.receive(1, Duration::from_secs(3)).await.expect("receive");
    let second = second.into_iter().next().expect("redelivered after the visibility timeout");
    assert_eq!(second.receive_count, 2);
    assert!(matches!(queue.ack(&first.receipt).await, Err(QueueError::StaleReceipt)));
    assert!(matches!(queue.extend(&first.receipt, Duration::from_secs(60)).await, Err(QueueError::StaleReceipt)));
    queue.ack(&second.receipt).await.expect("the newest receipt acknowledges");
    assert!(matches!(queue.ack(&second.receipt).await, Err(QueueError::StaleReceipt)));
}

#[tokio::test]
async fn timestamps_are_integers_and_decimals_are_text() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("pricetrack.db");
    let db = Database::open(&path).await.expect("open");
    let job = fully_populated_job(UserId::new());
    db.jobs().create(&job).await.expect("create");
    db.close().await;

    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display())).await.expect("connect");
    let row = sqlx::query(
        "SELECT typeof(target_price) AS target, typeof(last_price) AS price, \
         typeof(next_check_at) AS due, typeof(created_at) AS created, target_price AS raw FROM jobs",
    )
    .fetch_one(&pool)
    .await
    .expect("read back");
    let kinds: Vec<String> =
        ["target", "price", "due", "created", "raw"].iter().map(|c| row.get::<String, _>(*c)).collect();
    assert_eq!(kinds, ["text", "text", "integer", "integer", "1299.99"]);
    pool.close().await;
}

fn alert(user_id: UserId, currency: Option<Currency>) -> Alert {
    Alert {
        id: AlertId::new(),
        job_id: JobId::new(),
        user_id,
        url: ProductUrl::parse("https://shop.example/p/1?colour=red").expect("url"),
        price: Money::new(Decimal::from_str("49.90").expect("decimal"), currency),
        target_price: TargetPrice::parse("50").expect("target"),
        checked_at: pricetrack_domain::testing::now_ms(),
        details: Default::default(),
    }
}

type Captured = Arc<Mutex<Vec<(HeaderMap, serde_json::Value)>>>;

/// A webhook receiver on 127.0.0.1 that records what it gets and answers `status`.
async fn webhook(status: StatusCode) -> (url::Url, Captured) {
    async fn receive(
        State((captured, status)): State<(Captured, StatusCode)>,
        headers: HeaderMap,
        Json(body): Json<serde_json::Value>,
    ) -> StatusCode {
        captured.lock().expect("lock").push((headers, body));
        status
    }
    let captured = Captured::default();
    let app = axum::Router::new().route("/hook", post(receive)).with_state((Arc::clone(&captured), status));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let url = url::Url::parse(&format!("http://{addr}/hook?token=s3cret")).expect("url");
    (url, captured)
}

#[tokio::test]
async fn webhook_posts_the_alert_with_email_and_idempotency_key() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = Database::open(&dir.path().join("pricetrack.db")).await.expect("open");
    let (user, hash) = sample_user();
    db.users().create(&user, &hash).await.expect("create user");
    let (url, captured) = webhook(StatusCode::NO_CONTENT).await;
    let notifier = WebhookNotifier::new(url, Arc::new(db.users())).expect("notifier");

    let with_currency = alert(user.id, Some(Currency::EUR));
    notifier.publish(&with_currency).await.expect("a 2xx answer is a delivery");
    notifier.publish(&with_currency).await.expect("publishing again is allowed");
    let without_currency = alert(user.id, None);
    notifier.publish(&without_currency).await.expect("delivery");

    let got = captured.lock().expect("lock").clone();
    assert_eq!(got.len(), 3);
    let (headers, body) = &got[0];
    assert_eq!(
        headers.get("idempotency-key").and_then(|v| v.to_str().ok()),
        Some(with_currency.id.to_string().as_str())
    );
    assert_eq!(
        body,
        &serde_json::json!({
            "alert_id": with_currency.id.to_string(),
            "job_id": with_currency.job_id.to_string(),
            "user_id": user.id.to_string(),
            "email": user.email.as_str(),
            "url": "https://shop.example/p/1?colour=red",
            "price": "49.90",
            "currency": "EUR",
            "target_price": "50",
            "checked_at": serde_json::to_value(with_currency.checked_at).expect("time"),
        })
    );
    assert_eq!(
        got[1].0.get("idempotency-key"),
        headers.get("idempotency-key"),
        "a republished alert carries the same idempotency key"
    );
    assert_eq!(got[2].1["currency"], serde_json::Value::Null);
}

#[tokio::test]
async fn webhook_failures_are_errors_that_leak_no_url_or_email() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = Database::open(&dir.path().join("pricetrack.db")).await.expect("open");
    let (user, hash) = sample_user();
    db.users().create(&user, &hash).await.expect("create user");
    let users: Arc<dyn UserStore> = Arc::new(db.users());

    let (url, captured) = webhook(StatusCode::INTERNAL_SERVER_ERROR).await;
    let failing = WebhookNotifier::new(url, Arc::clone(&users)).expect("notifier");
    let err = failing.publish(&alert(user.id, None)).await.expect_err("HTTP 500 is not a delivery");
    assert_eq!(captured.lock().expect("lock").len(), 1, "the webhook was called");
    let shown = format!("{err:?} {err}");
    assert!(shown.contains("500"), "the error says what the webhook answered: {shown}");

    // Nobody listens on this port any more: a connection error.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    drop(listener);
    let url = url::Url::parse(&format!("http://127.0.0.1:{port}/hook?token=s3cret")).expect("url");
    let unreachable = WebhookNotifier::new(url, Arc::clone(&users)).expect("notifier");
    let err = unreachable.publish(&alert(user.id, None)).await.expect_err("no server, no delivery");
    let mut shown = format!("{err:?} {err}");
    let mut source = std::error::Error::source(&err);
    while let Some(inner) = source {
        shown.push_str(&format!(" {inner:?} {inner}"));
        source = inner.source();
    }
    assert!(!shown.contains("s3cret"), "errors must not carry the webhook URL: {shown}");
    assert!(!shown.contains(user.email.as_str()), "errors must not carry the email: {shown}");

    let (url, captured) = webhook(StatusCode::OK).await;
    let notifier = WebhookNotifier::new(url, users).expect("notifier");
    let gone = notifier
        .publish(&alert(UserId::new(), None))
        .await
        .expect_err("an alert whose user is gone cannot be delivered");
    assert!(matches!(gone, NotifyError::Refused(_)), "no later attempt finds a deleted user: {gone:?}");
    assert!(captured.lock().expect("lock").is_empty(), "nothing is sent without a recipient");
}

/// A 4xx other than 408 and 429 (and a redirect, which is not followed) is a refusal, permanent
/// at once; 408, 429 and 5xx are worth another try.
#[tokio::test]
async fn webhook_refusals_are_permanent_and_busy_answers_are_retryable() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = Database::open(&dir.path().join("pricetrack.db")).await.expect("open");
    let (user, hash) = sample_user();
    db.users().create(&user, &hash).await.expect("create user");
    let users: Arc<dyn UserStore> = Arc::new(db.users());
    for (status, permanent) in [
        (StatusCode::BAD_REQUEST, true),
        (StatusCode::UNAUTHORIZED, true),
        (StatusCode::NOT_FOUND, true),
        (StatusCode::GONE, true),
        (StatusCode::MOVED_PERMANENTLY, true),
        (StatusCode::REQUEST_TIMEOUT, false),
        (StatusCode::TOO_MANY_REQUESTS, false),
        (StatusCode::BAD_GATEWAY, false),
        (StatusCode::SERVICE_UNAVAILABLE, false),
    ] {
        let (url, captured) = webhook(status).await;
        let notifier = WebhookNotifier::new(url, Arc::clone(&users)).expect("notifier");
        let err = notifier.publish(&alert(user.id, None)).await.expect_err("not a 2xx");
        assert_eq!(captured.lock().expect("lock").len(), 1, "{status}: one request");
        assert_eq!(matches!(err, NotifyError::Refused(_)), permanent, "{status}: {err:?}");
        assert!(format!("{err:?}").contains(status.as_str()), "the error names the status: {err:?}");
    }
}

#[tokio::test]
async fn log_notifier_always_succeeds() {
    LogNotifier.publish(&alert(UserId::new(), None)).await.expect("logging never fails");
}

/// Run-length history counted in rows: a year of daily checks at one price is one row of
/// `price_points`; a change adds one; deleting the job removes them.
#[tokio::test]
async fn a_year_of_unchanged_prices_is_one_row() {
    use pricetrack_domain::testing::sample_job;
    use pricetrack_domain::{Availability, CheckOutcome, CheckedOffer, SchedulePolicy};

    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("pricetrack.db");
    let db = Database::open(&path).await.expect("open");
    let store = db.jobs();
    let start = chrono::Utc::now() - chrono::Duration::days(366);
    let job = sample_job(UserId::new(), start);
    store.create(&job).await.expect("create");
    let priced = |amount: &str| {
        CheckOutcome::Priced(CheckedOffer {
            price: Money::new(Decimal::from_str(amount).expect("decimal"), Some(Currency::EUR)),
            availability: Some(Availability::InStock),
            method: "test".into(),
        })
    };
    let mut current = job.clone();
    for day in 0..=365 {
        let t =
            current.after_check(&priced("42.00"), start + chrono::Duration::days(day), &SchedulePolicy::default(), 0);
        store.record_check(&t.job, current.version, t.observation.as_ref()).await.expect("record");
        current = t.job;
    }
    let t = current.after_check(&priced("41"), chrono::Utc::now(), &SchedulePolicy::default(), 0);
    store.record_check(&t.job, current.version, t.observation.as_ref()).await.expect("record");

    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display())).await.expect("connect");
    let rows = |pool: sqlx::SqlitePool| async move {
        sqlx::query("SELECT COUNT(*) AS n, COALESCE(SUM(checks), 0) AS checks FROM price_points")
            .fetch_one(&pool)
            .await
            .map(|row| (row.get::<i64, _>("n"), row.get::<i64, _>("checks")))
            .expect("count")
    };
    assert_eq!(rows(pool.clone()).await, (2, 367), "366 equal checks are one row; the change is another");
    assert!(store.delete(job.key()).await.expect("delete"));
    assert_eq!(rows(pool).await, (0, 0), "deleting the job deletes its history");
}

//! The three services as separate processes over moto_server and PostgreSQL, with a product page
//! on 127.0.0.1: sign up, create a job, lower the price, see exactly one alert; kill -9 the
//! scraper in the middle of a check and see the job checked again with no duplicate alert; a job
//! whose first check request could not be queued is still checked; SIGTERM stops each service
//! with status 0, the scraper after finishing the check it has in flight.

mod common;

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::{Service, Shop, free_port, set_visibility_timeout, take_messages, wait_for};
use pricetrack_aws::AlertMessage;
use pricetrack_postgres::testing::TestDatabase;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

const API: &str = env!("CARGO_BIN_EXE_api");
const SCRAPER: &str = env!("CARGO_BIN_EXE_scraper");
const RESCHEDULER: &str = env!("CARGO_BIN_EXE_rescheduler");

/// The queue's (and the scraper's) visibility timeout: a killed worker's message is back this
/// soon.
const VISIBILITY_SECS: u32 = 4;

/// Reads a job through the API.
/// Every item of `table`, each as its debug text (to search for ids).
async fn table_items(sdk: &aws_config::SdkConfig, table: &str) -> Vec<String> {
    let client = aws_sdk_dynamodb::Client::new(sdk);
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = client.scan().table_name(table).set_exclusive_start_key(start).send().await.expect("scan");
        items.extend(out.items.unwrap_or_default().iter().map(|item| format!("{item:?}")));
        start = out.last_evaluated_key;
        if start.is_none() {
            return items;
        }
    }
}

async fn get_job(client: &reqwest::Client, url: &str) -> Option<Value> {
    let response = client.get(url).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json().await.ok()
}

fn checked_at(job: &Value) -> Option<DateTime<Utc>> {
    job["last_checked_at"].as_str()?.parse().ok()
}

/// The alerts in SNS envelopes.
fn alerts(bodies: &[String]) -> Vec<AlertMessage> {
    bodies
        .iter()
        .map(|body| {
            let envelope: Value = serde_json::from_str(body).expect("SNS envelope is JSON");
            assert_eq!(envelope["Type"], "Notification", "{envelope}");
            serde_json::from_str(envelope["Message"].as_str().expect("Message")).expect("alert message")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_to_one_alert_and_a_killed_scraper_loses_nothing() {
    let started = Instant::now();
    let db = TestDatabase::create().await.expect("a fresh PostgreSQL database");
    let (sdk, resources) = common::fresh_resources("e2e").await;
    set_visibility_timeout(&sdk, &resources.queue_url, VISIBILITY_SECS).await;
    let shop = Shop::default();
    let product = shop.serve("100.00").await;

    let env = common::programs_env(
        &resources,
        db.url().expose_secret(),
        &[
            ("PRICETRACK_VISIBILITY_TIMEOUT_SECS", &VISIBILITY_SECS.to_string()),
            ("PRICETRACK_SHUTDOWN_GRACE_SECS", "10"),
        ],
    );
    let port = free_port();
    let mut api_env = env.clone();
    api_env.insert("PRICETRACK_LISTEN".into(), format!("127.0.0.1:{port}"));

    let mut api = Service::start("api", API, &[], &api_env);
    let mut scraper = Service::start("scraper", SCRAPER, &[], &env);
    let mut rescheduler = Service::start("rescheduler", RESCHEDULER, &["--every", "1s"], &env);

    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder().cookie_store(true).build().expect("client");
    wait_for("the API to be ready", Duration::from_secs(60), async || {
        api.assert_running();
        let response = client.get(format!("{base}/readyz")).send().await.ok()?;
        response.status().is_success().then_some(())
    })
    .await;
    let ready_after = started.elapsed();

    // Sign up; the user's alerts reach a queue subscribed with the user's filter.
    let api_url = format!("{base}/api/v1");
    let credentials = json!({"email": "ada@example.com", "password": "correct horse"});
    let r = client.post(format!("{api_url}/signup")).json(&credentials).send().await.expect("signup");
    assert_eq!(r.status(), 201);
    let user: Value = r.json().await.expect("user json");
    let user_id: pricetrack_domain::UserId = user["id"].as_str().expect("user id").parse().expect("a user id");
    let inbox = pricetrack_aws::testing::subscribe_inbox(
        &sdk,
        &resources.topic_arn,
        pricetrack_aws::user_filter_policy(user_id),
    )
    .await;
    let r = client.post(format!("{api_url}/signin")).json(&credentials).send().await.expect("signin");
    assert_eq!(r.status(), 200);

    // The dashboard's preview: what a check would read on the page, before saving.
    let r = client.post(format!("{api_url}/preview")).json(&json!({"url": product})).send().await.expect("preview");
    assert_eq!(r.status(), 200);
    let preview: Value = r.json().await.expect("preview json");
    assert_eq!(preview["price"], "100.00", "{preview}");
    assert!(!preview["candidates"].as_array().expect("candidates").is_empty(), "{preview}");

    // A job at 80 EUR while the page says 100: checked at once, active, no alert.
    let r = client
        .post(format!("{api_url}/jobs"))
        .json(&json!({"url": product, "target_price": "80", "currency": "EUR", "check_interval_secs": 1}))
        .send()
        .await
        .expect("create job");
    assert_eq!(r.status(), 201);
    let job: Value = r.json().await.expect("job json");
    let job_id = job["id"].as_str().expect("job id").to_owned();
    let job_url = format!("{api_url}/jobs/{job_id}");
    let seen = wait_for("the first check", Duration::from_secs(30), async || {
        get_job(&client, &job_url).await.filter(|job| job["status"] == "active")
    })
    .await;
    assert_eq!(seen["last_price"], "100.00");

    // The price drops below the target: exactly one alert.
    shop.set_price("79.00");
    let first = wait_for("the alert", Duration::from_secs(30), async || {
        let bodies = take_messages(&sdk, &inbox, Duration::from_secs(1)).await;
        (!bodies.is_empty()).then_some(bodies)
    })
    .await;
    let mut received = alerts(&first);
    assert_eq!(received.len(), 1, "one alert: {received:?}");
    assert_eq!(received[0].job_id.to_string(), job_id);
    assert_eq!(received[0].user_id, user_id);
    assert_eq!(received[0].price, "79.00");
    assert_eq!(received[0].target_price, "80");
    assert_eq!(received[0].currency.as_deref(), Some("EUR"));

    // Several more checks at the low price (every second, through the rescheduler): still one.
    let after_alert = checked_at(&get_job(&client, &job_url).await.expect("job")).expect("checked");
    let requests_before = shop.requests.load(std::sync::atomic::Ordering::SeqCst);
    wait_for("three more checks", Duration::from_secs(30), async || {
        let job = get_job(&client, &job_url).await?;
        let more = shop.requests.load(std::sync::atomic::Ordering::SeqCst) >= requests_before + 3;
        (more && job["status"] == "alerted" && checked_at(&job)? > after_alert).then_some(())
    })
    .await;
    received.extend(alerts(&take_messages(&sdk, &inbox, Duration::from_secs(2)).await));
    assert_eq!(received.len(), 1, "one alert per crossing: {received:?}");

    // kill -9 the scraper in the middle of a check.
    shop.set_slow(true);
    wait_for("a check in flight", Duration::from_secs(30), async || (shop.in_flight() > 0).then_some(())).await;
    let killed_at = Utc::now();
    scraper.signal("KILL");
    let status = scraper.wait_exit(Duration::from_secs(10));
    assert!(!status.success(), "killed: {status}");
    drop(scraper);
    shop.set_slow(false);

    // A new scraper gets the message back when its visibility runs out, and checks the job.
    let mut scraper = Service::start("scraper-2", SCRAPER, &[], &env);
    let recovered = Instant::now();
    wait_for("a check after the kill", Duration::from_secs(60), async || {
        scraper.assert_running();
        let job = get_job(&client, &job_url).await?;
        (checked_at(&job)? > killed_at && job["status"] == "alerted").then_some(job)
    })
    .await;
    let recovery = recovered.elapsed();
    received.extend(alerts(&take_messages(&sdk, &inbox, Duration::from_secs(2)).await));
    assert_eq!(received.len(), 1, "no duplicate alert after the crash: {received:?}");

    // A job whose first check request cannot be queued is still checked: the rescheduler picks
    // it up when its lease (short here) runs out. This API sends to a queue that does not exist.
    let broken_port = free_port();
    let mut broken_env = env.clone();
    broken_env.insert("PRICETRACK_LISTEN".into(), format!("127.0.0.1:{broken_port}"));
    broken_env.insert("PRICETRACK_QUEUE_URL".into(), format!("{}-missing", resources.queue_url));
    broken_env.insert("PRICETRACK_LEASE_SECS".into(), "5".into());
    let mut broken_api = Service::start("api-without-queue", API, &[], &broken_env);
    let broken_base = format!("http://127.0.0.1:{broken_port}");
    wait_for("the second API to be ready", Duration::from_secs(60), async || {
        broken_api.assert_running();
        let response = client.get(format!("{broken_base}/readyz")).send().await.ok()?;
        response.status().is_success().then_some(())
    })
    .await;
    let r = client
        .post(format!("{broken_base}/api/v1/jobs"))
        .json(&json!({"url": product, "target_price": "50", "currency": "EUR", "check_interval_secs": 1}))
        .send()
        .await
        .expect("create job");
    assert_eq!(r.status(), 201, "the job is stored even when its first check request is not queued");
    let orphan: Value = r.json().await.expect("job json");
    let orphan_url = format!("{api_url}/jobs/{}", orphan["id"].as_str().expect("id"));
    assert!(broken_api.log().contains("the lease will bring the job back"), "{}", broken_api.log());
    wait_for("the unqueued job's first check", Duration::from_secs(30), async || {
        get_job(&client, &orphan_url).await.filter(|job| job["status"] == "active" && job["last_price"] == "79.00")
    })
    .await;

    // SIGTERM in the middle of a check: the scraper receives no more, lets the check finish
    // (and record its outcome), and exits 0.
    shop.set_slow(true);
    wait_for("a check in flight", Duration::from_secs(30), async || (shop.in_flight() > 0).then_some(())).await;
    let last_checks = async || {
        let main = checked_at(&get_job(&client, &job_url).await.expect("job")).expect("checked");
        let orphan = checked_at(&get_job(&client, &orphan_url).await.expect("job")).expect("checked");
        main.max(orphan)
    };
    let before_term = last_checks().await;
    scraper.signal("TERM");
    tokio::time::sleep(Duration::from_secs(1)).await;
    scraper.assert_running();
    shop.set_slow(false);
    let status = scraper.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "the scraper exited with {status} after SIGTERM:\n{}", scraper.log());
    assert!(last_checks().await > before_term, "the check in flight at SIGTERM was finished and recorded");

    // Deleting the account deletes everything of it on both backends: its jobs, their history,
    // its idempotency keys, channels and delivery log in DynamoDB, its sessions and the account
    // in PostgreSQL. Afterwards sign-in fails as for an unknown email, and the email is free.
    let job_ids = [job_id.clone(), orphan["id"].as_str().expect("id").to_owned()];
    let mentions_user = async || {
        let items = table_items(&sdk, &resources.table).await;
        items
            .into_iter()
            .filter(|item| item.contains(&user_id.to_string()) || job_ids.iter().any(|id| item.contains(id)))
            .collect::<Vec<_>>()
    };
    assert!(!mentions_user().await.is_empty(), "the user has items before the deletion");
    let r = client
        .delete(format!("{api_url}/me"))
        .json(&json!({"password": "correct horse"}))
        .send()
        .await
        .expect("delete me");
    assert_eq!(r.status(), 204);
    let left = mentions_user().await;
    assert!(left.is_empty(), "no item of the deleted user is left in DynamoDB: {left:#?}");
    let r = client.get(format!("{api_url}/me")).send().await.expect("me");
    assert_eq!(r.status(), 401, "the session ended with the account");
    let r = client.post(format!("{api_url}/signin")).json(&credentials).send().await.expect("signin");
    assert_eq!(r.status(), 401);
    let r = client.post(format!("{api_url}/signup")).json(&credentials).send().await.expect("signup");
    assert_eq!(r.status(), 201, "the email is free again");

    // SIGTERM stops the other services with status 0, promptly.
    for service in [&mut broken_api, &mut rescheduler, &mut api] {
        let stopping = Instant::now();
        let status = service.terminate(Duration::from_secs(30));
        assert!(status.success(), "{} exited with {status} after SIGTERM:\n{}", service.name, service.log());
        assert!(stopping.elapsed() < Duration::from_secs(15), "{} took {:?} to stop", service.name, stopping.elapsed());
    }
    received.extend(alerts(&take_messages(&sdk, &inbox, Duration::from_secs(1)).await));
    assert_eq!(received.len(), 1, "still one alert: {received:?}");

    #[allow(clippy::print_stderr, reason = "timings for the test log")]
    {
        eprintln!(
            "end-to-end: ready after {ready_after:?}, recovery after the kill {recovery:?}, total {:?}",
            started.elapsed()
        );
    }
}

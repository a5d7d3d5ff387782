//! Outages, reproduced without root through a fault-injecting TCP proxy between the programs and
//! moto_server or PostgreSQL (`pricetrack-fault-proxy`):
//!
//! - AWS hangs, then refuses: the API answers `503 unavailable` with `Retry-After` within 2 s,
//!   `/readyz` within 1 s, endpoints that need no AWS keep working; the workers back off, log
//!   the outage once and recover; the alert decided meanwhile arrives exactly once.
//! - PostgreSQL refuses, then hangs: sign-in and sign-up answer `503` with `Retry-After` within
//!   2 s, existing sessions are served, and sign-in works again without a restart.
//! - The rescheduler's Lambda handler reports a failure when it could not queue the due jobs.
//!
//! Each test prints what it measured (time to the first 503, time to recover) on stderr.

#![allow(clippy::print_stderr, reason = "the measured times are the tests' report")]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{JWT_SECRET, Service, Shop, aws_env, free_port, set_visibility_timeout, take_messages, wait_for};
use pricetrack_aws::{AwsAdapters, AwsWaits, DynamoJobStore, aws_sdk_dynamodb};
use pricetrack_domain::SchedulePolicy;
use pricetrack_domain::ports::JobStore;
use pricetrack_domain::testing::sample_job;
use pricetrack_fault_proxy::{Fault, FaultProxy};
use pricetrack_postgres::testing::TestDatabase;
use pricetrack_services::Rescheduler;
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

const API: &str = env!("CARGO_BIN_EXE_api");
const SCRAPER: &str = env!("CARGO_BIN_EXE_scraper");
const RESCHEDULER: &str = env!("CARGO_BIN_EXE_rescheduler");

/// What a user may wait for any answer during an outage.
const ANSWER_WITHIN: Duration = Duration::from_secs(2);
/// What a readiness probe may wait.
const READY_WITHIN: Duration = Duration::from_secs(1);
/// Scheduling slack of a loaded 2-core test machine on top of those bounds.
const SLACK: Duration = Duration::from_millis(250);

/// A timed request: the response and how long it took.
async fn timed(request: reqwest::RequestBuilder) -> (reqwest::Response, Duration) {
    let started = Instant::now();
    let response = request.send().await.expect("the API answers");
    (response, started.elapsed())
}

/// Asserts a `503 unavailable` in the one error shape, with `Retry-After`, naming no internals.
async fn assert_unavailable(response: reqwest::Response, what: &str) {
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{what}");
    assert!(response.headers().get("retry-after").is_some(), "{what}: Retry-After");
    let body: Value = response.json().await.expect("JSON body");
    assert_eq!(body["error"]["code"], "unavailable", "{what}: {body}");
    let text = body.to_string().to_lowercase();
    for internal in ["dynamo", "postgres", "sqs", "timeout", "127.0.0.1", "sqlx"] {
        assert!(!text.contains(internal), "{what}: the body names internals: {body}");
    }
}

/// The readiness answer, checked to come within [`READY_WITHIN`].
async fn readiness(client: &reqwest::Client, base: &str) -> (StatusCode, Value) {
    let (response, took) = timed(client.get(format!("{base}/readyz"))).await;
    assert!(took <= READY_WITHIN + SLACK, "/readyz took {took:?}");
    let status = response.status();
    let body: Value = response.json().await.expect("readyz JSON");
    let dependencies =
        if status.is_success() { body["dependencies"].clone() } else { body["error"]["dependencies"].clone() };
    (status, dependencies)
}

/// GET `url` answered 200 per second over `window`, by 8 clients at once (sharing the session).
async fn jobs_per_second(client: &reqwest::Client, url: &str, window: Duration) -> f64 {
    let served = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let deadline = Instant::now() + window;
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (client, url, served) = (client.clone(), url.to_owned(), Arc::clone(&served));
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let answer = tokio::time::timeout(window, client.get(&url).send()).await;
                    if matches!(answer, Ok(Ok(ref r)) if r.status() == StatusCode::OK) {
                        served.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for task in clients {
        let _ = task.await;
    }
    #[allow(clippy::cast_precision_loss, clippy::float_arithmetic, reason = "a rate for a test's measurement")]
    let rate = served.load(std::sync::atomic::Ordering::Relaxed) as f64 / window.as_secs_f64();
    rate
}

fn count(log: &str, needle: &str) -> usize {
    log.lines().filter(|line| line.contains(needle)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_hanging_then_refusing_gets_fast_503s_and_everything_recovers() {
    let db = TestDatabase::create().await.expect("a fresh PostgreSQL database");
    let (sdk, resources) = common::fresh_resources("outage").await;
    set_visibility_timeout(&sdk, &resources.queue_url, 4).await;
    let moto_addr = common::moto().endpoint().trim_start_matches("http://").parse().expect("moto address");
    let proxy = FaultProxy::start(moto_addr).await.expect("proxy");
    let shop = Shop::default();
    let product = shop.serve("100.00").await;

    let env = common::programs_env(
        &resources,
        db.url().expose_secret(),
        &[
            ("AWS_ENDPOINT_URL", proxy.http_url().as_str()),
            ("PRICETRACK_LEASE_SECS", "10"),
            ("PRICETRACK_VISIBILITY_TIMEOUT_SECS", "4"),
            ("PRICETRACK_SHUTDOWN_GRACE_SECS", "5"),
        ],
    );
    let port = free_port();
    let mut api_env = env.clone();
    api_env.insert("PRICETRACK_LISTEN".into(), format!("127.0.0.1:{port}"));
    let mut api = Service::start("api", API, &[], &api_env);
    let mut scraper = Service::start("scraper", SCRAPER, &[], &env);
    let mut rescheduler = Service::start("rescheduler", RESCHEDULER, &["--every", "1s"], &env);

    let base = format!("http://127.0.0.1:{port}");
    let api_url = format!("{base}/api/v1");
    let client = reqwest::Client::builder().cookie_store(true).build().expect("client");
    wait_for("the API to be ready", Duration::from_secs(60), async || {
        api.assert_running();
        let response = client.get(format!("{base}/readyz")).send().await.ok()?;
        response.status().is_success().then_some(())
    })
    .await;
    let (status, dependencies) = readiness(&client, &base).await;
    assert_eq!(status, StatusCode::OK);
    // `slow` (a probe over 300 ms) is still ready: a loaded test machine may get there.
    for name in ["postgres", "dynamodb", "sqs"] {
        assert!(matches!(dependencies[name].as_str(), Some("ok" | "slow")), "{dependencies}");
    }

    let credentials = json!({"email": "ada@example.com", "password": "correct horse"});
    let r = client.post(format!("{api_url}/signup")).json(&credentials).send().await.expect("signup");
    assert_eq!(r.status(), 201);
    let user: Value = r.json().await.expect("user");
    let user_id: pricetrack_domain::UserId = user["id"].as_str().expect("id").parse().expect("user id");
    let inbox = pricetrack_aws::testing::subscribe_inbox(
        &sdk,
        &resources.topic_arn,
        pricetrack_aws::user_filter_policy(user_id),
    )
    .await;
    let r = client.post(format!("{api_url}/signin")).json(&credentials).send().await.expect("signin");
    assert_eq!(r.status(), 200);
    let r = client
        .post(format!("{api_url}/jobs"))
        .json(&json!({"url": product, "target_price": "80", "currency": "EUR", "check_interval_secs": 1}))
        .send()
        .await
        .expect("create job");
    assert_eq!(r.status(), 201);
    let job: Value = r.json().await.expect("job");
    let job_url = format!("{api_url}/jobs/{}", job["id"].as_str().expect("job id"));
    wait_for("the first check", Duration::from_secs(30), async || {
        let job: Value = client.get(&job_url).send().await.ok()?.json().await.ok()?;
        (job["status"] == "active").then_some(())
    })
    .await;

    // GET /jobs throughput before the outage, to compare the recovery with.
    let jobs_list = format!("{api_url}/jobs");
    let baseline = jobs_per_second(&client, &jobs_list, Duration::from_secs(2)).await;
    assert!(baseline > 0.0, "GET /jobs is served before the outage");

    // AWS stops answering. The price falls meanwhile: the alert is decided once AWS is back.
    let outage_started = Instant::now();
    proxy.set(Fault::Hang);
    shop.set_price("75.00");
    let mut first_503 = None;
    let mut slowest = Duration::ZERO;
    while outage_started.elapsed() < Duration::from_secs(6) {
        let (response, took) = timed(client.get(format!("{api_url}/jobs"))).await;
        slowest = slowest.max(took);
        assert!(took <= ANSWER_WITHIN + SLACK, "GET /jobs took {took:?} during the AWS outage");
        assert_ne!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            first_503.get_or_insert(outage_started.elapsed());
            assert_unavailable(response, "GET /jobs while AWS hangs").await;
        }
        let (status, dependencies) = readiness(&client, &base).await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(dependencies["dynamodb"], "down", "{dependencies}");
            assert_ne!(dependencies["postgres"], "down", "{dependencies}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first_503 = first_503.expect("GET /jobs answered 503 during the outage");
    // Known down: refused at once, without waiting on AWS.
    let (response, took) = timed(client.get(format!("{api_url}/jobs"))).await;
    assert!(took < Duration::from_millis(300), "a request while AWS is known down took {took:?}");
    assert_unavailable(response, "GET /jobs while AWS is known down").await;
    let (response, took) = timed(client.get(&job_url)).await;
    assert!(took < Duration::from_millis(300));
    assert_unavailable(response, "GET /jobs/{id} while AWS is known down").await;
    let (status, _) = readiness(&client, &base).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "the pod leaves the Service during the outage");
    // What needs no AWS keeps working: sign-in (PostgreSQL), the liveness probe.
    let r = client.post(format!("{api_url}/signin")).json(&credentials).send().await.expect("signin");
    assert_eq!(r.status(), 200, "sign-in needs no AWS");
    assert_eq!(client.get(format!("{base}/healthz")).send().await.expect("healthz").status(), 200);

    // Then AWS refuses connections for a while: the workers' calls fail fast and back off.
    proxy.set(Fault::Refuse);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (response, took) = timed(client.get(format!("{api_url}/jobs"))).await;
    assert!(took <= ANSWER_WITHIN + SLACK);
    assert_unavailable(response, "GET /jobs while AWS refuses").await;
    api.assert_running();
    scraper.assert_running();
    rescheduler.assert_running();

    // AWS is back.
    let recovery_started = Instant::now();
    proxy.set(Fault::None);
    wait_for("GET /jobs to be served again", Duration::from_secs(5), async || {
        let response = client.get(format!("{api_url}/jobs")).send().await.ok()?;
        (response.status() == StatusCode::OK).then_some(())
    })
    .await;
    let recovered_after = recovery_started.elapsed();
    // Back at full throughput within 10 s of AWS coming back: one-second windows until one
    // serves at least 80% of the rate before the outage (the backlog of a frozen API, the
    // prober's state and the SDK's connections all recover by themselves).
    let mut windows = Vec::new();
    let full_after = loop {
        let rate = jobs_per_second(&client, &jobs_list, Duration::from_secs(1)).await;
        windows.push(rate.round());
        if rate >= 0.8 * baseline {
            break recovery_started.elapsed();
        }
        assert!(
            recovery_started.elapsed() < Duration::from_secs(10),
            "GET /jobs not back at full throughput 10 s after AWS came back: {baseline:.0}/s before, windows after {windows:?}"
        );
    };
    wait_for("/readyz to be ready again", Duration::from_secs(5), async || {
        (readiness(&client, &base).await.0 == StatusCode::OK).then_some(())
    })
    .await;

    // The alert decided after the outage arrives, exactly once.
    let mut bodies = Vec::new();
    wait_for("the alert", Duration::from_secs(60), async || {
        bodies.extend(take_messages(&sdk, &inbox, Duration::from_secs(1)).await);
        (!bodies.is_empty()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    bodies.extend(take_messages(&sdk, &inbox, Duration::from_secs(1)).await);
    assert_eq!(bodies.len(), 1, "exactly one alert: {bodies:?}");
    let job: Value = client.get(&job_url).send().await.expect("job").json().await.expect("job JSON");
    assert_eq!(job["status"], "alerted", "{job}");

    // Nobody exited; the outages were logged once each, not once per attempt.
    api.assert_running();
    scraper.assert_running();
    rescheduler.assert_running();
    let (api_log, scraper_log, rescheduler_log) = (api.log(), scraper.log(), rescheduler.log());
    // Once per dependency (DynamoDB, and SQS, which is reported but gates nothing).
    assert_eq!(count(&api_log, "dependency is down"), 2, "api:\n{api_log}");
    assert_eq!(count(&api_log, "dependency is back"), 2, "api:\n{api_log}");
    let scraper_down = count(&scraper_log, "dependency is down");
    assert!((1..=2).contains(&scraper_down), "the scraper logs the outage once:\n{scraper_log}");
    assert!(count(&scraper_log, "dependency is back") >= 1, "scraper:\n{scraper_log}");
    let rescheduler_down = count(&rescheduler_log, "dependency is down");
    assert!((1..=2).contains(&rescheduler_down), "the rescheduler logs the outage once:\n{rescheduler_log}");
    assert!(count(&rescheduler_log, "dependency is back") >= 1, "rescheduler:\n{rescheduler_log}");

    eprintln!(
        "MEASURED aws outage: first 503 after {first_503:?} (slowest answer {slowest:?}); GET /jobs served again {recovered_after:?} after AWS came back, at full throughput ({baseline:.0}/s before; windows after {windows:?}) after {full_after:?}"
    );
    for service in [&mut api, &mut scraper, &mut rescheduler] {
        assert!(service.terminate(Duration::from_secs(20)).success(), "{} stops cleanly", service.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_gets_503_on_sign_in_keeps_sessions_and_recovers() {
    let db = TestDatabase::create().await.expect("a fresh PostgreSQL database");
    let (_sdk, resources) = common::fresh_resources("pg-outage").await;
    let mut db_url = reqwest::Url::parse(db.url().expose_secret()).expect("database URL");
    let pg_addr = format!("{}:{}", db_url.host_str().unwrap_or("127.0.0.1"), db_url.port().unwrap_or(5432));
    let pg_addr = tokio::net::lookup_host(pg_addr).await.expect("resolve").next().expect("an address");
    let proxy = FaultProxy::start(pg_addr).await.expect("proxy");
    db_url.set_host(Some("127.0.0.1")).expect("host");
    db_url.set_port(Some(proxy.addr().port())).expect("port");

    let mut env = aws_env(&resources);
    let port = free_port();
    for (k, v) in [
        ("DATABASE_URL", db_url.as_str()),
        ("PRICETRACK_JWT_SECRET", JWT_SECRET),
        ("PRICETRACK_COOKIE_SECURE", "false"),
        ("PRICETRACK_LISTEN", &format!("127.0.0.1:{port}")),
        // This test signs in as fast as it can for seconds on end, from one address.
        ("PRICETRACK_AUTH_BURST_PER_ADDRESS", "10000"),
    ] {
        env.insert(k.to_owned(), v.to_owned());
    }
    let mut api = Service::start("api", API, &[], &env);
    let base = format!("http://127.0.0.1:{port}");
    let api_url = format!("{base}/api/v1");
    let client = reqwest::Client::builder().cookie_store(true).build().expect("client");
    wait_for("the API to be ready", Duration::from_secs(60), async || {
        api.assert_running();
        let response = client.get(format!("{base}/readyz")).send().await.ok()?;
        response.status().is_success().then_some(())
    })
    .await;
    let credentials = json!({"email": "grace@example.com", "password": "correct horse"});
    assert_eq!(client.post(format!("{api_url}/signup")).json(&credentials).send().await.expect("signup").status(), 201);
    assert_eq!(client.post(format!("{api_url}/signin")).json(&credentials).send().await.expect("signin").status(), 200);
    let other = reqwest::Client::new();

    let mut first_503 = None;
    for fault in [Fault::Refuse, Fault::Hang] {
        let started = Instant::now();
        proxy.set(fault);
        proxy.cut();
        while started.elapsed() < Duration::from_secs(4) {
            let (signin, took) = timed(other.post(format!("{api_url}/signin")).json(&credentials)).await;
            assert!(took <= ANSWER_WITHIN + SLACK, "sign-in took {took:?} ({fault:?})");
            first_503.get_or_insert(started.elapsed());
            assert_unavailable(signin, &format!("sign-in while PostgreSQL is down ({fault:?})")).await;
            let new = json!({"email": "new@example.com", "password": "correct horse"});
            let (signup, took) = timed(other.post(format!("{api_url}/signup")).json(&new)).await;
            assert!(took <= ANSWER_WITHIN + SLACK, "sign-up took {took:?} ({fault:?})");
            assert_unavailable(signup, &format!("sign-up while PostgreSQL is down ({fault:?})")).await;
            // An existing session is served: jobs live in DynamoDB.
            let (jobs, took) = timed(client.get(format!("{api_url}/jobs"))).await;
            assert_eq!(jobs.status(), StatusCode::OK, "an existing session while PostgreSQL is down ({fault:?})");
            assert!(took <= ANSWER_WITHIN + SLACK);
            let (status, dependencies) = readiness(&client, &base).await;
            if status != StatusCode::OK {
                assert_eq!(dependencies["postgres"], "down", "{dependencies}");
            }
        }
        let (status, dependencies) = readiness(&client, &base).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{dependencies}");
    }
    let first_503 = first_503.expect("measured");

    let recovery_started = Instant::now();
    proxy.set(Fault::None);
    wait_for("sign-in to work again", Duration::from_secs(5), async || {
        let response = other.post(format!("{api_url}/signin")).json(&credentials).send().await.ok()?;
        (response.status() == StatusCode::OK).then_some(())
    })
    .await;
    let recovered_after = recovery_started.elapsed();
    api.assert_running();
    eprintln!(
        "MEASURED postgres outage: first sign-in 503 after {first_503:?}; sign-in served again {recovered_after:?} after PostgreSQL came back"
    );
    assert!(api.terminate(Duration::from_secs(25)).success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lambda_handler_fails_when_it_cannot_queue_due_jobs() {
    let (sdk, resources) = common::fresh_resources("lambda-outage").await;
    let moto_addr = common::moto().endpoint().trim_start_matches("http://").parse().expect("moto address");
    let proxy = FaultProxy::start(moto_addr).await.expect("proxy");
    let store = DynamoJobStore::new(aws_sdk_dynamodb::Client::new(&sdk), resources.table.clone());
    let user = pricetrack_domain::UserId::new();
    for _ in 0..3 {
        let job = sample_job(user, chrono::Utc::now() - chrono::Duration::minutes(1));
        store.create(&job).await.expect("a due job");
    }
    // The job store is reachable; the queue is behind the proxy.
    let short = AwsWaits {
        connect: Duration::from_millis(300),
        attempt: Duration::from_millis(500),
        operation: Duration::from_secs(1),
        max_attempts: 2,
    };
    let through_proxy = sdk.to_builder().endpoint_url(proxy.http_url()).build();
    let queue = AwsAdapters::new(through_proxy.clone()).with_waits(short).check_queue(&resources.queue_url);
    let jobs = AwsAdapters::new(sdk.clone()).with_waits(short).job_store(&resources.table);
    let policy = SchedulePolicy { lease: Duration::from_secs(2), ..SchedulePolicy::default() };
    let rescheduler = Rescheduler::new(Arc::new(jobs), Arc::new(queue), policy.clone());

    for fault in [Fault::Hang, Fault::Refuse] {
        proxy.set(fault);
        let started = Instant::now();
        let error = rescheduler.invocation_run(Duration::from_secs(30)).await.expect_err("the invocation fails");
        assert!(format!("{error:#}").contains("could not be queued"), "{error:#}");
        assert!(started.elapsed() < Duration::from_secs(10), "bounded: {:?}", started.elapsed());
        // The claimed jobs are due again after their lease.
        tokio::time::sleep(Duration::from_millis(2100)).await;
    }

    // Everything down: the claim itself fails, and so does the invocation.
    proxy.set(Fault::Hang);
    let all_down = AwsAdapters::new(through_proxy).with_waits(short);
    let broken = Rescheduler::new(
        Arc::new(all_down.job_store(&resources.table)),
        Arc::new(all_down.check_queue(&resources.queue_url)),
        policy,
    );
    assert!(broken.invocation_run(Duration::from_secs(30)).await.is_err());

    // Back: the next run catches up.
    proxy.set(Fault::None);
    let report = rescheduler.invocation_run(Duration::from_secs(30)).await.expect("the invocation succeeds");
    assert_eq!((report.claimed, report.sent, report.failed), (3, 3, 0), "{report:?}");
}

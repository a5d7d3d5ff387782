//! The rescheduler against moto_server: `--once` queues every due job exactly once and prints its
//! report; as a Lambda function (behind a stand-in for the Lambda runtime API) it answers each
//! invocation with its report, stops claiming when the invocation's deadline is near, and writes
//! its metrics as one CloudWatch Embedded Metric Format line per invocation.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::routing::{get, post};
use chrono::Utc;
use common::{Service, aws_env, take_messages, wait_for};
use pricetrack_aws::DynamoJobStore;
use pricetrack_aws::aws_config::SdkConfig;
use pricetrack_aws::aws_sdk_dynamodb;
use pricetrack_aws::bootstrap::Resources;
use pricetrack_domain::ports::JobStore;
use pricetrack_domain::testing::sample_job;
use pricetrack_domain::{CheckRequest, JobId, UserId};
use serde_json::Value;
use tokio::sync::mpsc;

const RESCHEDULER: &str = env!("CARGO_BIN_EXE_rescheduler");

/// Stores `due` jobs due a minute ago and `later` jobs due in an hour; returns the due ids.
async fn store_jobs(sdk: &SdkConfig, resources: &Resources, due: usize, later: usize) -> BTreeSet<JobId> {
    let store = DynamoJobStore::new(aws_sdk_dynamodb::Client::new(sdk), resources.table.clone());
    let user = UserId::new();
    let now = Utc::now();
    let mut ids = BTreeSet::new();
    for i in 0..due + later {
        let next = if i < due { now - chrono::Duration::minutes(1) } else { now + chrono::Duration::hours(1) };
        let job = sample_job(user, next);
        store.create(&job).await.expect("store a job");
        if i < due {
            ids.insert(job.id);
        }
    }
    ids
}

/// The job ids of the check requests on the queue.
async fn queued_job_ids(sdk: &SdkConfig, queue_url: &str) -> Vec<JobId> {
    let mut ids = Vec::new();
    // moto hands out everything at once; real SQS may not: a few rounds.
    for _ in 0..3 {
        for body in take_messages(sdk, queue_url, Duration::from_secs(1)).await {
            ids.push(CheckRequest::from_json(&body).expect("a check request").job_id);
        }
    }
    ids
}

fn run_once(env: &BTreeMap<String, String>) -> Value {
    let out = common::run_to_end(RESCHEDULER, &["--once"], env);
    assert!(out.status.success(), "--once failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

#[tokio::test]
async fn once_queues_each_due_job_once_and_prints_the_report() {
    let (sdk, resources) = common::fresh_resources("once").await;
    // More than one claim page (100) and many send batches (10).
    let due = store_jobs(&sdk, &resources, 123, 4).await;
    let mut env = aws_env(&resources);
    // All 123 jobs are on one shop: with the scrapers' pace the later ones would be sent with
    // delays of up to a minute. This test counts the queue at once, so the pace is 1 ms here
    // (delays round to whole seconds: none); spreading has its own tests (the rescheduler
    // crate's and the queue contract's).
    env.insert("PRICETRACK_HOST_MIN_DELAY".to_owned(), "1ms".to_owned());

    let report = run_once(&env);
    assert_eq!(report, serde_json::json!({"claimed": 123, "sent": 123, "failed": 0, "stopped_early": false}));
    let queued = queued_job_ids(&sdk, &resources.queue_url).await;
    assert_eq!(queued.len(), 123, "one request per due job");
    assert_eq!(queued.into_iter().collect::<BTreeSet<_>>(), due);

    // The claimed jobs are leased: a second run finds nothing due.
    let report = run_once(&env);
    assert_eq!(report["claimed"], 0);
    assert!(queued_job_ids(&sdk, &resources.queue_url).await.is_empty());
}

/// A stand-in for the Lambda runtime API: hands out the queued invocations (request id,
/// deadline), then holds `/next` open; collects the responses.
#[derive(Clone)]
struct FakeLambda {
    invocations: Arc<Mutex<Vec<(String, u64)>>>,
    responses: mpsc::UnboundedSender<(String, Value)>,
}

async fn next_invocation(State(lambda): State<FakeLambda>) -> (HeaderMap, String) {
    loop {
        let next = lambda.invocations.lock().expect("lock").pop();
        if let Some((request_id, deadline_ms)) = next {
            let mut headers = HeaderMap::new();
            headers.insert("lambda-runtime-aws-request-id", HeaderValue::from_str(&request_id).expect("header"));
            headers.insert("lambda-runtime-deadline-ms", HeaderValue::from(deadline_ms));
            headers.insert(
                "lambda-runtime-invoked-function-arn",
                HeaderValue::from_static("arn:aws:lambda:us-east-1:123456789012:function:rescheduler"),
            );
            let event = serde_json::json!({
                "version": "0", "id": request_id, "detail-type": "Scheduled Event", "source": "aws.events",
                "account": "123456789012", "time": Utc::now().to_rfc3339(), "region": "us-east-1",
                "resources": ["arn:aws:events:us-east-1:123456789012:rule/pricetrack-rescheduler"], "detail": {}
            });
            return (headers, event.to_string());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn invocation_response(State(lambda): State<FakeLambda>, Path(id): Path<String>, body: String) {
    let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    let _ = lambda.responses.send((id, value));
}

async fn invocation_error(State(lambda): State<FakeLambda>, Path(id): Path<String>, body: String) {
    let _ = lambda.responses.send((id, serde_json::json!({"error": body})));
}

fn deadline_in(after: Duration) -> u64 {
    u64::try_from((Utc::now() + chrono::Duration::from_std(after).expect("duration")).timestamp_millis())
        .expect("positive")
}

/// Starts the stand-in for the Lambda runtime API and the function against it; returns them and
/// the channel of the function's responses.
async fn start_lambda(resources: &Resources) -> (FakeLambda, Service, mpsc::UnboundedReceiver<(String, Value)>) {
    let (responses, received) = mpsc::unbounded_channel();
    let lambda = FakeLambda { invocations: Arc::default(), responses };
    let router = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
        .route("/2018-06-01/runtime/invocation/{id}/response", post(invocation_response))
        .route("/2018-06-01/runtime/invocation/{id}/error", post(invocation_error))
        .with_state(lambda.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let runtime_api = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move { axum::serve(listener, router).await.expect("fake runtime API") });

    let mut env = aws_env(resources);
    for (k, v) in [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.as_str()),
        ("AWS_LAMBDA_FUNCTION_NAME", "rescheduler"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
    ] {
        env.insert(k.to_owned(), v.to_owned());
    }
    let function = Service::start("rescheduler-lambda", RESCHEDULER, &[], &env);
    (lambda, function, received)
}

#[tokio::test]
async fn as_a_lambda_function_each_invocation_gets_its_report_within_the_deadline() {
    let (sdk, resources) = common::fresh_resources("lambda").await;
    let due = store_jobs(&sdk, &resources, 3, 1).await;
    let (lambda, mut function, mut received) = start_lambda(&resources).await;

    // A scheduled event with 30 s to go: the due jobs are queued.
    lambda.invocations.lock().expect("lock").push(("invocation-1".into(), deadline_in(Duration::from_secs(30))));
    let (id, report) = wait_for("the first response", Duration::from_secs(30), async || {
        function.assert_running();
        received.try_recv().ok()
    })
    .await;
    assert_eq!(id, "invocation-1");
    assert_eq!(report, serde_json::json!({"claimed": 3, "sent": 3, "failed": 0, "stopped_early": false}));
    assert_eq!(queued_job_ids(&sdk, &resources.queue_url).await.into_iter().collect::<BTreeSet<_>>(), due);

    // An invocation whose deadline is a moment away claims nothing: it would not finish in time.
    let late = store_jobs(&sdk, &resources, 2, 0).await;
    lambda.invocations.lock().expect("lock").push(("invocation-2".into(), deadline_in(Duration::from_millis(800))));
    let (id, report) = wait_for("the second response", Duration::from_secs(30), async || {
        function.assert_running();
        received.try_recv().ok()
    })
    .await;
    assert_eq!(id, "invocation-2");
    assert_eq!(report, serde_json::json!({"claimed": 0, "sent": 0, "failed": 0, "stopped_early": true}));

    // The next one, with time to spare, takes them.
    lambda.invocations.lock().expect("lock").push(("invocation-3".into(), deadline_in(Duration::from_secs(30))));
    let (_, report) = wait_for("the third response", Duration::from_secs(30), async || received.try_recv().ok()).await;
    assert_eq!(report["claimed"], 2);
    assert_eq!(queued_job_ids(&sdk, &resources.queue_url).await.into_iter().collect::<BTreeSet<_>>(), late);
}

/// The EMF records (CloudWatch Embedded Metric Format) in a log: the JSON lines with `_aws`.
fn emf_records(log: &str) -> Vec<Value> {
    log.lines()
        .filter(|line| line.starts_with('{'))
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|record| record.get("_aws").is_some())
        .collect()
}

#[tokio::test]
async fn as_a_lambda_function_each_run_writes_its_metrics_as_one_emf_line() {
    let (sdk, resources) = common::fresh_resources("emf").await;
    store_jobs(&sdk, &resources, 4, 2).await;
    let (lambda, mut function, mut received) = start_lambda(&resources).await;

    lambda.invocations.lock().expect("lock").push(("invocation-1".into(), deadline_in(Duration::from_secs(30))));
    let (_, report) = wait_for("the response", Duration::from_secs(30), async || {
        function.assert_running();
        received.try_recv().ok()
    })
    .await;
    assert_eq!(report["claimed"], 4);
    let records = wait_for("the EMF line", Duration::from_secs(10), async || {
        let records = emf_records(&function.log());
        (!records.is_empty()).then_some(records)
    })
    .await;
    assert_eq!(records.len(), 1, "one record per invocation: {records:?}");
    let record = &records[0];

    // The shape CloudWatch requires: a millisecond timestamp, one directive naming the namespace,
    // dimensions that are top-level strings, and metrics that are top-level numbers.
    let timestamp = record["_aws"]["Timestamp"].as_i64().expect("Timestamp in ms");
    assert!((Utc::now().timestamp_millis() - timestamp).abs() < 60_000, "a current timestamp: {timestamp}");
    let directives = record["_aws"]["CloudWatchMetrics"].as_array().expect("CloudWatchMetrics");
    assert_eq!(directives.len(), 1);
    assert_eq!(directives[0]["Namespace"], pricetrack_services::EMF_NAMESPACE);
    for set in directives[0]["Dimensions"].as_array().expect("Dimensions") {
        for dimension in set.as_array().expect("a dimension set") {
            let name = dimension.as_str().expect("a dimension name");
            assert!(record[name].is_string(), "dimension {name} is a top-level string: {record}");
        }
    }
    assert_eq!(record["FunctionName"], "rescheduler");
    let names: BTreeSet<&str> = directives[0]["Metrics"]
        .as_array()
        .expect("Metrics")
        .iter()
        .map(|m| {
            let name = m["Name"].as_str().expect("Name");
            assert!(record[name].is_number(), "metric {name} is a top-level number: {record}");
            assert!(["Count", "Milliseconds"].contains(&m["Unit"].as_str().expect("Unit")));
            name
        })
        .collect();
    assert_eq!(names.len(), pricetrack_services::RunMetrics::METRICS.len());

    // The values are the run's: 4 claimed and sent, none failed, the due index read.
    assert_eq!((record["Claimed"].as_u64(), record["Sent"].as_u64()), (Some(4), Some(4)), "{record}");
    assert_eq!((record["SendFailed"].as_u64(), record["RunErrors"].as_u64()), (Some(0), Some(0)), "{record}");
    let items_read = record["ItemsRead"].as_u64().expect("ItemsRead");
    assert!((4..=8).contains(&items_read), "about one item read per due job: {record}");
}

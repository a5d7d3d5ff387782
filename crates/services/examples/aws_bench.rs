//! Benchmarks of the AWS path, run against moto_server over real HTTP with the real SDK clients
//! (results in BENCHMARKS.md):
//!
//! 1. one rescheduler run over a table of `--jobs` jobs of which `--due` are due: how many items
//!    it read and how long it took (guarantee 6: cost grows with due jobs, not with the table);
//! 2. checks per second through SQS: `--checks` due jobs on a static page served on 127.0.0.1,
//!    queued by the rescheduler and checked by the scraper's worker pool (`--workers`).
//!
//! `cargo run --release -p pricetrack-services --example aws_bench -- --jobs 100000 --due 1000`
//!
//! moto is much slower than DynamoDB and SQS (and serialises DynamoDB requests), so the times are
//! an upper bound set mostly by moto; the item counts are exact.

#![allow(clippy::print_stdout, reason = "a benchmark prints its results")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use pricetrack_aws::bootstrap::{QueueSettings, ensure_queues, ensure_table, ensure_topic};
use pricetrack_aws::testing::{MotoServer, unique_name};
use pricetrack_aws::{DynamoJobStore, SnsNotifier, SqsCheckQueue};
use pricetrack_domain::ports::{JobStore, PageRequest};
use pricetrack_domain::testing::{now_ms, sample_job};
use pricetrack_domain::{ProductUrl, SchedulePolicy, UserId};
use pricetrack_scraper::{Checker, StaticFetcher, StaticFetcherSettings, WorkerSettings};
use tokio_util::sync::CancellationToken;

struct Args {
    jobs: usize,
    due: usize,
    checks: usize,
    workers: usize,
}

fn args() -> anyhow::Result<Args> {
    let mut parsed = Args { jobs: 100_000, due: 1_000, checks: 500, workers: 10 };
    let raw: Vec<String> = std::env::args().skip(1).collect();
    for pair in raw.chunks(2) {
        let value: usize = pair.get(1).context("every flag takes a number")?.parse().context("not a number")?;
        match pair[0].as_str() {
            "--jobs" => parsed.jobs = value,
            "--due" => parsed.due = value,
            "--checks" => parsed.checks = value,
            "--workers" => parsed.workers = value,
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    Ok(parsed)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let moto = MotoServer::start().map_err(anyhow::Error::msg)?;
    let config = moto.sdk_config().await;
    let dynamodb = pricetrack_aws::aws_sdk_dynamodb::Client::new(&config);
    let sqs = pricetrack_aws::aws_sdk_sqs::Client::new(&config);
    let sns = pricetrack_aws::aws_sdk_sns::Client::new(&config);
    let policy = SchedulePolicy { min_interval: Duration::from_secs(1), ..SchedulePolicy::default() };

    // 1. The rescheduler over a large table.
    let table = unique_name("bench-jobs");
    ensure_table(&dynamodb, &table).await?;
    let queues =
        ensure_queues(&sqs, &unique_name("bench-q"), &unique_name("bench-dlq"), &QueueSettings::default()).await?;
    let store = DynamoJobStore::new(dynamodb.clone(), table.clone());
    let queue = SqsCheckQueue::new(sqs.clone(), queues.queue_url.clone());
    let now = now_ms();
    let later = now + chrono::Duration::hours(1);
    let loading = Instant::now();
    futures::stream::iter(0..args.jobs)
        .map(|n| {
            let store = store.clone();
            let due_at = if n < args.due { now - chrono::Duration::seconds(1) } else { later };
            async move { store.create(&sample_job(UserId::new(), due_at)).await }
        })
        .buffer_unordered(32)
        .for_each(|result| async move { result.expect("create job") })
        .await;
    println!("loaded {} jobs ({} due) in {:.1?}", args.jobs, args.due, loading.elapsed());

    let read_before = store.items_read();
    let started = Instant::now();
    let report = pricetrack_rescheduler::run_once(&store, &queue, now_ms(), &policy, 100).await?;
    println!(
        "rescheduler run: claimed {}, sent {}, failed {}, items read {}, in {:.2?}",
        report.claimed,
        report.sent,
        report.failed,
        store.items_read() - read_before,
        started.elapsed()
    );

    // 2. Checks per second through SQS.
    let page = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let page_url = format!("http://{}/product", page.local_addr()?);
    let html = r#"<html><head><script type="application/ld+json">{"@type":"Product","name":"Widget","offers":{"@type":"Offer","price":"100.00","priceCurrency":"EUR"}}</script></head><body></body></html>"#;
    tokio::spawn(async move {
        let app = axum::Router::new()
            .route("/product", axum::routing::get(move || async move { axum::response::Html(html) }));
        axum::serve(page, app).await
    });
    let table = unique_name("bench-checks");
    ensure_table(&dynamodb, &table).await?;
    let queues =
        ensure_queues(&sqs, &unique_name("bench-cq"), &unique_name("bench-cdlq"), &QueueSettings::default()).await?;
    let topic = ensure_topic(&sns, &unique_name("bench-alerts")).await?;
    let store = Arc::new(DynamoJobStore::new(dynamodb.clone(), table));
    let queue = Arc::new(SqsCheckQueue::new(sqs.clone(), queues.queue_url));
    let user = UserId::new();
    for _ in 0..args.checks {
        let mut job = sample_job(user, now_ms() - chrono::Duration::seconds(1));
        job.url = ProductUrl::parse(&page_url)?;
        store.create(&job).await?;
    }
    let fetcher = Arc::new(StaticFetcher::new(StaticFetcherSettings {
        allow_private_targets: true,
        ..StaticFetcherSettings::default()
    })?);
    let notifier = Arc::new(SnsNotifier::new(sns.clone(), topic));
    let checker = Arc::new(Checker::new(store.clone(), notifier, fetcher, policy.clone()));
    // Queue every check first, so the rate below is the workers' alone.
    let queued = Instant::now();
    pricetrack_rescheduler::run_once(store.as_ref(), queue.as_ref(), now_ms(), &policy, 100).await?;
    println!("queued {} checks in {:.2?}", args.checks, queued.elapsed());
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let workers = tokio::spawn(pricetrack_scraper::run_workers(
        queue.clone(),
        checker,
        WorkerSettings {
            workers: args.workers,
            visibility_timeout: Duration::from_secs(60),
            receive_wait: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(10),
        },
        shutdown.clone(),
    ));
    loop {
        let mut checked = 0;
        let mut page = PageRequest { limit: PageRequest::MAX_LIMIT, cursor: None };
        loop {
            let listed = store.list(user, &page).await?;
            checked += listed.items.iter().filter(|job| job.last_checked_at.is_some()).count();
            match listed.next_cursor {
                Some(cursor) => page.cursor = Some(cursor),
                None => break,
            }
        }
        if checked >= args.checks {
            break;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(600), "checks did not finish in 10 minutes");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = started.elapsed();
    shutdown.cancel();
    workers.await?;
    #[allow(clippy::cast_precision_loss, clippy::float_arithmetic, reason = "a rate for display")]
    let rate = args.checks as f64 / elapsed.as_secs_f64();
    println!(
        "checks through SQS: {} checks with {} workers in {:.2?} = {rate:.1} checks/s",
        args.checks, args.workers, elapsed
    );
    Ok(())
}

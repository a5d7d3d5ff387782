//! The rescheduler's read cost on DynamoDB (moto): items read per due job, counted by the store,
//! over a run that claims page by page as the deployed rescheduler does.

mod common;

use common::fresh_resources;
use futures::{StreamExt, TryStreamExt};
use pricetrack_aws::{DynamoJobStore, SqsCheckQueue, aws_sdk_dynamodb, aws_sdk_sqs};
use pricetrack_domain::ports::JobStore;
use pricetrack_domain::testing::{now_ms, sample_job};
use pricetrack_domain::{SchedulePolicy, UserId};

/// 600 due jobs among 1,500, claimed 100 per page (the rescheduler's page size): at most 1.2
/// items read per due job (it was 2.5 when every shard was asked for a whole page).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_reads_at_most_1_2_items_per_due_job() {
    let (config, resources) = fresh_resources("reads").await;
    let store = DynamoJobStore::new(aws_sdk_dynamodb::Client::new(&config), resources.table.clone());
    let queue = SqsCheckQueue::new(aws_sdk_sqs::Client::new(&config), resources.queue_url.clone());
    let now = now_ms();
    let (total, due) = (1_500_usize, 600_usize);
    futures::stream::iter(0..total)
        .map(|i| {
            let at = if i < due {
                now - chrono::Duration::milliseconds(1_000 + i as i64)
            } else {
                now + chrono::Duration::hours(1)
            };
            let job = sample_job(UserId::new(), at);
            let store = &store;
            async move { store.create(&job).await }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await
        .expect("create jobs");

    let before = store.items_read();
    let report = pricetrack_rescheduler::run_once(
        &store,
        &queue,
        now_ms(),
        &SchedulePolicy::default(),
        pricetrack_rescheduler::DEFAULT_BATCH_LIMIT,
    )
    .await
    .expect("rescheduler run");
    let read = store.items_read() - before;
    assert_eq!((report.claimed, report.sent, report.failed), (due, due, 0), "{report:?}");
    let per_due_job = read as f64 / due as f64;
    println!("rescheduler run: {due} due of {total}, {read} items read, {per_due_job:.3} per due job");
    assert!(per_due_job <= 1.2, "{read} items read for {due} due jobs ({per_due_job:.3} per due job; at most 1.2)");
}

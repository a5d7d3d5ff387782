//! Fixtures shared by the test binaries: one moto_server per binary, and fresh, uniquely named
//! resources on it for every test.
#![allow(dead_code)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use pricetrack_aws::bootstrap::{QueueSettings, ensure_queues, ensure_table};
use pricetrack_aws::testing::{MotoServer, unique_name};
use pricetrack_aws::{DynamoJobStore, SqsCheckQueue};
use pricetrack_domain::testing::CheckQueueFixture;

/// The SDK configuration of this binary's moto server. Panics (so the test fails, never skips)
/// when moto_server is missing, with the way to install it.
pub async fn sdk_config() -> SdkConfig {
    match MotoServer::shared() {
        Ok(moto) => moto.sdk_config().await,
        Err(e) => panic!("{e}"),
    }
}

/// A job store on a fresh table.
pub async fn fresh_job_store() -> Arc<DynamoJobStore> {
    let client = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    let table = unique_name("jobs");
    ensure_table(&client, &table).await.expect("create a fresh table");
    Arc::new(DynamoJobStore::new(client, table))
}

/// The queue settings of the contract suite: short visibility, few receives.
pub const TEST_QUEUE: QueueSettings = QueueSettings {
    visibility_timeout_secs: 2,
    receive_wait_secs: 0,
    max_receive_count: 3,
    retention_secs: 3600,
    dead_letter_retention_secs: 3600,
};

/// A fresh queue with its dead-letter queue.
pub struct FreshQueue {
    pub queue: Arc<SqsCheckQueue>,
    pub client: aws_sdk_sqs::Client,
    pub dead_letter_queue_url: String,
}

pub async fn fresh_queue() -> FreshQueue {
    let client = aws_sdk_sqs::Client::new(&sdk_config().await);
    let name = unique_name("checks");
    let urls = ensure_queues(&client, &name, &format!("{name}-dlq"), &TEST_QUEUE).await.expect("create fresh queues");
    FreshQueue {
        queue: Arc::new(SqsCheckQueue::new(client.clone(), urls.queue_url)),
        client,
        dead_letter_queue_url: urls.dead_letter_queue_url,
    }
}

#[async_trait]
impl CheckQueueFixture for FreshQueue {
    type Queue = SqsCheckQueue;

    fn queue(&self) -> Arc<SqsCheckQueue> {
        Arc::clone(&self.queue)
    }

    fn visibility_timeout(&self) -> Duration {
        Duration::from_secs(u64::from(TEST_QUEUE.visibility_timeout_secs))
    }

    fn max_receive_count(&self) -> u32 {
        TEST_QUEUE.max_receive_count
    }

    /// Peeks at the dead-letter queue: receives with a visibility timeout of zero (so the
    /// messages stay there) until a receive brings nothing new, one body per message id.
    async fn dead_letter_bodies(&self) -> Vec<String> {
        let mut seen = HashSet::new();
        let mut bodies = Vec::new();
        for _ in 0..20 {
            let out = self
                .client
                .receive_message()
                .queue_url(&self.dead_letter_queue_url)
                .max_number_of_messages(10)
                .visibility_timeout(0)
                .wait_time_seconds(0)
                .send()
                .await
                .expect("read the dead-letter queue");
            let mut new = 0;
            for message in out.messages.unwrap_or_default() {
                let id = message.message_id.expect("a message id");
                if seen.insert(id) {
                    new += 1;
                    bodies.push(message.body.unwrap_or_default());
                }
            }
            if new == 0 {
                break;
            }
        }
        bodies
    }
}

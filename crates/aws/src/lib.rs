//! The AWS adapters of pricetrack: the job store on DynamoDB ([`DynamoJobStore`]), the check
//! queue on SQS ([`SqsCheckQueue`]), alerts through SNS ([`SnsNotifier`]), and the creation of
//! those resources for development and tests ([`bootstrap`]). Every name and number the
//! resources are made of is in [`schema`].
//!
//! Clients come from the SDK's default chain only ([`load_sdk_config`]): region, endpoint
//! (`AWS_ENDPOINT_URL`) and credentials are the standard environment, profile or instance
//! role; this crate never reads keys itself.
//!
//! ```no_run
//! # async fn demo() {
//! use pricetrack_aws::{DynamoJobStore, SnsNotifier, SqsCheckQueue};
//! use pricetrack_aws::{aws_sdk_dynamodb, aws_sdk_sns, aws_sdk_sqs};
//!
//! let config = pricetrack_aws::load_sdk_config().await;
//! let jobs = DynamoJobStore::new(aws_sdk_dynamodb::Client::new(&config), "pricetrack-jobs".into());
//! let queue = SqsCheckQueue::new(aws_sdk_sqs::Client::new(&config), "https://sqs…/checks".into());
//! let alerts = SnsNotifier::new(aws_sdk_sns::Client::new(&config), "arn:aws:sns:…:alerts".into());
//! # let _ = (jobs, queue, alerts);
//! # }
//! ```
//!
//! Every adapter passes the contract suites of `pricetrack_domain::testing`, against moto_server
//! over real HTTP (see [`testing`], feature `testing`).

pub mod bootstrap;
mod delivery;
mod hosts;
mod item;
mod jobs;
mod notify;
mod queue;
pub mod schema;
#[cfg(feature = "testing")]
pub mod testing;

pub use delivery::{DynamoChannelStore, DynamoDeliveryLog};
pub use hosts::{DynamoHostGate, HostBudget};
pub use item::CorruptItem;
pub use jobs::DynamoJobStore;
pub use notify::{AlertMessage, SnsEmail, SnsNotifier, user_filter_policy};
pub use queue::SqsCheckQueue;

/// The AWS SDK crates this crate builds on, re-exported so that callers build clients with the
/// same versions.
pub use {aws_config, aws_sdk_dynamodb, aws_sdk_sns, aws_sdk_sqs};

/// The SDK configuration from the default chain (`aws_config::defaults` with the latest
/// behavior version): region, endpoint and credentials from the standard environment
/// variables, profile files, or the container or instance role.
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await
}

/// The adapters of this crate over clients of one SDK configuration: what each program builds
/// at start-up, in one place.
#[derive(Debug, Clone)]
pub struct AwsAdapters {
    sdk: aws_config::SdkConfig,
}

impl AwsAdapters {
    /// Adapters over `sdk`.
    pub fn new(sdk: aws_config::SdkConfig) -> Self {
        Self { sdk }
    }

    /// Adapters with the SDK configuration of the default chain ([`load_sdk_config`]).
    pub async fn from_default_chain() -> Self {
        Self::new(load_sdk_config().await)
    }

    /// The job store on DynamoDB table `table`.
    pub fn job_store(&self, table: &str) -> DynamoJobStore {
        DynamoJobStore::new(aws_sdk_dynamodb::Client::new(&self.sdk), table.to_owned())
    }

    /// Each user's channels, in DynamoDB table `table` (the jobs' table).
    pub fn channel_store(&self, table: &str) -> DynamoChannelStore {
        DynamoChannelStore::new(aws_sdk_dynamodb::Client::new(&self.sdk), table.to_owned())
    }

    /// The delivery log, in DynamoDB table `table` (the jobs' table).
    pub fn delivery_log(&self, table: &str) -> DynamoDeliveryLog {
        DynamoDeliveryLog::new(aws_sdk_dynamodb::Client::new(&self.sdk), table.to_owned())
    }

    /// The check queue at SQS `queue_url`.
    pub fn check_queue(&self, queue_url: &str) -> SqsCheckQueue {
        SqsCheckQueue::new(aws_sdk_sqs::Client::new(&self.sdk), queue_url.to_owned())
    }

    /// Email channels through SNS topic `topic_arn`.
    pub fn email(&self, topic_arn: &str) -> SnsEmail {
        SnsEmail::new(aws_sdk_sns::Client::new(&self.sdk), topic_arn.to_owned())
    }

    /// The fleet-wide per-host politeness gate on the jobs table `table`.
    pub fn host_gate(&self, table: &str, budget: HostBudget) -> DynamoHostGate {
        DynamoHostGate::new(aws_sdk_dynamodb::Client::new(&self.sdk), table.to_owned(), budget)
    }

    /// The notifier publishing to SNS topic `topic_arn`.
    pub fn notifier(&self, topic_arn: &str) -> SnsNotifier {
        SnsNotifier::new(aws_sdk_sns::Client::new(&self.sdk), topic_arn.to_owned())
    }
}

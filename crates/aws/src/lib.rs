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
///
/// Every client gets bounded waits ([`AwsWaits`]): a connect timeout, a per-attempt timeout and
/// an operation timeout, and the SDK's standard retry mode (exponential back-off with jitter)
/// with a bounded number of attempts. The long-poll receive of the check queue gets its wait
/// time on top (see [`SqsCheckQueue::with_waits`]).
#[derive(Debug, Clone)]
pub struct AwsAdapters {
    sdk: aws_config::SdkConfig,
    waits: AwsWaits,
}

pub use pricetrack_settings::waits::AwsWaits;

impl AwsAdapters {
    /// Adapters over `sdk`, with the workers' waits ([`AwsWaits::WORKER`]) until
    /// [`with_waits`](Self::with_waits) says otherwise.
    pub fn new(sdk: aws_config::SdkConfig) -> Self {
        Self { sdk, waits: AwsWaits::WORKER }
    }

    /// Adapters with the SDK configuration of the default chain ([`load_sdk_config`]).
    pub async fn from_default_chain() -> Self {
        Self::new(load_sdk_config().await)
    }

    /// The same adapters, whose clients wait as `waits` says.
    pub fn with_waits(mut self, waits: AwsWaits) -> Self {
        self.waits = waits;
        self
    }

    /// The waits every client of these adapters gets.
    pub fn waits(&self) -> AwsWaits {
        self.waits
    }

    fn timeout_config(&self) -> aws_config::timeout::TimeoutConfig {
        aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(self.waits.connect)
            .operation_attempt_timeout(self.waits.attempt)
            .operation_timeout(self.waits.operation)
            .build()
    }

    fn retry_config(&self) -> aws_config::retry::RetryConfig {
        aws_config::retry::RetryConfig::standard()
            .with_max_attempts(self.waits.max_attempts)
            .with_initial_backoff(std::time::Duration::from_millis(50))
            .with_max_backoff(self.waits.attempt)
    }

    /// The job store on DynamoDB table `table`.
    pub fn job_store(&self, table: &str) -> DynamoJobStore {
        let config = aws_sdk_dynamodb::config::Builder::from(&self.sdk)
            .timeout_config(self.timeout_config())
            .retry_config(self.retry_config())
            .build();
        DynamoJobStore::new(aws_sdk_dynamodb::Client::from_conf(config), table.to_owned())
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
        let config = aws_sdk_sqs::config::Builder::from(&self.sdk)
            .timeout_config(self.timeout_config())
            .retry_config(self.retry_config())
            .build();
        SqsCheckQueue::new(aws_sdk_sqs::Client::from_conf(config), queue_url.to_owned()).with_waits(&self.waits)
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
        let config = aws_sdk_sns::config::Builder::from(&self.sdk)
            .timeout_config(self.timeout_config())
            .retry_config(self.retry_config())
            .build();
        SnsNotifier::new(aws_sdk_sns::Client::from_conf(config), topic_arn.to_owned())
    }
}

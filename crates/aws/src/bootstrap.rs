//! Creates the AWS resources of pricetrack, idempotently: the table (with its due index and
//! TTL), the check queue with its dead-letter queue, and the alert topic. Meant for development
//! and tests (against moto or a sandbox account); production resources come from Terraform,
//! which must match [`crate::schema`].

use std::collections::HashMap;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, IndexStatus, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TableStatus, TimeToLiveSpecification, TimeToLiveStatus,
};
use aws_sdk_sqs::types::QueueAttributeName;
use pricetrack_domain::ports::BackendError;

use crate::schema;

/// Why the resources could not be created or found.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// The table could not be created or described.
    #[error("could not create the DynamoDB table")]
    Table(#[source] BackendError),
    /// A table of that name exists with another shape.
    #[error("the DynamoDB table exists but {0}")]
    TableShape(&'static str),
    /// The table did not become active in time.
    #[error("the DynamoDB table did not become active within {0:?}")]
    TableNotActive(Duration),
    /// A queue could not be created or configured.
    #[error("could not create the SQS queue {0}")]
    Queue(&'static str, #[source] BackendError),
    /// The topic could not be created.
    #[error("could not create the SNS topic")]
    Topic(#[source] BackendError),
}

/// The names of the resources to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceNames {
    /// The DynamoDB table.
    pub table: String,
    /// The check queue.
    pub queue: String,
    /// The check queue's dead-letter queue.
    pub dead_letter_queue: String,
    /// The alert topic.
    pub topic: String,
    /// The delivery queue (subscribed to the alert topic).
    pub delivery_queue: String,
    /// The delivery queue's dead-letter queue.
    pub delivery_dead_letter_queue: String,
}

impl ResourceNames {
    /// Names derived from one prefix: `<prefix>-jobs`, `<prefix>-checks`, `<prefix>-checks-dlq`,
    /// `<prefix>-alerts`, `<prefix>-deliveries`, `<prefix>-deliveries-dlq`.
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            table: format!("{prefix}-jobs"),
            queue: format!("{prefix}-checks"),
            dead_letter_queue: format!("{prefix}-checks-dlq"),
            topic: format!("{prefix}-alerts"),
            delivery_queue: format!("{prefix}-deliveries"),
            delivery_dead_letter_queue: format!("{prefix}-deliveries-dlq"),
        }
    }
}

/// What [`bootstrap`] created (or found).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    /// The table's name.
    pub table: String,
    /// The check queue's URL.
    pub queue_url: String,
    /// The dead-letter queue's URL.
    pub dead_letter_queue_url: String,
    /// The alert topic's ARN.
    pub topic_arn: String,
    /// The delivery queue's URL.
    pub delivery_queue_url: String,
    /// The delivery dead-letter queue's URL.
    pub delivery_dead_letter_queue_url: String,
}

/// How the check queue and its dead-letter queue are set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSettings {
    /// Visibility timeout in seconds.
    pub visibility_timeout_secs: u32,
    /// Default long-poll wait in seconds.
    pub receive_wait_secs: u32,
    /// Receives after which a message goes to the dead-letter queue.
    pub max_receive_count: u32,
    /// Retention of the queue in seconds.
    pub retention_secs: u32,
    /// Retention of the dead-letter queue in seconds.
    pub dead_letter_retention_secs: u32,
}

impl QueueSettings {
    /// The delivery queue's production settings (see [`crate::schema`]).
    pub fn delivery() -> Self {
        Self {
            visibility_timeout_secs: schema::DELIVERY_QUEUE_VISIBILITY_TIMEOUT_SECS,
            max_receive_count: schema::DELIVERY_QUEUE_MAX_RECEIVE_COUNT,
            ..Self::default()
        }
    }
}

impl Default for QueueSettings {
    /// The production settings of [`crate::schema`].
    fn default() -> Self {
        Self {
            visibility_timeout_secs: schema::QUEUE_VISIBILITY_TIMEOUT_SECS,
            receive_wait_secs: schema::QUEUE_RECEIVE_WAIT_SECS,
            max_receive_count: schema::QUEUE_MAX_RECEIVE_COUNT,
            retention_secs: schema::QUEUE_RETENTION_SECS,
            dead_letter_retention_secs: schema::DEAD_LETTER_RETENTION_SECS,
        }
    }
}

/// The URLs of a queue and its dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueUrls {
    /// The queue.
    pub queue_url: String,
    /// Its dead-letter queue.
    pub dead_letter_queue_url: String,
}

/// How long [`ensure_table`] waits for a new table to become active.
pub const TABLE_ACTIVE_TIMEOUT: Duration = Duration::from_secs(300);

/// Creates every resource named in `names` that does not exist yet, with the settings of
/// [`crate::schema`], and returns them all. Running it again changes nothing and returns the
/// same resources.
pub async fn bootstrap(config: &SdkConfig, names: &ResourceNames) -> Result<Resources, BootstrapError> {
    let dynamodb = aws_sdk_dynamodb::Client::new(config);
    let sqs = aws_sdk_sqs::Client::new(config);
    let sns = aws_sdk_sns::Client::new(config);
    ensure_table(&dynamodb, &names.table).await?;
    let queues = ensure_queues(&sqs, &names.queue, &names.dead_letter_queue, &QueueSettings::default()).await?;
    let topic_arn = ensure_topic(&sns, &names.topic).await?;
    let deliveries =
        ensure_queues(&sqs, &names.delivery_queue, &names.delivery_dead_letter_queue, &QueueSettings::delivery())
            .await?;
    ensure_delivery_subscription(&sns, &sqs, &topic_arn, &deliveries.queue_url).await?;
    Ok(Resources {
        table: names.table.clone(),
        queue_url: queues.queue_url,
        dead_letter_queue_url: queues.dead_letter_queue_url,
        topic_arn,
        delivery_queue_url: deliveries.queue_url,
        delivery_dead_letter_queue_url: deliveries.dead_letter_queue_url,
    })
}

/// Subscribes the delivery queue to the alert topic: raw message delivery (the body is the
/// alert's JSON), alerts only ([`schema::delivery_filter_policy`]), and a queue policy that lets
/// the topic send to the queue (real SQS needs it; Terraform makes the same). Running it again
/// changes nothing (SNS answers an identical subscription with the existing one).
pub async fn ensure_delivery_subscription(
    sns: &aws_sdk_sns::Client,
    sqs: &aws_sdk_sqs::Client,
    topic_arn: &str,
    queue_url: &str,
) -> Result<(), BootstrapError> {
    let queue_error = |e: BackendError| BootstrapError::Queue("delivery queue", e);
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| queue_error(e.into()))?
        .attributes
        .and_then(|mut attributes| attributes.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| queue_error("SQS returned no QueueArn".into()))?;
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
        }],
    })
    .to_string();
    sqs.set_queue_attributes()
        .queue_url(queue_url)
        .attributes(QueueAttributeName::Policy, policy)
        .send()
        .await
        .map_err(|e| queue_error(e.into()))?;
    sns.subscribe()
        .topic_arn(topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .attributes("RawMessageDelivery", "true")
        .attributes("FilterPolicy", schema::delivery_filter_policy())
        .send()
        .await
        .map_err(|e| BootstrapError::Topic(e.into()))?;
    Ok(())
}

/// `export PRICETRACK_TABLE=… PRICETRACK_QUEUE_URL=… PRICETRACK_TOPIC_ARN=…
/// PRICETRACK_DELIVERY_QUEUE_URL=…`, for `eval` in a shell; values are quoted where a shell
/// would need it.
pub fn shell_exports(resources: &Resources) -> String {
    format!(
        "export PRICETRACK_TABLE={} PRICETRACK_QUEUE_URL={} PRICETRACK_TOPIC_ARN={} PRICETRACK_DELIVERY_QUEUE_URL={}",
        shell_quote(&resources.table),
        shell_quote(&resources.queue_url),
        shell_quote(&resources.topic_arn),
        shell_quote(&resources.delivery_queue_url)
    )
}

fn shell_quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':' | '@' | '+' | '='));
    if plain { value.to_owned() } else { format!("'{}'", value.replace('\'', r"'\''")) }
}

fn table_error(e: impl Into<BackendError>) -> BootstrapError {
    BootstrapError::Table(e.into())
}

/// Creates the table `name` (see [`crate::schema`]) if it does not exist, waits until it and its
/// due index are active, checks that the due index is there, and turns on the TTL of
/// observations.
pub async fn ensure_table(client: &aws_sdk_dynamodb::Client, name: &str) -> Result<(), BootstrapError> {
    let key = |attribute: &str, kind: KeyType| {
        KeySchemaElement::builder().attribute_name(attribute).key_type(kind).build().map_err(table_error)
    };
    let definition = |attribute: &str, kind: ScalarAttributeType| {
        AttributeDefinition::builder().attribute_name(attribute).attribute_type(kind).build().map_err(table_error)
    };
    let due_index = GlobalSecondaryIndex::builder()
        .index_name(schema::DUE_INDEX)
        .key_schema(key(schema::DUE_SHARD, KeyType::Hash)?)
        .key_schema(key(schema::NEXT_CHECK_AT, KeyType::Range)?)
        .projection(Projection::builder().projection_type(ProjectionType::from(schema::DUE_INDEX_PROJECTION)).build())
        .build()
        .map_err(table_error)?;
    let created = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::from(schema::BILLING_MODE))
        .attribute_definitions(definition(schema::PARTITION_KEY, ScalarAttributeType::S)?)
        .attribute_definitions(definition(schema::SORT_KEY, ScalarAttributeType::S)?)
        .attribute_definitions(definition(schema::DUE_SHARD, ScalarAttributeType::S)?)
        .attribute_definitions(definition(schema::NEXT_CHECK_AT, ScalarAttributeType::N)?)
        .key_schema(key(schema::PARTITION_KEY, KeyType::Hash)?)
        .key_schema(key(schema::SORT_KEY, KeyType::Range)?)
        .global_secondary_indexes(due_index)
        .send()
        .await;
    match created {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_in_use_exception()) => {}
        Err(e) => return Err(table_error(e)),
    }

    let deadline = tokio::time::Instant::now() + TABLE_ACTIVE_TIMEOUT;
    loop {
        let described = client.describe_table().table_name(name).send().await.map_err(table_error)?;
        let table = described.table.ok_or(BootstrapError::TableShape("has no description"))?;
        let index = table
            .global_secondary_indexes()
            .iter()
            .find(|index| index.index_name() == Some(schema::DUE_INDEX))
            .ok_or(BootstrapError::TableShape("has no due index"))?;
        let table_active = table.table_status() == Some(&TableStatus::Active);
        // moto leaves the index status out: no status is taken as active.
        let index_active = index.index_status().is_none_or(|status| *status == IndexStatus::Active);
        if table_active && index_active {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(BootstrapError::TableNotActive(TABLE_ACTIVE_TIMEOUT));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    ensure_ttl(client, name).await;
    Ok(())
}

/// Turns on the TTL of observations. A failure is logged, not returned: without a TTL the
/// history only grows, which is no reason to refuse to run.
async fn ensure_ttl(client: &aws_sdk_dynamodb::Client, name: &str) {
    match client.describe_time_to_live().table_name(name).send().await {
        Ok(out) => {
            if let Some(ttl) = out.time_to_live_description
                && ttl.attribute_name() == Some(schema::TTL_ATTRIBUTE)
                && matches!(ttl.time_to_live_status(), Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling))
            {
                return;
            }
        }
        Err(e) => {
            tracing::debug!(error = %aws_sdk_dynamodb::error::DisplayErrorContext(&e), "DescribeTimeToLive failed")
        }
    }
    let specification = TimeToLiveSpecification::builder().attribute_name(schema::TTL_ATTRIBUTE).enabled(true).build();
    let result = match specification {
        Ok(specification) => client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(specification)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(error) = result {
        tracing::warn!(table = name, %error, "could not enable the TTL of observations");
    }
}

/// Creates (or finds) the queue `name`'s dead-letter queue `dead_letter_name` and the queue
/// itself, with a redrive policy that moves a message received `max_receive_count` times to the
/// dead-letter queue. An existing queue is brought to `settings`.
pub async fn ensure_queues(
    client: &aws_sdk_sqs::Client,
    name: &str,
    dead_letter_name: &str,
    settings: &QueueSettings,
) -> Result<QueueUrls, BootstrapError> {
    let dead_letter_queue_url = ensure_queue(
        client,
        dead_letter_name,
        HashMap::from([(QueueAttributeName::MessageRetentionPeriod, settings.dead_letter_retention_secs.to_string())]),
    )
    .await
    .map_err(|e| BootstrapError::Queue("dead-letter queue", e))?;
    let dead_letter_arn = client
        .get_queue_attributes()
        .queue_url(&dead_letter_queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| BootstrapError::Queue("dead-letter queue", e.into()))?
        .attributes
        .and_then(|mut attributes| attributes.remove(&QueueAttributeName::QueueArn))
        .ok_or(BootstrapError::Queue("dead-letter queue", "SQS returned no QueueArn".into()))?;
    let redrive_policy = serde_json::json!({
        "deadLetterTargetArn": dead_letter_arn,
        "maxReceiveCount": settings.max_receive_count,
    })
    .to_string();
    let queue_url = ensure_queue(
        client,
        name,
        HashMap::from([
            (QueueAttributeName::VisibilityTimeout, settings.visibility_timeout_secs.to_string()),
            (QueueAttributeName::ReceiveMessageWaitTimeSeconds, settings.receive_wait_secs.to_string()),
            (QueueAttributeName::MessageRetentionPeriod, settings.retention_secs.to_string()),
            (QueueAttributeName::RedrivePolicy, redrive_policy),
        ]),
    )
    .await
    .map_err(|e| BootstrapError::Queue("check queue", e))?;
    Ok(QueueUrls { queue_url, dead_letter_queue_url })
}

/// Creates a queue with `attributes`, or brings an existing one to them; returns its URL.
async fn ensure_queue(
    client: &aws_sdk_sqs::Client,
    name: &str,
    attributes: HashMap<QueueAttributeName, String>,
) -> Result<String, BackendError> {
    let created = client.create_queue().queue_name(name).set_attributes(Some(attributes.clone())).send().await;
    match created {
        Ok(out) => out.queue_url.ok_or_else(|| "SQS returned no queue URL".into()),
        // It exists with other attributes: converge.
        Err(e) if e.as_service_error().is_some_and(|e| e.is_queue_name_exists()) => {
            let url = client
                .get_queue_url()
                .queue_name(name)
                .send()
                .await?
                .queue_url
                .ok_or_else(|| BackendError::from("SQS returned no queue URL"))?;
            client.set_queue_attributes().queue_url(&url).set_attributes(Some(attributes)).send().await?;
            Ok(url)
        }
        Err(e) => Err(e.into()),
    }
}

/// Creates (or finds) the topic `name`; returns its ARN.
pub async fn ensure_topic(client: &aws_sdk_sns::Client, name: &str) -> Result<String, BootstrapError> {
    client
        .create_topic()
        .name(name)
        .send()
        .await
        .map_err(|e| BootstrapError::Topic(e.into()))?
        .topic_arn
        .ok_or(BootstrapError::Topic("SNS returned no topic ARN".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_quote_only_what_needs_it() {
        let resources = Resources {
            table: "pt-jobs".to_owned(),
            queue_url: "http://127.0.0.1:5000/123456789012/pt-checks".to_owned(),
            dead_letter_queue_url: "unused".to_owned(),
            topic_arn: "arn:aws:sns:us-east-1:123456789012:it's".to_owned(),
            delivery_queue_url: "http://127.0.0.1:5000/123456789012/pt-deliveries".to_owned(),
            delivery_dead_letter_queue_url: "unused".to_owned(),
        };
        assert_eq!(
            shell_exports(&resources),
            "export PRICETRACK_TABLE=pt-jobs PRICETRACK_QUEUE_URL=http://127.0.0.1:5000/123456789012/pt-checks \
             PRICETRACK_TOPIC_ARN='arn:aws:sns:us-east-1:123456789012:it'\\''s' \
             PRICETRACK_DELIVERY_QUEUE_URL=http://127.0.0.1:5000/123456789012/pt-deliveries"
        );
    }
}

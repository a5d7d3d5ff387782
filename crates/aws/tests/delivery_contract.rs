//! The DynamoDB channel store and delivery log against the domain's contract suites, on
//! moto_server over real HTTP.

mod common;

use std::sync::Arc;

use pricetrack_aws::bootstrap::ensure_table;
use pricetrack_aws::testing::unique_name;
use pricetrack_aws::{DynamoChannelStore, DynamoDeliveryLog};
use pricetrack_domain::delivery::{ChannelStore, DeliveryLog};

async fn fresh_table() -> (aws_sdk_dynamodb::Client, String) {
    let client = aws_sdk_dynamodb::Client::new(&common::sdk_config().await);
    let table = unique_name("delivery");
    ensure_table(&client, &table).await.expect("create a fresh table");
    (client, table)
}

async fn fresh_channels() -> (Arc<dyn ChannelStore>, ()) {
    let (client, table) = fresh_table().await;
    (Arc::new(DynamoChannelStore::new(client, table)), ())
}

async fn fresh_log() -> (Arc<dyn DeliveryLog>, ()) {
    let (client, table) = fresh_table().await;
    (Arc::new(DynamoDeliveryLog::new(client, table)), ())
}

mod channel_store {
    use super::*;
    pricetrack_domain::channel_store_contract_tests!(fresh_channels());
}

mod delivery_log {
    use super::*;
    pricetrack_domain::delivery_log_contract_tests!(fresh_log());
}

//! The DynamoDB channel store and delivery log against the domain's contract suites, on
//! moto_server over real HTTP.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;

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

/// Every item of `table`, read with a paginated scan.
async fn scan_all(client: &aws_sdk_dynamodb::Client, table: &str) -> Vec<HashMap<String, AttributeValue>> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = client.scan().table_name(table).set_exclusive_start_key(start).send().await.expect("scan the table");
        items.extend(out.items.unwrap_or_default());
        start = out.last_evaluated_key;
        if start.is_none() {
            return items;
        }
    }
}

/// Whether any string attribute of `item` mentions `needle`.
fn mentions(item: &HashMap<String, AttributeValue>, needle: &str) -> bool {
    item.values().any(|value| value.as_s().is_ok_and(|s| s.contains(needle)))
}

/// What `DELETE /api/v1/me` does on AWS (the jobs, then the channels, then the delivery log)
/// leaves no item of the user in the table: no job, channel, alert or delivery record, and
/// nothing that names the user or one of their alerts; another user's items stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn account_deletion_leaves_no_item_of_the_user() {
    use pricetrack_domain::delivery::OPERATOR_CHANNEL;
    use pricetrack_domain::delivery_testing::{pending_record, sample_alert, sample_channel};
    use pricetrack_domain::ports::JobStore;
    use pricetrack_domain::{CheckInterval, Job, NewJob, ProductUrl, TargetPrice, UserId};

    let (client, table) = fresh_table().await;
    let jobs = pricetrack_aws::DynamoJobStore::new(client.clone(), table.clone());
    let channels = DynamoChannelStore::new(client.clone(), table.clone());
    let log = DynamoDeliveryLog::new(client.clone(), table.clone());
    let (ada, bob) = (UserId::new(), UserId::new());
    let mut ada_alerts = Vec::new();
    for (user, alerts) in [(ada, 3), (bob, 1)] {
        let now = chrono::Utc::now();
        let new = NewJob {
            url: ProductUrl::parse("https://shop.example/p/1").expect("url"),
            target_price: TargetPrice::parse("50").expect("target"),
            currency: None,
            check_interval: CheckInterval::from_stored(3600),
            price_selector: None,
        };
        jobs.create(&Job::create(user, new, now, now)).await.expect("job");
        let mut ids = vec![OPERATOR_CHANNEL.to_owned()];
        for name in ["phone", "laptop"] {
            let channel = sample_channel(user, name);
            channels.create(&channel).await.expect("channel");
            ids.push(channel.id.to_string());
        }
        for _ in 0..alerts {
            let alert = sample_alert(user, chrono::Utc::now());
            log.record_alert(&alert).await.expect("alert");
            for id in &ids {
                log.put(&pending_record(&alert, id)).await.expect("delivery");
            }
            if user == ada {
                ada_alerts.push(alert.id.to_string());
            }
        }
    }
    let before = scan_all(&client, &table).await;
    assert!(before.iter().filter(|item| mentions(item, &ada.to_string())).count() >= 1 + 2 + 3 + 9);

    assert_eq!(jobs.delete_all(ada).await.expect("jobs"), 1);
    assert_eq!(channels.delete_all(ada).await.expect("channels"), 2);
    assert_eq!(log.delete_all(ada).await.expect("log"), 3);

    let after = scan_all(&client, &table).await;
    let left: Vec<_> = after
        .iter()
        .filter(|item| mentions(item, &ada.to_string()) || ada_alerts.iter().any(|id| mentions(item, id)))
        .collect();
    assert!(left.is_empty(), "items of the deleted user are left: {left:?}");
    // Bob's job, 2 channels, 1 alert and its 3 deliveries.
    assert_eq!(after.len(), 1 + 2 + 1 + 3, "another user's items stay");
}

//! The delivery stage on DynamoDB, in the jobs' table:
//!
//! | item     | PK                 | SK                    | attributes                                   |
//! |----------|--------------------|-----------------------|----------------------------------------------|
//! | channel  | `USER#<user_id>`   | `CHANNEL#<channel>`   | `data` (JSON), `status`, `failures`, `last_error`, `updated_at` |
//! | alert    | `USER#<user_id>`   | `ALERT#<alert_id>`    | `data` (the alert as JSON)                   |
//! | delivery | `ALERT#<alert_id>` | `DELIVERY#<channel>`  | `data` (the record as JSON), `status`        |
//!
//! Alert ids are UUIDv7, so `ALERT#` keys sort by time: a user's log is one Query, newest first.
//! None of these items carries a due shard, so the due index never sees them; the job store reads
//! only `JOB#` keys under a user.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use futures::{StreamExt, TryStreamExt};
use pricetrack_domain::delivery::{ChannelStore, DeliveryLog};
use pricetrack_domain::ports::{BackendError, Page, PageRequest, StoreError};
use pricetrack_domain::{
    Alert, AlertEntry, AlertId, Channel, ChannelKey, ChannelStatus, DeliveryRecord, DeliveryStatus, Timestamp, UserId,
};

use crate::item::CorruptItem;
use crate::schema;

type Item = HashMap<String, AttributeValue>;

fn backend(e: impl Into<BackendError>) -> StoreError {
    StoreError::Backend(e.into())
}

const DATA: &str = "data";
const STATUS: &str = "status";
const FAILURES: &str = "failures";
const LAST_ERROR: &str = "last_error";
const UPDATED_AT: &str = "updated_at";

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn key(pk: String, sk: String) -> Item {
    HashMap::from([(schema::PARTITION_KEY.to_owned(), s(pk)), (schema::SORT_KEY.to_owned(), s(sk))])
}

fn channel_key(key: ChannelKey) -> Item {
    self::key(schema::job_partition_key(key.user_id), format!("{}{}", schema::CHANNEL_PREFIX, key.channel_id))
}

fn text<'a>(item: &'a Item, name: &'static str) -> Result<&'a str, CorruptItem> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str).ok_or(CorruptItem { attribute: name })
}

fn channel_from(item: &Item) -> Result<Channel, CorruptItem> {
    let mut channel: Channel = serde_json::from_str(text(item, DATA)?).map_err(|_| CorruptItem { attribute: DATA })?;
    channel.status = ChannelStatus::parse(text(item, STATUS)?).ok_or(CorruptItem { attribute: STATUS })?;
    channel.consecutive_failures = item
        .get(FAILURES)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .ok_or(CorruptItem { attribute: FAILURES })?;
    channel.last_error = item.get(LAST_ERROR).and_then(|v| v.as_s().ok()).cloned();
    if let Some(ms) = item.get(UPDATED_AT).and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<i64>().ok()) {
        channel.updated_at = chrono::DateTime::from_timestamp_millis(ms).unwrap_or(channel.updated_at);
    }
    Ok(channel)
}

fn channel_item(channel: &Channel) -> Result<Item, StoreError> {
    let mut item = channel_key(channel.key());
    item.insert(DATA.into(), s(serde_json::to_string(channel).map_err(backend)?));
    item.insert(STATUS.into(), s(channel.status.as_str()));
    item.insert(FAILURES.into(), AttributeValue::N(channel.consecutive_failures.to_string()));
    item.insert(UPDATED_AT.into(), AttributeValue::N(channel.updated_at.timestamp_millis().to_string()));
    if let Some(error) = &channel.last_error {
        item.insert(LAST_ERROR.into(), s(error.clone()));
    }
    Ok(item)
}

/// [`ChannelStore`] on DynamoDB. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DynamoChannelStore {
    client: Client,
    table: String,
}

impl DynamoChannelStore {
    /// A store on `table` (the jobs' table).
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    /// Every item of `pk` whose sort key starts with `prefix`, in key order (`forward`).
    async fn query_prefix(&self, pk: String, prefix: &str) -> Result<Vec<Item>, StoreError> {
        query_prefix(&self.client, &self.table, pk, prefix, true, None, None).await.map(|(items, _)| items)
    }
}

/// One page of the items of `pk` whose sort key starts with `prefix`.
async fn query_prefix(
    client: &Client,
    table: &str,
    pk: String,
    prefix: &str,
    forward: bool,
    limit: Option<i32>,
    start: Option<Item>,
) -> Result<(Vec<Item>, Option<Item>), StoreError> {
    let mut items = Vec::new();
    let mut start = start;
    loop {
        let out = client
            .query()
            .table_name(table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", schema::PARTITION_KEY)
            .expression_attribute_names("#sk", schema::SORT_KEY)
            .expression_attribute_values(":pk", s(pk.clone()))
            .expression_attribute_values(":prefix", s(prefix))
            .scan_index_forward(forward)
            .consistent_read(true)
            .set_limit(limit.map(|l| l - i32::try_from(items.len()).unwrap_or(0)))
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(backend)?;
        items.extend(out.items.unwrap_or_default());
        match out.last_evaluated_key {
            Some(next) if limit.is_none_or(|l| items.len() < usize::try_from(l).unwrap_or(0)) => start = Some(next),
            next => return Ok((items, next)),
        }
    }
}

/// Alerts whose deliveries are deleted at once by `delete_all`.
const DELETE_CONCURRENCY: usize = 8;

/// Deletes the item with `item`'s key.
async fn delete_by_key(client: &Client, table: &str, item: &Item) -> Result<(), StoreError> {
    let pk = item
        .get(schema::PARTITION_KEY)
        .cloned()
        .ok_or_else(|| backend(CorruptItem { attribute: schema::PARTITION_KEY }))?;
    let sk = item.get(schema::SORT_KEY).cloned().ok_or_else(|| backend(CorruptItem { attribute: schema::SORT_KEY }))?;
    client
        .delete_item()
        .table_name(table)
        .set_key(Some(HashMap::from([(schema::PARTITION_KEY.to_owned(), pk), (schema::SORT_KEY.to_owned(), sk)])))
        .send()
        .await
        .map_err(backend)?;
    Ok(())
}

#[async_trait]
impl ChannelStore for DynamoChannelStore {
    async fn create(&self, channel: &Channel) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(channel_item(channel)?))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", schema::PARTITION_KEY)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                Err(StoreError::AlreadyExists)
            }
            Err(e) => Err(backend(e)),
        }
    }

    async fn get(&self, key: ChannelKey) -> Result<Option<Channel>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(channel_key(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        out.item.as_ref().map(channel_from).transpose().map_err(backend)
    }

    async fn list(&self, user_id: UserId) -> Result<Vec<Channel>, StoreError> {
        let items = self.query_prefix(schema::job_partition_key(user_id), schema::CHANNEL_PREFIX).await?;
        items.iter().map(channel_from).collect::<Result<Vec<_>, _>>().map_err(backend)
    }

    async fn update(&self, channel: &Channel) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(channel_item(channel)?))
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", schema::PARTITION_KEY)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(backend(e)),
        }
    }

    async fn delete(&self, key: ChannelKey) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(channel_key(key)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(backend)?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    async fn delete_all(&self, user_id: UserId) -> Result<u64, StoreError> {
        // By key, never by parsing: a channel item that no longer reads back is deleted too.
        let items = self.query_prefix(schema::job_partition_key(user_id), schema::CHANNEL_PREFIX).await?;
        for item in &items {
            delete_by_key(&self.client, &self.table, item).await?;
        }
        Ok(u64::try_from(items.len()).unwrap_or(u64::MAX))
    }

    async fn record_success(&self, key: ChannelKey, now: Timestamp) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(channel_key(key)))
            .update_expression("SET #status = :active, #failures = :zero, #updated = :now REMOVE #error")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", schema::PARTITION_KEY)
            .expression_attribute_names("#status", STATUS)
            .expression_attribute_names("#failures", FAILURES)
            .expression_attribute_names("#updated", UPDATED_AT)
            .expression_attribute_names("#error", LAST_ERROR)
            .expression_attribute_values(":active", s(ChannelStatus::Active.as_str()))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":now", AttributeValue::N(now.timestamp_millis().to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(backend(e)),
        }
    }

    async fn record_failure(
        &self,
        key: ChannelKey,
        reason: &str,
        permanent: bool,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        // ADD is atomic: concurrent failures each count. The status follows from the new count
        // (a second, idempotent write).
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(channel_key(key)))
            .update_expression("ADD #failures :one SET #error = :reason, #updated = :now")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", schema::PARTITION_KEY)
            .expression_attribute_names("#failures", FAILURES)
            .expression_attribute_names("#updated", UPDATED_AT)
            .expression_attribute_names("#error", LAST_ERROR)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":reason", s(reason))
            .expression_attribute_values(":now", AttributeValue::N(now.timestamp_millis().to_string()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => return Ok(()),
            Err(e) => return Err(backend(e)),
        };
        let failures: u32 = out
            .attributes
            .as_ref()
            .and_then(|a| a.get(FAILURES))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        if permanent || failures >= Channel::FAILING_AFTER {
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(channel_key(key)))
                .update_expression("SET #status = :failing")
                .condition_expression("attribute_exists(#pk)")
                .expression_attribute_names("#pk", schema::PARTITION_KEY)
                .expression_attribute_names("#status", STATUS)
                .expression_attribute_values(":failing", s(ChannelStatus::Failing.as_str()))
                .send()
                .await;
            match result {
                Ok(_) => {}
                Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {}
                Err(e) => return Err(backend(e)),
            }
        }
        Ok(())
    }
}

/// [`DeliveryLog`] on DynamoDB. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DynamoDeliveryLog {
    client: Client,
    table: String,
}

impl DynamoDeliveryLog {
    /// A log on `table` (the jobs' table).
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    fn delivery_key(alert_id: AlertId, channel: &str) -> Item {
        key(format!("{}{alert_id}", schema::ALERT_PREFIX), format!("{}{channel}", schema::DELIVERY_PREFIX))
    }
}

#[async_trait]
impl DeliveryLog for DynamoDeliveryLog {
    async fn record_alert(&self, alert: &Alert) -> Result<(), StoreError> {
        let mut item = key(schema::job_partition_key(alert.user_id), format!("{}{}", schema::ALERT_PREFIX, alert.id));
        item.insert(DATA.into(), s(serde_json::to_string(alert).map_err(backend)?));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", schema::PARTITION_KEY)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(backend(e)),
        }
    }

    async fn get(&self, alert_id: AlertId, channel: &str) -> Result<Option<DeliveryRecord>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::delivery_key(alert_id, channel)))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        out.item
            .as_ref()
            .map(|item| {
                serde_json::from_str::<DeliveryRecord>(text(item, DATA)?).map_err(|_| CorruptItem { attribute: DATA })
            })
            .transpose()
            .map_err(backend)
    }

    async fn put(&self, record: &DeliveryRecord) -> Result<bool, StoreError> {
        let mut item = Self::delivery_key(record.alert_id, &record.channel);
        item.insert(DATA.into(), s(serde_json::to_string(record).map_err(backend)?));
        item.insert(STATUS.into(), s(record.status.as_str()));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            // A delivered record is final.
            .condition_expression("attribute_not_exists(#pk) OR #status <> :delivered")
            .expression_attribute_names("#pk", schema::PARTITION_KEY)
            .expression_attribute_names("#status", STATUS)
            .expression_attribute_values(":delivered", s(DeliveryStatus::Delivered.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(backend(e)),
        }
    }

    async fn deliveries(&self, alert_id: AlertId) -> Result<Vec<DeliveryRecord>, StoreError> {
        let (items, _) = query_prefix(
            &self.client,
            &self.table,
            format!("{}{alert_id}", schema::ALERT_PREFIX),
            schema::DELIVERY_PREFIX,
            true,
            None,
            None,
        )
        .await?;
        items
            .iter()
            .map(|item| {
                serde_json::from_str::<DeliveryRecord>(text(item, DATA)?).map_err(|_| CorruptItem { attribute: DATA })
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(backend)
    }

    async fn list(&self, user_id: UserId, page: &PageRequest) -> Result<Page<AlertEntry>, StoreError> {
        let limit = page.limit.clamp(1, PageRequest::MAX_LIMIT);
        let pk = schema::job_partition_key(user_id);
        let start = match &page.cursor {
            Some(cursor) => {
                let id = cursor.parse::<AlertId>().map_err(|_| StoreError::InvalidCursor)?;
                Some(key(pk.clone(), format!("{}{id}", schema::ALERT_PREFIX)))
            }
            None => None,
        };
        let (items, _) = query_prefix(
            &self.client,
            &self.table,
            pk,
            schema::ALERT_PREFIX,
            false,
            Some(i32::try_from(limit + 1).unwrap_or(101)),
            start,
        )
        .await?;
        let more = items.len() > limit as usize;
        let mut entries = Vec::new();
        for item in items.iter().take(limit as usize) {
            let alert: Alert = serde_json::from_str(text(item, DATA).map_err(backend)?)
                .map_err(|_| backend(CorruptItem { attribute: DATA }))?;
            let deliveries = self.deliveries(alert.id).await?;
            entries.push(AlertEntry { alert, deliveries });
        }
        let next_cursor = if more { entries.last().map(|e| e.alert.id.to_string()) } else { None };
        Ok(Page { items: entries, next_cursor })
    }

    async fn delete_all(&self, user_id: UserId) -> Result<u64, StoreError> {
        // By key, never by parsing: an item that no longer reads back must not keep an account's
        // data from being deleted. Each alert's deliveries go before the alert, so a deletion cut
        // short leaves every remaining delivery findable from its alert for the next attempt.
        let pk = schema::job_partition_key(user_id);
        let (alerts, _) = query_prefix(&self.client, &self.table, pk, schema::ALERT_PREFIX, true, None, None).await?;
        let deleted = u64::try_from(alerts.len()).unwrap_or(u64::MAX);
        futures::stream::iter(alerts)
            .map(|alert| async move {
                let alert_sk = text(&alert, schema::SORT_KEY).map_err(backend)?;
                let (deliveries, _) = query_prefix(
                    &self.client,
                    &self.table,
                    alert_sk.to_owned(),
                    schema::DELIVERY_PREFIX,
                    true,
                    None,
                    None,
                )
                .await?;
                for delivery in &deliveries {
                    delete_by_key(&self.client, &self.table, delivery).await?;
                }
                delete_by_key(&self.client, &self.table, &alert).await
            })
            .buffer_unordered(DELETE_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(deleted)
    }
}

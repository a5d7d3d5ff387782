//! The job store on one DynamoDB table.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, Put, ReturnValue, TransactWriteItem, Update, WriteRequest,
};
use futures::{StreamExt, TryStreamExt};
use pricetrack_domain::ports::{
    BackendError, ClaimedJob, IDEMPOTENCY_WINDOW, IdempotentCreate, JobStore, ListOrder, Page, PageRequest, StoreError,
    WriteOutcome,
};
use pricetrack_domain::{AlertId, HistoryQuery, Job, JobId, JobKey, Observation, PricePoint, Timestamp, UserId};

use crate::item::{self, Item, attr, job_key, n, s};
use crate::schema;

/// How many conditional claims (or observation clean-ups) run at once.
const CONCURRENCY: usize = 8;
/// Most items in one `BatchWriteItem`.
const BATCH_WRITE_MAX: usize = 25;
/// Attempts at a batch write whose items stay unprocessed (throttling), with backoff between.
const BATCH_WRITE_ATTEMPTS: u32 = 12;
/// Attempts at a transaction that conflicts with another one on the same job.
const TRANSACTION_ATTEMPTS: u32 = 6;

fn backend(e: impl Into<BackendError>) -> StoreError {
    StoreError::Backend(e.into())
}

/// Why a batch write gave up (the source of a [`StoreError::Backend`]).
#[derive(Debug, thiserror::Error)]
#[error("DynamoDB left {0} items of a batch write unprocessed after every retry")]
struct UnprocessedItems(usize);

/// Why a transaction gave up (the source of a [`StoreError::Backend`]).
#[derive(Debug, thiserror::Error)]
#[error("DynamoDB cancelled the transaction ({0})")]
struct TransactionCancelled(String);

/// Exponential backoff: 25 ms, 50 ms, ... capped at 2 s.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(25_u64.saturating_mul(1 << attempt.min(7))).min(Duration::from_secs(2))
}

/// [`JobStore`] on one DynamoDB table (see [`crate::schema`] for its shape).
///
/// - Jobs live under `PK = USER#<user_id>`, `SK = JOB#<job_id>`: a user's listing is one Query.
/// - `claim_due` queries the sparse index [`schema::DUE_INDEX`] shard by shard for
///   `next_check_at <= now` and claims each job with a conditional `UpdateItem` on the
///   `next_check_at` it saw: an overlapping claimer's update fails its condition and skips the
///   job. It reads about as many items as are due, never the whole table (no Scan).
/// - `record_check` is a conditional update of the job (on its existence and version) in one
///   transaction with the put of the observation; `clear_pending_alert` a conditional update on
///   the pending alert's id. No update path ever puts a whole job, so a deleted job is never
///   re-created.
/// - History points (run-length, see [`pricetrack_domain::history`]) live under
///   `PK = JOB#<job_id>`, `SK = OBS#<first seen ms>#<random>`; an equal check extends the
///   newest point in the job's transaction, anything else puts a new one. Each carries a TTL
///   of `last_seen_at` plus the retention, and reads filter out what the TTL has not removed.
/// - A paused job has no `due_shard`, so it is not in the sparse due index: never claimed.
/// - Idempotency keys live under `PK = USER#<user_id>`, `SK = IDEM#<key>`, put in one
///   transaction with the job, conditional on no fresh key.
///
/// Cheap to clone; clones share the client and the [`DynamoJobStore::items_read`] counter.
#[derive(Debug, Clone)]
pub struct DynamoJobStore {
    client: Client,
    table: String,
    items_read: Arc<AtomicU64>,
    history_retention: chrono::Duration,
}

/// Where the next page of a due shard starts.
enum ShardCursor {
    /// At the shard's oldest due job.
    Start,
    /// After this key (the last one read).
    After(Item),
    /// Nothing more is due in this shard.
    Done,
}

/// One page of a due shard.
struct DuePage {
    items: Vec<Item>,
    next: Option<Item>,
}

impl DynamoJobStore {
    /// A store on `table`, which must exist with the shape of [`crate::schema`] (see
    /// [`crate::bootstrap`]).
    pub fn new(client: Client, table: String) -> Self {
        Self {
            client,
            table,
            items_read: Arc::new(AtomicU64::new(0)),
            history_retention: chrono::Duration::days(schema::OBSERVATION_TTL_DAYS),
        }
    }

    /// This store keeping history for `days` days (`PRICETRACK_HISTORY_RETENTION_DAYS`).
    pub fn with_history_retention_days(mut self, days: u32) -> Self {
        self.history_retention = chrono::Duration::days(i64::from(days.max(1)));
        self
    }

    /// The write that keeps `observation`: an update extending the job's newest point when the
    /// observation continues it, else the put of a new point.
    async fn history_write(&self, user_id: UserId, observation: &Observation) -> Result<TransactWriteItem, StoreError> {
        let out = self
            .observations_query(user_id, observation.job_id)
            .scan_index_forward(false)
            .limit(1)
            .send()
            .await
            .map_err(backend)?;
        let newest = out.items.unwrap_or_default().into_iter().next();
        self.count_read(usize::from(newest.is_some()));
        let expires_at = (observation.observed_at + self.history_retention).timestamp();
        if let Some(raw) = newest {
            let point = item::point_from_item(&raw).map_err(backend)?;
            if point.continues_with(observation) {
                let key = HashMap::from([
                    (
                        schema::PARTITION_KEY.to_owned(),
                        raw.get(schema::PARTITION_KEY).cloned().unwrap_or_else(|| s("")),
                    ),
                    (schema::SORT_KEY.to_owned(), raw.get(schema::SORT_KEY).cloned().unwrap_or_else(|| s(""))),
                ]);
                let update = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key))
                    .update_expression("SET #last = :last, #ttl = :ttl ADD #checks :one")
                    .condition_expression("attribute_exists(#pk)")
                    .expression_attribute_names("#pk", schema::PARTITION_KEY)
                    .expression_attribute_names("#last", attr::LAST_SEEN_AT)
                    .expression_attribute_names("#ttl", schema::TTL_ATTRIBUTE)
                    .expression_attribute_names("#checks", attr::CHECKS)
                    .expression_attribute_values(":last", item::millis(observation.observed_at))
                    .expression_attribute_values(":ttl", n(expires_at))
                    .expression_attribute_values(":one", n(1))
                    .build()
                    .map_err(backend)?;
                return Ok(TransactWriteItem::builder().update(update).build());
            }
        }
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let expires = chrono::DateTime::from_timestamp(expires_at, 0).unwrap_or(observation.observed_at);
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item::point_item(user_id, observation, &suffix[..8], expires)))
            .build()
            .map_err(backend)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// How many items Query and GetItem calls of this store (and its clones) have returned so
    /// far: shows that the rescheduler reads about as many items as are due.
    pub fn items_read(&self) -> u64 {
        self.items_read.load(Ordering::Relaxed)
    }

    fn count_read(&self, items: usize) {
        self.items_read.fetch_add(u64::try_from(items).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Whether a job exists, read consistently.
    async fn exists(&self, key: JobKey) -> Result<bool, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(job_key(key.user_id, key.job_id)))
            .projection_expression("#pk")
            .expression_attribute_names("#pk", schema::PARTITION_KEY)
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        let found = out.item.is_some();
        self.count_read(usize::from(found));
        Ok(found)
    }

    /// After a refused conditional write: `VersionMismatch` if the job is still there, `Gone`
    /// if not.
    async fn refused(&self, key: JobKey) -> Result<WriteOutcome, StoreError> {
        Ok(if self.exists(key).await? { WriteOutcome::VersionMismatch } else { WriteOutcome::Gone })
    }

    /// One page of due jobs of one shard, oldest due first.
    async fn due_page(
        &self,
        shard: &str,
        now: Timestamp,
        limit: usize,
        start: Option<Item>,
    ) -> Result<DuePage, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(schema::DUE_INDEX)
            .key_condition_expression("#shard = :shard AND #due <= :now")
            .expression_attribute_names("#shard", schema::DUE_SHARD)
            .expression_attribute_names("#due", schema::NEXT_CHECK_AT)
            .expression_attribute_values(":shard", s(shard))
            .expression_attribute_values(":now", item::millis(now))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX).max(1))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(backend)?;
        let items = out.items.unwrap_or_default();
        self.count_read(items.len());
        metrics::counter!(pricetrack_metrics::names::RESCHEDULER_ITEMS_READ)
            .increment(u64::try_from(items.len()).unwrap_or(u64::MAX));
        Ok(DuePage { items, next: out.last_evaluated_key })
    }

    /// Claims one job seen in the due index at `seen` (the stored number text): `None` if
    /// another claimer (or a check) moved it first.
    async fn try_claim(&self, candidate: Item, lease_until: Timestamp) -> Result<Option<ClaimedJob>, StoreError> {
        let (user_id, job_id) = item::key_ids(&candidate).map_err(backend)?;
        let (seen, _) = item::next_check_at_raw(&candidate).map_err(backend)?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(job_key(user_id, job_id)))
            .update_expression("SET #due = :lease, #version = #version + :one")
            .condition_expression("attribute_exists(#pk) AND #due = :seen")
            .expression_attribute_names("#pk", schema::PARTITION_KEY)
            .expression_attribute_names("#due", schema::NEXT_CHECK_AT)
            .expression_attribute_names("#version", attr::VERSION)
            .expression_attribute_values(":lease", item::millis(lease_until))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":seen", AttributeValue::N(seen.to_owned()))
            // The whole item back (no extra read capacity on an update): its URL names the host.
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => {
                let attributes = out.attributes.unwrap_or_default();
                let version = item::version(&attributes).map_err(backend)?;
                let host = item::job_host(&attributes);
                Ok(Some(ClaimedJob { key: JobKey { user_id, job_id }, version, host }))
            }
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(None),
            Err(e) => Err(backend(e)),
        }
    }

    /// Deletes items by key, 25 per `BatchWriteItem`, retrying unprocessed items with backoff.
    async fn batch_delete(&self, keys: Vec<Item>) -> Result<(), StoreError> {
        for chunk in keys.chunks(BATCH_WRITE_MAX) {
            let mut pending = chunk
                .iter()
                .map(|key| {
                    let delete = DeleteRequest::builder().set_key(Some(key.clone())).build().map_err(backend)?;
                    Ok(WriteRequest::builder().delete_request(delete).build())
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let mut attempt = 0;
            while !pending.is_empty() {
                if attempt > 0 {
                    if attempt >= BATCH_WRITE_ATTEMPTS {
                        return Err(backend(UnprocessedItems(pending.len())));
                    }
                    tokio::time::sleep(backoff(attempt)).await;
                }
                attempt += 1;
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(self.table.clone(), std::mem::take(&mut pending))
                    .send()
                    .await
                    .map_err(backend)?;
                pending = out.unprocessed_items.and_then(|mut left| left.remove(&self.table)).unwrap_or_default();
            }
        }
        Ok(())
    }

    /// Deletes the observations of a job owned by `user_id` (another owner's are left alone).
    /// A consistent query of the items of partition `partition` whose sort key starts with
    /// `prefix` (the attribute names `#pk` and `#sk` are set for projections).
    fn prefix_query(&self, partition: String, prefix: &str) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", schema::PARTITION_KEY)
            .expression_attribute_names("#sk", schema::SORT_KEY)
            .expression_attribute_values(":pk", s(partition))
            .expression_attribute_values(":prefix", s(prefix))
            .consistent_read(true)
    }

    /// The query of `user_id`'s jobs.
    fn jobs_query(&self, user_id: UserId) -> QueryFluentBuilder {
        self.prefix_query(schema::job_partition_key(user_id), schema::JOB_PREFIX)
    }

    /// The query of a job's observations, kept only when they belong to `user_id` (every
    /// observation under `JOB#<id>` has the job's owner, so this keeps all of them or none).
    fn observations_query(&self, user_id: UserId, job_id: JobId) -> QueryFluentBuilder {
        self.prefix_query(schema::observation_partition_key(job_id), schema::OBSERVATION_PREFIX)
            .filter_expression("#user = :user")
            .expression_attribute_names("#user", attr::USER_ID)
            .expression_attribute_values(":user", s(user_id.to_string()))
    }

    async fn delete_observations(&self, user_id: UserId, job_id: JobId) -> Result<(), StoreError> {
        self.delete_found(|| self.observations_query(user_id, job_id)).await
    }

    /// Deletes every item `query` finds, page by page (reading keys only).
    async fn delete_found(&self, query: impl Fn() -> QueryFluentBuilder) -> Result<(), StoreError> {
        let mut start = None;
        loop {
            let out = query()
                .projection_expression("#pk, #sk")
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(backend)?;
            let keys = out.items.unwrap_or_default();
            self.count_read(keys.len());
            self.batch_delete(keys).await?;
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(());
            }
        }
    }

    /// The update of a whole job's state (never its keys), conditional on `condition`.
    fn update_job(&self, job: &Job, condition: &str) -> Result<UpdateParts, StoreError> {
        let mut set = Vec::new();
        let mut remove = Vec::new();
        let mut names = HashMap::from([("#pk".to_owned(), schema::PARTITION_KEY.to_owned())]);
        let mut values = HashMap::new();
        for (name, value) in item::job_fields(job).map_err(backend)? {
            names.insert(format!("#{name}"), name.to_owned());
            match value {
                Some(value) => {
                    set.push(format!("#{name} = :{name}"));
                    values.insert(format!(":{name}"), value);
                }
                None => remove.push(format!("#{name}")),
            }
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        Ok(UpdateParts {
            key: job_key(job.user_id, job.id),
            expression,
            condition: condition.to_owned(),
            names,
            values,
        })
    }
}

/// The pieces of a conditional `UpdateItem`, for a plain call or a transaction.
struct UpdateParts {
    key: Item,
    expression: String,
    condition: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

/// What a cancelled transaction's reasons say.
enum Cancelled {
    /// A condition failed: the job is gone or at another version.
    Condition,
    /// Another transaction was writing the same item: try again.
    Conflict,
    /// Anything else.
    Other(String),
}

fn cancelled(reasons: &[aws_sdk_dynamodb::types::CancellationReason]) -> Cancelled {
    let codes: Vec<&str> = reasons.iter().filter_map(|r| r.code()).filter(|c| *c != "None").collect();
    if codes.is_empty() || codes.contains(&"ConditionalCheckFailed") {
        Cancelled::Condition
    } else if codes.contains(&"TransactionConflict") {
        Cancelled::Conflict
    } else {
        Cancelled::Other(codes.join(", "))
    }
}

#[async_trait]
impl JobStore for DynamoJobStore {
    async fn create(&self, job: &Job) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item::job_item(job).map_err(backend)?))
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

    async fn get(&self, key: JobKey) -> Result<Option<Job>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(job_key(key.user_id, key.job_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        let Some(found) = out.item else { return Ok(None) };
        self.count_read(1);
        item::job_from_item(&found).map(Some).map_err(backend)
    }

    async fn list(&self, user_id: UserId, page: &PageRequest) -> Result<Page<Job>, StoreError> {
        // The cursor is the id of the last job of the previous page.
        let mut start = match &page.cursor {
            Some(cursor) => {
                let after = cursor.parse::<JobId>().map_err(|_| StoreError::InvalidCursor)?;
                Some(job_key(user_id, after))
            }
            None => None,
        };
        let limit = page.limit.clamp(1, PageRequest::MAX_LIMIT) as usize;
        // One more than asked tells whether there is a next page.
        let mut items = Vec::with_capacity(limit + 1);
        loop {
            let out = self
                .jobs_query(user_id)
                .limit(i32::try_from(limit + 1 - items.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(backend)?;
            let found = out.items.unwrap_or_default();
            self.count_read(found.len());
            for raw in &found {
                items.push(item::job_from_item(raw).map_err(backend)?);
            }
            start = out.last_evaluated_key;
            if start.is_none() || items.len() > limit {
                break;
            }
        }
        let more = items.len() > limit;
        items.truncate(limit);
        let next_cursor = if more { items.last().map(|job| job.id.to_string()) } else { None };
        Ok(Page { items, next_cursor })
    }

    async fn delete(&self, key: JobKey) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(job_key(key.user_id, key.job_id)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(backend)?;
        // Also after a miss: a delete that died between the job and its history is finished by
        // the next one. Observations of a job with another owner are left alone.
        self.delete_observations(key.user_id, key.job_id).await?;
        Ok(out.attributes.is_some_and(|old| !old.is_empty()))
    }

    async fn delete_all(&self, user_id: UserId) -> Result<u64, StoreError> {
        let mut deleted = 0_u64;
        let mut start = None;
        loop {
            let out = self
                .jobs_query(user_id)
                .projection_expression("#pk, #sk")
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(backend)?;
            let keys = out.items.unwrap_or_default();
            self.count_read(keys.len());
            let job_ids = keys
                .iter()
                .map(|key| item::key_ids(key).map(|(_, job_id)| job_id))
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?;
            deleted += u64::try_from(keys.len()).unwrap_or(u64::MAX);
            self.batch_delete(keys).await?;
            futures::stream::iter(job_ids)
                .map(|job_id| self.delete_observations(user_id, job_id))
                .buffer_unordered(CONCURRENCY)
                .try_collect::<Vec<()>>()
                .await?;
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        // The idempotency keys of the user's creations go too: nothing of the user is left.
        self.delete_found(|| self.prefix_query(schema::job_partition_key(user_id), schema::IDEMPOTENCY_PREFIX)).await?;
        Ok(deleted)
    }

    async fn claim_due(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        let mut claimed = Vec::new();
        let mut shards: Vec<(String, ShardCursor)> = schema::due_shards().map(|s| (s, ShardCursor::Start)).collect();
        while claimed.len() < limit {
            let want = limit - claimed.len();
            // The next page of every shard not yet exhausted, at once, each asked for its share
            // of what is wanted (not all of it: that read up to one page per shard for one
            // page's worth of claims). A shard with less due leaves the rest to the next round.
            let open = shards.iter().filter(|(_, cursor)| !matches!(cursor, ShardCursor::Done)).count();
            let share = want.div_ceil(open.max(1));
            let queries = shards.iter().filter_map(|(shard, cursor)| match cursor {
                ShardCursor::Start => Some(self.due_page(shard, now, share, None)),
                ShardCursor::After(key) => Some(self.due_page(shard, now, share, Some(key.clone()))),
                ShardCursor::Done => None,
            });
            let mut pages = futures::future::try_join_all(queries).await?.into_iter();
            let mut candidates = Vec::new();
            for (_, cursor) in shards.iter_mut().filter(|(_, cursor)| !matches!(cursor, ShardCursor::Done)) {
                if let Some(page) = pages.next() {
                    *cursor = page.next.map_or(ShardCursor::Done, ShardCursor::After);
                    candidates.extend(page.items);
                }
            }
            let exhausted = shards.iter().all(|(_, cursor)| matches!(cursor, ShardCursor::Done));
            if candidates.is_empty() && exhausted {
                break;
            }
            // Oldest due first across the shards.
            candidates.sort_by_cached_key(|c| item::next_check_at_raw(c).map(|(_, ms)| ms).unwrap_or(i64::MIN));
            for batch in candidates.chunks(CONCURRENCY) {
                let want = limit - claimed.len();
                if want == 0 {
                    break;
                }
                let won: Vec<Option<ClaimedJob>> = futures::stream::iter(batch.iter().take(want).cloned())
                    .map(|candidate| self.try_claim(candidate, lease_until))
                    .buffered(CONCURRENCY)
                    .try_collect()
                    .await?;
                claimed.extend(won.into_iter().flatten());
            }
            if exhausted {
                break;
            }
        }
        Ok(claimed)
    }

    async fn record_check(
        &self,
        job: &Job,
        expected_version: u64,
        observation: Option<&Observation>,
    ) -> Result<WriteOutcome, StoreError> {
        let condition = "attribute_exists(#pk) AND #version = :expected_version";
        let mut update = self.update_job(job, condition)?;
        update.values.insert(":expected_version".to_owned(), n(expected_version));

        let Some(observation) = observation else {
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(update.key))
                .update_expression(update.expression)
                .condition_expression(update.condition)
                .set_expression_attribute_names(Some(update.names))
                .set_expression_attribute_values(Some(update.values))
                .send()
                .await;
            return match result {
                Ok(_) => Ok(WriteOutcome::Applied),
                Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                    self.refused(job.key()).await
                }
                Err(e) => Err(backend(e)),
            };
        };

        // Read before the transaction: only the holder of `expected_version` gets its write in,
        // so the newest point cannot change between this read and that write.
        let history = self.history_write(job.user_id, observation).await?;
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(update.key))
            .update_expression(update.expression)
            .condition_expression(update.condition)
            .set_expression_attribute_names(Some(update.names))
            .set_expression_attribute_values(Some(update.values))
            .build()
            .map_err(backend)?;
        let items = vec![TransactWriteItem::builder().update(update).build(), history];
        let mut attempt = 0;
        loop {
            let result = self.client.transact_write_items().set_transact_items(Some(items.clone())).send().await;
            let e = match result {
                Ok(_) => return Ok(WriteOutcome::Applied),
                Err(e) => e,
            };
            let reasons = match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(
                    cancelled,
                )) => cancelled.cancellation_reasons(),
                _ => return Err(backend(e)),
            };
            match cancelled(reasons) {
                Cancelled::Condition => return self.refused(job.key()).await,
                Cancelled::Conflict if attempt + 1 < TRANSACTION_ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Cancelled::Conflict => return Err(backend(TransactionCancelled("TransactionConflict".to_owned()))),
                Cancelled::Other(codes) => return Err(backend(TransactionCancelled(codes))),
            }
        }
    }

    async fn clear_pending_alert(&self, key: JobKey, alert_id: AlertId) -> Result<WriteOutcome, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(job_key(key.user_id, key.job_id)))
            .update_expression("REMOVE #alert, #alert_id")
            .condition_expression("attribute_exists(#pk) AND #alert_id = :alert_id")
            .expression_attribute_names("#pk", schema::PARTITION_KEY)
            .expression_attribute_names("#alert", attr::PENDING_ALERT)
            .expression_attribute_names("#alert_id", attr::PENDING_ALERT_ID)
            .expression_attribute_values(":alert_id", s(alert_id.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(WriteOutcome::Applied),
            // The outbox holds another alert (or none), or the job is gone.
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                self.refused(key).await
            }
            Err(e) => Err(backend(e)),
        }
    }

    async fn history(&self, key: JobKey, query: &HistoryQuery) -> Result<Page<PricePoint>, StoreError> {
        let partition = schema::observation_partition_key(key.job_id);
        let mut start = match &query.cursor {
            Some(cursor) if cursor.starts_with(schema::OBSERVATION_PREFIX) && cursor.len() < 64 => {
                Some(HashMap::from([
                    (schema::PARTITION_KEY.to_owned(), s(partition.clone())),
                    (schema::SORT_KEY.to_owned(), s(cursor.clone())),
                ]))
            }
            Some(_) => return Err(StoreError::InvalidCursor),
            None => None,
        };
        let kept_since = chrono::Utc::now() - self.history_retention;
        let from = query.from.map_or(kept_since, |from| from.max(kept_since));
        // Sort keys start with the first-seen time: everything first seen up to `to`.
        let upper = match query.to {
            Some(to) => format!("{}~", schema::observation_sort_key(to, "")),
            None => format!("{}~", schema::OBSERVATION_PREFIX),
        };
        let limit = query.limit.clamp(1, HistoryQuery::MAX_LIMIT) as usize;
        let mut items: Vec<(String, PricePoint)> = Vec::with_capacity(limit + 1);
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :lo AND :hi")
                .filter_expression("#user = :user AND #last >= :from")
                .expression_attribute_names("#pk", schema::PARTITION_KEY)
                .expression_attribute_names("#sk", schema::SORT_KEY)
                .expression_attribute_names("#user", attr::USER_ID)
                .expression_attribute_names("#last", attr::LAST_SEEN_AT)
                .expression_attribute_values(":pk", s(partition.clone()))
                .expression_attribute_values(":lo", s(schema::OBSERVATION_PREFIX))
                .expression_attribute_values(":hi", s(upper.clone()))
                .expression_attribute_values(":user", s(key.user_id.to_string()))
                .expression_attribute_values(":from", item::millis(from))
                .consistent_read(true)
                .scan_index_forward(false)
                .limit(i32::try_from(limit + 1 - items.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(backend)?;
            let found = out.items.unwrap_or_default();
            self.count_read(found.len());
            for raw in &found {
                let sort_key = match raw.get(schema::SORT_KEY) {
                    Some(AttributeValue::S(sk)) => sk.clone(),
                    _ => return Err(backend(item::CorruptItem { attribute: schema::SORT_KEY })),
                };
                items.push((sort_key, item::point_from_item(raw).map_err(backend)?));
            }
            start = out.last_evaluated_key;
            if start.is_none() || items.len() > limit {
                break;
            }
        }
        let more = items.len() > limit;
        items.truncate(limit);
        let next_cursor = if more { items.last().map(|(sk, _)| sk.clone()) } else { None };
        Ok(Page { items: items.into_iter().map(|(_, p)| p).collect(), next_cursor })
    }

    async fn create_idempotent(
        &self,
        job: &Job,
        idempotency_key: &str,
        response: &str,
        now: Timestamp,
    ) -> Result<IdempotentCreate, StoreError> {
        let window = chrono::Duration::from_std(IDEMPOTENCY_WINDOW).map_err(backend)?;
        let key = HashMap::from([
            (schema::PARTITION_KEY.to_owned(), s(schema::job_partition_key(job.user_id))),
            (schema::SORT_KEY.to_owned(), s(format!("{}{idempotency_key}", schema::IDEMPOTENCY_PREFIX))),
        ]);
        let mut record = key.clone();
        record.insert(attr::JOB_ID.to_owned(), s(job.id.to_string()));
        record.insert(attr::RESPONSE.to_owned(), s(response));
        record.insert(attr::CREATED_AT.to_owned(), item::millis(now));
        record.insert(schema::TTL_ATTRIBUTE.to_owned(), n((now + window).timestamp()));
        let claim = Put::builder()
            .table_name(&self.table)
            .set_item(Some(record))
            .condition_expression("attribute_not_exists(#pk) OR #created <= :stale")
            .expression_attribute_names("#pk", schema::PARTITION_KEY)
            .expression_attribute_names("#created", attr::CREATED_AT)
            .expression_attribute_values(":stale", item::millis(now - window))
            .build()
            .map_err(backend)?;
        let put_job = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item::job_item(job).map_err(backend)?))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", schema::PARTITION_KEY)
            .build()
            .map_err(backend)?;
        let items =
            vec![TransactWriteItem::builder().put(claim).build(), TransactWriteItem::builder().put(put_job).build()];
        let mut attempt = 0;
        loop {
            let result = self.client.transact_write_items().set_transact_items(Some(items.clone())).send().await;
            let e = match result {
                Ok(_) => return Ok(IdempotentCreate::Created),
                Err(e) => e,
            };
            let reasons = match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(
                    cancelled,
                )) => cancelled.cancellation_reasons().to_vec(),
                _ => return Err(backend(e)),
            };
            let key_taken = reasons.first().and_then(|r| r.code()) == Some("ConditionalCheckFailed");
            let job_taken = reasons.get(1).and_then(|r| r.code()) == Some("ConditionalCheckFailed");
            if key_taken {
                let out = self
                    .client
                    .get_item()
                    .table_name(&self.table)
                    .set_key(Some(key.clone()))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(backend)?;
                // Gone since (its TTL ran out): try again.
                if let Some(found) = out.item {
                    let (job_id, response) = item::idempotency_from_item(&found).map_err(backend)?;
                    return Ok(IdempotentCreate::Replayed { job_id, response });
                }
            } else if job_taken {
                return Err(StoreError::AlreadyExists);
            }
            match cancelled(&reasons) {
                Cancelled::Other(codes) => return Err(backend(TransactionCancelled(codes))),
                _ if attempt + 1 < TRANSACTION_ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(backoff(attempt)).await;
                }
                _ => return Err(backend(TransactionCancelled("TransactionConflict".to_owned()))),
            }
        }
    }

    async fn list_ordered(
        &self,
        user_id: UserId,
        page: &PageRequest,
        order: ListOrder,
    ) -> Result<Page<Job>, StoreError> {
        if order == ListOrder::Oldest {
            return self.list(user_id, page).await;
        }
        let mut start = match &page.cursor {
            Some(cursor) => {
                let before = cursor.parse::<JobId>().map_err(|_| StoreError::InvalidCursor)?;
                Some(job_key(user_id, before))
            }
            None => None,
        };
        let limit = page.limit.clamp(1, PageRequest::MAX_LIMIT) as usize;
        let mut items = Vec::with_capacity(limit + 1);
        loop {
            let out = self
                .jobs_query(user_id)
                .scan_index_forward(false)
                .limit(i32::try_from(limit + 1 - items.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(backend)?;
            let found = out.items.unwrap_or_default();
            self.count_read(found.len());
            for raw in &found {
                items.push(item::job_from_item(raw).map_err(backend)?);
            }
            start = out.last_evaluated_key;
            if start.is_none() || items.len() > limit {
                break;
            }
        }
        let more = items.len() > limit;
        items.truncate(limit);
        let next_cursor = if more { items.last().map(|job| job.id.to_string()) } else { None };
        Ok(Page { items, next_cursor })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.client.describe_table().table_name(&self.table).send().await.map_err(backend)?;
        Ok(())
    }
}

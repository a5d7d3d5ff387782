//! The fleet-wide per-host politeness budget on the jobs table: a [`HostGate`] with conditional
//! writes.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use pricetrack_domain::gate::{GateDecision, HostGate, HostPass};
use pricetrack_domain::ports::BackendError;

use crate::schema;

/// Attempts at moving a host's next start when another process moves it at the same time.
const PACE_ATTEMPTS: u32 = 3;
/// Shortest "come back later" for a host whose slots are all held (SQS delays are whole seconds).
const MIN_RETRY: Duration = Duration::from_secs(1);
/// Spread of the retries of checks that found every slot of their host held, in ms.
const BUSY_SPREAD_MS: u32 = 4000;
/// Most a reserved start is put ahead of now to cover the reservation's own round trip.
const MAX_LEAD_MS: i64 = 1000;

/// How a [`DynamoHostGate`] shares each host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostBudget {
    /// Checks of one host in flight at once across the fleet (1 to 64).
    pub concurrency: u32,
    /// Least time between the starts of two checks of one host across the fleet.
    pub min_delay: Duration,
    /// How long a slot stays held if its holder never gives it back (it died): at least the
    /// longest a check may take, so that a live holder never loses its slot.
    pub hold: Duration,
}

/// [`HostGate`] on the jobs table. Per host (`PK = HOST#<host>`):
/// - `SK = SLOT#<n>` for `n` below the concurrency: taken with a conditional `UpdateItem`
///   (`held_until` absent or past), given back with one conditional on the holder's token;
/// - `SK = PACE`: the host's next start, read consistently and moved one spacing on with a
///   conditional `UpdateItem` on the value read (optimistic: a process that loses the race reads
///   again).
///
/// A check costs two to three writes and one read when the host is free. The items carry
/// the table's TTL attribute, so hosts no longer checked disappear. These items have no due
/// shard, so they are never in the due index.
#[derive(Debug, Clone)]
pub struct DynamoHostGate {
    client: Client,
    table: String,
    budget: HostBudget,
}

impl DynamoHostGate {
    /// A gate over the table `table` (the jobs table).
    pub fn new(client: Client, table: String, budget: HostBudget) -> Self {
        let budget = HostBudget { concurrency: budget.concurrency.clamp(1, 64), ..budget };
        Self { client, table, budget }
    }

    /// The budget in use.
    pub fn budget(&self) -> &HostBudget {
        &self.budget
    }

    fn key(host: &str, sort: String) -> [(String, AttributeValue); 2] {
        [
            (schema::PARTITION_KEY.to_owned(), AttributeValue::S(format!("{}{host}", schema::HOST_PREFIX))),
            (schema::SORT_KEY.to_owned(), AttributeValue::S(sort)),
        ]
    }

    /// Seconds since the epoch when an item of a host idle since `now_ms` may be deleted.
    fn expiry(&self, now_ms: i64) -> AttributeValue {
        let keep = self.budget.hold.max(self.budget.min_delay).as_secs() as i64 + 3600;
        AttributeValue::N((now_ms / 1000 + keep).to_string())
    }

    /// Takes a free slot of the host: its number, or `None` when all are held.
    async fn take_slot(&self, host: &str, token: &str, now_ms: i64) -> Result<Option<u32>, BackendError> {
        let held_until = now_ms + i64::try_from(self.budget.hold.as_millis()).unwrap_or(i64::MAX / 2);
        let first = rand_below(self.budget.concurrency);
        for k in 0..self.budget.concurrency {
            let slot = (first + k) % self.budget.concurrency;
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(Self::key(host, format!("SLOT#{slot}")).into_iter().collect()))
                .update_expression("SET holder = :token, held_until = :until, #ttl = :ttl")
                .condition_expression("attribute_not_exists(held_until) OR held_until < :now")
                .expression_attribute_names("#ttl", schema::TTL_ATTRIBUTE)
                .expression_attribute_values(":token", AttributeValue::S(token.to_owned()))
                .expression_attribute_values(":until", AttributeValue::N(held_until.to_string()))
                .expression_attribute_values(":now", AttributeValue::N(now_ms.to_string()))
                .expression_attribute_values(":ttl", self.expiry(now_ms))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(Some(slot)),
                Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(None)
    }

    /// Reserves the host's next start if it is at most one spacing away: the start (ms), or how
    /// long to wait before asking again.
    ///
    /// The start is at least twice the read's round trip ahead (the write that reserves it takes
    /// about one more): a start already past when the reservation returns would put this check's
    /// request closer to the next one's than the spacing.
    async fn reserve_start(&self, host: &str) -> Result<Result<i64, Duration>, BackendError> {
        let delay_ms = i64::try_from(self.budget.min_delay.as_millis()).unwrap_or(i64::MAX / 4);
        for _ in 0..PACE_ATTEMPTS {
            let asked = std::time::Instant::now();
            let read = self
                .client
                .get_item()
                .table_name(&self.table)
                .set_key(Some(Self::key(host, "PACE".to_owned()).into_iter().collect()))
                .consistent_read(true)
                .send()
                .await?;
            let previous = read
                .item
                .as_ref()
                .and_then(|item| item.get("next_start"))
                .and_then(|value| value.as_n().ok())
                .and_then(|n| n.parse::<i64>().ok());
            let now_ms = chrono::Utc::now().timestamp_millis();
            let lead_ms =
                i64::try_from(asked.elapsed().as_millis().saturating_mul(2)).unwrap_or(0).min(MAX_LEAD_MS) + 5;
            let earliest = now_ms + lead_ms;
            let start = previous.unwrap_or(earliest).max(earliest);
            if start > earliest + delay_ms {
                return Ok(Err(Duration::from_millis(u64::try_from(start - now_ms).unwrap_or(0))));
            }
            let mut update = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(Self::key(host, "PACE".to_owned()).into_iter().collect()))
                .update_expression("SET next_start = :next, #ttl = :ttl")
                .expression_attribute_names("#ttl", schema::TTL_ATTRIBUTE)
                .expression_attribute_values(":next", AttributeValue::N((start + delay_ms).to_string()))
                .expression_attribute_values(":ttl", self.expiry(now_ms));
            update = match previous {
                Some(previous) => update
                    .condition_expression("next_start = :previous")
                    .expression_attribute_values(":previous", AttributeValue::N(previous.to_string())),
                None => update.condition_expression("attribute_not_exists(next_start)"),
            };
            match update.send().await {
                Ok(_) => return Ok(Ok(start)),
                Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Err(self.budget.min_delay.max(MIN_RETRY)))
    }

    async fn give_back(&self, host: &str, slot: u32, token: &str) -> Result<(), BackendError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(host, format!("SLOT#{slot}")).into_iter().collect()))
            .update_expression("REMOVE holder, held_until")
            .condition_expression("holder = :token")
            .expression_attribute_values(":token", AttributeValue::S(token.to_owned()))
            .send()
            .await;
        match result {
            // Held past its hold time and taken by someone else: nothing of ours to give back.
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// A number below `n` (for spreading processes over slots; not security relevant).
fn rand_below(n: u32) -> u32 {
    let random = uuid::Uuid::new_v4().as_u128();
    (random % u128::from(n.max(1))) as u32
}

#[async_trait]
impl HostGate for DynamoHostGate {
    async fn enter(&self, host: &str) -> Result<GateDecision, BackendError> {
        let host = host.to_ascii_lowercase();
        let token = uuid::Uuid::new_v4().to_string();
        let now_ms = chrono::Utc::now().timestamp_millis();
        let Some(slot) = self.take_slot(&host, &token, now_ms).await? else {
            // Every slot is held: a check takes about a second or more, come back after one
            // spacing (at least a second), spread over a few seconds so that the waiting checks
            // of a busy host do not all return at once and crowd the queue.
            let spread = Duration::from_millis(u64::from(rand_below(BUSY_SPREAD_MS)));
            return Ok(GateDecision::Busy { retry_after: self.budget.min_delay.max(MIN_RETRY) + spread });
        };
        match self.reserve_start(&host).await {
            Ok(Ok(start_ms)) => {
                let start_at = chrono::DateTime::from_timestamp_millis(start_ms).unwrap_or_else(chrono::Utc::now);
                Ok(GateDecision::Enter(HostPass { host, slot, token, start_at }))
            }
            Ok(Err(retry_after)) => {
                self.give_back(&host, slot, &token).await?;
                Ok(GateDecision::Busy { retry_after: retry_after.max(MIN_RETRY) })
            }
            Err(e) => {
                // Best effort: the slot expires after its hold time anyway.
                let _ = self.give_back(&host, slot, &token).await;
                Err(e)
            }
        }
    }

    async fn leave(&self, pass: &HostPass) -> Result<(), BackendError> {
        self.give_back(&pass.host, pass.slot, &pass.token).await
    }
}

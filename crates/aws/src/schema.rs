//! Every name and number that the AWS resources of pricetrack are made of, in one place, so that
//! infrastructure code (Terraform) can be checked against what the adapters expect.
//!
//! The table holds two kinds of items:
//!
//! | item        | [`PARTITION_KEY`]     | [`SORT_KEY`]                         | other attributes                      |
//! |-------------|-----------------------|--------------------------------------|---------------------------------------|
//! | job         | `USER#<user_id>`      | `JOB#<job_id>`                       | every job field, [`DUE_SHARD`], [`NEXT_CHECK_AT`] |
//! | history point | `JOB#<job_id>`      | `OBS#<first seen ms, 15 digits>#<8 hex digits>` | price, currency, availability, last_seen_at, checks, [`TTL_ATTRIBUTE`] |
//! | idempotency key | `USER#<user_id>`  | `IDEM#<key>`                         | job_id, response, created_at, [`TTL_ATTRIBUTE`] |
//! | channel     | `USER#<user_id>`      | `CHANNEL#<channel_id>`               | see `DynamoChannelStore`              |
//! | alert       | `USER#<user_id>`      | `ALERT#<alert_id>`                   | the alert as JSON                     |
//! | delivery    | `ALERT#<alert_id>`    | `DELIVERY#<channel>`                 | the delivery record as JSON, status   |
//!
//! The sparse global secondary index [`DUE_INDEX`] (partition [`DUE_SHARD`], sort
//! [`NEXT_CHECK_AT`], keys only) holds live jobs only: observations carry no [`DUE_SHARD`].

use pricetrack_domain::{JobId, Timestamp, UserId};

/// Partition key attribute of the table (type S).
pub const PARTITION_KEY: &str = "PK";
/// Sort key attribute of the table (type S).
pub const SORT_KEY: &str = "SK";
/// Billing mode of the table.
pub const BILLING_MODE: &str = "PAY_PER_REQUEST";

/// Prefix of a job's partition key: `USER#<user_id>`.
pub const USER_PREFIX: &str = "USER#";
/// Prefix of a job's sort key (`JOB#<job_id>`) and of its observations' partition key.
pub const JOB_PREFIX: &str = "JOB#";
/// Prefix of an observation's sort key: `OBS#<ms>#<suffix>`.
pub const OBSERVATION_PREFIX: &str = "OBS#";
/// Prefix of a channel's sort key (under its owner's `USER#` partition): `CHANNEL#<channel_id>`.
pub const CHANNEL_PREFIX: &str = "CHANNEL#";
/// Prefix of an alert's sort key (under its owner's `USER#` partition, `ALERT#<alert_id>`) and
/// of its deliveries' partition key.
pub const ALERT_PREFIX: &str = "ALERT#";
/// Prefix of a delivery's sort key: `DELIVERY#<channel>`.
pub const DELIVERY_PREFIX: &str = "DELIVERY#";
/// Prefix of an idempotency key's sort key: `IDEM#<key>`.
pub const IDEMPOTENCY_PREFIX: &str = "IDEM#";
/// Prefix of a due shard's value: `DUE#<n>`.
pub const DUE_PREFIX: &str = "DUE#";
/// Partition key prefix of a shop host's fleet-wide politeness items (slots and next start).
pub const HOST_PREFIX: &str = "HOST#";

/// The sparse global secondary index of due jobs.
pub const DUE_INDEX: &str = "due-index";
/// Partition key of [`DUE_INDEX`] (type S): `DUE#<n>`, `n` in `0..DUE_SHARDS`.
pub const DUE_SHARD: &str = "due_shard";
/// Sort key of [`DUE_INDEX`] (type N): when the job is next due, in milliseconds since the epoch.
pub const NEXT_CHECK_AT: &str = "next_check_at";
/// Projection of [`DUE_INDEX`]: the claim needs the table keys and the sort key only.
pub const DUE_INDEX_PROJECTION: &str = "KEYS_ONLY";
/// Number of due shards: spreads the due jobs over a few index partitions, so that none is hot.
pub const DUE_SHARDS: u32 = 4;

/// Time-to-live attribute of observations (type N, seconds since the epoch).
pub const TTL_ATTRIBUTE: &str = "expires_at";
/// How long a history point is kept after it was last seen, when the operator does not say
/// (`PRICETRACK_HISTORY_RETENTION_DAYS`): DynamoDB's TTL removes it then, and reads filter out
/// what the TTL has not removed yet.
pub const OBSERVATION_TTL_DAYS: i64 = pricetrack_domain::history::DEFAULT_RETENTION_DAYS as i64;

/// Visibility timeout of the check queue, in seconds: a little over a normal check. Workers
/// extend it while a check runs longer.
pub const QUEUE_VISIBILITY_TIMEOUT_SECS: u32 = 60;
/// Long-poll wait of the check queue, in seconds (the SQS maximum).
pub const QUEUE_RECEIVE_WAIT_SECS: u32 = 20;
/// Receives after which a message goes to the dead-letter queue.
pub const QUEUE_MAX_RECEIVE_COUNT: u32 = 5;
/// How long the check queue keeps a message, in seconds (4 days, the SQS default).
pub const QUEUE_RETENTION_SECS: u32 = 345_600;
/// How long the dead-letter queue keeps a message, in seconds (14 days, the SQS maximum).
pub const DEAD_LETTER_RETENTION_SECS: u32 = 1_209_600;

/// Visibility timeout of the delivery queue, in seconds: a little over the slowest delivery of
/// one alert to all its channels (10 s per attempt, channels in parallel). Deliverers extend it
/// while they work, and put a message off until its next retry.
pub const DELIVERY_QUEUE_VISIBILITY_TIMEOUT_SECS: u32 = 60;
/// Receives after which an alert goes to the delivery dead-letter queue. Retries put the message
/// off instead of failing it, so this counts crashes and store failures; 24 hours of retries at
/// most an hour apart stay far below it (the SQS maximum is 1000).
pub const DELIVERY_QUEUE_MAX_RECEIVE_COUNT: u32 = 500;
/// Message attribute (type String) saying what a topic message is: [`KIND_ALERT`] for an alert
/// (the delivery queue's subscription takes only those), [`KIND_EMAIL`] for an email to one
/// channel.
pub const KIND_ATTRIBUTE: &str = "kind";
/// [`KIND_ATTRIBUTE`] of an alert.
pub const KIND_ALERT: &str = "alert";
/// [`KIND_ATTRIBUTE`] of an email for one email channel.
pub const KIND_EMAIL: &str = "email";
/// Message attribute (type String) naming the email channel an email is for; the channel's email
/// subscription filters on it.
pub const CHANNEL_ID_ATTRIBUTE: &str = "channel_id";

/// The filter policy of the delivery queue's subscription: alerts only.
pub fn delivery_filter_policy() -> String {
    serde_json::json!({ KIND_ATTRIBUTE: [KIND_ALERT] }).to_string()
}

/// The filter policy of an email channel's subscription: emails for that channel only.
pub fn email_channel_filter_policy(channel_id: &str) -> String {
    serde_json::json!({ KIND_ATTRIBUTE: [KIND_EMAIL], CHANNEL_ID_ATTRIBUTE: [channel_id] }).to_string()
}

/// Subject of every alert published to the topic.
pub const ALERT_SUBJECT: &str = "Price alert";
/// Message attribute (type String) that carries the alert's owner; subscriptions filter on it.
pub const USER_ID_ATTRIBUTE: &str = "user_id";
/// Message attribute (type String) that carries the alert id, for de-duplication.
pub const ALERT_ID_ATTRIBUTE: &str = "alert_id";

/// A job's partition key: `USER#<user_id>`.
pub fn job_partition_key(user_id: UserId) -> String {
    format!("{USER_PREFIX}{user_id}")
}

/// A job's sort key: `JOB#<job_id>`.
pub fn job_sort_key(job_id: JobId) -> String {
    format!("{JOB_PREFIX}{job_id}")
}

/// The partition key of a job's observations: `JOB#<job_id>`.
pub fn observation_partition_key(job_id: JobId) -> String {
    format!("{JOB_PREFIX}{job_id}")
}

/// An observation's sort key: `OBS#<milliseconds, zero-padded to 15 digits>#<suffix>`, so that
/// keys sort by time. The suffix keeps two observations of one millisecond apart.
pub fn observation_sort_key(observed_at: Timestamp, suffix: &str) -> String {
    let ms = observed_at.timestamp_millis().max(0);
    format!("{OBSERVATION_PREFIX}{ms:015}#{suffix}")
}

/// The due shard of a job: `DUE#<n>` with `n` a stable hash (FNV-1a of the id's text) modulo
/// [`DUE_SHARDS`]. Stable across builds and platforms: a job stays in its shard for life.
pub fn due_shard(job_id: JobId) -> String {
    format!("{DUE_PREFIX}{}", due_shard_number(job_id))
}

/// The number of a job's due shard, in `0..DUE_SHARDS`.
pub fn due_shard_number(job_id: JobId) -> u32 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = job_id.to_string().bytes().fold(OFFSET, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(PRIME));
    // The remainder is below DUE_SHARDS, so it fits.
    u32::try_from(hash % u64::from(DUE_SHARDS)).unwrap_or(0)
}

/// Every due shard value, `DUE#0` to `DUE#<DUE_SHARDS - 1>`.
pub fn due_shards() -> impl Iterator<Item = String> {
    (0..DUE_SHARDS).map(|n| format!("{DUE_PREFIX}{n}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_shard_is_stable_and_spread() {
        let id: JobId = "0192e4a0-0000-7000-8000-000000000000".parse().expect("id");
        assert_eq!(due_shard(id), due_shard(id));
        let mut counts = [0_u32; DUE_SHARDS as usize];
        for _ in 0..4000 {
            counts[due_shard_number(JobId::new()) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| c > 800), "shards are roughly even: {counts:?}");
    }

    #[test]
    fn observation_keys_sort_by_time() {
        let t1 = chrono::DateTime::from_timestamp_millis(999).expect("time");
        let t2 = chrono::DateTime::from_timestamp_millis(1_000).expect("time");
        let k1 = observation_sort_key(t1, "ffffffff");
        let k2 = observation_sort_key(t2, "00000000");
        assert!(k1 < k2);
        assert_eq!(k1, "OBS#000000000000999#ffffffff");
    }
}

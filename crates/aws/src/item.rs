//! Jobs and observations as DynamoDB items, and back. Money is kept as decimal text (type S),
//! times as milliseconds since the epoch (type N), the pending alert as JSON text.

use std::collections::HashMap;
use std::str::FromStr;

use aws_sdk_dynamodb::types::AttributeValue;
use pricetrack_domain::{
    Alert, AlertState, Availability, CheckInterval, Currency, Job, JobId, JobStatus, Money, Observation, PricePoint,
    ProductUrl, TargetPrice, Timestamp, UserId,
};
use rust_decimal::Decimal;

use crate::schema;

/// A DynamoDB item.
pub(crate) type Item = HashMap<String, AttributeValue>;

/// A stored item that does not read back as a job or an observation: the source of a
/// [`StoreError::Backend`](pricetrack_domain::ports::StoreError::Backend). Names the attribute,
/// never its value (it may be personal data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stored item has a missing or malformed attribute `{attribute}`")]
pub struct CorruptItem {
    /// The attribute that is missing or malformed.
    pub attribute: &'static str,
}

/// Attribute names of a job item (beside the keys and the due index attributes).
pub(crate) mod attr {
    pub const USER_ID: &str = "user_id";
    pub const JOB_ID: &str = "job_id";
    pub const URL: &str = "url";
    pub const TARGET_PRICE: &str = "target_price";
    pub const CURRENCY: &str = "currency";
    pub const PRICE_SELECTOR: &str = "price_selector";
    pub const CHECK_INTERVAL_SECS: &str = "check_interval_secs";
    pub const STATUS: &str = "status";
    pub const ALERT_STATE: &str = "alert_state";
    pub const LAST_PRICE: &str = "last_price";
    pub const LAST_PRICE_CURRENCY: &str = "last_price_currency";
    pub const LAST_AVAILABILITY: &str = "last_availability";
    pub const LAST_CHECKED_AT: &str = "last_checked_at";
    pub const LAST_ERROR: &str = "last_error";
    pub const CONSECUTIVE_FAILURES: &str = "consecutive_failures";
    pub const PENDING_ALERT: &str = "pending_alert";
    pub const PENDING_ALERT_ID: &str = "pending_alert_id";
    pub const VERSION: &str = "version";
    pub const CREATED_AT: &str = "created_at";
    pub const UPDATED_AT: &str = "updated_at";
    pub const ALERTING: &str = "alerting";
    pub const OBSERVED_AT: &str = "observed_at";
    pub const PRICE: &str = "price";
    pub const AVAILABILITY: &str = "availability";
    pub const PAUSED: &str = "paused";
    pub const LAST_SEEN_AT: &str = "last_seen_at";
    pub const CHECKS: &str = "checks";
    pub const RESPONSE: &str = "response";
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(crate) fn millis(t: Timestamp) -> AttributeValue {
    n(t.timestamp_millis())
}

/// The primary key of a job.
pub(crate) fn job_key(user_id: UserId, job_id: JobId) -> Item {
    HashMap::from([
        (schema::PARTITION_KEY.to_owned(), s(schema::job_partition_key(user_id))),
        (schema::SORT_KEY.to_owned(), s(schema::job_sort_key(job_id))),
    ])
}

/// Every attribute of a job except its keys, `None` for an optional field that is empty (the
/// attribute is absent from the item). Includes the due index attributes.
pub(crate) fn job_fields(job: &Job) -> Result<Vec<(&'static str, Option<AttributeValue>)>, serde_json::Error> {
    let pending_alert = job.pending_alert.as_ref().map(serde_json::to_string).transpose()?;
    let alerting = serde_json::to_string(&job.alerting)?;
    Ok(vec![
        (attr::ALERTING, Some(s(alerting))),
        (attr::USER_ID, Some(s(job.user_id.to_string()))),
        (attr::JOB_ID, Some(s(job.id.to_string()))),
        (attr::URL, Some(s(job.url.as_str()))),
        (attr::TARGET_PRICE, Some(s(job.target_price.amount().to_string()))),
        (attr::CURRENCY, job.currency.map(|c| s(c.as_str()))),
        (attr::PRICE_SELECTOR, job.price_selector.clone().map(s)),
        (attr::CHECK_INTERVAL_SECS, Some(n(job.check_interval.as_secs()))),
        (attr::STATUS, Some(s(job.status.as_str()))),
        (attr::ALERT_STATE, Some(s(job.alert_state.as_str()))),
        (attr::LAST_PRICE, job.last_price.map(|p| s(p.amount.to_string()))),
        (attr::LAST_PRICE_CURRENCY, job.last_price.and_then(|p| p.currency).map(|c| s(c.as_str()))),
        (attr::LAST_AVAILABILITY, job.last_availability.map(|a| s(a.as_str()))),
        (attr::LAST_CHECKED_AT, job.last_checked_at.map(millis)),
        (attr::LAST_ERROR, job.last_error.clone().map(s)),
        (attr::CONSECUTIVE_FAILURES, Some(n(job.consecutive_failures))),
        (schema::NEXT_CHECK_AT, Some(millis(job.next_check_at))),
        // A paused job has no due entry: without the shard it is not in the sparse due index.
        (schema::DUE_SHARD, (!job.paused).then(|| s(schema::due_shard(job.id)))),
        (attr::PAUSED, job.paused.then_some(AttributeValue::Bool(true))),
        (attr::PENDING_ALERT, pending_alert.map(s)),
        (attr::PENDING_ALERT_ID, job.pending_alert.as_ref().map(|a| s(a.id.to_string()))),
        (attr::VERSION, Some(n(job.version))),
        (attr::CREATED_AT, Some(millis(job.created_at))),
        (attr::UPDATED_AT, Some(millis(job.updated_at))),
    ])
}

/// A whole job item, keys included.
pub(crate) fn job_item(job: &Job) -> Result<Item, serde_json::Error> {
    let mut item = job_key(job.user_id, job.id);
    for (name, value) in job_fields(job)? {
        if let Some(value) = value {
            item.insert(name.to_owned(), value);
        }
    }
    Ok(item)
}

/// The shop host of a job item's URL, when it has a readable one (for spreading a host's
/// checks; never an error: a claim goes on without it).
pub(crate) fn job_host(item: &Item) -> Option<String> {
    let url = get_s(item, attr::URL).ok()?;
    ProductUrl::parse(url).ok().map(|url| url.host().to_owned())
}

fn get_s<'a>(item: &'a Item, attribute: &'static str) -> Result<&'a str, CorruptItem> {
    match item.get(attribute) {
        Some(AttributeValue::S(value)) => Ok(value),
        _ => Err(CorruptItem { attribute }),
    }
}

fn opt_s<'a>(item: &'a Item, attribute: &'static str) -> Result<Option<&'a str>, CorruptItem> {
    match item.get(attribute) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::S(value)) => Ok(Some(value)),
        Some(_) => Err(CorruptItem { attribute }),
    }
}

fn get_n<T: FromStr>(item: &Item, attribute: &'static str) -> Result<T, CorruptItem> {
    opt_n(item, attribute)?.ok_or(CorruptItem { attribute })
}

fn opt_n<T: FromStr>(item: &Item, attribute: &'static str) -> Result<Option<T>, CorruptItem> {
    match item.get(attribute) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::N(value)) => value.parse().map(Some).map_err(|_| CorruptItem { attribute }),
        Some(_) => Err(CorruptItem { attribute }),
    }
}

fn parsed<T: FromStr>(raw: &str, attribute: &'static str) -> Result<T, CorruptItem> {
    raw.parse().map_err(|_| CorruptItem { attribute })
}

fn timestamp(ms: i64, attribute: &'static str) -> Result<Timestamp, CorruptItem> {
    chrono::DateTime::from_timestamp_millis(ms).ok_or(CorruptItem { attribute })
}

fn get_time(item: &Item, attribute: &'static str) -> Result<Timestamp, CorruptItem> {
    timestamp(get_n(item, attribute)?, attribute)
}

fn decimal(raw: &str, attribute: &'static str) -> Result<Decimal, CorruptItem> {
    Decimal::from_str(raw).map_err(|_| CorruptItem { attribute })
}

fn currency(raw: Option<&str>, attribute: &'static str) -> Result<Option<Currency>, CorruptItem> {
    raw.map(|c| Currency::parse(c).map_err(|_| CorruptItem { attribute })).transpose()
}

fn availability(raw: Option<&str>, attribute: &'static str) -> Result<Option<Availability>, CorruptItem> {
    raw.map(|a| Availability::parse(a).ok_or(CorruptItem { attribute })).transpose()
}

/// Reads a job item back.
pub(crate) fn job_from_item(item: &Item) -> Result<Job, CorruptItem> {
    let last_price = match opt_s(item, attr::LAST_PRICE)? {
        Some(raw) => Some(Money::new(
            decimal(raw, attr::LAST_PRICE)?,
            currency(opt_s(item, attr::LAST_PRICE_CURRENCY)?, attr::LAST_PRICE_CURRENCY)?,
        )),
        None => None,
    };
    let pending_alert = opt_s(item, attr::PENDING_ALERT)?
        .map(|raw| serde_json::from_str::<Alert>(raw).map_err(|_| CorruptItem { attribute: attr::PENDING_ALERT }))
        .transpose()?;
    Ok(Job {
        id: parsed(get_s(item, attr::JOB_ID)?, attr::JOB_ID)?,
        user_id: parsed(get_s(item, attr::USER_ID)?, attr::USER_ID)?,
        url: ProductUrl::parse(get_s(item, attr::URL)?).map_err(|_| CorruptItem { attribute: attr::URL })?,
        target_price: TargetPrice::new(decimal(get_s(item, attr::TARGET_PRICE)?, attr::TARGET_PRICE)?)
            .map_err(|_| CorruptItem { attribute: attr::TARGET_PRICE })?,
        currency: currency(opt_s(item, attr::CURRENCY)?, attr::CURRENCY)?,
        price_selector: opt_s(item, attr::PRICE_SELECTOR)?.map(str::to_owned),
        check_interval: CheckInterval::from_stored(get_n(item, attr::CHECK_INTERVAL_SECS)?),
        status: JobStatus::parse(get_s(item, attr::STATUS)?).ok_or(CorruptItem { attribute: attr::STATUS })?,
        alert_state: AlertState::parse(get_s(item, attr::ALERT_STATE)?)
            .ok_or(CorruptItem { attribute: attr::ALERT_STATE })?,
        last_price,
        last_availability: availability(opt_s(item, attr::LAST_AVAILABILITY)?, attr::LAST_AVAILABILITY)?,
        last_checked_at: opt_n(item, attr::LAST_CHECKED_AT)?
            .map(|ms| timestamp(ms, attr::LAST_CHECKED_AT))
            .transpose()?,
        last_error: opt_s(item, attr::LAST_ERROR)?.map(str::to_owned),
        consecutive_failures: get_n(item, attr::CONSECUTIVE_FAILURES)?,
        next_check_at: get_time(item, schema::NEXT_CHECK_AT)?,
        paused: matches!(item.get(attr::PAUSED), Some(AttributeValue::Bool(true))),
        pending_alert,
        version: get_n(item, attr::VERSION)?,
        // Absent from jobs stored before rules: the defaults (below_target only).
        alerting: opt_s(item, attr::ALERTING)?
            .map(|raw| serde_json::from_str(raw).map_err(|_| CorruptItem { attribute: attr::ALERTING }))
            .transpose()?
            .unwrap_or_default(),
        created_at: get_time(item, attr::CREATED_AT)?,
        updated_at: get_time(item, attr::UPDATED_AT)?,
    })
}

/// The user and job ids in a job's keys (as the due index returns them).
pub(crate) fn key_ids(item: &Item) -> Result<(UserId, JobId), CorruptItem> {
    let pk = get_s(item, schema::PARTITION_KEY)?;
    let sk = get_s(item, schema::SORT_KEY)?;
    let user = pk.strip_prefix(schema::USER_PREFIX).ok_or(CorruptItem { attribute: schema::PARTITION_KEY })?;
    let job = sk.strip_prefix(schema::JOB_PREFIX).ok_or(CorruptItem { attribute: schema::SORT_KEY })?;
    Ok((parsed(user, schema::PARTITION_KEY)?, parsed(job, schema::SORT_KEY)?))
}

/// The `next_check_at` of an item, as stored (the exact number text is what the claim compares).
pub(crate) fn next_check_at_raw(item: &Item) -> Result<(&str, i64), CorruptItem> {
    match item.get(schema::NEXT_CHECK_AT) {
        Some(AttributeValue::N(raw)) => {
            raw.parse().map(|ms| (raw.as_str(), ms)).map_err(|_| CorruptItem { attribute: schema::NEXT_CHECK_AT })
        }
        _ => Err(CorruptItem { attribute: schema::NEXT_CHECK_AT }),
    }
}

/// The version attribute of an item.
pub(crate) fn version(item: &Item) -> Result<u64, CorruptItem> {
    get_n(item, attr::VERSION)
}

/// A new history point item of the job owned by `user_id`, holding one observation, expiring
/// at `expires_at`. Its sort key carries the time it was first seen.
pub(crate) fn point_item(user_id: UserId, observation: &Observation, suffix: &str, expires_at: Timestamp) -> Item {
    let mut item = HashMap::from([
        (schema::PARTITION_KEY.to_owned(), s(schema::observation_partition_key(observation.job_id))),
        (schema::SORT_KEY.to_owned(), s(schema::observation_sort_key(observation.observed_at, suffix))),
        (attr::USER_ID.to_owned(), s(user_id.to_string())),
        (attr::JOB_ID.to_owned(), s(observation.job_id.to_string())),
        (attr::OBSERVED_AT.to_owned(), millis(observation.observed_at)),
        (attr::LAST_SEEN_AT.to_owned(), millis(observation.observed_at)),
        (attr::CHECKS.to_owned(), n(1)),
        (schema::TTL_ATTRIBUTE.to_owned(), n(expires_at.timestamp())),
    ]);
    if let Some(price) = observation.price {
        item.insert(attr::PRICE.to_owned(), s(price.amount.to_string()));
        if let Some(currency) = price.currency {
            item.insert(attr::CURRENCY.to_owned(), s(currency.as_str()));
        }
    }
    if let Some(availability) = observation.availability {
        item.insert(attr::AVAILABILITY.to_owned(), s(availability.as_str()));
    }
    item
}

/// Reads a history point item back (`observed_at` is when it was first seen).
pub(crate) fn point_from_item(item: &Item) -> Result<PricePoint, CorruptItem> {
    let price = opt_s(item, attr::PRICE)?
        .map(|raw| -> Result<Money, CorruptItem> {
            Ok(Money::new(decimal(raw, attr::PRICE)?, currency(opt_s(item, attr::CURRENCY)?, attr::CURRENCY)?))
        })
        .transpose()?;
    Ok(PricePoint {
        first_seen_at: get_time(item, attr::OBSERVED_AT)?,
        last_seen_at: get_time(item, attr::LAST_SEEN_AT)?,
        price,
        availability: availability(opt_s(item, attr::AVAILABILITY)?, attr::AVAILABILITY)?,
        checks: get_n(item, attr::CHECKS)?,
    })
}

/// The stored job id and response of an idempotency item.
pub(crate) fn idempotency_from_item(item: &Item) -> Result<(JobId, String), CorruptItem> {
    Ok((parsed(get_s(item, attr::JOB_ID)?, attr::JOB_ID)?, get_s(item, attr::RESPONSE)?.to_owned()))
}

#[cfg(test)]
mod tests {
    use pricetrack_domain::testing::{fully_populated_job, now_ms, precise_job, sample_job};

    use super::*;

    #[test]
    fn job_round_trips_through_an_item() {
        let user = UserId::new();
        for job in [fully_populated_job(user), precise_job(user), sample_job(user, now_ms())] {
            let item = job_item(&job).expect("item");
            assert_eq!(job_from_item(&item).expect("job"), job);
            assert_eq!(item.contains_key(attr::PRICE_SELECTOR), job.price_selector.is_some());
            assert_eq!(item.contains_key(attr::PENDING_ALERT_ID), job.pending_alert.is_some());
            assert_eq!(key_ids(&item).expect("keys"), (job.user_id, job.id));
        }
    }

    #[test]
    fn corrupt_items_name_the_attribute() {
        let job = sample_job(UserId::new(), now_ms());
        let mut item = job_item(&job).expect("item");
        item.insert(attr::TARGET_PRICE.to_owned(), s("not a number"));
        assert_eq!(job_from_item(&item), Err(CorruptItem { attribute: attr::TARGET_PRICE }));
        item.remove(attr::VERSION);
        assert!(job_from_item(&item).is_err());
    }
}

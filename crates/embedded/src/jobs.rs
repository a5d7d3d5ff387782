//! The job store on SQLite.

use async_trait::async_trait;
use pricetrack_domain::history::DEFAULT_RETENTION_DAYS;
use pricetrack_domain::ports::{
    BackendError, ClaimedJob, IDEMPOTENCY_WINDOW, IdempotentCreate, JobStore, ListOrder, Page, PageRequest, StoreError,
    WriteOutcome,
};
use pricetrack_domain::{
    Alert, AlertId, AlertState, Alerting, Availability, CheckInterval, Currency, HistoryQuery, Job, JobId, JobKey,
    JobStatus, Money, Observation, PricePoint, ProductUrl, TargetPrice, Timestamp, UserId,
};
use std::sync::LazyLock;

use serde::Deserialize;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Sqlite, SqlitePool};

use crate::sql::{self, CorruptRow, col};

/// [`JobStore`] on the SQLite database: table `jobs`, with its run-length history in
/// `price_points` and the idempotency keys of creation in `idempotency_keys`.
///
/// `claim_due` is one `UPDATE ... RETURNING` statement, atomic under SQLite's single writer, so
/// overlapping claimers never share a job; `record_check` and `clear_pending_alert` are
/// conditional updates that never insert. History older than the retention (default
/// [`DEFAULT_RETENTION_DAYS`]) is filtered out on read and pruned as the job's checks are
/// recorded.
#[derive(Debug, Clone)]
pub struct SqliteJobStore {
    pool: SqlitePool,
    history_retention: chrono::Duration,
}

const JOB_COLUMNS: &str = "user_id, id, url, target_price, currency, price_selector, \
    check_interval_secs, status, alert_state, last_price, last_price_currency, last_availability, \
    last_checked_at, last_error, consecutive_failures, next_check_at, pending_alert, version, \
    created_at, updated_at, alerting, paused";

fn backend(e: impl Into<BackendError>) -> StoreError {
    StoreError::Backend(e.into())
}

/// A job flattened into column values: bound as `?1`..`?22` in [`JOB_COLUMNS`] order on the way
/// in, decoded from the JSON object [`JOB_JSON`] builds on the way out. One struct both ways, so a
/// column is added in one place.
#[derive(Deserialize)]
struct JobRow {
    user_id: String,
    id: String,
    url: String,
    target_price: String,
    currency: Option<String>,
    price_selector: Option<String>,
    check_interval_secs: i64,
    status: String,
    alert_state: String,
    last_price: Option<String>,
    last_price_currency: Option<String>,
    last_availability: Option<String>,
    last_checked_at: Option<i64>,
    last_error: Option<String>,
    consecutive_failures: i64,
    next_check_at: i64,
    pending_alert: Option<String>,
    version: i64,
    created_at: i64,
    updated_at: i64,
    /// The job's alert rules and their memory as JSON (`NULL` in rows written before rules: the
    /// defaults).
    alerting: Option<String>,
    paused: i64,
}

impl JobRow {
    fn from_job(job: &Job) -> Result<Self, StoreError> {
        let pending_alert = job.pending_alert.as_ref().map(serde_json::to_string).transpose().map_err(backend)?;
        Ok(Self {
            user_id: job.user_id.to_string(),
            id: job.id.to_string(),
            url: job.url.as_str().to_owned(),
            target_price: job.target_price.amount().to_string(),
            currency: job.currency.map(|c| c.as_str().to_owned()),
            price_selector: job.price_selector.clone(),
            check_interval_secs: sql::to_i64(job.check_interval.as_secs(), "check_interval_secs").map_err(backend)?,
            status: job.status.as_str().to_owned(),
            alert_state: job.alert_state.as_str().to_owned(),
            last_price: job.last_price.map(|p| p.amount.to_string()),
            last_price_currency: job.last_price.and_then(|p| p.currency).map(|c| c.as_str().to_owned()),
            last_availability: job.last_availability.map(|a| a.as_str().to_owned()),
            last_checked_at: job.last_checked_at.map(sql::millis),
            last_error: job.last_error.clone(),
            consecutive_failures: i64::from(job.consecutive_failures),
            next_check_at: sql::millis(job.next_check_at),
            pending_alert,
            version: sql::to_i64(job.version, "version").map_err(backend)?,
            created_at: sql::millis(job.created_at),
            updated_at: sql::millis(job.updated_at),
            alerting: Some(serde_json::to_string(&job.alerting).map_err(backend)?),
            paused: i64::from(job.paused),
        })
    }

    fn bind<'q>(
        self,
        query: sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>>,
    ) -> sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>> {
        query
            .bind(self.user_id)
            .bind(self.id)
            .bind(self.url)
            .bind(self.target_price)
            .bind(self.currency)
            .bind(self.price_selector)
            .bind(self.check_interval_secs)
            .bind(self.status)
            .bind(self.alert_state)
            .bind(self.last_price)
            .bind(self.last_price_currency)
            .bind(self.last_availability)
            .bind(self.last_checked_at)
            .bind(self.last_error)
            .bind(self.consecutive_failures)
            .bind(self.next_check_at)
            .bind(self.pending_alert)
            .bind(self.version)
            .bind(self.created_at)
            .bind(self.updated_at)
            .bind(self.alerting)
            .bind(self.paused)
    }
}

impl JobRow {
    /// Decodes one `JOB_JSON` value.
    fn from_json(raw: &str) -> Result<Self, CorruptRow> {
        serde_json::from_str(raw).map_err(|_| CorruptRow { column: "jobs" })
    }

    fn into_job(self) -> Result<Job, CorruptRow> {
        let currency = |raw: Option<String>, column| {
            raw.map(|c| Currency::parse(&c).map_err(|_| CorruptRow { column })).transpose()
        };
        let last_price = match self.last_price {
            Some(raw) => Some(Money::new(
                sql::decimal(&raw, "last_price")?,
                currency(self.last_price_currency, "last_price_currency")?,
            )),
            None => None,
        };
        let pending_alert = self
            .pending_alert
            .map(|raw| serde_json::from_str::<Alert>(&raw).map_err(|_| CorruptRow { column: "pending_alert" }))
            .transpose()?;
        let last_availability = self
            .last_availability
            .map(|raw| Availability::parse(&raw).ok_or(CorruptRow { column: "last_availability" }))
            .transpose()?;
        let last_checked_at = self.last_checked_at.map(|ms| sql::timestamp(ms, "last_checked_at")).transpose()?;
        Ok(Job {
            id: sql::parsed(&self.id, "id")?,
            user_id: sql::parsed(&self.user_id, "user_id")?,
            url: ProductUrl::parse(&self.url).map_err(|_| CorruptRow { column: "url" })?,
            target_price: TargetPrice::new(sql::decimal(&self.target_price, "target_price")?)
                .map_err(|_| CorruptRow { column: "target_price" })?,
            currency: currency(self.currency, "currency")?,
            price_selector: self.price_selector,
            check_interval: CheckInterval::from_stored(sql::unsigned(self.check_interval_secs, "check_interval_secs")?),
            status: JobStatus::parse(&self.status).ok_or(CorruptRow { column: "status" })?,
            alert_state: AlertState::parse(&self.alert_state).ok_or(CorruptRow { column: "alert_state" })?,
            last_price,
            last_availability,
            last_checked_at,
            last_error: self.last_error,
            consecutive_failures: sql::unsigned(self.consecutive_failures, "consecutive_failures")?,
            next_check_at: sql::timestamp(self.next_check_at, "next_check_at")?,
            paused: self.paused != 0,
            pending_alert,
            version: sql::unsigned(self.version, "version")?,
            alerting: match self.alerting {
                Some(raw) => serde_json::from_str(&raw).map_err(|_| CorruptRow { column: "alerting" })?,
                None => Alerting::default(),
            },
            created_at: sql::timestamp(self.created_at, "created_at")?,
            updated_at: sql::timestamp(self.updated_at, "updated_at")?,
        })
    }
}

/// `json_object('user_id', user_id, ...)` over [`JOB_COLUMNS`]: a job read as one JSON text.
///
/// Why JSON: sqlx hands SQLite rows over one by one, each column copied and looked up by name,
/// which made a 20-job page cost three times an empty one. SQLite building the whole page as one
/// value (`json_group_array`) keeps `GET /jobs` fast (BENCHMARKS.md); `get` shares the path so
/// there is one decoder.
static JOB_JSON: LazyLock<String> = LazyLock::new(|| {
    let pairs: Vec<String> = JOB_COLUMNS.split(',').map(str::trim).map(|c| format!("'{c}', {c}")).collect();
    format!("json_object({})", pairs.join(", "))
});

/// One `price_points` row (columns `first_seen_at, last_seen_at, price, currency,
/// availability, checks`).
fn point_from_row(row: &SqliteRow) -> Result<PricePoint, CorruptRow> {
    let currency = col::<Option<String>>(row, "currency")?
        .map(|c| Currency::parse(&c).map_err(|_| CorruptRow { column: "currency" }))
        .transpose()?;
    let availability = col::<Option<String>>(row, "availability")?
        .map(|raw| Availability::parse(&raw).ok_or(CorruptRow { column: "availability" }))
        .transpose()?;
    let price = col::<Option<String>>(row, "price")?
        .map(|raw| sql::decimal(&raw, "price").map(|amount| Money::new(amount, currency)))
        .transpose()?;
    Ok(PricePoint {
        first_seen_at: sql::timestamp(col(row, "first_seen_at")?, "first_seen_at")?,
        last_seen_at: sql::timestamp(col(row, "last_seen_at")?, "last_seen_at")?,
        price,
        availability,
        checks: sql::unsigned(col(row, "checks")?, "checks")?,
    })
}

/// A history cursor: `<first_seen_at ms>:<seq>` of the last point of the previous page.
fn history_cursor(raw: &str) -> Result<(i64, i64), StoreError> {
    let (at, seq) = raw.split_once(':').ok_or(StoreError::InvalidCursor)?;
    Ok((at.parse().map_err(|_| StoreError::InvalidCursor)?, seq.parse().map_err(|_| StoreError::InvalidCursor)?))
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

impl SqliteJobStore {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self { pool, history_retention: chrono::Duration::days(i64::from(DEFAULT_RETENTION_DAYS)) }
    }

    /// This store keeping history for `days` days (`PRICETRACK_HISTORY_RETENTION_DAYS`).
    pub fn with_history_retention_days(mut self, days: u32) -> Self {
        self.history_retention = chrono::Duration::days(i64::from(days.max(1)));
        self
    }

    /// Extends the job's newest point with `observation`, or starts a point; then prunes points
    /// beyond the retention. Runs inside the transaction that recorded the check.
    async fn keep_observation(
        &self,
        tx: &mut sqlx::SqliteConnection,
        job_id: JobId,
        observation: &Observation,
    ) -> Result<(), StoreError> {
        let newest = sqlx::query(
            "SELECT seq, first_seen_at, last_seen_at, price, currency, availability, checks FROM price_points \
             WHERE job_id = ?1 ORDER BY first_seen_at DESC, seq DESC LIMIT 1",
        )
        .bind(job_id.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let extend = match &newest {
            Some(row) => {
                let point = point_from_row(row).map_err(backend)?;
                point.continues_with(observation).then(|| col::<i64>(row, "seq")).transpose().map_err(backend)?
            }
            None => None,
        };
        match extend {
            Some(seq) => {
                sqlx::query("UPDATE price_points SET last_seen_at = ?1, checks = checks + 1 WHERE seq = ?2")
                    .bind(sql::millis(observation.observed_at))
                    .bind(seq)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
            }
            None => {
                sqlx::query(
                    "INSERT INTO price_points (job_id, first_seen_at, last_seen_at, price, currency, availability, \
                     checks) VALUES (?1, ?2, ?2, ?3, ?4, ?5, 1)",
                )
                .bind(job_id.to_string())
                .bind(sql::millis(observation.observed_at))
                .bind(observation.price.map(|p| p.amount.to_string()))
                .bind(observation.price.and_then(|p| p.currency).map(|c| c.as_str().to_owned()))
                .bind(observation.availability.map(|a| a.as_str()))
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            }
        }
        sqlx::query("DELETE FROM price_points WHERE job_id = ?1 AND last_seen_at < ?2")
            .bind(job_id.to_string())
            .bind(sql::millis(chrono::Utc::now() - self.history_retention))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// Whether a job exists, to tell `Gone` from `VersionMismatch` after a refused write.
    async fn exists(&self, key: JobKey) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM jobs WHERE user_id = ?1 AND id = ?2")
            .bind(key.user_id.to_string())
            .bind(key.job_id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        Ok(row.is_some())
    }

    /// `VersionMismatch` if the job is still there, `Gone` if not.
    async fn refused(&self, key: JobKey) -> Result<WriteOutcome, StoreError> {
        Ok(if self.exists(key).await? { WriteOutcome::VersionMismatch } else { WriteOutcome::Gone })
    }
}

#[async_trait]
impl JobStore for SqliteJobStore {
    async fn create(&self, job: &Job) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO jobs ({JOB_COLUMNS}) VALUES \
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)"
        );
        let row = JobRow::from_job(job)?;
        match row.bind(sqlx::query(&sql)).execute(&self.pool).await {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists),
            Err(e) => Err(backend(e)),
        }
    }

    async fn get(&self, key: JobKey) -> Result<Option<Job>, StoreError> {
        let sql = format!("SELECT {} FROM jobs WHERE user_id = ?1 AND id = ?2", *JOB_JSON);
        let json: Option<String> = sqlx::query_scalar(&sql)
            .bind(key.user_id.to_string())
            .bind(key.job_id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        json.map(|raw| JobRow::from_json(&raw)?.into_job()).transpose().map_err(backend)
    }

    async fn list(&self, user_id: UserId, page: &PageRequest) -> Result<Page<Job>, StoreError> {
        // The cursor is the id of the last job of the previous page.
        let after = match &page.cursor {
            Some(cursor) => cursor.parse::<JobId>().map_err(|_| StoreError::InvalidCursor)?.to_string(),
            None => String::new(),
        };
        let limit = page.limit.clamp(1, PageRequest::MAX_LIMIT);
        // One row holding the page as a JSON array (see `JOB_JSON`): the sub-select picks and orders
        // the page, the aggregate builds the objects straight from its columns.
        let sql = format!(
            "SELECT json_group_array({}) FROM \
             (SELECT {JOB_COLUMNS} FROM jobs WHERE user_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3)",
            *JOB_JSON
        );
        let json: String = sqlx::query_scalar(&sql)
            .bind(user_id.to_string())
            .bind(after)
            .bind(i64::from(limit) + 1)
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        let rows: Vec<JobRow> = serde_json::from_str(&json).map_err(|_| backend(CorruptRow { column: "jobs" }))?;
        let mut items = rows.into_iter().map(JobRow::into_job).collect::<Result<Vec<_>, _>>().map_err(backend)?;
        // An aggregate's input order is not promised by SQL: restore it.
        items.sort_by_key(|job| job.id);
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let next_cursor = if more { items.last().map(|job| job.id.to_string()) } else { None };
        Ok(Page { items, next_cursor })
    }

    async fn delete(&self, key: JobKey) -> Result<bool, StoreError> {
        // History goes with the job (ON DELETE CASCADE).
        let done = sqlx::query("DELETE FROM jobs WHERE user_id = ?1 AND id = ?2")
            .bind(key.user_id.to_string())
            .bind(key.job_id.to_string())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_all(&self, user_id: UserId) -> Result<u64, StoreError> {
        sqlx::query("DELETE FROM idempotency_keys WHERE user_id = ?1")
            .bind(user_id.to_string())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        let done = sqlx::query("DELETE FROM jobs WHERE user_id = ?1")
            .bind(user_id.to_string())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }

    async fn claim_due(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // One statement: SQLite runs it under its single write lock, so each due job is moved
        // to its lease (and off the due list) by exactly one caller. The subquery walks the
        // `jobs_due` index from the oldest due time and stops after `limit` rows.
        let rows = sqlx::query(
            "UPDATE jobs SET next_check_at = ?1, version = version + 1 \
             WHERE id IN (SELECT id FROM jobs WHERE next_check_at <= ?2 AND paused = 0 \
             ORDER BY next_check_at LIMIT ?3) \
             RETURNING user_id, id, version, url",
        )
        .bind(sql::millis(lease_until))
        .bind(sql::millis(now))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|row| {
                Ok(ClaimedJob {
                    key: JobKey {
                        user_id: sql::parsed(&col::<String>(row, "user_id")?, "user_id")?,
                        job_id: sql::parsed(&col::<String>(row, "id")?, "id")?,
                    },
                    version: sql::unsigned(col(row, "version")?, "version")?,
                    host: ProductUrl::parse(&col::<String>(row, "url")?).ok().map(|url| url.host().to_owned()),
                })
            })
            .collect::<Result<Vec<_>, CorruptRow>>()
            .map_err(backend)
    }

    async fn record_check(
        &self,
        job: &Job,
        expected_version: u64,
        observation: Option<&Observation>,
    ) -> Result<WriteOutcome, StoreError> {
        let expected = sql::to_i64(expected_version, "version").map_err(backend)?;
        let row = JobRow::from_job(job)?;
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // The first statement writes, so the transaction takes the write lock at once (a
        // deferred transaction that read first could fail to upgrade under concurrency).
        let updated = row
            .bind(sqlx::query(
                "UPDATE jobs SET url = ?3, target_price = ?4, currency = ?5, price_selector = ?6, \
                 check_interval_secs = ?7, status = ?8, alert_state = ?9, last_price = ?10, \
                 last_price_currency = ?11, last_availability = ?12, last_checked_at = ?13, \
                 last_error = ?14, consecutive_failures = ?15, next_check_at = ?16, \
                 pending_alert = ?17, version = ?18, created_at = ?19, updated_at = ?20, alerting = ?21, paused = ?22 \
                 WHERE user_id = ?1 AND id = ?2 AND version = ?23",
            ))
            .bind(expected)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        if updated.rows_affected() == 0 {
            tx.rollback().await.map_err(backend)?;
            return self.refused(job.key()).await;
        }
        if let Some(observation) = observation {
            self.keep_observation(&mut tx, job.id, observation).await?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(WriteOutcome::Applied)
    }

    async fn clear_pending_alert(&self, key: JobKey, alert_id: AlertId) -> Result<WriteOutcome, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET pending_alert = NULL \
             WHERE user_id = ?1 AND id = ?2 AND pending_alert IS NOT NULL \
             AND json_extract(pending_alert, '$.id') = ?3",
        )
        .bind(key.user_id.to_string())
        .bind(key.job_id.to_string())
        .bind(alert_id.to_string())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        if done.rows_affected() > 0 {
            Ok(WriteOutcome::Applied)
        } else {
            // The outbox holds another alert (or none): nothing to clear.
            self.refused(key).await
        }
    }

    async fn history(&self, key: JobKey, query: &HistoryQuery) -> Result<Page<PricePoint>, StoreError> {
        let (before_at, before_seq) = match &query.cursor {
            Some(raw) => history_cursor(raw)?,
            None => (i64::MAX, i64::MAX),
        };
        let kept_since = chrono::Utc::now() - self.history_retention;
        let from = query.from.map_or(kept_since, |from| from.max(kept_since));
        let to = query.to.map_or(i64::MAX, sql::millis);
        let limit = query.limit.clamp(1, HistoryQuery::MAX_LIMIT);
        let rows = sqlx::query(
            "SELECT p.seq, p.first_seen_at, p.last_seen_at, p.price, p.currency, p.availability, p.checks \
             FROM price_points p JOIN jobs j ON j.id = p.job_id \
             WHERE j.user_id = ?1 AND j.id = ?2 AND p.job_id = ?2 AND p.last_seen_at >= ?3 AND p.first_seen_at <= ?4 \
             AND (p.first_seen_at, p.seq) < (?5, ?6) \
             ORDER BY p.first_seen_at DESC, p.seq DESC LIMIT ?7",
        )
        .bind(key.user_id.to_string())
        .bind(key.job_id.to_string())
        .bind(sql::millis(from))
        .bind(to)
        .bind(before_at)
        .bind(before_seq)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        let more = rows.len() > limit as usize;
        let rows = &rows[..rows.len().min(limit as usize)];
        let items = rows.iter().map(point_from_row).collect::<Result<Vec<_>, _>>().map_err(backend)?;
        let next_cursor = match rows.last() {
            Some(row) if more => {
                let at: i64 = col(row, "first_seen_at").map_err(backend)?;
                let seq: i64 = col(row, "seq").map_err(backend)?;
                Some(format!("{at}:{seq}"))
            }
            _ => None,
        };
        Ok(Page { items, next_cursor })
    }

    async fn create_idempotent(
        &self,
        job: &Job,
        idempotency_key: &str,
        response: &str,
        now: Timestamp,
    ) -> Result<IdempotentCreate, StoreError> {
        let window = chrono::Duration::from_std(IDEMPOTENCY_WINDOW).map_err(backend)?;
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // Writes first (takes the write lock): claims the key unless a fresh claim holds it.
        let claimed = sqlx::query(
            "INSERT INTO idempotency_keys (user_id, key, job_id, response, created_at) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (user_id, key) DO UPDATE SET job_id = excluded.job_id, response = excluded.response, \
             created_at = excluded.created_at WHERE idempotency_keys.created_at <= ?6",
        )
        .bind(job.user_id.to_string())
        .bind(idempotency_key)
        .bind(job.id.to_string())
        .bind(response)
        .bind(sql::millis(now))
        .bind(sql::millis(now - window))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if claimed.rows_affected() == 0 {
            let row = sqlx::query("SELECT job_id, response FROM idempotency_keys WHERE user_id = ?1 AND key = ?2")
                .bind(job.user_id.to_string())
                .bind(idempotency_key)
                .fetch_one(&mut *tx)
                .await
                .map_err(backend)?;
            tx.rollback().await.map_err(backend)?;
            let job_id = sql::parsed(&col::<String>(&row, "job_id").map_err(backend)?, "job_id").map_err(backend)?;
            return Ok(IdempotentCreate::Replayed { job_id, response: col(&row, "response").map_err(backend)? });
        }
        let sql = format!(
            "INSERT INTO jobs ({JOB_COLUMNS}) VALUES \
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)"
        );
        match JobRow::from_job(job)?.bind(sqlx::query(&sql)).execute(&mut *tx).await {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => return Err(StoreError::AlreadyExists),
            Err(e) => return Err(backend(e)),
        }
        tx.commit().await.map_err(backend)?;
        Ok(IdempotentCreate::Created)
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
        // The cursor is the id of the last job of the previous page; `~` sorts after every id.
        let before = match &page.cursor {
            Some(cursor) => cursor.parse::<JobId>().map_err(|_| StoreError::InvalidCursor)?.to_string(),
            None => "~".to_owned(),
        };
        let limit = page.limit.clamp(1, PageRequest::MAX_LIMIT);
        let sql = format!(
            "SELECT json_group_array({}) FROM \
             (SELECT {JOB_COLUMNS} FROM jobs WHERE user_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3)",
            *JOB_JSON
        );
        let json: String = sqlx::query_scalar(&sql)
            .bind(user_id.to_string())
            .bind(before)
            .bind(i64::from(limit) + 1)
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        let rows: Vec<JobRow> = serde_json::from_str(&json).map_err(|_| backend(CorruptRow { column: "jobs" }))?;
        let mut items = rows.into_iter().map(JobRow::into_job).collect::<Result<Vec<_>, _>>().map_err(backend)?;
        items.sort_by_key(|job| std::cmp::Reverse(job.id));
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let next_cursor = if more { items.last().map(|job| job.id.to_string()) } else { None };
        Ok(Page { items, next_cursor })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(backend)?;
        Ok(())
    }
}

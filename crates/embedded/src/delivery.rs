//! The delivery stage on SQLite: channels, the delivery log.

use async_trait::async_trait;
use pricetrack_domain::delivery::{ChannelStore, DeliveryLog};
use pricetrack_domain::ports::{BackendError, Page, PageRequest, StoreError};
use pricetrack_domain::{
    Alert, AlertEntry, AlertId, Channel, ChannelKey, ChannelStatus, DeliveryRecord, DeliveryStatus, Timestamp, UserId,
};
use sqlx::SqlitePool;
use sqlx::sqlite::SqliteRow;

use crate::sql::{self, CorruptRow, col};

fn backend(e: impl Into<BackendError>) -> StoreError {
    StoreError::Backend(e.into())
}

/// [`ChannelStore`] on the SQLite database: table `channels`, the target (secrets included) as
/// JSON.
#[derive(Debug, Clone)]
pub struct SqliteChannelStore {
    pool: SqlitePool,
}

impl SqliteChannelStore {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

const CHANNEL_COLUMNS: &str =
    "id, user_id, name, target, status, last_error, consecutive_failures, created_at, updated_at";

fn channel_from_row(row: &SqliteRow) -> Result<Channel, CorruptRow> {
    Ok(Channel {
        id: sql::parsed(&col::<String>(row, "id")?, "id")?,
        user_id: sql::parsed(&col::<String>(row, "user_id")?, "user_id")?,
        name: col(row, "name")?,
        target: serde_json::from_str(&col::<String>(row, "target")?).map_err(|_| CorruptRow { column: "target" })?,
        status: ChannelStatus::parse(&col::<String>(row, "status")?).ok_or(CorruptRow { column: "status" })?,
        last_error: col(row, "last_error")?,
        consecutive_failures: sql::unsigned(col(row, "consecutive_failures")?, "consecutive_failures")?,
        created_at: sql::timestamp(col(row, "created_at")?, "created_at")?,
        updated_at: sql::timestamp(col(row, "updated_at")?, "updated_at")?,
    })
}

fn target_json(channel: &Channel) -> Result<String, StoreError> {
    serde_json::to_string(&channel.target).map_err(backend)
}

#[async_trait]
impl ChannelStore for SqliteChannelStore {
    async fn create(&self, channel: &Channel) -> Result<(), StoreError> {
        let result = sqlx::query(&format!(
            "INSERT INTO channels ({CHANNEL_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        ))
        .bind(channel.id.to_string())
        .bind(channel.user_id.to_string())
        .bind(&channel.name)
        .bind(target_json(channel)?)
        .bind(channel.status.as_str())
        .bind(&channel.last_error)
        .bind(i64::from(channel.consecutive_failures))
        .bind(sql::millis(channel.created_at))
        .bind(sql::millis(channel.updated_at))
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => Err(StoreError::AlreadyExists),
            Err(e) => Err(backend(e)),
        }
    }

    async fn get(&self, key: ChannelKey) -> Result<Option<Channel>, StoreError> {
        let row = sqlx::query(&format!("SELECT {CHANNEL_COLUMNS} FROM channels WHERE id = ?1 AND user_id = ?2"))
            .bind(key.channel_id.to_string())
            .bind(key.user_id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(channel_from_row).transpose().map_err(backend)
    }

    async fn list(&self, user_id: UserId) -> Result<Vec<Channel>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {CHANNEL_COLUMNS} FROM channels WHERE user_id = ?1 ORDER BY id"))
            .bind(user_id.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(channel_from_row).collect::<Result<Vec<_>, _>>().map_err(backend)
    }

    async fn update(&self, channel: &Channel) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE channels SET name = ?3, target = ?4, status = ?5, last_error = ?6, consecutive_failures = ?7, \
             updated_at = ?8 WHERE id = ?1 AND user_id = ?2",
        )
        .bind(channel.id.to_string())
        .bind(channel.user_id.to_string())
        .bind(&channel.name)
        .bind(target_json(channel)?)
        .bind(channel.status.as_str())
        .bind(&channel.last_error)
        .bind(i64::from(channel.consecutive_failures))
        .bind(sql::millis(channel.updated_at))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete(&self, key: ChannelKey) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM channels WHERE id = ?1 AND user_id = ?2")
            .bind(key.channel_id.to_string())
            .bind(key.user_id.to_string())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_all(&self, user_id: UserId) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM channels WHERE user_id = ?1")
            .bind(user_id.to_string())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }

    async fn record_success(&self, key: ChannelKey, now: Timestamp) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE channels SET status = 'active', last_error = NULL, consecutive_failures = 0, updated_at = ?3 \
             WHERE id = ?1 AND user_id = ?2",
        )
        .bind(key.channel_id.to_string())
        .bind(key.user_id.to_string())
        .bind(sql::millis(now))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn record_failure(
        &self,
        key: ChannelKey,
        reason: &str,
        permanent: bool,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        // One statement: concurrent failures each count.
        sqlx::query(
            "UPDATE channels SET consecutive_failures = consecutive_failures + 1, last_error = ?3, \
             status = CASE WHEN ?4 OR consecutive_failures + 1 >= ?5 THEN 'failing' ELSE status END, \
             updated_at = ?6 WHERE id = ?1 AND user_id = ?2",
        )
        .bind(key.channel_id.to_string())
        .bind(key.user_id.to_string())
        .bind(reason)
        .bind(permanent)
        .bind(i64::from(Channel::FAILING_AFTER))
        .bind(sql::millis(now))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }
}

/// [`DeliveryLog`] on the SQLite database: tables `alerts` and `deliveries`.
#[derive(Debug, Clone)]
pub struct SqliteDeliveryLog {
    pool: SqlitePool,
}

impl SqliteDeliveryLog {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

const DELIVERY_COLUMNS: &str = "alert_id, channel, user_id, status, attempts, last_error, delivered_at, next_attempt_at, first_attempt_at, updated_at";

fn optional_timestamp(row: &SqliteRow, column: &'static str) -> Result<Option<Timestamp>, CorruptRow> {
    col::<Option<i64>>(row, column)?.map(|ms| sql::timestamp(ms, column)).transpose()
}

fn delivery_from_row(row: &SqliteRow) -> Result<DeliveryRecord, CorruptRow> {
    Ok(DeliveryRecord {
        alert_id: sql::parsed(&col::<String>(row, "alert_id")?, "alert_id")?,
        user_id: sql::parsed(&col::<String>(row, "user_id")?, "user_id")?,
        channel: col(row, "channel")?,
        status: DeliveryStatus::parse(&col::<String>(row, "status")?).ok_or(CorruptRow { column: "status" })?,
        attempts: sql::unsigned(col(row, "attempts")?, "attempts")?,
        last_error: col(row, "last_error")?,
        delivered_at: optional_timestamp(row, "delivered_at")?,
        next_attempt_at: optional_timestamp(row, "next_attempt_at")?,
        first_attempt_at: sql::timestamp(col(row, "first_attempt_at")?, "first_attempt_at")?,
        updated_at: sql::timestamp(col(row, "updated_at")?, "updated_at")?,
    })
}

/// The cursor: the last alert of a page, `<checked_at ms>.<alert id>`.
fn parse_cursor(raw: &str) -> Result<(i64, String), StoreError> {
    let (ms, id) = raw.split_once('.').ok_or(StoreError::InvalidCursor)?;
    let ms = ms.parse::<i64>().map_err(|_| StoreError::InvalidCursor)?;
    let id = id.parse::<AlertId>().map_err(|_| StoreError::InvalidCursor)?;
    Ok((ms, id.to_string()))
}

#[async_trait]
impl DeliveryLog for SqliteDeliveryLog {
    async fn record_alert(&self, alert: &Alert) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO alerts (id, user_id, job_id, body, checked_at) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(alert.id.to_string())
        .bind(alert.user_id.to_string())
        .bind(alert.job_id.to_string())
        .bind(serde_json::to_string(alert).map_err(backend)?)
        .bind(sql::millis(alert.checked_at))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn get(&self, alert_id: AlertId, channel: &str) -> Result<Option<DeliveryRecord>, StoreError> {
        let row =
            sqlx::query(&format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE alert_id = ?1 AND channel = ?2"))
                .bind(alert_id.to_string())
                .bind(channel)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        row.as_ref().map(delivery_from_row).transpose().map_err(backend)
    }

    async fn put(&self, record: &DeliveryRecord) -> Result<bool, StoreError> {
        let done = sqlx::query(&format!(
            "INSERT INTO deliveries ({DELIVERY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
             ON CONFLICT (alert_id, channel) DO UPDATE SET status = excluded.status, attempts = excluded.attempts, \
             last_error = excluded.last_error, delivered_at = excluded.delivered_at, \
             next_attempt_at = excluded.next_attempt_at, updated_at = excluded.updated_at \
             WHERE deliveries.status <> 'delivered'"
        ))
        .bind(record.alert_id.to_string())
        .bind(&record.channel)
        .bind(record.user_id.to_string())
        .bind(record.status.as_str())
        .bind(i64::from(record.attempts))
        .bind(&record.last_error)
        .bind(record.delivered_at.map(sql::millis))
        .bind(record.next_attempt_at.map(sql::millis))
        .bind(sql::millis(record.first_attempt_at))
        .bind(sql::millis(record.updated_at))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn deliveries(&self, alert_id: AlertId) -> Result<Vec<DeliveryRecord>, StoreError> {
        sqlx::query(&format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE alert_id = ?1 ORDER BY channel"))
            .bind(alert_id.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?
            .iter()
            .map(delivery_from_row)
            .collect::<Result<Vec<_>, _>>()
            .map_err(backend)
    }

    async fn list(&self, user_id: UserId, page: &PageRequest) -> Result<Page<AlertEntry>, StoreError> {
        let limit = page.limit.clamp(1, PageRequest::MAX_LIMIT);
        let (before_ms, before_id) = match &page.cursor {
            Some(cursor) => parse_cursor(cursor)?,
            None => (i64::MAX, String::new()),
        };
        // Newest first: (checked_at, id) descending, strictly after the cursor.
        let rows = sqlx::query(
            "SELECT body, checked_at, id FROM alerts WHERE user_id = ?1 \
             AND (checked_at < ?2 OR (checked_at = ?2 AND (?3 = '' OR id < ?3))) \
             ORDER BY checked_at DESC, id DESC LIMIT ?4",
        )
        .bind(user_id.to_string())
        .bind(before_ms)
        .bind(&before_id)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        let more = rows.len() > limit as usize;
        let mut items = Vec::new();
        let mut last = None;
        for row in rows.iter().take(limit as usize) {
            let alert: Alert = serde_json::from_str(&col::<String>(row, "body").map_err(backend)?)
                .map_err(|_| backend(CorruptRow { column: "body" }))?;
            let deliveries = self.deliveries(alert.id).await?;
            last = Some(format!("{}.{}", col::<i64>(row, "checked_at").map_err(backend)?, alert.id));
            items.push(AlertEntry { alert, deliveries });
        }
        Ok(Page { items, next_cursor: if more { last } else { None } })
    }

    async fn delete_all(&self, user_id: UserId) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query("DELETE FROM deliveries WHERE user_id = ?1")
            .bind(user_id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let done = sqlx::query("DELETE FROM alerts WHERE user_id = ?1")
            .bind(user_id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(done.rows_affected())
    }
}

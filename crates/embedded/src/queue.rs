//! The check queue on SQLite, with SQS semantics.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pricetrack_domain::TraceContext;
use pricetrack_domain::ports::{BackendError, CheckQueue, Delivery, MAX_SEND_DELAY, OutgoingMessage, QueueError};
use sqlx::SqlitePool;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::sql::{self, CorruptRow, col};

/// How a [`SqliteCheckQueue`] hands out messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSettings {
    /// How long a received message stays invisible unless extended or acknowledged.
    pub visibility_timeout: Duration,
    /// Receives after which a message goes to the dead-letter table instead of being delivered
    /// again.
    pub max_receive_count: u32,
}

impl Default for QueueSettings {
    /// 60 s visibility, 5 receives.
    fn default() -> Self {
        Self { visibility_timeout: Duration::from_secs(60), max_receive_count: 5 }
    }
}

/// [`CheckQueue`] on the SQLite database: table `queue_messages`, with `queue_dead_letters`.
///
/// Durable: messages survive a restart, and one that was in flight when the process died comes
/// back when its visibility runs out. Every receive gives a message a new receipt, so a receipt
/// from an earlier receive can neither extend nor acknowledge it ([`QueueError::StaleReceipt`]).
/// A receive that finds nothing waits for a send in this process (woken at once) or polls every
/// [`SqliteCheckQueue::POLL_INTERVAL`] (messages that become visible again, other processes).
#[derive(Debug, Clone)]
pub struct SqliteCheckQueue {
    pool: SqlitePool,
    signal: Arc<Notify>,
    settings: QueueSettings,
    tables: QueueTables,
}

/// The two tables one queue lives in: the check queue and the delivery queue have the same
/// shape in tables of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueueTables {
    /// Messages waiting or in flight.
    pub(crate) messages: &'static str,
    /// Messages received too many times.
    pub(crate) dead_letters: &'static str,
}

impl QueueTables {
    /// The check queue's tables.
    pub(crate) const CHECKS: Self = Self { messages: "queue_messages", dead_letters: "queue_dead_letters" };
    /// The delivery queue's tables.
    pub(crate) const DELIVERIES: Self = Self { messages: "delivery_messages", dead_letters: "delivery_dead_letters" };
}

/// Largest batch one receive hands out, as on SQS.
const MAX_BATCH: usize = 10;

fn backend(e: impl Into<BackendError>) -> QueueError {
    QueueError::Backend(e.into())
}

impl SqliteCheckQueue {
    /// How often a waiting receive looks again when nothing wakes it.
    pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

    pub(crate) fn new(pool: SqlitePool, signal: Arc<Notify>, settings: QueueSettings, tables: QueueTables) -> Self {
        Self { pool, signal, settings, tables }
    }

    /// The settings this queue runs with.
    pub fn settings(&self) -> QueueSettings {
        self.settings
    }

    /// The bodies in the dead-letter table, oldest first.
    pub async fn dead_letters(&self) -> Result<Vec<String>, QueueError> {
        let rows = sqlx::query(&format!("SELECT body FROM {} ORDER BY dead_at, id", self.tables.dead_letters))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(|row| col::<String>(row, "body")).collect::<Result<Vec<_>, CorruptRow>>().map_err(backend)
    }

    /// One attempt: dead-letters the visible messages that used up their receives, then hands
    /// out up to `max` visible ones.
    async fn try_receive(&self, max: usize) -> Result<Vec<Delivery>, QueueError> {
        let now = sql::now_millis();
        // A cheap read first: an idle poll never takes the write lock.
        let visible = sqlx::query(&format!("SELECT 1 FROM {} WHERE visible_at <= ?1 LIMIT 1", self.tables.messages))
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        if visible.is_none() {
            return Ok(Vec::new());
        }
        let max_receives = i64::from(self.settings.max_receive_count);
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // Writes first, so the transaction holds the write lock from its first statement.
        sqlx::query(&format!(
            "INSERT INTO {dead} (id, body, receive_count, created_at, dead_at) \
             SELECT id, body, receive_count, created_at, ?1 FROM {messages} \
             WHERE visible_at <= ?1 AND receive_count >= ?2",
            dead = self.tables.dead_letters,
            messages = self.tables.messages,
        ))
        .bind(now)
        .bind(max_receives)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        sqlx::query(&format!("DELETE FROM {} WHERE visible_at <= ?1 AND receive_count >= ?2", self.tables.messages))
            .bind(now)
            .bind(max_receives)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        // The receipt is a fresh random token plus the row id: unique, and rotated by every receive.
        let token = uuid::Uuid::new_v4().simple().to_string();
        let rows = sqlx::query(&format!(
            "UPDATE {messages} \
             SET receive_count = receive_count + 1, visible_at = ?1, receipt = ?2 || '.' || id \
             WHERE id IN (SELECT id FROM {messages} WHERE visible_at <= ?3 ORDER BY visible_at, id LIMIT ?4) \
             RETURNING id, body, receive_count, receipt, traceparent, tracestate",
            messages = self.tables.messages,
        ))
        .bind(now.saturating_add(sql::duration_millis(self.settings.visibility_timeout)))
        .bind(token)
        .bind(now)
        .bind(i64::try_from(max).unwrap_or(10))
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        let mut deliveries = rows
            .iter()
            .map(|row| {
                Ok((
                    col::<i64>(row, "id")?,
                    Delivery {
                        receipt: col(row, "receipt")?,
                        body: col(row, "body")?,
                        receive_count: sql::unsigned(col(row, "receive_count")?, "receive_count")?,
                        trace: trace_of(row)?,
                    },
                ))
            })
            .collect::<Result<Vec<_>, CorruptRow>>()
            .map_err(backend)?;
        deliveries.sort_by_key(|(id, _)| *id);
        Ok(deliveries.into_iter().map(|(_, delivery)| delivery).collect())
    }
}

/// The trace a stored message was sent in (columns `traceparent`, `tracestate`), if valid.
fn trace_of(row: &sqlx::sqlite::SqliteRow) -> Result<Option<TraceContext>, CorruptRow> {
    let traceparent: Option<String> = col(row, "traceparent")?;
    let tracestate: Option<String> = col(row, "tracestate")?;
    Ok(traceparent.and_then(|traceparent| TraceContext::parse(&traceparent, tracestate.as_deref())))
}

#[async_trait]
impl CheckQueue for SqliteCheckQueue {
    async fn send(&self, messages: &[OutgoingMessage]) -> Result<Vec<usize>, QueueError> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let now = sql::now_millis();
        let mut tx = self.pool.begin().await.map_err(backend)?;
        for message in messages {
            let delay_ms = i64::try_from(message.delay.min(MAX_SEND_DELAY).as_millis()).unwrap_or(i64::MAX);
            sqlx::query(&format!(
                "INSERT INTO {} (body, visible_at, receive_count, receipt, created_at, traceparent, tracestate) \
                 VALUES (?1, ?2, 0, NULL, ?3, ?4, ?5)",
                self.tables.messages
            ))
            .bind(&message.body)
            .bind(now.saturating_add(delay_ms))
            .bind(now)
            .bind(message.trace.as_ref().map(TraceContext::traceparent))
            .bind(message.trace.as_ref().and_then(TraceContext::tracestate))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)?;
        self.signal.notify_waiters();
        Ok(Vec::new())
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        let max = max.clamp(1, MAX_BATCH);
        let deadline = Instant::now() + wait;
        loop {
            // Registered before looking, so a send between the look and the wait still wakes us.
            let sent = self.signal.notified();
            tokio::pin!(sent);
            sent.as_mut().enable();
            let deliveries = self.try_receive(max).await?;
            if !deliveries.is_empty() {
                return Ok(deliveries);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Vec::new());
            }
            let nap = Self::POLL_INTERVAL.min(deadline - now);
            tokio::select! {
                () = &mut sent => {}
                () = tokio::time::sleep(nap) => {}
            }
        }
    }

    async fn extend(&self, receipt: &str, visibility: Duration) -> Result<(), QueueError> {
        let visible_at = sql::now_millis().saturating_add(sql::duration_millis(visibility));
        let done = sqlx::query(&format!("UPDATE {} SET visible_at = ?1 WHERE receipt = ?2", self.tables.messages))
            .bind(visible_at)
            .bind(receipt)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(QueueError::StaleReceipt);
        }
        Ok(())
    }

    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        let done = sqlx::query(&format!("DELETE FROM {} WHERE receipt = ?1", self.tables.messages))
            .bind(receipt)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(QueueError::StaleReceipt);
        }
        Ok(())
    }
}

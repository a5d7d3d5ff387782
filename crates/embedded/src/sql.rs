//! Conversions between domain values and SQLite columns: timestamps as unix milliseconds,
//! decimals as text, ids as hyphenated text.

use std::str::FromStr;
use std::time::Duration;

use pricetrack_domain::Timestamp;
use rust_decimal::Decimal;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

/// A stored value that does not parse back into its domain type. Names the column, never the
/// value (which may be personal data).
#[derive(Debug, thiserror::Error)]
#[error("stored value of column `{column}` is not valid")]
pub struct CorruptRow {
    /// The column.
    pub column: &'static str,
}

/// A value too large for an SQLite INTEGER.
#[derive(Debug, thiserror::Error)]
#[error("value of column `{column}` is out of range")]
pub(crate) struct OutOfRange {
    pub(crate) column: &'static str,
}

/// Wall-clock now in unix milliseconds.
pub(crate) fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub(crate) fn millis(t: Timestamp) -> i64 {
    t.timestamp_millis()
}

/// A duration in milliseconds, saturating.
pub(crate) fn duration_millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

pub(crate) fn to_i64(value: u64, column: &'static str) -> Result<i64, OutOfRange> {
    i64::try_from(value).map_err(|_| OutOfRange { column })
}

/// Reads a column, mapping a type mismatch to [`CorruptRow`].
pub(crate) fn col<'r, T>(row: &'r SqliteRow, column: &'static str) -> Result<T, CorruptRow>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get(column).map_err(|_| CorruptRow { column })
}

pub(crate) fn timestamp(ms: i64, column: &'static str) -> Result<Timestamp, CorruptRow> {
    chrono::DateTime::from_timestamp_millis(ms).ok_or(CorruptRow { column })
}

pub(crate) fn decimal(raw: &str, column: &'static str) -> Result<Decimal, CorruptRow> {
    Decimal::from_str(raw).map_err(|_| CorruptRow { column })
}

pub(crate) fn parsed<T: FromStr>(raw: &str, column: &'static str) -> Result<T, CorruptRow> {
    raw.parse().map_err(|_| CorruptRow { column })
}

pub(crate) fn unsigned<T: TryFrom<i64>>(raw: i64, column: &'static str) -> Result<T, CorruptRow> {
    T::try_from(raw).map_err(|_| CorruptRow { column })
}

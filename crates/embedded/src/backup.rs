//! A consistent copy of a live database file, for `pricetrack backup`.

use std::path::{Path, PathBuf};

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Row};

use crate::{Database, EmbeddedError};

/// Why a backup could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The backup file already exists: a backup never overwrites anything.
    #[error("{0} already exists; choose a new file name")]
    Exists(PathBuf),
    /// The database to back up does not exist.
    #[error("there is no database at {0}")]
    NoDatabase(PathBuf),
    /// SQLite could not read the database or write the copy (a full disk, say).
    #[error("the backup failed")]
    Sqlite(#[source] sqlx::Error),
    /// The copy was written but does not pass `PRAGMA integrity_check`.
    #[error("the copy failed its integrity check: {0}")]
    Corrupt(String),
    /// Moving the finished copy into place failed.
    #[error("could not move the copy into place")]
    Io(#[source] std::io::Error),
}

/// Copies the database at `source` to a new file `dest`, consistently, while other processes
/// (a running `pricetrack serve`) go on reading and writing it: `VACUUM INTO` reads one snapshot
/// of the database (a WAL read transaction, which never blocks the writer), writes it to a
/// temporary file beside `dest`, checks it with `PRAGMA integrity_check`, and only then renames
/// it to `dest`. A failure (a full disk) leaves no partial file at `dest` and never touches
/// `source`. Everything committed before the backup began is in the copy.
pub async fn backup_database(source: &Path, dest: &Path) -> Result<(), BackupError> {
    if dest.exists() {
        return Err(BackupError::Exists(dest.to_owned()));
    }
    if !source.is_file() {
        return Err(BackupError::NoDatabase(source.to_owned()));
    }
    let mut temporary = dest.as_os_str().to_owned();
    temporary.push(".partial");
    let temporary = PathBuf::from(temporary);
    let _ = std::fs::remove_file(&temporary);

    let result = async {
        let mut connection = SqliteConnectOptions::new()
            .filename(source)
            .create_if_missing(false)
            .busy_timeout(Database::BUSY_TIMEOUT)
            .connect()
            .await
            .map_err(BackupError::Sqlite)?;
        let copied = sqlx::query("VACUUM INTO ?")
            .bind(temporary.to_string_lossy().into_owned())
            .execute(&mut connection)
            .await
            .map_err(BackupError::Sqlite);
        let _ = connection.close().await;
        copied?;
        check_integrity(&temporary).await?;
        std::fs::rename(&temporary, dest).map_err(BackupError::Io)
    }
    .await;
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// `PRAGMA integrity_check` of the database file at `path`: `Ok` when SQLite says `ok`.
pub async fn check_integrity(path: &Path) -> Result<(), BackupError> {
    let mut connection = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .read_only(true)
        .connect()
        .await
        .map_err(BackupError::Sqlite)?;
    let rows = sqlx::query("PRAGMA integrity_check").fetch_all(&mut connection).await.map_err(BackupError::Sqlite);
    let _ = connection.close().await;
    let verdict: Vec<String> = rows?.iter().filter_map(|row| row.try_get::<String, _>(0).ok()).collect();
    if verdict == ["ok"] { Ok(()) } else { Err(BackupError::Corrupt(verdict.join("; "))) }
}

impl From<BackupError> for EmbeddedError {
    fn from(value: BackupError) -> Self {
        Self::Backup(value)
    }
}

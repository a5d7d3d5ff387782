//! The user store on PostgreSQL.

use async_trait::async_trait;
use pricetrack_domain::ports::{BackendError, UserCredentials, UserStore, UserStoreError};
use pricetrack_domain::{Email, PasswordHash, Timestamp, User, UserId};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::CorruptRow;

/// SQLSTATE `unique_violation`.
const UNIQUE_VIOLATION: &str = "23505";
/// The unique index on `users.email` (see `migrations/0001_users.sql`).
const EMAIL_INDEX: &str = "users_email_key";

/// [`UserStore`] on PostgreSQL: table `users`, whose `email` has a unique index, so racing
/// sign-ups for one address end with one account and the others get
/// [`UserStoreError::DuplicateEmail`].
///
/// Timestamps are stored at millisecond precision, as every pricetrack store keeps them. Cheap to
/// clone: clones share the pool.
#[derive(Debug, Clone)]
pub struct PgUserStore {
    pool: PgPool,
}

impl PgUserStore {
    /// A store over `pool`, whose database must have been migrated with [`crate::migrate`].
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn backend(e: impl Into<BackendError>) -> UserStoreError {
    UserStoreError::Backend(e.into())
}

fn millis(t: Timestamp) -> Timestamp {
    chrono::DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

fn col<'r, T>(row: &'r PgRow, column: &'static str) -> Result<T, CorruptRow>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(column).map_err(|_| CorruptRow { column })
}

fn user_from_row(row: &PgRow) -> Result<User, CorruptRow> {
    Ok(User {
        id: UserId::from(col::<Uuid>(row, "id")?),
        email: Email::parse(&col::<String>(row, "email")?).map_err(|_| CorruptRow { column: "email" })?,
        created_at: col::<Timestamp>(row, "created_at")?,
    })
}

fn is_duplicate_email(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => {
            db.code().as_deref() == Some(UNIQUE_VIOLATION) && db.constraint() == Some(EMAIL_INDEX)
        }
        _ => false,
    }
}

#[async_trait]
impl UserStore for PgUserStore {
    async fn create(&self, user: &User, password_hash: &PasswordHash) -> Result<(), UserStoreError> {
        let result = sqlx::query("INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)")
            .bind(user.id.as_uuid())
            .bind(user.email.as_str())
            .bind(password_hash.as_str())
            .bind(millis(user.created_at))
            .execute(&self.pool)
            .await;
        match result {
            Ok(_) => Ok(()),
            // Under a race the losing INSERT waits for the winner's commit, then fails here too.
            Err(e) if is_duplicate_email(&e) => Err(UserStoreError::DuplicateEmail),
            Err(e) => Err(backend(e)),
        }
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<UserCredentials>, UserStoreError> {
        let row = sqlx::query("SELECT id, email, password_hash, created_at FROM users WHERE email = $1")
            .bind(email.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        let Some(row) = row else { return Ok(None) };
        let user = user_from_row(&row).map_err(backend)?;
        let password_hash = PasswordHash::new(col::<String>(&row, "password_hash").map_err(backend)?);
        Ok(Some(UserCredentials { user, password_hash }))
    }

    async fn get(&self, id: UserId) -> Result<Option<User>, UserStoreError> {
        let row = sqlx::query("SELECT id, email, created_at FROM users WHERE id = $1")
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(user_from_row).transpose().map_err(backend)
    }

    async fn ping(&self) -> Result<(), UserStoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(backend)?;
        Ok(())
    }
}

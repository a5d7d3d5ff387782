//! The user store on PostgreSQL.

use async_trait::async_trait;
use pricetrack_domain::ports::{
    BackendError, SessionStore, SessionStoreError, UserCredentials, UserStore, UserStoreError,
};
use pricetrack_domain::{Email, PasswordHash, SessionId, Timestamp, User, UserId, UserSession};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::CorruptRow;

/// SQLSTATE `unique_violation`.
const UNIQUE_VIOLATION: &str = "23505";
/// The unique index on `users.email` (see `migrations/0001_users.sql`).
const EMAIL_INDEX: &str = "users_email_key";

/// [`UserStore`] and [`SessionStore`] on PostgreSQL: table `users`, whose `email` has a unique
/// index, so racing sign-ups for one address end with one account and the others get
/// [`UserStoreError::DuplicateEmail`]; and table `sessions`, whose rows go with their user
/// (`ON DELETE CASCADE`).
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

    async fn set_password_hash(&self, id: UserId, password_hash: &PasswordHash) -> Result<bool, UserStoreError> {
        let result = sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
            .bind(id.as_uuid())
            .bind(password_hash.as_str())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(result.rows_affected() > 0)
    }

    async fn delete(&self, id: UserId) -> Result<bool, UserStoreError> {
        // Sessions go with the row (ON DELETE CASCADE).
        let result = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id.as_uuid())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(result.rows_affected() > 0)
    }

    async fn ping(&self) -> Result<(), UserStoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(backend)?;
        Ok(())
    }
}

fn session_backend(e: impl Into<BackendError>) -> SessionStoreError {
    SessionStoreError::Backend(e.into())
}

fn session_from_row(row: &PgRow) -> Result<UserSession, CorruptRow> {
    Ok(UserSession {
        id: SessionId::from(col::<Uuid>(row, "id")?),
        user_id: UserId::from(col::<Uuid>(row, "user_id")?),
        created_at: col::<Timestamp>(row, "created_at")?,
        expires_at: col::<Timestamp>(row, "expires_at")?,
    })
}

#[async_trait]
impl SessionStore for PgUserStore {
    async fn create_session(&self, session: &UserSession) -> Result<(), SessionStoreError> {
        // Expired sessions of this user are swept here, so the table holds live sessions plus
        // those of users who never sign in again (bounded by users times the sign-in rate limit).
        let mut tx = self.pool.begin().await.map_err(session_backend)?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND expires_at <= $2")
            .bind(session.user_id.as_uuid())
            .bind(millis(session.created_at))
            .execute(&mut *tx)
            .await
            .map_err(session_backend)?;
        sqlx::query("INSERT INTO sessions (id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(session.id.as_uuid())
            .bind(session.user_id.as_uuid())
            .bind(millis(session.created_at))
            .bind(millis(session.expires_at))
            .execute(&mut *tx)
            .await
            .map_err(session_backend)?;
        tx.commit().await.map_err(session_backend)
    }

    async fn live_user(&self, id: SessionId, now: Timestamp) -> Result<Option<UserId>, SessionStoreError> {
        let user_id: Option<Uuid> =
            sqlx::query_scalar("SELECT user_id FROM sessions WHERE id = $1 AND expires_at > $2")
                .bind(id.as_uuid())
                .bind(now)
                .fetch_optional(&self.pool)
                .await
                .map_err(session_backend)?;
        Ok(user_id.map(UserId::from))
    }

    async fn live_sessions(&self, user_id: UserId, now: Timestamp) -> Result<Vec<UserSession>, SessionStoreError> {
        let rows = sqlx::query(
            "SELECT id, user_id, created_at, expires_at FROM sessions \
             WHERE user_id = $1 AND expires_at > $2 ORDER BY created_at, id",
        )
        .bind(user_id.as_uuid())
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(session_backend)?;
        rows.iter().map(session_from_row).collect::<Result<_, _>>().map_err(session_backend)
    }

    async fn revoke(&self, id: SessionId) -> Result<bool, SessionStoreError> {
        let result = sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(id.as_uuid())
            .execute(&self.pool)
            .await
            .map_err(session_backend)?;
        Ok(result.rows_affected() > 0)
    }

    async fn revoke_all(&self, user_id: UserId, keep: Option<SessionId>) -> Result<u64, SessionStoreError> {
        let result = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id IS DISTINCT FROM $2")
            .bind(user_id.as_uuid())
            .bind(keep.map(|id| id.as_uuid()))
            .execute(&self.pool)
            .await
            .map_err(session_backend)?;
        Ok(result.rows_affected())
    }
}

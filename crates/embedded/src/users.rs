//! The user store on SQLite.

use async_trait::async_trait;
use pricetrack_domain::ports::{
    BackendError, SessionStore, SessionStoreError, UserCredentials, UserStore, UserStoreError,
};
use pricetrack_domain::{Email, PasswordHash, SessionId, Timestamp, User, UserId, UserSession};
use sqlx::SqlitePool;
use sqlx::sqlite::SqliteRow;

use crate::sql::{self, CorruptRow, col};

/// [`UserStore`] and [`SessionStore`] on the SQLite database: table `users`, whose `email`
/// column is UNIQUE, so racing sign-ups for one address end with one account, and table
/// `sessions`, whose rows go with their user (`ON DELETE CASCADE`).
#[derive(Debug, Clone)]
pub struct SqliteUserStore {
    pool: SqlitePool,
}

fn backend(e: impl Into<BackendError>) -> UserStoreError {
    UserStoreError::Backend(e.into())
}

fn user_from_row(row: &SqliteRow) -> Result<User, CorruptRow> {
    Ok(User {
        id: sql::parsed::<UserId>(&col::<String>(row, "id")?, "id")?,
        email: Email::parse(&col::<String>(row, "email")?).map_err(|_| CorruptRow { column: "email" })?,
        created_at: sql::timestamp(col(row, "created_at")?, "created_at")?,
    })
}

impl SqliteUserStore {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl UserStore for SqliteUserStore {
    async fn create(&self, user: &User, password_hash: &PasswordHash) -> Result<(), UserStoreError> {
        let result = sqlx::query("INSERT INTO users (id, email, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)")
            .bind(user.id.to_string())
            .bind(user.email.as_str())
            .bind(password_hash.as_str())
            .bind(sql::millis(user.created_at))
            .execute(&self.pool)
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() && db.message().contains("users.email") => {
                Err(UserStoreError::DuplicateEmail)
            }
            Err(e) => Err(backend(e)),
        }
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<UserCredentials>, UserStoreError> {
        let row = sqlx::query("SELECT id, email, password_hash, created_at FROM users WHERE email = ?1")
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
        let row = sqlx::query("SELECT id, email, created_at FROM users WHERE id = ?1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(user_from_row).transpose().map_err(backend)
    }

    async fn set_password_hash(&self, id: UserId, password_hash: &PasswordHash) -> Result<bool, UserStoreError> {
        let result = sqlx::query("UPDATE users SET password_hash = ?2 WHERE id = ?1")
            .bind(id.to_string())
            .bind(password_hash.as_str())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(result.rows_affected() > 0)
    }

    async fn delete(&self, id: UserId) -> Result<bool, UserStoreError> {
        // Sessions go with the row (ON DELETE CASCADE).
        let result = sqlx::query("DELETE FROM users WHERE id = ?1")
            .bind(id.to_string())
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

fn session_from_row(row: &SqliteRow) -> Result<UserSession, CorruptRow> {
    Ok(UserSession {
        id: sql::parsed::<SessionId>(&col::<String>(row, "id")?, "id")?,
        user_id: sql::parsed::<UserId>(&col::<String>(row, "user_id")?, "user_id")?,
        created_at: sql::timestamp(col(row, "created_at")?, "created_at")?,
        expires_at: sql::timestamp(col(row, "expires_at")?, "expires_at")?,
    })
}

#[async_trait]
impl SessionStore for SqliteUserStore {
    async fn create_session(&self, session: &UserSession) -> Result<(), SessionStoreError> {
        // Expired sessions of this user are swept here, so the table holds live sessions plus
        // those of users who never sign in again (bounded by users times the sign-in rate limit).
        let mut tx = self.pool.begin().await.map_err(session_backend)?;
        sqlx::query("DELETE FROM sessions WHERE user_id = ?1 AND expires_at <= ?2")
            .bind(session.user_id.to_string())
            .bind(sql::millis(session.created_at))
            .execute(&mut *tx)
            .await
            .map_err(session_backend)?;
        sqlx::query("INSERT INTO sessions (id, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)")
            .bind(session.id.to_string())
            .bind(session.user_id.to_string())
            .bind(sql::millis(session.created_at))
            .bind(sql::millis(session.expires_at))
            .execute(&mut *tx)
            .await
            .map_err(session_backend)?;
        tx.commit().await.map_err(session_backend)
    }

    async fn live_user(&self, id: SessionId, now: Timestamp) -> Result<Option<UserId>, SessionStoreError> {
        let user_id: Option<String> =
            sqlx::query_scalar("SELECT user_id FROM sessions WHERE id = ?1 AND expires_at > ?2")
                .bind(id.to_string())
                .bind(sql::millis(now))
                .fetch_optional(&self.pool)
                .await
                .map_err(session_backend)?;
        user_id.map(|raw| sql::parsed::<UserId>(&raw, "user_id")).transpose().map_err(session_backend)
    }

    async fn live_sessions(&self, user_id: UserId, now: Timestamp) -> Result<Vec<UserSession>, SessionStoreError> {
        let rows = sqlx::query(
            "SELECT id, user_id, created_at, expires_at FROM sessions \
             WHERE user_id = ?1 AND expires_at > ?2 ORDER BY created_at, id",
        )
        .bind(user_id.to_string())
        .bind(sql::millis(now))
        .fetch_all(&self.pool)
        .await
        .map_err(session_backend)?;
        rows.iter().map(session_from_row).collect::<Result<_, _>>().map_err(session_backend)
    }

    async fn revoke(&self, id: SessionId) -> Result<bool, SessionStoreError> {
        let result = sqlx::query("DELETE FROM sessions WHERE id = ?1")
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(session_backend)?;
        Ok(result.rows_affected() > 0)
    }

    async fn revoke_all(&self, user_id: UserId, keep: Option<SessionId>) -> Result<u64, SessionStoreError> {
        let result = sqlx::query("DELETE FROM sessions WHERE user_id = ?1 AND id IS NOT ?2")
            .bind(user_id.to_string())
            .bind(keep.map(|id| id.to_string()))
            .execute(&self.pool)
            .await
            .map_err(session_backend)?;
        Ok(result.rows_affected())
    }
}

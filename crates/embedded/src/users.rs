//! The user store on SQLite.

use async_trait::async_trait;
use pricetrack_domain::ports::{BackendError, UserCredentials, UserStore, UserStoreError};
use pricetrack_domain::{Email, PasswordHash, User, UserId};
use sqlx::SqlitePool;
use sqlx::sqlite::SqliteRow;

use crate::sql::{self, CorruptRow, col};

/// [`UserStore`] on the SQLite database: table `users`, whose `email` column is UNIQUE, so
/// racing sign-ups for one address end with one account.
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

    async fn ping(&self) -> Result<(), UserStoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(backend)?;
        Ok(())
    }
}

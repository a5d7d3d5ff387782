//! What the contract suite does not cover: migrations, stored formats, connection errors and the
//! test-database helper itself.

use std::error::Error as _;
use std::time::{Duration, Instant};

use pricetrack_domain::ports::{UserStore, UserStoreError};
use pricetrack_domain::{Email, PasswordHash, User, UserId};
use pricetrack_postgres::testing::{DATABASE_PREFIX, DEFAULT_SERVER_URL, SERVER_URL_VAR, TestDatabase};
use pricetrack_postgres::{CONNECT_TIMEOUT, PgError, PgUserStore, connect, migrate};
use secrecy::{ExposeSecret, SecretString};
use sqlx::{PgPool, Row};

const PASSWORD: &str = "S3cret-Pa55word-xyzzy";

async fn fresh() -> TestDatabase {
    TestDatabase::create().await.unwrap_or_else(|e| panic!("{e}"))
}

fn server_url() -> String {
    std::env::var(SERVER_URL_VAR).unwrap_or_else(|_| DEFAULT_SERVER_URL.to_owned())
}

fn user(email: &str) -> User {
    let created_at = chrono::DateTime::from_timestamp_millis(chrono::Utc::now().timestamp_millis()).expect("now");
    User { id: UserId::new(), email: Email::parse(email).expect("valid email"), created_at }
}

/// Display, Debug and every source of an error, for checking that none shows a secret.
fn everything_about(error: &PgError) -> String {
    let mut text = format!("{error}\n{error:?}");
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!("\n{cause}\n{cause:?}"));
        source = cause.source();
    }
    text
}

/// A local port on which nothing listens (bound, then released).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

async fn migration_count(pool: &PgPool) -> i64 {
    sqlx::query("SELECT count(*) AS n FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await
        .expect("read _sqlx_migrations")
        .get("n")
}

async fn database_exists(name: &str) -> bool {
    let pool = connect(&SecretString::from(server_url()), 1).await.expect("connect to the server");
    let found: bool = sqlx::query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS found")
        .bind(name)
        .fetch_one(&pool)
        .await
        .expect("query pg_database")
        .get("found");
    pool.close().await;
    found
}

#[tokio::test]
async fn migrations_are_idempotent() {
    let db = fresh().await; // already migrated once
    let applied = migration_count(db.pool()).await;
    assert!(applied >= 1, "the test database must have been migrated");
    migrate(db.pool()).await.expect("a second run must succeed");
    migrate(db.pool()).await.expect("a third run must succeed");
    assert_eq!(migration_count(db.pool()).await, applied, "re-running must not apply anything again");
    let store = PgUserStore::new(db.pool().clone());
    let ada = user("ada@example.com");
    store.create(&ada, &PasswordHash::new("h".to_owned())).await.expect("the schema works after re-runs");
}

#[tokio::test]
async fn concurrent_migrations_are_safe() {
    let db = fresh().await;
    let runs = (0..4).map(|_| migrate(db.pool()));
    for result in futures::future::join_all(runs).await {
        result.expect("concurrent migration runs must all succeed");
    }
}

#[tokio::test]
async fn password_hash_round_trips_byte_for_byte() {
    let db = fresh().await;
    let store = PgUserStore::new(db.pool().clone());
    let hashes = [
        "$argon2id$v=19$m=19456,t=2,p=1$gZiV/M1gPc22ElAH/Jh1Hw$CWOrkoo7oJBQ/iyh7uJ0LO2aLEfrHwTWllSAxT0zRno",
        " leading and trailing space \t",
        "quotes ' \" back\\slash; -- $1 %s {} ünïcödé ✓ 🔒\nnew line\r\n",
    ];
    for (i, raw) in hashes.iter().enumerate() {
        let ada = user(&format!("ada{i}@example.com"));
        store.create(&ada, &PasswordHash::new((*raw).to_owned())).await.expect("create");
        let found = store.find_by_email(&ada.email).await.expect("find_by_email").expect("found");
        assert_eq!(found.password_hash.as_str().as_bytes(), raw.as_bytes(), "the hash must come back byte for byte");
        assert_eq!(found.user, ada);
    }
}

#[tokio::test]
async fn created_at_is_kept_to_the_millisecond() {
    let db = fresh().await;
    let store = PgUserStore::new(db.pool().clone());
    let mut ada = user("ada@example.com");
    let precise = chrono::DateTime::from_timestamp(1_700_000_000, 123_456_789).expect("timestamp");
    ada.created_at = precise;
    store.create(&ada, &PasswordHash::new("h".to_owned())).await.expect("create");
    let got = store.get(ada.id).await.expect("get").expect("found");
    assert_eq!(got.created_at, chrono::DateTime::from_timestamp(1_700_000_000, 123_000_000).expect("timestamp"));
}

#[tokio::test]
async fn email_is_unique_in_the_schema_and_a_taken_id_is_not_a_duplicate_email() {
    let db = fresh().await;
    let store = PgUserStore::new(db.pool().clone());
    let ada = user("ada@example.com");
    store.create(&ada, &PasswordHash::new("h".to_owned())).await.expect("create");

    // The unique index holds even for a write that bypasses the adapter.
    let raw = sqlx::query("INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, $2, 'x', now())")
        .bind(UserId::new().as_uuid())
        .bind("ada@example.com")
        .execute(db.pool())
        .await;
    let code = match raw {
        Err(sqlx::Error::Database(e)) => e.code().map(|c| c.into_owned()),
        other => panic!("a second row with the same email must violate the unique index, got {other:?}"),
    };
    assert_eq!(code.as_deref(), Some("23505"));

    // A taken id (a bug, not a sign-up race) is a backend error, not DuplicateEmail.
    let mut twin = user("grace@example.com");
    twin.id = ada.id;
    let result = store.create(&twin, &PasswordHash::new("h".to_owned())).await;
    assert!(matches!(result, Err(UserStoreError::Backend(_))), "got {result:?}");
}

#[tokio::test]
async fn connect_to_a_closed_port_is_unreachable_and_hides_the_password() {
    let port = closed_port();
    let url = SecretString::from(format!("postgres://postgres:{PASSWORD}@127.0.0.1:{port}/postgres"));
    let started = Instant::now();
    let error = connect(&url, 2).await.expect_err("nothing listens there");
    assert!(started.elapsed() < CONNECT_TIMEOUT + Duration::from_secs(2), "connect must give up in time");
    assert!(matches!(error, PgError::Unreachable { .. }), "got {error:?}");
    assert_eq!(error.to_string(), format!("PostgreSQL is not reachable at 127.0.0.1:{port}"));
    assert!(!everything_about(&error).contains(PASSWORD), "the error must not show the password");
}

#[tokio::test]
async fn connect_with_wrong_credentials_or_database_is_rejected_and_hides_the_password() {
    // The local server trusts every local user, so a wrong password alone is accepted there:
    // an unknown role and an unknown database stand in for refused credentials.
    let server = url::Url::parse(&server_url()).expect("server URL");
    let host = server.host_str().expect("host").to_owned();
    let port = server.port().unwrap_or(5432);
    for url in [
        format!("postgres://no_such_role_xyz:{PASSWORD}@{host}:{port}/postgres"),
        format!("postgres://postgres:{PASSWORD}@{host}:{port}/no_such_database_xyz"),
    ] {
        let error = connect(&SecretString::from(url), 2).await.expect_err("the server must refuse");
        assert!(matches!(error, PgError::Rejected { .. }), "got {error:?}");
        assert_eq!(error.to_string(), format!("PostgreSQL at {host}:{port} refused the connection"));
        assert!(!everything_about(&error).contains(PASSWORD), "the error must not show the password");
    }
}

#[tokio::test]
async fn connect_with_an_invalid_url_hides_the_password() {
    for url in [
        format!("postgres://postgres:{PASSWORD}@127.0.0.1:notaport/postgres"),
        format!("postgres://postgres:{PASSWORD}@127.0.0.1:5432/postgres?sslmode={PASSWORD}"),
        PASSWORD.to_owned(),
    ] {
        let error = connect(&SecretString::from(url), 2).await.expect_err("the URL is not valid");
        assert!(matches!(error, PgError::InvalidUrl { .. }), "got {error:?}");
        assert!(!everything_about(&error).contains(PASSWORD), "the error must not show the password: {error:?}");
    }
}

#[tokio::test]
async fn connect_to_a_silent_server_times_out() {
    // Accepts the TCP connection, then never answers the start-up message.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let url = SecretString::from(format!("postgres://postgres:{PASSWORD}@127.0.0.1:{port}/postgres"));
    let started = Instant::now();
    let error = connect(&url, 2).await.expect_err("the server never answers");
    let waited = started.elapsed();
    holder.abort();
    assert!(matches!(error, PgError::TimedOut { .. }), "got {error:?}");
    assert!(waited >= CONNECT_TIMEOUT && waited < CONNECT_TIMEOUT + Duration::from_secs(2), "waited {waited:?}");
    assert!(!everything_about(&error).contains(PASSWORD));
}

#[tokio::test]
async fn connect_and_ping_on_a_running_server() {
    let pool = connect(&SecretString::from(server_url()), 2).await.expect("connect");
    PgUserStore::new(pool.clone()).ping().await.expect("ping");
    pool.close().await;
}

#[tokio::test]
async fn test_database_on_an_unreachable_server_says_how_to_start_it() {
    let port = closed_port();
    let url = SecretString::from(format!("postgres://postgres:{PASSWORD}@127.0.0.1:{port}/postgres"));
    let error = TestDatabase::create_on(&url).await.expect_err("nothing listens there");
    assert!(
        error.starts_with(&format!(
            "PostgreSQL is not reachable at 127.0.0.1:{port}: start it with \
             `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`"
        )),
        "got {error}"
    );
    assert!(!error.contains(PASSWORD));
}

#[tokio::test]
async fn test_databases_are_fresh_isolated_and_dropped() {
    let first = fresh().await;
    let second = fresh().await;
    assert!(first.name().starts_with(DATABASE_PREFIX));
    assert_ne!(first.name(), second.name());
    assert!(first.url().expose_secret().ends_with(first.name()), "url() must name the test database");

    let ada = user("ada@example.com");
    PgUserStore::new(first.pool().clone()).create(&ada, &PasswordHash::new("h".to_owned())).await.expect("create");
    let elsewhere = PgUserStore::new(second.pool().clone()).find_by_email(&ada.email).await.expect("find");
    assert!(elsewhere.is_none(), "a test database must not see another's rows");

    // url() reaches the same database.
    let pool = connect(first.url(), 1).await.expect("connect with url()");
    assert!(PgUserStore::new(pool.clone()).get(ada.id).await.expect("get").is_some());

    let name = first.name().to_owned();
    assert!(database_exists(&name).await);
    drop(first); // `pool` is still open on it: the drop must end it
    assert!(!database_exists(&name).await, "dropping a TestDatabase must drop its database");
    assert!(PgUserStore::new(pool).ping().await.is_err(), "connections to a dropped test database are gone");
}

//! Opening the pool and migrating the schema.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};
use url::Url;

use crate::PgError;

/// How long [`connect`] waits for the server to accept a connection, and how long the pool
/// then waits for a free connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens a pool of at most `max_connections` connections to `database_url`
/// (`postgres://user:password@host:port/database?sslmode=...`).
///
/// One connection is opened at once, so that a wrong URL, an unreachable server or refused
/// credentials fail here, within [`CONNECT_TIMEOUT`], with an error that names the server's
/// address but never the URL or its password.
pub async fn connect(database_url: &SecretString, max_connections: u32) -> Result<PgPool, PgError> {
    connect_with_waits(database_url, max_connections, CONNECT_TIMEOUT, None).await
}

/// [`connect`] for a request path: the pool then waits at most `acquire` for a connection (a
/// new one included), and every session it opens has `statement_timeout` set to `statement`
/// (when given), so that a sick server costs a request a bounded time.
pub async fn connect_with_waits(
    database_url: &SecretString,
    max_connections: u32,
    acquire: Duration,
    statement: Option<Duration>,
) -> Result<PgPool, PgError> {
    let mut options = parse_url(database_url)?;
    if let Some(statement) = statement {
        let millis = statement.as_millis().max(1).to_string();
        options = options.options([("statement_timeout", millis.as_str())]);
    }
    // A single connection first: the pool retries refused connections until its timeout and
    // then reports only "timed out", losing the reason.
    let probe = open_connection(&options).await?;
    // Best effort: the probe has done its job either way.
    let _ = probe.close().await;
    PgPoolOptions::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(acquire)
        // A connection that sat idle through an outage may be dead: check it before use, so a
        // request after recovery gets a live one instead of an error.
        .test_before_acquire(true)
        .connect_with(options.clone())
        .await
        .map_err(|source| classify(&options, source))
}

/// Brings the schema up to date with the migrations embedded from `migrations/`. Running it
/// again, or from several processes at once, is harmless: applied migrations are recorded in
/// `_sqlx_migrations` and the run holds an advisory lock.
pub async fn migrate(pool: &PgPool) -> Result<(), PgError> {
    sqlx::migrate!().run(pool).await.map_err(PgError::Migrate)
}

/// Parses a connection URL. The errors never show the URL, and the password is blanked out of
/// any parser message that would echo it (sqlx echoes an unknown `sslmode` value, say).
pub(crate) fn parse_url(database_url: &SecretString) -> Result<PgConnectOptions, PgError> {
    let invalid = |reason: String| PgError::InvalidUrl { reason };
    // `url::ParseError` messages are fixed texts: they never quote the input.
    let url = Url::parse(database_url.expose_secret()).map_err(|e| invalid(e.to_string()))?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return Err(invalid("the scheme must be postgres:// or postgresql://".to_owned()));
    }
    PgConnectOptions::from_url(&url).map_err(|e| invalid(redact_password(e.to_string(), &url)))
}

/// `text` with every occurrence of the URL's password (as written, and percent-decoded) blanked.
fn redact_password(mut text: String, url: &Url) -> String {
    let Some(raw) = url.password().filter(|p| !p.is_empty()) else { return text };
    let decoded = percent_decode(raw);
    for secret in [raw, decoded.as_str()] {
        if !secret.is_empty() {
            text = text.replace(secret, "<password>");
        }
    }
    text
}

/// One connection, within [`CONNECT_TIMEOUT`].
pub(crate) async fn open_connection(options: &PgConnectOptions) -> Result<PgConnection, PgError> {
    match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(options)).await {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(source)) => Err(classify(options, source)),
        Err(_) => Err(PgError::TimedOut { address: address(options), after: CONNECT_TIMEOUT }),
    }
}

/// The server's address as shown in errors: never the user, password or database options.
pub(crate) fn address(options: &PgConnectOptions) -> String {
    match options.get_socket() {
        Some(socket) => socket.display().to_string(),
        None => format!("{}:{}", options.get_host(), options.get_port()),
    }
}

/// Decodes `%XX` escapes (invalid ones stay as they are); invalid UTF-8 is replaced.
fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes.get(i..i + 3) {
            Some([b'%', high, low]) => {
                std::str::from_utf8(&[*high, *low]).ok().and_then(|h| u8::from_str_radix(h, 16).ok())
            }
            _ => None,
        };
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.extend_from_slice(bytes.get(i..i + 1).unwrap_or_default());
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn classify(options: &PgConnectOptions, source: sqlx::Error) -> PgError {
    let address = address(options);
    match source {
        sqlx::Error::Io(_) => PgError::Unreachable { address, source },
        sqlx::Error::PoolTimedOut => PgError::TimedOut { address, after: CONNECT_TIMEOUT },
        source => PgError::Rejected { address, source },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decode_handles_escapes_and_leaves_the_rest() {
        assert_eq!(percent_decode("a%20b%2Fc"), "a b/c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%C3%A9t%C3%A9"), "été");
    }

    #[test]
    fn redaction_blanks_raw_and_decoded_password() {
        let url = Url::parse("postgres://u:p%40ss@h/db").expect("url");
        assert_eq!(redact_password("x p@ss y p%40ss".to_owned(), &url), "x <password> y <password>");
    }

    #[test]
    fn address_shows_host_and_port_only() {
        let options = parse_url(&SecretString::from("postgres://u:pw@db.example:6543/app")).expect("valid");
        assert_eq!(address(&options), "db.example:6543");
    }

    #[test]
    fn other_schemes_are_refused() {
        let error = parse_url(&SecretString::from("mysql://u:pw@h/db")).expect_err("not postgres");
        assert!(matches!(error, PgError::InvalidUrl { .. }));
    }
}

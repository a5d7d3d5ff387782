//! Each program refuses to start on a missing or invalid setting, with a message that names the
//! variable and never shows a secret, and a non-zero exit status.

mod common;

use std::collections::BTreeMap;

use common::run_to_end;

const API: &str = env!("CARGO_BIN_EXE_api");
const SCRAPER: &str = env!("CARGO_BIN_EXE_scraper");
const RESCHEDULER: &str = env!("CARGO_BIN_EXE_rescheduler");

const SECRET: &str = "0123456789abcdef0123456789abcdef-top-secret";

fn env(vars: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = [
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("PRICETRACK_TABLE", "t"),
        ("PRICETRACK_QUEUE_URL", "http://127.0.0.1:1/123456789012/q"),
        ("PRICETRACK_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:a"),
        ("PRICETRACK_DELIVERY_QUEUE_URL", "http://127.0.0.1:1/123456789012/d"),
        ("DATABASE_URL", "postgres://pricetrack:db-password-xyz@127.0.0.1:1/pricetrack"),
        ("PRICETRACK_JWT_SECRET", SECRET),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (k, v) in vars {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    env
}

fn without(mut env: BTreeMap<String, String>, name: &str) -> BTreeMap<String, String> {
    env.remove(name);
    env
}

/// Runs `program` and returns its stderr, asserting it failed.
fn refused(program: &str, args: &[&str], env: &BTreeMap<String, String>) -> String {
    let out = run_to_end(program, args, env);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{program} {args:?} should have refused to start:\n{stderr}");
    assert!(out.stdout.is_empty(), "nothing on stdout: {}", String::from_utf8_lossy(&out.stdout));
    assert!(!stderr.contains("top-secret") && !stderr.contains("db-password-xyz"), "a secret leaked:\n{stderr}");
    stderr
}

#[test]
fn api_refuses_a_missing_or_short_jwt_secret() {
    let stderr = refused(API, &[], &without(env(&[]), "PRICETRACK_JWT_SECRET"));
    assert!(stderr.contains("error: PRICETRACK_JWT_SECRET: is required"), "{stderr}");
    assert!(stderr.contains("32 bytes"), "says what it needs: {stderr}");

    let stderr = refused(API, &[], &env(&[("PRICETRACK_JWT_SECRET", "top-secret-but-short")]));
    assert!(stderr.contains("error: PRICETRACK_JWT_SECRET: must be at least 32 bytes"), "{stderr}");
    assert!(!stderr.contains("top-secret-but-short"));
}

#[test]
fn every_program_names_a_missing_resource() {
    for (program, name) in [
        (API, "PRICETRACK_TABLE"),
        (API, "PRICETRACK_QUEUE_URL"),
        (API, "PRICETRACK_TOPIC_ARN"),
        (API, "DATABASE_URL"),
        (SCRAPER, "PRICETRACK_TABLE"),
        (SCRAPER, "PRICETRACK_QUEUE_URL"),
        (SCRAPER, "PRICETRACK_TOPIC_ARN"),
        (SCRAPER, "PRICETRACK_DELIVERY_QUEUE_URL"),
        (RESCHEDULER, "PRICETRACK_TABLE"),
        (RESCHEDULER, "PRICETRACK_QUEUE_URL"),
    ] {
        let args: &[&str] = if program == RESCHEDULER { &["--once"] } else { &[] };
        let stderr = refused(program, args, &without(env(&[]), name));
        assert!(stderr.contains(&format!("error: {name}: is required")), "{program} {name}: {stderr}");
    }
}

#[test]
fn invalid_values_are_named() {
    for (program, name, value) in [
        (API, "PRICETRACK_LISTEN", "everywhere"),
        (API, "PRICETRACK_COOKIE_SECURE", "perhaps"),
        (API, "PRICETRACK_MIN_CHECK_INTERVAL_SECS", "0"),
        (SCRAPER, "PRICETRACK_WORKERS", "0"),
        (SCRAPER, "PRICETRACK_WORKERS", "257"),
        (SCRAPER, "PRICETRACK_ALLOW_PRIVATE_TARGETS", "maybe"),
        (SCRAPER, "PRICETRACK_VISIBILITY_TIMEOUT_SECS", "600"),
        (SCRAPER, "PRICETRACK_LOG_FORMAT", "xml"),
        (RESCHEDULER, "PRICETRACK_LEASE_SECS", "soon"),
    ] {
        let args: &[&str] = if program == RESCHEDULER { &["--once"] } else { &[] };
        let stderr = refused(program, args, &env(&[(name, value)]));
        assert!(stderr.contains(&format!("error: {name}: ")), "{program} {name}={value}: {stderr}");
    }
}

#[test]
fn an_unreachable_database_is_reported_without_its_password() {
    let stderr = refused(API, &[], &env(&[]));
    assert!(stderr.contains("PostgreSQL") && stderr.contains("127.0.0.1:1"), "{stderr}");
}

#[test]
fn the_rescheduler_outside_lambda_says_how_to_run_it() {
    let stderr = refused(RESCHEDULER, &[], &env(&[]));
    assert!(stderr.contains("AWS_LAMBDA_RUNTIME_API is not set") && stderr.contains("--once"), "{stderr}");
    let stderr = refused(RESCHEDULER, &["--every", "never"], &env(&[]));
    assert!(stderr.contains("--every"), "{stderr}");
    let stderr = refused(RESCHEDULER, &["--once", "--every", "1s"], &env(&[]));
    assert!(stderr.contains("cannot be used with"), "{stderr}");
}

//! StaticFetcher against a local axum server.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use pricetrack_domain::{CheckFailure, ProductUrl};
use pricetrack_scraper::{FetchError, PageFetcher, StaticFetcher, StaticFetcherSettings};

const PAGE: &str = "<html><head><title>Kettle</title></head><body>49,99 €</body></html>";

#[derive(Clone, Default)]
struct Hits(Arc<AtomicUsize>);

async fn page(State(hits): State<Hits>) -> impl IntoResponse {
    hits.0.fetch_add(1, Ordering::SeqCst);
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE)
}

async fn redirect(Path(n): Path<u32>) -> Redirect {
    if n == 0 { Redirect::to("/page") } else { Redirect::to(&format!("/redirect/{}", n - 1)) }
}

async fn big() -> Vec<u8> {
    vec![b'a'; 6 * 1024 * 1024]
}

async fn big_stream() -> Response {
    // No Content-Length: the cap must hold while streaming.
    let chunk = vec![b'a'; 64 * 1024];
    let stream =
        futures::stream::iter((0..200).map(move |_| Ok::<_, std::io::Error>(axum::body::Bytes::from(chunk.clone()))));
    Response::new(Body::from_stream(stream))
}

async fn gzip_bomb() -> impl IntoResponse {
    // 6 KiB on the wire, 6 MiB once decompressed.
    const BOMB: &[u8] = include_bytes!("fixtures/zeros-6mib.html.gz");
    ([(header::CONTENT_TYPE, "text/html"), (header::CONTENT_ENCODING, "gzip")], BOMB)
}

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_secs(3)).await;
    PAGE
}

async fn serve() -> (String, Hits) {
    let hits = Hits::default();
    let app = Router::new()
        .route("/page", get(page))
        .route("/missing", get(|| async { (StatusCode::NOT_FOUND, "gone") }))
        .route("/forbidden", get(|| async { (StatusCode::FORBIDDEN, "<html><body>Forbidden</body></html>") }))
        .route("/challenge", get(|| async { (StatusCode::FORBIDDEN, CHALLENGE) }))
        .route("/redirect/{n}", get(redirect))
        .route("/big", get(big))
        .route("/big-stream", get(big_stream))
        .route("/gzip-bomb", get(gzip_bomb))
        .route("/slow", get(slow))
        .with_state(hits.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), hits)
}

fn fetcher(allow_private_targets: bool) -> StaticFetcher {
    StaticFetcher::new(StaticFetcherSettings {
        deadline: Duration::from_millis(800),
        allow_private_targets,
        ..StaticFetcherSettings::default()
    })
    .expect("client")
}

fn url(raw: &str) -> ProductUrl {
    ProductUrl::parse(raw).expect("url")
}

#[tokio::test]
async fn fetches_a_page() {
    let (base, _) = serve().await;
    let page = fetcher(true).fetch(&url(&format!("{base}/page"))).await.expect("fetched");
    assert_eq!(page.status, 200);
    assert_eq!(page.body, PAGE);
    assert_eq!(page.final_url.as_str(), format!("{base}/page"));
}

#[tokio::test]
async fn non_success_status_is_a_fetch_error() {
    let (base, _) = serve().await;
    let err = fetcher(true).fetch(&url(&format!("{base}/missing"))).await.expect_err("404");
    assert!(matches!(err, FetchError::Status { status: 404 }), "{err:?}");
    assert_eq!(err.to_check_failure(), CheckFailure::Fetch("the shop answered with HTTP status 404".into()));
}

/// A Cloudflare challenge page, as bot walls answer: status 403.
const CHALLENGE: &str = r#"<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>
<div id="challenge-stage"></div><script src="/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1"></script></body></html>"#;

#[tokio::test]
async fn a_robot_check_answered_with_403_is_a_blocked_page_not_a_status() {
    let (base, _) = serve().await;
    let err = fetcher(true).fetch(&url(&format!("{base}/challenge"))).await.expect_err("blocked");
    assert!(matches!(err, FetchError::Blocked { kind: pricetrack_extract::BlockKind::Cloudflare }), "{err:?}");
    assert_eq!(err.to_check_failure(), CheckFailure::Blocked);
    assert_eq!(err.to_check_failure().to_string(), "the shop showed a robot check instead of the page");
    // A plain 403 stays a status.
    let err = fetcher(true).fetch(&url(&format!("{base}/forbidden"))).await.expect_err("403");
    assert!(matches!(err, FetchError::Status { status: 403 }), "{err:?}");
}

#[tokio::test]
async fn follows_up_to_five_redirects_and_reports_the_final_url() {
    let (base, _) = serve().await;
    let page = fetcher(true).fetch(&url(&format!("{base}/redirect/4"))).await.expect("5 hops");
    assert_eq!(page.final_url.as_str(), format!("{base}/page"));
    assert_eq!(page.body, PAGE);
}

#[tokio::test]
async fn more_than_five_redirects_is_an_error() {
    let (base, _) = serve().await;
    let err = fetcher(true).fetch(&url(&format!("{base}/redirect/5"))).await.expect_err("6 hops");
    assert!(matches!(err, FetchError::TooManyRedirects { max: 5 }), "{err:?}");
    assert!(matches!(err.to_check_failure(), CheckFailure::Fetch(_)));
}

#[tokio::test]
async fn bodies_over_the_cap_are_refused() {
    let (base, _) = serve().await;
    let fetcher =
        StaticFetcher::new(StaticFetcherSettings { allow_private_targets: true, ..StaticFetcherSettings::default() })
            .expect("client");
    for path in ["/big", "/big-stream", "/gzip-bomb"] {
        let err = fetcher.fetch(&url(&format!("{base}{path}"))).await.expect_err(path);
        assert!(matches!(err, FetchError::TooLarge { limit } if limit == 5 * 1024 * 1024), "{path}: {err:?}");
        assert_eq!(err.to_string(), "the page is larger than 5120 KiB");
    }
}

#[tokio::test]
async fn slow_pages_time_out() {
    let (base, _) = serve().await;
    let started = std::time::Instant::now();
    let err = fetcher(true).fetch(&url(&format!("{base}/slow"))).await.expect_err("too slow");
    assert!(matches!(err, FetchError::Timeout { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    assert_eq!(err.to_check_failure(), CheckFailure::Fetch("the page took longer than 1 s to load".into()));
}

#[tokio::test]
async fn internal_targets_are_refused_without_being_contacted() {
    let (base, hits) = serve().await;
    let port = base.rsplit(':').next().expect("port").to_owned();
    let guarded = fetcher(false);
    for raw in [
        format!("http://127.0.0.1:{port}/page"),
        format!("http://localhost:{port}/page"),
        format!("http://[::1]:{port}/page"),
        "http://2130706433/".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://[::ffff:169.254.169.254]/".to_owned(),
        "http://10.0.0.1/".to_owned(),
    ] {
        let err = guarded.fetch(&url(&raw)).await.expect_err(&raw);
        assert!(matches!(err, FetchError::PrivateAddress { .. }), "{raw}: {err:?}");
        let failure = err.to_check_failure();
        assert!(matches!(failure, CheckFailure::Forbidden(_)), "{raw}: {failure:?}");
        assert!(failure.to_string().contains("private or internal network"), "{failure}");
    }
    assert_eq!(hits.0.load(Ordering::SeqCst), 0, "the guard refused before connecting");
    // The same server is reachable when private targets are allowed.
    fetcher(true).fetch(&url(&format!("http://localhost:{port}/page"))).await.expect("allowed");
    assert_eq!(hits.0.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn unknown_hosts_are_a_fetch_error() {
    let err = fetcher(false).fetch(&url("http://no-such-host.invalid/")).await.expect_err("nx");
    assert!(matches!(err, FetchError::UnknownHost { .. }), "{err:?}");
    assert_eq!(err.to_string(), "could not find the address of no-such-host.invalid");
}

#[tokio::test]
async fn closed_ports_are_a_connect_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let err = fetcher(true).fetch(&url(&format!("http://{addr}/"))).await.expect_err("closed");
    assert!(matches!(err, FetchError::Connect { .. }), "{err:?}");
    assert_eq!(err.to_string(), "could not connect to 127.0.0.1");
}

#[test]
fn default_user_agent_is_honest() {
    let ua = StaticFetcherSettings::default().user_agent;
    assert!(ua.starts_with("pricetrack/"), "{ua}");
    assert!(ua.contains("(+https://github.com/pricetrack)"), "{ua}");
}

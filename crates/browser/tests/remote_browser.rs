//! The browser fetcher driving a Chromium it did not launch (`PRICETRACK_BROWSER_URL`), as the
//! scraper drives the browser sidecar of its pod: Chromium is started here as a separate
//! process, with an empty environment and DevTools on 127.0.0.1, the way the sidecar's
//! entrypoint starts it (Dockerfile, target `browser`).

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, Redirect};
use axum::routing::get;
use pricetrack_browser::{BrowserFetcher, BrowserSettings, DEFAULT_EXECUTABLE};
use pricetrack_domain::ProductUrl;
use pricetrack_scraper::{FetchError, PageFetcher};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The page whose price a script fetches and draws (shared with the launch tests).
const JS_PAGE: &str = include_str!("js_price.html");

/// Chromium running on its own, killed when dropped.
struct RemoteChromium {
    child: Child,
    _profile: tempfile::TempDir,
}

impl RemoteChromium {
    /// Starts Chromium listening for DevTools on 127.0.0.1:`port`, with nothing in its
    /// environment (the sidecar has no credentials), and waits until it listens.
    async fn start(port: u16) -> Self {
        assert!(
            std::path::Path::new(DEFAULT_EXECUTABLE).is_file(),
            "Chromium is missing at {DEFAULT_EXECUTABLE}: install it with `apt-get install -y chromium`"
        );
        let profile = tempfile::tempdir().expect("profile dir");
        let mut child = Command::new(DEFAULT_EXECUTABLE)
            .env_clear()
            .env("HOME", profile.path())
            .args([
                "--headless",
                "--remote-debugging-address=127.0.0.1",
                &format!("--remote-debugging-port={port}"),
                &format!("--user-data-dir={}", profile.path().display()),
                // As in the launch tests: no user namespaces on this machine, or as root.
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--blink-settings=imagesEnabled=false",
                "about:blank",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromium");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let listening = tokio::time::timeout(Duration::from_secs(20), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("DevTools listening on ws://") {
                    return true;
                }
            }
            false
        })
        .await;
        assert!(matches!(listening, Ok(true)), "chromium did not listen on port {port}");
        // Keep draining stderr so that Chromium never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { child, _profile: profile }
    }

    async fn kill(mut self) {
        self.child.kill().await.expect("kill chromium");
    }
}

/// A free port on 127.0.0.1 (so that a restarted browser can listen where the first one did).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

async fn serve(router: Router) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    port
}

/// A service on 127.0.0.1 that pages must never reach: it counts the requests that do.
async fn internal_service() -> (u16, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let router = Router::new()
        .fallback(|State(hits): State<Arc<AtomicUsize>>| async move {
            hits.fetch_add(1, Ordering::SeqCst);
            "internal secret"
        })
        .with_state(Arc::clone(&hits));
    (serve(router).await, hits)
}

/// The shop: a price drawn by JavaScript, a redirect inside, and a page that reaches inside.
async fn shop(internal: u16) -> u16 {
    let router = Router::new()
        .route("/js", get(|| async { Html(JS_PAGE) }))
        .route("/api/price", get(|| async { ([(header::CONTENT_TYPE, "application/json")], r#"{"amount":"24.99"}"#) }))
        .route(
            "/redirect-inside",
            get(move || async move { Redirect::temporary(&format!("http://127.0.0.1:{internal}/secret")) }),
        )
        .route(
            "/reaches-inside",
            get(move || async move {
                Html(format!(
                    r#"<!doctype html><html><body><p>Gadget <span itemprop="price" content="5.00">5,00 €</span></p>
<iframe src="http://localhost:{internal}/frame"></iframe>
<script src="http://127.0.0.1:{internal}/script.js"></script>
<script>
fetch('http://127.0.0.1:{internal}/api').catch(() => {{}});
fetch('http://169.254.169.254/latest/meta-data/').catch(() => {{}});
</script></body></html>"#
                ))
            }),
        );
    serve(router).await
}

fn url(raw: &str) -> ProductUrl {
    ProductUrl::parse(raw).expect("url")
}

/// Settings for the browser at `devtools_port`, with the guard on for everything but the shop.
fn remote_settings(devtools_port: u16, shop: u16) -> BrowserSettings {
    BrowserSettings {
        remote: Some(format!("http://127.0.0.1:{devtools_port}")),
        // No executable is needed to drive a remote browser.
        executable: "/nonexistent/chromium".into(),
        exempt_origins: vec![format!("http://127.0.0.1:{shop}")],
        page_deadline: Duration::from_secs(20),
        ..BrowserSettings::default()
    }
}

#[tokio::test]
async fn renders_a_javascript_price_in_a_browser_it_did_not_launch() {
    let devtools = free_port();
    let chromium = RemoteChromium::start(devtools).await;
    let (internal, _) = internal_service().await;
    let shop = shop(internal).await;
    // The brief's setting for tests: every private address allowed, the shop's included.
    let browser = BrowserFetcher::new(BrowserSettings {
        allow_private_targets: true,
        exempt_origins: Vec::new(),
        ..remote_settings(devtools, shop)
    })
    .expect("no executable needed");

    let page = browser.fetch(&url(&format!("http://127.0.0.1:{shop}/js"))).await.expect("rendered");
    let offer = pricetrack_extract::extract_offer(&page.body, Some(&page.final_url)).expect("offer");
    assert_eq!(offer.price.expect("price").amount.to_string(), "24.99");
    let stats = browser.stats();
    assert_eq!(stats.browsers_launched, 1, "one connection: {stats:?}");
    // The remote browser's connections (the page and its API call) went through the guard's
    // proxy in this process: its browser contexts are told to use it.
    assert!(stats.connections_proxied >= 2, "{stats:?}");
    assert_eq!(browser.browser_pid().await, None, "not a child of ours");

    browser.shut_down().await;
    // Shutting down dropped the connection and left the sidecar's browser running: the next
    // fetcher (a restarted scraper) finds it.
    let next = BrowserFetcher::new(remote_settings(devtools, shop)).expect("no executable needed");
    let page = next.fetch(&url(&format!("http://127.0.0.1:{shop}/js"))).await.expect("the browser still runs");
    assert!(page.body.contains(r#"content="24.99""#), "{}", page.body);
    next.shut_down().await;
    chromium.kill().await;
}

#[tokio::test]
async fn the_address_guard_holds_over_the_remote_connection() {
    let devtools = free_port();
    let chromium = RemoteChromium::start(devtools).await;
    let (internal, internal_hits) = internal_service().await;
    let shop = shop(internal).await;
    let browser = BrowserFetcher::new(remote_settings(devtools, shop)).expect("no executable needed");

    // The shop itself renders (its origin is exempt)...
    let page = browser.fetch(&url(&format!("http://127.0.0.1:{shop}/js"))).await.expect("rendered");
    assert!(page.body.contains(r#"content="24.99""#), "{}", page.body);

    // ...but the internal service is refused: asked for directly, reached by a redirect (the
    // interception in the remote browser), or by the page's own frames, scripts and fetches.
    for target in [format!("http://127.0.0.1:{internal}/"), "http://169.254.169.254/latest/meta-data/".to_owned()] {
        let err = browser.fetch(&url(&target)).await.expect_err("refused");
        assert!(matches!(err, FetchError::PrivateAddress { .. }), "{target}: {err:?}");
    }
    let err = browser.fetch(&url(&format!("http://127.0.0.1:{shop}/redirect-inside"))).await.expect_err("refused");
    assert!(matches!(err, FetchError::PrivateAddress { .. }), "{err:?}");
    let page = browser.fetch(&url(&format!("http://127.0.0.1:{shop}/reaches-inside"))).await.expect("rendered");
    assert!(page.body.contains("5,00 €"));
    assert_eq!(internal_hits.load(Ordering::SeqCst), 0, "a request reached the internal service");
    // Frame, script and the two fetches.
    assert!(browser.stats().requests_refused >= 4, "{:?}", browser.stats());

    browser.shut_down().await;
    chromium.kill().await;
}

#[tokio::test]
async fn reconnects_when_the_remote_browser_restarts() {
    let devtools = free_port();
    let chromium = RemoteChromium::start(devtools).await;
    let (internal, _) = internal_service().await;
    let shop = shop(internal).await;
    let browser = BrowserFetcher::new(remote_settings(devtools, shop)).expect("no executable needed");
    let page = url(&format!("http://127.0.0.1:{shop}/js"));
    browser.fetch(&page).await.expect("rendered");

    // The sidecar restarts: the connection is lost, and the next check meets a new browser.
    chromium.kill().await;
    let down = browser.fetch(&page).await.expect_err("no browser while it restarts");
    assert!(matches!(down, FetchError::Network { .. }), "{down:?}");
    let chromium = RemoteChromium::start(devtools).await;
    let rendered = browser.fetch(&page).await.expect("rendered after the restart");
    assert!(rendered.body.contains(r#"content="24.99""#));
    assert_eq!(browser.stats().browsers_launched, 2, "{:?}", browser.stats());

    browser.shut_down().await;
    chromium.kill().await;
}

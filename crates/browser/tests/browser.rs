//! The browser fetcher against real Chromium (Debian's `chromium`, installed by
//! `scripts/test.sh`) and shops served on 127.0.0.1.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect};
use axum::routing::get;
use pricetrack_browser::{BrowserFetcher, BrowserSettings, DEFAULT_EXECUTABLE};
use pricetrack_domain::ProductUrl;
use pricetrack_scraper::{FetchError, PageFetcher};

/// Requests that reached a server, and the `Cookie` headers they carried.
#[derive(Clone, Default)]
struct Seen {
    hits: Arc<AtomicUsize>,
    cookies: Arc<std::sync::Mutex<Vec<String>>>,
}

async fn serve(router: Router) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    port
}

/// A server that must never be reached: it counts every request.
async fn internal_service() -> (u16, Seen) {
    let seen = Seen::default();
    let router = Router::new().fallback(|State(seen): State<Seen>| async move {
        seen.hits.fetch_add(1, Ordering::SeqCst);
        "internal secret"
    });
    (serve(router.with_state(seen.clone())).await, seen)
}

/// A page whose price a script fetches from `/api/price` and draws (shared with the benchmark).
const JS_PAGE: &str = include_str!("js_price.html");

/// The bundle of the single-page-app fixture: asks the API, then draws the product and its
/// structured data, as such apps do.
const SPA_BUNDLE: &str = r#"
fetch(window.__APP_CONFIG__.apiBase + '/products/t9').then(r => r.json()).then(p => {
  document.getElementById('root').innerHTML =
    '<h1>' + p.name + '</h1><p class="price">$' + p.price + '</p>';
  const ld = document.createElement('script');
  ld.type = 'application/ld+json';
  ld.textContent = JSON.stringify({"@context": "https://schema.org", "@type": "Product", "name": p.name,
    "offers": {"@type": "Offer", "price": p.price, "priceCurrency": p.currency,
               "availability": "https://schema.org/InStock"}});
  document.head.appendChild(ld);
});
"#;

const SET_STATE: &str = r#"<!doctype html><html><body><script>
localStorage.setItem('tracker', 'from-first-check');
sessionStorage.setItem('tracker', 'from-first-check');
document.cookie = 'js_cookie=from-first-check; path=/';
</script>state set</body></html>"#;

const SHOW_STATE: &str = r#"<!doctype html><html><body><pre id="state"></pre><script>
document.getElementById('state').textContent =
  'cookie=[' + document.cookie + '] local=[' + localStorage.getItem('tracker') + '] session=[' + sessionStorage.getItem('tracker') + ']';
</script></body></html>"#;

/// The shop: a JavaScript page, state setters and readers, redirects and requests to the
/// internal service, slow and failing pages.
async fn shop(internal_port: u16) -> (u16, Seen) {
    let seen = Seen::default();
    let router = Router::new()
        .route("/js", get(|| async { Html(JS_PAGE) }))
        .route("/spa", get(|| async { Html(include_str!("../../extract/tests/fixtures/js_rendered_spa.html")) }))
        .route("/static/js/main.4f2a9c.js", get(|| async { ([(header::CONTENT_TYPE, "text/javascript")], SPA_BUNDLE) }))
        .route(
            "/api/v2/products/t9",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    r#"{"name":"Smart Thermostat T9","price":"199.99","currency":"USD"}"#,
                )
            }),
        )
        .route("/api/price", get(|| async { ([(header::CONTENT_TYPE, "application/json")], r#"{"amount":"24.99"}"#) }))
        .route(
            "/set-state",
            get(|| async { ([(header::SET_COOKIE, "server_cookie=from-first-check; Path=/")], Html(SET_STATE)) }),
        )
        .route(
            "/show-state",
            get(|State(seen): State<Seen>, headers: HeaderMap| async move {
                if let Some(cookie) = headers.get(header::COOKIE).and_then(|v| v.to_str().ok()) {
                    seen.cookies.lock().expect("lock").push(cookie.to_owned());
                }
                Html(SHOW_STATE)
            }),
        )
        .route(
            "/redirect-inside",
            get(move || async move { Redirect::temporary(&format!("http://127.0.0.1:{internal_port}/secret")) }),
        )
        .route("/redirect-metadata", get(|| async { Redirect::temporary("http://169.254.169.254/latest/meta-data/") }))
        .route("/redirect-file", get(|| async { Redirect::temporary("file:///etc/passwd") }))
        .route("/hop/{n}", get(|Path(n): Path<u32>| async move { Redirect::temporary(&format!("/hop/{}", n + 1)) }))
        .route(
            "/reaches-inside",
            get(move || async move {
                Html(format!(
                    r#"<!doctype html><html><body><p>Gadget <span itemprop="price" content="5.00">5,00 €</span></p>
<iframe src="http://localhost:{internal_port}/frame"></iframe>
<script src="http://127.0.0.1:{internal_port}/script.js"></script>
<script>
fetch('http://127.0.0.1:{internal_port}/api').catch(() => {{}});
fetch('http://169.254.169.254/latest/meta-data/').catch(() => {{}});
fetch('http://2130706433:{internal_port}/numeric').catch(() => {{}});
new Image().src = 'http://127.0.0.1:{internal_port}/pixel.png';
</script></body></html>"#
                ))
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                "late"
            }),
        )
        .route(
            "/busy",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "7")], "come back later") }),
        )
        .route("/gone", get(|| async { (StatusCode::NOT_FOUND, Html("<p>no such product</p>")) }))
        .layer(axum::middleware::from_fn_with_state(seen.clone(), count))
        .with_state(seen.clone());
    (serve(router).await, seen)
}

async fn count(
    State(seen): State<Seen>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> impl IntoResponse {
    seen.hits.fetch_add(1, Ordering::SeqCst);
    next.run(request).await
}

/// Settings with the guard on for everything but the shop's own origin.
fn settings(shop_port: u16) -> BrowserSettings {
    assert!(
        std::path::Path::new(DEFAULT_EXECUTABLE).is_file(),
        "Chromium is missing at {DEFAULT_EXECUTABLE}: install it with `apt-get install -y chromium` \
         (scripts/test.sh does)"
    );
    BrowserSettings {
        exempt_origins: vec![format!("http://127.0.0.1:{shop_port}")],
        page_deadline: Duration::from_secs(20),
        ..BrowserSettings::default()
    }
}

fn url(raw: &str) -> ProductUrl {
    ProductUrl::parse(raw).expect("url")
}

#[tokio::test]
async fn renders_a_price_drawn_by_javascript() {
    let (internal, _) = internal_service().await;
    let (port, _) = shop(internal).await;
    let browser = BrowserFetcher::new(settings(port)).expect("chromium");
    let page = browser.fetch(&url(&format!("http://127.0.0.1:{port}/js"))).await.expect("rendered");
    assert!(page.body.contains(r#"content="24.99""#), "{}", page.body);
    assert_eq!(page.status, 200);
    assert_eq!(page.final_url.path(), "/js");
    // The static HTML has no price: only the rendered one does.
    let offer = pricetrack_extract::extract_offer(&page.body, Some(&page.final_url)).expect("offer");
    assert_eq!(offer.price.expect("price").amount.to_string(), "24.99");
    // The page and its API call went through the guard's proxy, which resolves and checks
    // every destination at connection time (its own tests show the refusals).
    assert!(browser.stats().connections_proxied >= 2, "{:?}", browser.stats());
    browser.shut_down().await;
}

#[tokio::test]
async fn the_single_page_app_fixture_renders_to_its_price() {
    let (internal, _) = internal_service().await;
    let (port, _) = shop(internal).await;
    let browser = BrowserFetcher::new(settings(port)).expect("chromium");
    let spa = include_str!("../../extract/tests/fixtures/js_rendered_spa.html");
    assert!(pricetrack_extract::extract_offer(spa, None).is_err(), "the static HTML has no price");

    let page = browser.fetch(&url(&format!("http://127.0.0.1:{port}/spa"))).await.expect("rendered");
    let offer = pricetrack_extract::extract_offer(&page.body, Some(&page.final_url)).expect("offer");
    let price = offer.price.expect("price");
    assert_eq!(
        (price.amount.to_string(), price.currency.map(|c| c.to_string())),
        ("199.99".into(), Some("USD".into()))
    );
    assert_eq!(offer.method.as_str(), "json-ld");
    assert_eq!(offer.title.as_deref(), Some("Smart Thermostat T9"));
    browser.shut_down().await;
}

#[tokio::test]
async fn tabs_are_reused_and_bounded() {
    let (internal, _) = internal_service().await;
    let (port, _) = shop(internal).await;
    let browser = BrowserFetcher::new(BrowserSettings { max_tabs: 2, ..settings(port) }).expect("chromium");
    let page = url(&format!("http://127.0.0.1:{port}/js"));
    for _ in 0..4 {
        browser.fetch(&page).await.expect("rendered");
    }
    let stats = browser.stats();
    assert_eq!((stats.browsers_launched, stats.tabs_opened, stats.pages_rendered), (1, 1, 4), "{stats:?}");

    // Six at once through two tabs: never more than two tabs.
    let checks = (0..6).map(|_| {
        let browser = browser.clone();
        let page = page.clone();
        async move { browser.fetch(&page).await.map(|p| p.body.contains("24.99")) }
    });
    for result in futures::future::join_all(checks).await {
        assert!(result.expect("rendered"));
    }
    let stats = browser.stats();
    assert_eq!(stats.browsers_launched, 1, "{stats:?}");
    assert!(stats.tabs_opened <= 2, "{stats:?}");
    assert_eq!(stats.pages_rendered, 10, "{stats:?}");
    browser.shut_down().await;
}

#[tokio::test]
async fn a_crashed_browser_is_replaced() {
    let (internal, _) = internal_service().await;
    let (port, _) = shop(internal).await;
    let browser = BrowserFetcher::new(settings(port)).expect("chromium");
    let page = url(&format!("http://127.0.0.1:{port}/js"));
    browser.fetch(&page).await.expect("rendered");
    let first = browser.browser_pid().await.expect("running");

    let killed = std::process::Command::new("kill").args(["-9", &first.to_string()]).status().expect("kill");
    assert!(killed.success());
    tokio::time::sleep(Duration::from_millis(300)).await;

    let rendered = browser.fetch(&page).await.expect("rendered on a new browser");
    assert!(rendered.body.contains("24.99"));
    let second = browser.browser_pid().await.expect("running again");
    assert_ne!(first, second);
    assert_eq!(browser.stats().browsers_launched, 2);
    browser.shut_down().await;
}

#[tokio::test]
async fn nothing_of_one_check_reaches_the_next() {
    let (internal, _) = internal_service().await;
    let (port, seen) = shop(internal).await;
    let browser = BrowserFetcher::new(BrowserSettings { max_tabs: 1, ..settings(port) }).expect("chromium");
    browser.fetch(&url(&format!("http://127.0.0.1:{port}/set-state"))).await.expect("rendered");
    let page = browser.fetch(&url(&format!("http://127.0.0.1:{port}/show-state"))).await.expect("rendered");
    assert_eq!(browser.stats().tabs_opened, 1, "the same tab served both checks");
    assert!(page.body.contains("cookie=[] local=[null] session=[null]"), "{}", page.body);
    assert!(seen.cookies.lock().expect("lock").is_empty(), "the shop received a cookie of the previous check");
    browser.shut_down().await;
}

#[tokio::test]
async fn internal_targets_are_refused_without_being_contacted() {
    let (internal, internal_seen) = internal_service().await;
    let (port, _) = shop(internal).await;
    let browser = BrowserFetcher::new(settings(port)).expect("chromium");
    for target in [
        format!("http://127.0.0.1:{internal}/"),
        format!("http://localhost:{internal}/"),
        format!("http://2130706433:{internal}/"),
        format!("http://0x7f000001:{internal}/"),
        format!("http://[::ffff:127.0.0.1]:{internal}/"),
        format!("http://[::1]:{internal}/"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://10.0.0.1/".to_owned(),
        "http://100.64.0.1/".to_owned(),
        "http://[fd00::1]/".to_owned(),
    ] {
        let err = browser.fetch(&url(&target)).await.expect_err("refused");
        assert!(matches!(err, FetchError::PrivateAddress { .. }), "{target}: {err:?}");
        assert!(err.to_check_failure().to_string().starts_with("refused to fetch the page"), "{err}");
    }
    assert_eq!(internal_seen.hits.load(Ordering::SeqCst), 0);
    // Refused before the browser was needed at all.
    assert_eq!(browser.stats().browsers_launched, 0);
}

#[tokio::test]
async fn redirects_inside_are_refused_by_interception() {
    let (internal, internal_seen) = internal_service().await;
    let (port, _) = shop(internal).await;
    let browser = BrowserFetcher::new(settings(port)).expect("chromium");
    for path in ["/redirect-inside", "/redirect-metadata"] {
        let err = browser.fetch(&url(&format!("http://127.0.0.1:{port}{path}"))).await.expect_err("refused");
        assert!(matches!(err, FetchError::PrivateAddress { .. }), "{path}: {err:?}");
    }
    let err = browser.fetch(&url(&format!("http://127.0.0.1:{port}/redirect-file"))).await.expect_err("refused");
    assert!(err.is_forbidden(), "{err:?}");
    let err = browser.fetch(&url(&format!("http://127.0.0.1:{port}/hop/0"))).await.expect_err("too many");
    assert!(matches!(err, FetchError::TooManyRedirects { max: 5 }), "{err:?}");
    assert_eq!(internal_seen.hits.load(Ordering::SeqCst), 0);
    browser.shut_down().await;
}

#[tokio::test]
async fn requests_a_page_makes_inside_are_refused() {
    let (internal, internal_seen) = internal_service().await;
    let (port, _) = shop(internal).await;
    let browser = BrowserFetcher::new(settings(port)).expect("chromium");
    let page = browser.fetch(&url(&format!("http://127.0.0.1:{port}/reaches-inside"))).await.expect("rendered");
    assert!(page.body.contains("5,00 €"));
    assert_eq!(internal_seen.hits.load(Ordering::SeqCst), 0, "a request reached the internal service");
    // Frame, script, two fetches to loopback, metadata (the image is skipped, not refused).
    assert!(browser.stats().requests_refused >= 4, "{:?}", browser.stats());
    browser.shut_down().await;
}

#[tokio::test]
async fn slow_pages_statuses_and_slow_down_answers() {
    let (internal, _) = internal_service().await;
    let (port, _) = shop(internal).await;
    let browser = BrowserFetcher::new(BrowserSettings { page_deadline: Duration::from_secs(2), ..settings(port) })
        .expect("chromium");
    let started = std::time::Instant::now();
    let err = browser.fetch(&url(&format!("http://127.0.0.1:{port}/slow"))).await.expect_err("times out");
    assert!(matches!(err, FetchError::Timeout { secs: 2 }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(10));

    let err = browser.fetch(&url(&format!("http://127.0.0.1:{port}/gone"))).await.expect_err("404");
    assert!(matches!(err, FetchError::Status { status: 404 }), "{err:?}");
    let err = browser.fetch(&url(&format!("http://127.0.0.1:{port}/busy"))).await.expect_err("503");
    assert!(
        matches!(err, FetchError::SlowDown { status: 503, retry_after: Some(d) } if d == Duration::from_secs(7)),
        "{err:?}"
    );
    // The pool still works after a timed-out tab was thrown away.
    browser.fetch(&url(&format!("http://127.0.0.1:{port}/js"))).await.expect("rendered");
    browser.shut_down().await;
}

#[test]
fn a_missing_browser_is_reported_clearly() {
    let err = BrowserFetcher::new(BrowserSettings {
        executable: "/nonexistent/chromium".into(),
        ..BrowserSettings::default()
    })
    .expect_err("missing");
    assert!(err.to_string().contains("no browser at /nonexistent/chromium"), "{err}");
    assert!(err.to_string().contains("JavaScript"), "{err}");
}

//! The pricetrack web dashboard: a small static front end (HTML, one JavaScript module, CSS and
//! the vendored uPlot chart library) that calls the JSON API under `/api/v1` from the same origin.
//!
//! Every file is embedded in the binary at compile time; nothing is built with Node or a bundler.
//! Assets are served under names that carry a hash of their content (`/assets/app.3f2a9c1b04.js`),
//! so they can be cached for a year; the page at `/` names the current ones and is never cached.
//! Every response carries a strict Content-Security-Policy (same-origin scripts, styles and
//! connections only, no inline script, no framing), `X-Content-Type-Options: nosniff` and
//! `Referrer-Policy: no-referrer`.
//!
//! [`with_dashboard`] puts the dashboard in front of the API's router: `/` and `/assets/…` are the
//! dashboard's, every other path goes to the API unchanged.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

/// The Content-Security-Policy of every dashboard response. uPlot styles its elements through
/// the CSSOM (`element.style`), which `style-src 'self'` allows; no inline `<script>` or
/// `style` attribute exists in the markup.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; \
frame-ancestors 'none'";

/// `Cache-Control` of hashed assets: their name changes whenever their content does.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// The file's own name (`app.js`).
    pub name: &'static str,
    /// The name it is served under, with the first 10 hex digits of its SHA-256 (`app.3f2a9c1b04.js`).
    pub hashed_name: String,
    /// Its bytes.
    pub bytes: &'static [u8],
    /// Its media type.
    pub content_type: &'static str,
}

/// The files a page loads, in the order the page names them.
const SOURCES: [(&str, &[u8], &str); 4] = [
    ("uPlot.min.css", include_bytes!("../vendor/uplot-1.6.32/uPlot.min.css"), "text/css; charset=utf-8"),
    ("style.css", include_bytes!("../assets/style.css"), "text/css; charset=utf-8"),
    ("uPlot.iife.min.js", include_bytes!("../vendor/uplot-1.6.32/uPlot.iife.min.js"), "text/javascript; charset=utf-8"),
    ("app.js", include_bytes!("../assets/app.js"), "text/javascript; charset=utf-8"),
];

/// The icon, an SVG drawn for the dashboard.
const ICON: (&str, &[u8], &str) = ("icon.svg", include_bytes!("../assets/icon.svg"), "image/svg+xml");

/// The page's template: `{name}` placeholders become hashed asset paths.
const INDEX_TEMPLATE: &str = include_str!("../assets/index.html");

/// Every embedded asset, hashed once.
pub static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    SOURCES
        .iter()
        .chain(std::iter::once(&ICON))
        .map(|&(name, bytes, content_type)| Asset { name, hashed_name: hashed_name(name, bytes), bytes, content_type })
        .collect()
});

/// The page at `/`, naming the hashed assets.
pub static INDEX_HTML: LazyLock<String> = LazyLock::new(|| {
    ASSETS.iter().fold(INDEX_TEMPLATE.to_owned(), |page, asset| {
        page.replace(&format!("{{{}}}", asset.name), &format!("/assets/{}", asset.hashed_name))
    })
});

/// `app.js` + its bytes -> `app.<10 hex digits of SHA-256>.js`.
fn hashed_name(name: &str, bytes: &[u8]) -> String {
    let digest = hex::encode(Sha256::digest(bytes));
    match name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.{}.{ext}", &digest[..10]),
        None => format!("{name}.{}", &digest[..10]),
    }
}

/// The dashboard's own routes: `/` and `/assets/{hashed name}`.
pub fn router() -> Router {
    Router::new()
        .route("/", get(index))
        .route("/assets/{file}", get(asset))
        .layer(axum::middleware::map_response(security_headers))
}

/// The dashboard in front of `api`: `/` and `/assets/…` are served here, everything else by `api`.
pub fn with_dashboard(api: Router) -> Router {
    router().fallback_service(api)
}

async fn index() -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        INDEX_HTML.as_str(),
    )
        .into_response()
}

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.hashed_name == file) {
        Some(asset) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type)),
                (header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE)),
            ],
            asset.bytes,
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"))],
            "no such asset",
        )
            .into_response(),
    }
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("same-origin"));
    response
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    /// Most bytes, gzip-compressed, of the JavaScript and CSS one page loads.
    const PAGE_BUDGET_BYTES: usize = 100 * 1024;

    #[test]
    fn vendored_assets_match_their_checksums() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("vendor");
        let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).expect("vendor/SHA256SUMS");
        let mut checked = 0;
        for line in sums.lines().filter(|l| !l.trim().is_empty()) {
            let (expected, file) = line.split_once("  ").expect("`<sha256>  <path>` lines");
            let bytes = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("vendored file {file}: {e}"));
            assert_eq!(hex::encode(Sha256::digest(&bytes)), expected, "{file} differs from its pinned checksum");
            checked += 1;
        }
        assert_eq!(checked, 6, "every vendored file (uPlot, axe-core, their licences) has a checksum");
        // The embedded copy is the vendored one.
        let embedded = ASSETS.iter().find(|a| a.name == "uPlot.iife.min.js").expect("uPlot embedded");
        assert_eq!(embedded.bytes, std::fs::read(dir.join("uplot-1.6.32/uPlot.iife.min.js")).expect("uPlot"));
    }

    #[test]
    fn javascript_and_css_stay_under_100_kb_compressed() {
        let mut total = 0;
        for asset in ASSETS.iter().filter(|a| a.name.ends_with(".js") || a.name.ends_with(".css")) {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(asset.bytes).expect("gzip");
            total += gz.finish().expect("gzip").len();
        }
        assert!(total < PAGE_BUDGET_BYTES, "the page's JavaScript and CSS are {total} bytes compressed");
    }

    #[test]
    fn the_page_names_every_asset_by_its_hash_and_has_no_inline_script() {
        for asset in ASSETS.iter() {
            assert!(INDEX_HTML.contains(&format!("/assets/{}", asset.hashed_name)), "{} not linked", asset.name);
        }
        assert!(!INDEX_HTML.contains('{'), "an unreplaced placeholder is left in the page");
        for script in INDEX_HTML.split("<script").skip(1) {
            assert!(script.trim_start().starts_with("src=") || script.contains(" src="), "inline script: {script}");
        }
        assert!(!INDEX_HTML.contains(" style="), "inline style attribute in the page");
    }

    async fn get(app: Router, path: &str) -> Response {
        app.oneshot(Request::get(path).body(Body::empty()).expect("request")).await.expect("response")
    }

    #[tokio::test]
    async fn page_and_assets_carry_the_security_and_cache_headers() {
        let api = Router::new().route("/api/v1/ping", axum::routing::get(|| async { "pong" }));
        let app = with_dashboard(api);

        let page = get(app.clone(), "/").await;
        assert_eq!(page.status(), StatusCode::OK);
        let h = page.headers();
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], CONTENT_SECURITY_POLICY);
        assert!(CONTENT_SECURITY_POLICY.contains("frame-ancestors 'none'"));
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"));
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
        assert_eq!(h[header::CACHE_CONTROL], "no-cache");

        let app_js = ASSETS.iter().find(|a| a.name == "app.js").expect("app.js");
        let js = get(app.clone(), &format!("/assets/{}", app_js.hashed_name)).await;
        assert_eq!(js.status(), StatusCode::OK);
        assert_eq!(js.headers()[header::CACHE_CONTROL], IMMUTABLE);
        assert_eq!(js.headers()[header::CONTENT_TYPE], "text/javascript; charset=utf-8");
        assert_eq!(js.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");

        assert_eq!(get(app.clone(), "/assets/app.js").await.status(), StatusCode::NOT_FOUND, "unhashed names");
        assert_eq!(get(app, "/api/v1/ping").await.status(), StatusCode::OK, "the API is reached behind it");
    }
}

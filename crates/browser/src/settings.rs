//! How the browser fetcher behaves.

use std::path::PathBuf;
use std::time::Duration;

/// Where Debian's `chromium` package installs the browser (the default of
/// `PRICETRACK_BROWSER_PATH`).
pub const DEFAULT_EXECUTABLE: &str = pricetrack_settings::DEFAULT_BROWSER_PATH;

/// Settings of a [`crate::BrowserFetcher`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserSettings {
    /// The Chromium (or Chrome) executable. Default [`DEFAULT_EXECUTABLE`].
    pub executable: PathBuf,
    /// Most pages rendered at once, which is also the most tabs kept open for reuse. Measured
    /// (BENCHMARKS.md): the browser takes some 400 MiB and each tab about 150 MiB more (its own
    /// browser context has its own renderer processes), so the default of 3 keeps the peak of
    /// the whole scraper under 1 GiB.
    pub max_tabs: usize,
    /// Longest time for one page: navigation, redirects, scripts and reading the result.
    /// Default 30 s.
    pub page_deadline: Duration,
    /// After the page's load event, how long the network must stay quiet (no request in flight)
    /// before the page counts as rendered: prices drawn from an API call arrive in that window.
    /// Default 300 ms.
    pub network_quiet: Duration,
    /// The longest wait for that quiet after the load event (pages that poll forever are read
    /// as they are then). Default 5 s.
    pub max_settle: Duration,
    /// The `User-Agent` the browser sends: honest, as for static fetches.
    pub user_agent: String,
    /// Most redirects the main document may follow. Default 5, as for static fetches.
    pub max_redirects: usize,
    /// Largest rendered document accepted, in bytes. Default 5 MiB, as for static fetches.
    pub max_document_bytes: usize,
    /// Lets pages reach loopback, private and link-local addresses (tests and local demos only).
    pub allow_private_targets: bool,
    /// Origins such as `http://127.0.0.1:8080` that are allowed even though they are on an
    /// internal network, while the guard stays on for every other address. For tests and demos
    /// that serve a shop locally and still want the guard to hold. Empty by default.
    pub exempt_origins: Vec<String>,
    /// Runs Chromium with its sandbox. Chromium refuses to start sandboxed as root and in most
    /// containers (no user namespaces), so it is off by default; the SSRF guard, the absence of
    /// any credentials in the browser and the throw-away profile are the defences that remain.
    pub sandbox: bool,
    /// The DevTools endpoint (`http://127.0.0.1:9222`, or a `ws://` URL) of a Chromium that runs
    /// on its own, such as the browser sidecar of the scraper pod: the fetcher connects to it
    /// instead of launching one, and connects again when that browser restarts. `None` (the
    /// default, and single-process mode) launches [`BrowserSettings::executable`]. The sidecar
    /// exists so that the process rendering untrusted pages holds no AWS credentials
    /// (docs/browser-isolation.md).
    pub remote: Option<String>,
}

impl Default for BrowserSettings {
    fn default() -> Self {
        Self {
            executable: PathBuf::from(DEFAULT_EXECUTABLE),
            max_tabs: pricetrack_settings::DEFAULT_BROWSER_TABS,
            page_deadline: Duration::from_secs(30),
            network_quiet: Duration::from_millis(300),
            max_settle: Duration::from_secs(5),
            user_agent: pricetrack_scraper::StaticFetcherSettings::default_user_agent(),
            max_redirects: 5,
            max_document_bytes: 5 * 1024 * 1024,
            allow_private_targets: false,
            exempt_origins: Vec::new(),
            sandbox: false,
            remote: None,
        }
    }
}

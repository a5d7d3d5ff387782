//! The browser fetcher: one Chromium per process, launched on first use and again if it dies,
//! and a bounded pool of tabs reused from check to check.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chromiumoxide::browser::Browser;
use chromiumoxide::cdp::browser_protocol::storage::{ClearCookiesParams, ClearDataForOriginParams};
use chromiumoxide::cdp::browser_protocol::target::{CreateBrowserContextParams, CreateTargetParams};
use chromiumoxide::error::CdpError;
use chromiumoxide::handler::HandlerConfig;
use chromiumoxide::handler::viewport::Viewport;
use futures::StreamExt;
use pricetrack_domain::ProductUrl;
use pricetrack_domain::ports::BackendError;
use pricetrack_metrics::names;
use pricetrack_scraper::{FetchError, FetchedPage, GuardError, PageFetcher};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use url::Url;

use crate::guard::RequestGuard;
use crate::proxy::{GuardProxy, ProxyCounters};
use crate::settings::BrowserSettings;
use crate::tab::{Tab, wait_for_network_quiet};

/// Longest time for putting a tab back in order after a check.
const RESET_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// Longest time for a browser we launch to start listening for DevTools.
const LAUNCH_DEADLINE: std::time::Duration = std::time::Duration::from_secs(20);

/// Longest time for connecting to a remote browser: one that does not answer by then is down
/// or restarting, and the check fails as a network error rather than waiting.
const CONNECT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// The browser could not be started.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    /// No executable at the configured path.
    #[error(
        "no browser at {path}: pages that draw their price with JavaScript cannot be read (install Debian's `chromium` package or set PRICETRACK_BROWSER_PATH)"
    )]
    NotInstalled {
        /// The configured path.
        path: String,
    },
    /// Chromium did not start.
    #[error("the browser did not start")]
    Launch(#[source] BackendError),
    /// The browser at `PRICETRACK_BROWSER_URL` did not answer (not started yet, or restarting).
    #[error("could not connect to the browser at {url}")]
    Connect {
        /// The configured DevTools endpoint.
        url: String,
        /// Why.
        #[source]
        source: BackendError,
    },
}

/// Counters for operations and tests: how the pool is used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Browsers started, or connections made to a remote browser (more than one means the
    /// browser died, or the connection was lost, and it was replaced).
    pub browsers_launched: u64,
    /// Tabs opened (fewer than pages rendered means tabs are reused).
    pub tabs_opened: u64,
    /// Pages rendered, successfully or not.
    pub pages_rendered: u64,
    /// Requests the guard refused by interception.
    pub requests_refused: u64,
    /// Connections the guard's proxy refused: a name that passed interception but resolved
    /// inside when the browser connected.
    pub connections_refused: u64,
    /// Connections the guard's proxy made for the browser (all of them go through it).
    pub connections_proxied: u64,
}

/// A running browser.
struct Running {
    browser: tokio::sync::Mutex<Browser>,
    /// The Chromium process, when we launched it (killed when dropped).
    child: Option<tokio::sync::Mutex<tokio::process::Child>>,
    alive: Arc<AtomicBool>,
    generation: u64,
    pid: Option<u32>,
    handler: JoinHandle<()>,
    /// `Some(proxy-server)` when connected to a browser we did not launch: that browser was not
    /// started with our proxy flag, so each browser context we create is told to use our guard's
    /// proxy instead. `None` when we launched it (the flag covers every context).
    context_proxy: Option<String>,
    /// The throw-away profile directory, removed when the browser is dropped (none for a remote
    /// browser: its profile lives in its own container).
    _profile: Option<tempfile::TempDir>,
    /// The proxy all the browser's connections go through (stops when dropped).
    _proxy: GuardProxy,
}

impl Running {
    async fn is_alive(&self) -> bool {
        if !self.alive.load(Ordering::SeqCst) {
            return false;
        }
        let Some(child) = &self.child else {
            // A remote browser: the connection's handler says when it is lost.
            return true;
        };
        match child.lock().await.try_wait() {
            Ok(None) => true,
            _ => {
                self.alive.store(false, Ordering::SeqCst);
                false
            }
        }
    }

    async fn shut_down(&self) {
        self.alive.store(false, Ordering::SeqCst);
        if self.context_proxy.is_some() {
            // Not ours to close: the browser serves the next connection (and the next scraper
            // after a restart). Dropping the connection disposes of our browser contexts, and
            // with them our tabs (they were created with `disposeOnDetach`).
            self.handler.abort();
            return;
        }
        {
            let mut browser = self.browser.lock().await;
            // Errors only mean it is already gone.
            let _closed = tokio::time::timeout(RESET_DEADLINE, browser.close()).await;
        }
        if let Some(child) = &self.child {
            let mut child = child.lock().await;
            let _killed = child.kill().await;
        }
        self.handler.abort();
    }
}

/// A tab lent to one check, with its place in the pool.
struct Lease {
    tab: Tab,
    /// The browser the tab lives in.
    running: Arc<Running>,
    _permit: BusyTab,
}

/// A place in the tab pool, counted in the busy-tabs gauge while it is held.
struct BusyTab(#[allow(dead_code, reason = "held for its drop: the place is given back")] OwnedSemaphorePermit);

impl BusyTab {
    fn new(permit: OwnedSemaphorePermit) -> Self {
        metrics::gauge!(names::BROWSER_TABS_BUSY).increment(1.0);
        Self(permit)
    }
}

impl Drop for BusyTab {
    fn drop(&mut self) {
        metrics::gauge!(names::BROWSER_TABS_BUSY).decrement(1.0);
    }
}

/// How a render failed.
enum RenderFailure {
    /// Something about the page: report it, keep the tab.
    Page(FetchError),
    /// The browser is gone or not answering: replace it and try once more.
    Browser(CdpError),
}

struct Inner {
    settings: BrowserSettings,
    guard: RequestGuard,
    tabs: Arc<Semaphore>,
    idle: Mutex<Vec<Tab>>,
    running: tokio::sync::Mutex<Option<Arc<Running>>>,
    generations: AtomicU64,
    tabs_opened: AtomicU64,
    pages_rendered: AtomicU64,
    requests_refused: AtomicU64,
    proxy: Arc<ProxyCounters>,
}

/// A [`PageFetcher`] that renders pages in headless Chromium, for shops that draw their price
/// with JavaScript.
///
/// - **One browser per process**, started at the first page (a process that never needs it
///   never pays its 300 MB), with its own throw-away profile directory, and started again when
///   it dies: a check that meets a dead browser is retried once on a new one.
/// - **A bounded pool of tabs** ([`BrowserSettings::max_tabs`]): a check borrows a tab, and gives
///   it back once it has been reset (blank page, cookies of its browser context and storage of
///   every origin it loaded cleared). Each tab has its own browser context, so tabs in use at
///   the same time share nothing either. A tab that times out or fails to reset is closed.
/// - **The address guard through request interception**: every request a page makes — the
///   document, each redirect hop, frames, scripts, XHR — is paused and refused unless its
///   scheme is http(s) and every address its host resolves to is public (the static fetcher's
///   rules). Images, media and fonts are not loaded at all.
/// - **The same guard at connection time**: Chromium connects only through a proxy of ours on
///   127.0.0.1 that resolves each name itself, refuses it when an address is internal, and
///   connects to the addresses it checked, so DNS rebinding between the interception's check and
///   the browser's connection cannot reach inside.
/// - **A deadline per page** ([`BrowserSettings::page_deadline`]) covering navigation and the
///   wait for the network to go quiet.
#[derive(Clone)]
pub struct BrowserFetcher {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for BrowserFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrowserFetcher").field("settings", &self.inner.settings).finish_non_exhaustive()
    }
}

impl BrowserFetcher {
    /// A fetcher with these settings. The browser is not started yet; this only checks that its
    /// executable exists, so that a missing browser is reported once, at start-up.
    pub fn new(settings: BrowserSettings) -> Result<Self, BrowserError> {
        // A remote browser is checked at the first page (it may start after us).
        if settings.remote.is_none() && !settings.executable.is_file() {
            return Err(BrowserError::NotInstalled { path: settings.executable.display().to_string() });
        }
        let guard = RequestGuard::new(settings.allow_private_targets, &settings.exempt_origins);
        #[allow(clippy::cast_precision_loss, reason = "a handful of tabs")]
        metrics::gauge!(names::BROWSER_TABS_MAX).set(settings.max_tabs.max(1) as f64);
        Ok(Self {
            inner: Arc::new(Inner {
                tabs: Arc::new(Semaphore::new(settings.max_tabs.max(1))),
                settings,
                guard,
                idle: Mutex::new(Vec::new()),
                running: tokio::sync::Mutex::new(None),
                generations: AtomicU64::new(0),
                tabs_opened: AtomicU64::new(0),
                pages_rendered: AtomicU64::new(0),
                requests_refused: AtomicU64::new(0),
                proxy: Arc::new(ProxyCounters::default()),
            }),
        })
    }

    /// The settings in use.
    pub fn settings(&self) -> &BrowserSettings {
        &self.inner.settings
    }

    /// How the pool has been used so far.
    pub fn stats(&self) -> PoolStats {
        PoolStats {
            connections_refused: self.inner.proxy.refused.load(Ordering::SeqCst),
            connections_proxied: self.inner.proxy.forwarded.load(Ordering::SeqCst),
            browsers_launched: self.inner.generations.load(Ordering::SeqCst),
            tabs_opened: self.inner.tabs_opened.load(Ordering::SeqCst),
            pages_rendered: self.inner.pages_rendered.load(Ordering::SeqCst),
            requests_refused: self.inner.requests_refused.load(Ordering::SeqCst),
        }
    }

    /// The process id of the running browser, if one runs.
    pub async fn browser_pid(&self) -> Option<u32> {
        self.inner.running.lock().await.as_ref().and_then(|running| running.pid)
    }

    /// Starts the browser now rather than at the first page (so that a broken installation shows
    /// at start-up, and benchmarks measure pages, not the launch).
    pub async fn warm_up(&self) -> Result<(), BrowserError> {
        self.inner.browser().await.map(drop)
    }

    /// Closes the browser. The next page starts a new one.
    pub async fn shut_down(&self) {
        self.inner.idle.lock().unwrap_or_else(PoisonError::into_inner).clear();
        if let Some(running) = self.inner.running.lock().await.take() {
            running.shut_down().await;
        }
    }
}

impl Inner {
    /// The running browser, started (again) if there is none or it died.
    async fn browser(&self) -> Result<Arc<Running>, BrowserError> {
        let mut slot = self.running.lock().await;
        if let Some(running) = slot.as_ref() {
            if running.is_alive().await {
                return Ok(Arc::clone(running));
            }
            tracing::warn!(pid = running.pid, "the browser died; starting a new one");
            metrics::counter!(names::BROWSER_RESTARTS, "reason" => "died").increment(1);
            running.shut_down().await;
        }
        let running = Arc::new(match &self.settings.remote {
            Some(url) => self.connect(url).await?,
            None => self.launch().await?,
        });
        *slot = Some(Arc::clone(&running));
        Ok(running)
    }

    async fn launch(&self) -> Result<Running, BrowserError> {
        let launch_error = |e: Box<dyn std::error::Error + Send + Sync>| BrowserError::Launch(e);
        let profile =
            tempfile::Builder::new().prefix("pricetrack-browser-").tempdir().map_err(|e| launch_error(e.into()))?;
        let proxy = GuardProxy::start(self.guard.proxy_policy(), Arc::clone(&self.proxy))
            .await
            .map_err(|e| launch_error(e.into()))?;
        let mut args = chromium_args(profile.path(), proxy.addr());
        if !self.settings.sandbox {
            args.extend(["--no-sandbox".to_owned(), "--disable-setuid-sandbox".to_owned()]);
        }
        // Launched by us rather than by chromiumoxide, which cannot clear the environment: the
        // browser renders untrusted pages and gets nothing of ours (no AWS_* credentials, no
        // PRICETRACK_* secrets such as the JWT secret or a database URL), only what it needs.
        let mut command = tokio::process::Command::new(&self.settings.executable);
        command
            .env_clear()
            .envs(browser_env(profile.path()))
            .args(&args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| launch_error(e.into()))?;
        let pid = child.id();
        let stderr = child.stderr.take().ok_or_else(|| launch_error("no stderr of the browser".into()))?;
        let ws_url = match tokio::time::timeout(LAUNCH_DEADLINE, devtools_url(stderr)).await {
            Ok(Some(url)) => url,
            outcome => {
                // Errors only mean it is already gone.
                let _killed = child.kill().await;
                let why = if outcome.is_err() { "did not listen in time" } else { "exited before listening" };
                return Err(launch_error(format!("the browser {why}").into()));
            }
        };
        let (browser, handler) =
            Browser::connect_with_config(ws_url, self.handler_config()).await.map_err(|e| launch_error(Box::new(e)))?;
        let generation = self.generations.fetch_add(1, Ordering::SeqCst) + 1;
        metrics::counter!(names::BROWSER_LAUNCHES).increment(1);
        let (alive, handler) = drive(handler);
        tracing::info!(pid, generation, "browser started");
        Ok(Running {
            browser: tokio::sync::Mutex::new(browser),
            child: Some(tokio::sync::Mutex::new(child)),
            alive,
            generation,
            pid,
            handler,
            context_proxy: None,
            _profile: Some(profile),
            _proxy: proxy,
        })
    }

    /// What the CDP connection handler does, for a browser launched or connected to alike.
    fn handler_config(&self) -> HandlerConfig {
        HandlerConfig {
            ignore_https_errors: false,
            viewport: Some(Viewport::default()),
            request_timeout: self.settings.page_deadline,
            request_intercept: true,
            cache_enabled: false,
            ..HandlerConfig::default()
        }
    }

    /// Connects to the browser at `url` (`PRICETRACK_BROWSER_URL`), which runs in a process
    /// (a container) of its own without credentials. The guard's proxy still runs here: the
    /// browser reaches it on 127.0.0.1, which containers of one pod share.
    async fn connect(&self, url: &str) -> Result<Running, BrowserError> {
        let connect_error = |source: BackendError| BrowserError::Connect { url: url.to_owned(), source };
        let proxy = GuardProxy::start(self.guard.proxy_policy(), Arc::clone(&self.proxy))
            .await
            .map_err(|e| connect_error(e.into()))?;
        let (browser, handler) =
            tokio::time::timeout(CONNECT_DEADLINE, Browser::connect_with_config(url, self.handler_config()))
                .await
                .map_err(|elapsed| connect_error(elapsed.into()))?
                .map_err(|e| connect_error(Box::new(e)))?;
        let generation = self.generations.fetch_add(1, Ordering::SeqCst) + 1;
        metrics::counter!(names::BROWSER_LAUNCHES).increment(1);
        let (alive, handler) = drive(handler);
        tracing::info!(url, generation, "connected to the browser");
        Ok(Running {
            browser: tokio::sync::Mutex::new(browser),
            child: None,
            alive,
            generation,
            pid: None,
            handler,
            context_proxy: Some(format!("http://{}", proxy.addr())),
            _profile: None,
            _proxy: proxy,
        })
    }

    /// Borrows a tab: an idle one of the running browser, or a new one.
    async fn lease(&self) -> Result<Lease, RenderFailure> {
        let permit = BusyTab::new(
            Arc::clone(&self.tabs).acquire_owned().await.map_err(|_| RenderFailure::Browser(CdpError::NoResponse))?,
        );
        let running =
            self.browser().await.map_err(|e| RenderFailure::Page(FetchError::Network { source: Box::new(e) }))?;
        let reusable = {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            // Tabs of a browser that was replaced are dropped here.
            idle.retain(|tab| tab.generation == running.generation);
            idle.pop()
        };
        if let Some(tab) = reusable {
            return Ok(Lease { tab, running, _permit: permit });
        }
        let tab = self.open_tab(&running).await.map_err(RenderFailure::Browser)?;
        self.tabs_opened.fetch_add(1, Ordering::SeqCst);
        Ok(Lease { tab, running, _permit: permit })
    }

    async fn open_tab(&self, running: &Running) -> Result<Tab, CdpError> {
        let browser = running.browser.lock().await;
        let context_params = match &running.context_proxy {
            // Every connection of this context through the guard's proxy, loopback ones
            // included, as the launch flags do for a browser we start; and the context goes
            // away with our connection, so a scraper that dies leaves no tabs behind.
            Some(proxy) => CreateBrowserContextParams::builder()
                .proxy_server(proxy.clone())
                .proxy_bypass_list("<-loopback>")
                .dispose_on_detach(true)
                .build(),
            None => CreateBrowserContextParams::default(),
        };
        let context = browser.create_browser_context(context_params).await?;
        let params = CreateTargetParams::builder()
            .url("about:blank")
            .browser_context_id(context.clone())
            .build()
            .map_err(CdpError::ChromeMessage)?;
        let page = browser.new_page(params).await?;
        drop(browser);
        Tab::open(
            page,
            context,
            running.generation,
            self.guard.clone(),
            &self.settings.user_agent,
            self.settings.max_redirects,
        )
        .await
    }

    /// Gives a tab back after resetting it; closes it when the reset fails.
    async fn give_back(&self, lease: Lease) {
        match tokio::time::timeout(RESET_DEADLINE, self.reset(&lease.tab)).await {
            Ok(Ok(())) => self.idle.lock().unwrap_or_else(PoisonError::into_inner).push(lease.tab),
            Ok(Err(error)) => {
                tracing::debug!(%error, "could not reset a tab; closing it");
                discard(lease);
            }
            Err(_) => discard(lease),
        }
    }

    /// Blank page, then the cookies of the tab's context and the storage of every origin the
    /// check loaded are cleared: nothing of one check reaches the next.
    async fn reset(&self, tab: &Tab) -> Result<(), CdpError> {
        tab.page.goto("about:blank").await?;
        let origins = std::mem::take(&mut tab.state.lock().origins);
        for origin in origins {
            tab.page.execute(ClearDataForOriginParams::new(origin, "all")).await?;
        }
        // On a page's session this clears the cookies of the page's own browser context.
        tab.page.execute(ClearCookiesParams::default()).await?;
        Ok(())
    }

    /// Renders `url` in a leased tab.
    async fn render(&self, tab: &Tab, url: &Url) -> Result<FetchedPage, RenderFailure> {
        tab.state.reset();
        let navigation = tab.page.goto(url.as_str()).await;
        let refusal = tab.state.lock().document_refusal.clone();
        if let Some(refusal) = refusal {
            return Err(RenderFailure::Page(refusal.to_fetch_error(self.settings.max_redirects)));
        }
        if let Err(error) = navigation {
            return Err(self.classify(error, url).await);
        }
        wait_for_network_quiet(&tab.state, self.settings.network_quiet, self.settings.max_settle).await;

        let main_frame = tab.page.mainframe().await.map_err(RenderFailure::Browser)?;
        let document = {
            let observed = tab.state.lock();
            observed.documents.iter().rev().find(|doc| main_frame.is_none() || doc.frame_id == main_frame).cloned()
        };
        // No response seen: a page served from memory.
        let status = document.as_ref().map_or(200, |doc| doc.status);
        if let Some(document) = document {
            if status == 429 || status == 503 {
                let retry_after = document
                    .retry_after
                    .as_deref()
                    .and_then(|v| pricetrack_scraper::parse_retry_after(v, chrono::Utc::now()));
                return Err(RenderFailure::Page(FetchError::SlowDown { status, retry_after }));
            }
            if !(200..300).contains(&status) {
                return Err(RenderFailure::Page(FetchError::Status { status }));
            }
        }
        let body = tab.page.content().await.map_err(RenderFailure::Browser)?;
        if body.len() > self.settings.max_document_bytes {
            return Err(RenderFailure::Page(FetchError::TooLarge { limit: self.settings.max_document_bytes }));
        }
        let final_url = tab
            .page
            .url()
            .await
            .map_err(RenderFailure::Browser)?
            .and_then(|raw| Url::parse(&raw).ok())
            .unwrap_or_else(|| url.clone());
        Ok(FetchedPage { final_url, status, body })
    }

    /// Tells a page failure (reported to the user) from a dead browser (retried).
    async fn classify(&self, error: CdpError, url: &Url) -> RenderFailure {
        let host = url.host_str().unwrap_or_default().to_owned();
        match error {
            CdpError::ChromeMessage(text) => RenderFailure::Page(match text.as_str() {
                t if t.contains("ERR_NAME_NOT_RESOLVED") => FetchError::UnknownHost { host },
                t if t.contains("ERR_CONNECTION_REFUSED") || t.contains("ERR_ADDRESS_UNREACHABLE") => {
                    FetchError::Connect { host }
                }
                t if t.contains("ERR_TIMED_OUT") => {
                    FetchError::Timeout { secs: self.settings.page_deadline.as_secs().max(1) }
                }
                t if t.contains("ERR_TOO_MANY_REDIRECTS") => {
                    FetchError::TooManyRedirects { max: self.settings.max_redirects }
                }
                t if t.contains("ERR_UNSAFE_REDIRECT") || t.contains("ERR_UNKNOWN_URL_SCHEME") => {
                    GuardError::UnsupportedScheme.to_fetch_error(self.settings.max_redirects)
                }
                _ => FetchError::Network { source: text.into() },
            }),
            other => {
                let browser_alive = match self.running.lock().await.as_ref() {
                    Some(running) => running.is_alive().await,
                    None => false,
                };
                if browser_alive {
                    RenderFailure::Page(FetchError::Network { source: Box::new(other) })
                } else {
                    RenderFailure::Browser(other)
                }
            }
        }
    }
}

/// Chromium's flags when we launch it: chromiumoxide's defaults, headless, and ours.
fn chromium_args(profile: &std::path::Path, proxy: std::net::SocketAddr) -> Vec<String> {
    let mut args: Vec<String> = [
        // chromiumoxide's defaults (what its launcher passed before we launched it ourselves).
        "--disable-background-networking",
        "--enable-features=NetworkService,NetworkServiceInProcess",
        "--disable-background-timer-throttling",
        "--disable-backgrounding-occluded-windows",
        "--disable-breakpad",
        "--disable-client-side-phishing-detection",
        "--disable-component-extensions-with-background-pages",
        "--disable-default-apps",
        "--disable-dev-shm-usage",
        "--disable-hang-monitor",
        "--disable-ipc-flooding-protection",
        "--disable-popup-blocking",
        "--disable-prompt-on-repost",
        "--disable-renderer-backgrounding",
        "--disable-sync",
        "--force-color-profile=srgb",
        "--metrics-recording-only",
        "--no-first-run",
        "--enable-automation",
        "--password-store=basic",
        "--use-mock-keychain",
        "--lang=en_US",
        "--headless",
        "--hide-scrollbars",
        "--mute-audio",
        // A free port, read back from the browser's stderr.
        "--remote-debugging-port=0",
        // Every connection through the guard's proxy, loopback ones included (Chromium
        // bypasses proxies for loopback unless told otherwise).
        "--proxy-bypass-list=<-loopback>",
        "--disable-gpu",
        "--no-default-browser-check",
        "--disable-extensions",
        "--blink-settings=imagesEnabled=false",
        "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
        "--dns-prefetch-disable",
        // One renderer per tab rather than one per site in it (the pages read are public
        // and the browser holds no credentials), and a smaller script heap: memory.
        "--disable-site-isolation-trials",
        "--disable-features=TranslateUI,Translate,MediaRouter,OptimizationHints,AutofillServerCommunication,IsolateOrigins,site-per-process,BackForwardCache,SpareRendererForSitePerProcess",
        "--js-flags=--max-old-space-size=128",
        "--renderer-process-limit=8",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    args.push(format!("--proxy-server=http://{proxy}"));
    args.push(format!("--user-data-dir={}", profile.display()));
    args.push("about:blank".to_owned());
    args
}

/// The whole environment of a browser we launch: a fixed `PATH` (Debian's `/usr/bin/chromium`
/// is a shell script), its profile as `HOME`, and the locale and time zone if set. Nothing else
/// of ours reaches a process that runs untrusted pages.
fn browser_env(profile: &std::path::Path) -> Vec<(String, String)> {
    let mut env = vec![
        ("PATH".to_owned(), "/usr/local/bin:/usr/bin:/bin".to_owned()),
        ("HOME".to_owned(), profile.display().to_string()),
    ];
    for name in ["LANG", "LC_ALL", "TZ"] {
        if let Ok(value) = std::env::var(name) {
            env.push((name.to_owned(), value));
        }
    }
    env
}

/// Reads the browser's stderr until it says where DevTools listens, then keeps draining it in
/// the background (an undrained pipe would eventually block Chromium). `None` if it ends first.
async fn devtools_url(stderr: tokio::process::ChildStderr) -> Option<String> {
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(url) = line.split_once("DevTools listening on ").map(|(_, url)| url.trim().to_owned()) {
            tokio::spawn(async move {
                while let Ok(Some(line)) = lines.next_line().await {
                    tracing::trace!(target: "chromium", "{line}");
                }
            });
            return Some(url);
        }
        tracing::trace!(target: "chromium", "{line}");
    }
    None
}

/// Drives the CDP connection in the background; the flag turns false when it is lost (the
/// browser died, or the remote browser restarted), so that the next page gets a new one.
fn drive(mut handler: chromiumoxide::Handler) -> (Arc<AtomicBool>, JoinHandle<()>) {
    let alive = Arc::new(AtomicBool::new(true));
    let handler_alive = Arc::clone(&alive);
    let task = tokio::spawn(async move {
        while let Some(event) = handler.next().await {
            if let Err(CdpError::Ws(error)) = event {
                tracing::warn!(%error, "lost the connection to the browser");
                break;
            }
        }
        handler_alive.store(false, Ordering::SeqCst);
    });
    (alive, task)
}

/// Closes a leased tab and disposes of its browser context, in the background (the tab's place
/// in the pool is free at once). Errors only mean the browser is gone already.
fn discard(lease: Lease) {
    let Lease { tab, running, _permit } = lease;
    tokio::spawn(async move {
        let _closed = tab.page.clone().close().await;
        let browser = running.browser.lock().await;
        let _disposed = browser.dispose_browser_context(tab.context.clone()).await;
    });
}

#[async_trait]
impl PageFetcher for BrowserFetcher {
    async fn fetch(&self, url: &ProductUrl) -> Result<FetchedPage, FetchError> {
        let started = std::time::Instant::now();
        let result = self.render_page(url).await;
        pricetrack_scraper::record_fetch("browser", started.elapsed(), &result);
        result
    }
}

impl BrowserFetcher {
    /// [`PageFetcher::fetch`]'s work: the guard, a tab, the page, one retry on a new browser.
    async fn render_page(&self, url: &ProductUrl) -> Result<FetchedPage, FetchError> {
        let inner = &self.inner;
        let url = url.as_url();
        // Refused before any browser work, with the same words as the static fetcher.
        inner.guard.check(url).await.map_err(|refusal| refusal.to_fetch_error(inner.settings.max_redirects))?;
        let deadline = inner.settings.page_deadline;
        let timeout = || FetchError::Timeout { secs: deadline.as_secs().max(1) };
        for attempt in 0..2 {
            let lease = match inner.lease().await {
                Ok(lease) => lease,
                Err(RenderFailure::Page(error)) => return Err(error),
                Err(RenderFailure::Browser(error)) if attempt == 0 => {
                    tracing::warn!(%error, "could not open a tab; retrying on a new browser");
                    inner.kill_running().await;
                    continue;
                }
                Err(RenderFailure::Browser(error)) => return Err(FetchError::Network { source: Box::new(error) }),
            };
            inner.pages_rendered.fetch_add(1, Ordering::SeqCst);
            let rendered = tokio::time::timeout(deadline, inner.render(&lease.tab, url)).await;
            let refused = lease.tab.state.lock().refused_requests;
            inner.requests_refused.fetch_add(refused, Ordering::SeqCst);
            match rendered {
                Ok(Ok(page)) => {
                    inner.give_back(lease).await;
                    return Ok(page);
                }
                Ok(Err(RenderFailure::Page(error))) => {
                    inner.give_back(lease).await;
                    return Err(error);
                }
                Ok(Err(RenderFailure::Browser(error))) => {
                    drop(lease);
                    if attempt == 0 {
                        tracing::warn!(%error, "the browser failed during a check; retrying on a new browser");
                        inner.kill_running().await;
                        continue;
                    }
                    return Err(FetchError::Network { source: Box::new(error) });
                }
                Err(_) => {
                    // The tab may still be busy with the page: never reuse it.
                    discard(lease);
                    return Err(timeout());
                }
            }
        }
        Err(timeout())
    }
}

impl Inner {
    /// Marks the running browser dead so that the next lease starts a new one.
    async fn kill_running(&self) {
        if let Some(running) = self.running.lock().await.take() {
            metrics::counter!(names::BROWSER_RESTARTS, "reason" => "failed").increment(1);
            running.shut_down().await;
        }
    }
}

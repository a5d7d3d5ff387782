//! Builds the page fetchers of a scraper process from its settings: the static fetcher, and the
//! browser beside it when one is installed, both under one set of per-host politeness limits.

use std::sync::Arc;

use pricetrack_scraper::{
    Checker, FetcherBuildError, PageFetcher, PageReader, PoliteFetcher, PolitenessSettings, StaticFetcher,
    StaticFetcherSettings,
};
use pricetrack_settings::ScrapeSettings;

use crate::{BrowserError, BrowserFetcher, BrowserSettings};

/// The fetchers of one process. Share it between all workers: the politeness limits hold
/// process-wide only if every check goes through these.
#[derive(Debug)]
pub struct Fetchers {
    /// The static fetcher, polite.
    pub static_fetcher: Arc<PoliteFetcher>,
    /// The browser, when installed and not turned off (kept for shut-down and stats).
    pub browser: Option<BrowserFetcher>,
    /// The browser under the same limits as the static fetcher.
    polite_browser: Option<Arc<PoliteFetcher>>,
    /// Hosts whose pages always go to the browser.
    browser_hosts: Vec<String>,
}

impl Fetchers {
    /// Builds the fetchers. A missing browser is not an error: it is said once, here, in the log
    /// (static checks go on; pages that need JavaScript fail with "no price found").
    pub fn new(
        scrape: &ScrapeSettings,
        allow_private_targets: bool,
        user_agent: Option<&str>,
    ) -> Result<Self, FetcherBuildError> {
        Self::with_exempt_origins(scrape, allow_private_targets, user_agent, &[])
    }

    /// [`Fetchers::new`], with origins (`http://127.0.0.1:PORT`) the browser may load although
    /// they are on an internal network, while the guard stays on for every other address: for
    /// `pricetrack extract --file F --browser`, which serves the saved page to the browser from
    /// a temporary loopback origin.
    pub fn with_exempt_origins(
        scrape: &ScrapeSettings,
        allow_private_targets: bool,
        user_agent: Option<&str>,
        exempt_origins: &[String],
    ) -> Result<Self, FetcherBuildError> {
        let mut static_settings = StaticFetcherSettings { allow_private_targets, ..StaticFetcherSettings::default() };
        if let Some(agent) = user_agent {
            static_settings.user_agent = agent.to_owned();
        }
        let politeness = PolitenessSettings {
            max_concurrent_per_host: scrape.host_concurrency,
            min_delay: scrape.host_min_delay,
            ..PolitenessSettings::default()
        };
        let static_fetcher = Arc::new(PoliteFetcher::new(
            Arc::new(StaticFetcher::new(static_settings.clone())?) as Arc<dyn PageFetcher>,
            politeness,
        ));
        let browser = if scrape.browser_tabs == 0 {
            tracing::info!("the browser is off (PRICETRACK_BROWSER_TABS=0): pages that need JavaScript will fail");
            None
        } else {
            let settings = BrowserSettings {
                executable: scrape.browser_path.clone(),
                max_tabs: scrape.browser_tabs,
                user_agent: static_settings.user_agent.clone(),
                allow_private_targets,
                exempt_origins: exempt_origins.to_vec(),
                remote: scrape.browser_url.clone(),
                ..BrowserSettings::default()
            };
            match BrowserFetcher::new(settings) {
                Ok(browser) if scrape.browser_url.is_some() => {
                    tracing::info!(
                        url = scrape.browser_url.as_deref(),
                        tabs = scrape.browser_tabs,
                        "the browser runs on its own (PRICETRACK_BROWSER_URL): pages that need JavaScript are rendered there"
                    );
                    Some(browser)
                }
                Ok(browser) => {
                    tracing::info!(path = %scrape.browser_path.display(), tabs = scrape.browser_tabs, "browser available for pages that need JavaScript");
                    Some(browser)
                }
                Err(error @ BrowserError::NotInstalled { .. }) => {
                    tracing::warn!("{error}; static checks go on");
                    None
                }
                Err(error) => {
                    tracing::warn!(%error, "the browser is unavailable; static checks go on");
                    None
                }
            }
        };
        let polite_browser = browser
            .as_ref()
            .map(|browser| Arc::new(static_fetcher.sharing_limits(Arc::new(browser.clone()) as Arc<dyn PageFetcher>)));
        Ok(Self { static_fetcher, browser, polite_browser, browser_hosts: scrape.browser_hosts.clone() })
    }

    /// `checker` with the browser added, when there is one.
    pub fn equip(&self, checker: Checker) -> Checker {
        match &self.polite_browser {
            Some(browser) => {
                checker.with_browser(Arc::clone(browser) as Arc<dyn PageFetcher>, self.browser_hosts.clone())
            }
            None => checker,
        }
    }

    /// A page reader over these fetchers (the browser included, when there is one): what a
    /// check does to read a page, for `pricetrack extract`.
    pub fn reader(&self) -> PageReader {
        let reader = PageReader::new(Arc::clone(&self.static_fetcher) as Arc<dyn PageFetcher>);
        match &self.polite_browser {
            Some(browser) => {
                reader.with_browser(Arc::clone(browser) as Arc<dyn PageFetcher>, self.browser_hosts.clone())
            }
            None => reader,
        }
    }

    /// Closes the browser, if one was started.
    pub async fn shut_down(&self) {
        if let Some(browser) = &self.browser {
            browser.shut_down().await;
        }
    }
}

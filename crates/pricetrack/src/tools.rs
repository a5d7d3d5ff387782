//! The command-line tools: `extract` and `parse-price`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use pricetrack_browser::{BrowserFetcher, BrowserSettings};
use pricetrack_domain::{Money, ProductUrl};
use pricetrack_extract::{Offer, SourcePrice};
use pricetrack_scraper::{PageFetcher, StaticFetcher, StaticFetcherSettings};
use serde::Serialize;

/// What `pricetrack extract` prints.
#[derive(Debug, Serialize)]
pub struct ExtractOutput {
    /// Product title, if found.
    pub title: Option<String>,
    /// The price as a decimal string; null on an out-of-stock page that shows no price.
    pub price: Option<String>,
    /// ISO currency code, if known.
    pub currency: Option<String>,
    /// `in_stock`, `out_of_stock`, `pre_order` or null.
    pub availability: Option<&'static str>,
    /// Which extraction method found the price (without a price: the availability).
    pub method: &'static str,
    /// `no price shown` when the page shows no price (its product is out of stock), else null.
    pub note: Option<&'static str>,
    /// How the page was read: `static` (plain HTTP), `browser` (rendered in headless
    /// Chromium), or null for a saved file.
    pub fetched_with: Option<&'static str>,
    /// The other methods that read a different price on the page; the chosen one is `price`.
    pub disagreements: Vec<SourcePriceOutput>,
}

/// A price another extraction method read, in `pricetrack extract`'s output.
#[derive(Debug, Serialize)]
pub struct SourcePriceOutput {
    /// The method, e.g. `microdata`.
    pub method: &'static str,
    /// The price as a decimal string.
    pub price: String,
    /// ISO currency code, if known.
    pub currency: Option<String>,
}

impl From<&SourcePrice> for SourcePriceOutput {
    fn from(source: &SourcePrice) -> Self {
        Self {
            method: source.method.as_str(),
            price: source.price.amount.to_string(),
            currency: source.price.currency.map(|c| c.to_string()),
        }
    }
}

impl From<&Offer> for ExtractOutput {
    fn from(offer: &Offer) -> Self {
        Self {
            title: offer.title.clone(),
            price: offer.price.map(|p| p.amount.to_string()),
            currency: offer.price.and_then(|p| p.currency).map(|c| c.to_string()),
            availability: offer.availability.map(|a| a.as_str()),
            method: offer.method.as_str(),
            note: offer.price.is_none().then_some("no price shown"),
            fetched_with: None,
            disagreements: offer.disagreements.iter().map(SourcePriceOutput::from).collect(),
        }
    }
}

/// What `pricetrack parse-price` prints.
#[derive(Debug, Serialize)]
pub struct ParsedPriceOutput {
    /// The amount as a decimal string.
    pub amount: String,
    /// ISO currency code, if the text names one.
    pub currency: Option<String>,
}

impl From<Money> for ParsedPriceOutput {
    fn from(money: Money) -> Self {
        Self { amount: money.amount.to_string(), currency: money.currency.map(|c| c.to_string()) }
    }
}

/// Where `extract` reads its page from.
#[derive(Debug)]
pub enum PageSource {
    /// A saved HTML file, with the URL it came from when known (shop rules key on the host).
    File {
        /// The file.
        path: PathBuf,
        /// The page's URL.
        url: Option<String>,
    },
    /// A live page, fetched with the same guard as a check.
    Url(String),
}

/// How `extract` fetches a live page.
#[derive(Debug, Clone, Default)]
pub struct FetchOptions {
    /// Lets the page be on a private network (`PRICETRACK_ALLOW_PRIVATE_TARGETS`).
    pub allow_private_targets: bool,
    /// The browser executable, if the browser may be used (`PRICETRACK_BROWSER_PATH`).
    pub browser: Option<PathBuf>,
    /// Render the page in the browser without trying plain HTTP first (`--browser`).
    pub force_browser: bool,
}

/// Extracts the offer from a page. An error when no price is found, unless the page says the
/// product is out of stock (then the output has no price and says so).
///
/// A live page is read as a check reads it: plain HTTP first, then, when that shows no price
/// and a browser is installed, rendered in the browser (`force_browser` skips the first step).
pub async fn extract(
    source: PageSource,
    fetch: &FetchOptions,
    selector: Option<&str>,
) -> anyhow::Result<ExtractOutput> {
    let raw = match source {
        PageSource::File { path, url } => {
            let html = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let url = url
                .map(|raw| url::Url::parse(&raw).with_context(|| format!("--url {raw:?} is not a valid URL")))
                .transpose()?;
            return offer_output(&String::from_utf8_lossy(&html), url.as_ref(), selector);
        }
        PageSource::Url(raw) => raw,
    };
    let url = if fetch.allow_private_targets { ProductUrl::parse(&raw) } else { ProductUrl::parse_public(&raw) }
        .with_context(|| format!("{raw:?} cannot be checked"))?;
    if !fetch.force_browser {
        let fetcher = StaticFetcher::new(StaticFetcherSettings {
            allow_private_targets: fetch.allow_private_targets,
            ..StaticFetcherSettings::default()
        })
        .context("building the HTTP client")?;
        let page = fetcher.fetch(&url).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let found = offer_output(&page.body, Some(&page.final_url), selector);
        match (&found, &fetch.browser) {
            (Err(_), Some(browser)) if browser.is_file() => {}
            _ => return found.map(|output| ExtractOutput { fetched_with: Some("static"), ..output }),
        }
    }
    let Some(executable) = fetch.browser.clone() else {
        bail!("--browser needs a browser, and PRICETRACK_BROWSER_TABS=0 turns it off");
    };
    let browser = BrowserFetcher::new(BrowserSettings {
        executable,
        max_tabs: 1,
        allow_private_targets: fetch.allow_private_targets,
        ..BrowserSettings::default()
    })?;
    let rendered = browser.fetch(&url).await;
    browser.shut_down().await;
    let page = rendered.map_err(|e| anyhow::anyhow!("{e}"))?;
    offer_output(&page.body, Some(&page.final_url), selector)
        .map(|output| ExtractOutput { fetched_with: Some("browser"), ..output })
}

/// Reads the offer of `html` (with the selector, if any).
fn offer_output(html: &str, url: Option<&url::Url>, selector: Option<&str>) -> anyhow::Result<ExtractOutput> {
    let offer = match selector {
        Some(css) => pricetrack_extract::extract_with_selector(html, css),
        None => pricetrack_extract::extract_offer(html, url),
    };
    match offer {
        Ok(offer) if offer.price.is_some() || offer.availability.is_some() => Ok(ExtractOutput::from(&offer)),
        Ok(_) => bail!("no price found on the page"),
        Err(e) => bail!("{e}"),
    }
}

/// Parses a price out of text. An error when the text holds none.
pub fn parse_price(text: &str) -> anyhow::Result<ParsedPriceOutput> {
    match pricetrack_extract::parse_price(text) {
        Some(money) => Ok(money.into()),
        None => bail!("no price found in {text:?}"),
    }
}

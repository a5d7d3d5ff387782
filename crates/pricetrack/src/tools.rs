//! The command-line tools: `extract` and `parse-price`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use pricetrack_browser::Fetchers;
use pricetrack_domain::{CheckOutcome, Money, ProductUrl};
use pricetrack_extract::{Candidate, Offer, SourcePrice};
use pricetrack_scraper::Rendering;
use pricetrack_settings::ScrapeSettings;
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

/// A price candidate in `pricetrack extract --candidates`'s output.
#[derive(Debug, Serialize)]
pub struct CandidateOutput {
    /// The price as a decimal string.
    pub price: String,
    /// ISO currency code, if known.
    pub currency: Option<String>,
    /// `shop-rule`, `json-ld`, `microdata`, `meta` or `visible`.
    pub source: &'static str,
    /// A CSS selector that finds this price again (usable as a job's `price_selector`).
    pub selector: Option<String>,
    /// The text around the price.
    pub context: String,
    /// How likely this is the price to pay (higher is likelier).
    pub score: i32,
    /// Why extraction does not take it, if it does not.
    pub excluded: Option<&'static str>,
}

impl From<&Candidate> for CandidateOutput {
    fn from(candidate: &Candidate) -> Self {
        Self {
            price: candidate.price.amount.to_string(),
            currency: candidate.price.currency.map(|c| c.to_string()),
            source: candidate.source.as_str(),
            selector: candidate.selector.clone(),
            context: candidate.context.clone(),
            score: candidate.score,
            excluded: candidate.excluded,
        }
    }
}

/// What `pricetrack extract --candidates` prints: the offer extraction picks (null when it finds
/// none) and every price on the page, the pick first.
#[derive(Debug, Serialize)]
pub struct CandidatesOutput {
    /// The offer, as `pricetrack extract` prints it.
    pub offer: Option<ExtractOutput>,
    /// Every price found, the pick first.
    pub candidates: Vec<CandidateOutput>,
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
    /// A live page, fetched as a check fetches it.
    Url(String),
}

/// How `extract` fetches a page: the same settings as `serve`'s checks.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Lets the page be on a private network (`PRICETRACK_ALLOW_PRIVATE_TARGETS`).
    pub allow_private_targets: bool,
    /// Politeness and browser settings (`PRICETRACK_HOST_*`, `PRICETRACK_BROWSER_*`).
    pub scrape: ScrapeSettings,
    /// The User-Agent of checks (`PRICETRACK_USER_AGENT`).
    pub user_agent: Option<String>,
    /// Render the page in the browser without trying plain HTTP first (`--browser`); with a
    /// saved file, render the file.
    pub force_browser: bool,
}

/// What `extract` reads: the offer, or the offer and every candidate.
#[derive(Debug)]
pub enum Reading {
    /// The offer (`pricetrack extract`).
    Offer(ExtractOutput),
    /// The offer and the candidates (`pricetrack extract --candidates`).
    Candidates(CandidatesOutput),
}

/// Extracts the offer from a page. An error when no price is found, unless the page says the
/// product is out of stock (then the output has no price and says so); with `candidates`, the
/// list is printed whether or not a price was picked.
///
/// A live page is read exactly as a check reads it ([`pricetrack_scraper::PageReader`], built by
/// [`Fetchers`]: the address guard, per-host politeness, the User-Agent, plain HTTP first, then
/// the browser when that shows no price; `force_browser` skips the first step). A saved file
/// with `force_browser` is rendered in the browser from a temporary loopback origin that only
/// that browser may load (the guard stays on for every other address).
pub async fn extract(
    source: PageSource,
    fetch: &FetchOptions,
    selector: Option<&str>,
    candidates: bool,
) -> anyhow::Result<Reading> {
    let (html, url, fetched_with) = match source {
        PageSource::File { path, url } => {
            let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let url = url
                .map(|raw| url::Url::parse(&raw).with_context(|| format!("--url {raw:?} is not a valid URL")))
                .transpose()?;
            let html = String::from_utf8_lossy(&bytes).into_owned();
            if fetch.force_browser {
                (render_file(bytes, fetch).await?, url, Some(Rendering::Browser))
            } else {
                (html, url, None)
            }
        }
        PageSource::Url(raw) => {
            let url =
                if fetch.allow_private_targets { ProductUrl::parse(&raw) } else { ProductUrl::parse_public(&raw) }
                    .with_context(|| format!("{raw:?} cannot be checked"))?;
            let fetchers = Fetchers::new(&fetch.scrape, fetch.allow_private_targets, fetch.user_agent.as_deref())
                .context("building the HTTP client")?;
            let reader = fetchers.reader();
            let read = if fetch.force_browser {
                reader.read_rendered(&url, selector).await
            } else {
                Some(reader.read(&url, selector).await)
            };
            fetchers.shut_down().await;
            let Some(read) = read else {
                bail!("--browser needs a browser, and PRICETRACK_BROWSER_TABS=0 turns it off (or it is not installed)");
            };
            match (read.page, read.outcome) {
                (Some(page), CheckOutcome::Priced(_) | CheckOutcome::Unpriced { .. }) => {
                    (page.body, Some(page.final_url), read.rendering)
                }
                (Some(page), CheckOutcome::Failed(_)) if candidates => {
                    (page.body, Some(page.final_url), read.rendering)
                }
                (_, CheckOutcome::Failed(failure)) => bail!("{failure}"),
                (None, _) => bail!("no page was read"),
            }
        }
    };
    let fetched_with = fetched_with.map(|r| r.as_str());
    let offer = offer_output(&html, url.as_ref(), selector)
        .map(|output| ExtractOutput { fetched_with: fetched_with.or(output.fetched_with), ..output });
    if !candidates {
        return offer.map(Reading::Offer);
    }
    let list = pricetrack_extract::price_candidates(&html, url.as_ref()).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Reading::Candidates(CandidatesOutput {
        offer: offer.ok(),
        candidates: list.iter().map(CandidateOutput::from).collect(),
    }))
}

/// Renders a saved page in the browser: serves it from a loopback origin of its own, exempt
/// from the address guard for this browser only, and returns the rendered document.
async fn render_file(bytes: Vec<u8>, fetch: &FetchOptions) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("opening a loopback port")?;
    let origin = format!("http://{}", listener.local_addr().context("the loopback port")?);
    let page = axum::body::Bytes::from(bytes);
    let router = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let page = page.clone();
            async move { ([(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")], page) }
        }),
    );
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let fetchers = Fetchers::with_exempt_origins(
        &fetch.scrape,
        fetch.allow_private_targets,
        fetch.user_agent.as_deref(),
        std::slice::from_ref(&origin),
    )
    .context("building the fetchers")?;
    let url = ProductUrl::parse(&format!("{origin}/")).context("the loopback origin")?;
    let read = fetchers.reader().read_rendered(&url, None).await;
    fetchers.shut_down().await;
    server.abort();
    let Some(read) = read else {
        bail!("--browser needs a browser, and PRICETRACK_BROWSER_TABS=0 turns it off (or it is not installed)");
    };
    match (read.page, read.outcome) {
        (Some(page), _) => Ok(page.body),
        (None, CheckOutcome::Failed(failure)) => bail!("{failure}"),
        (None, _) => bail!("the browser did not render the page"),
    }
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

//! Reading one page the way a check does: plain HTTP first, the browser when the static HTML
//! shows no price (or at once for the hosts that need it), then extraction. The checker and
//! `pricetrack extract` both go through [`PageReader`], so what the command line shows is what a
//! check would record.

use std::sync::Arc;

use pricetrack_domain::{CheckFailure, CheckOutcome, CheckedOffer, ProductUrl};
use pricetrack_extract::{ExtractError, Offer};
use tracing::Instrument as _;

use crate::fetch::{FetchedPage, PageFetcher};

/// Which fetcher read a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rendering {
    /// Plain HTTP.
    Static,
    /// The headless browser.
    Browser,
}

impl Rendering {
    /// `static` or `browser`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Static => "static",
            Self::Browser => "browser",
        }
    }
}

/// What reading a page gave.
#[derive(Debug)]
pub struct PageRead {
    /// The check's outcome.
    pub outcome: CheckOutcome,
    /// The offer extraction read, when it read one.
    pub offer: Option<Offer>,
    /// The page as last fetched (the rendered one after a browser fallback), when it was.
    pub page: Option<FetchedPage>,
    /// Which fetcher read the page last (or tried to: a failed fetch names its fetcher too).
    pub rendering: Option<Rendering>,
}

/// Fetches pages and reads their offers, as a check does.
pub struct PageReader {
    fetcher: Arc<dyn PageFetcher>,
    /// Renders pages that need JavaScript, when a browser is available.
    browser: Option<BrowserUse>,
}

impl std::fmt::Debug for PageReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageReader").field("browser", &self.browser.is_some()).finish_non_exhaustive()
    }
}

impl PageReader {
    /// A reader over a (static) fetcher.
    pub fn new(fetcher: Arc<dyn PageFetcher>) -> Self {
        Self { fetcher, browser: None }
    }

    /// Adds a browser: a page whose static HTML shows no price is rendered by `browser` and read
    /// again, and pages of `always_for_hosts` (host names, matching subdomains too) go to the
    /// browser directly.
    pub fn with_browser(mut self, browser: Arc<dyn PageFetcher>, always_for_hosts: Vec<String>) -> Self {
        let always_for_hosts = always_for_hosts
            .into_iter()
            .map(|host| host.trim().trim_start_matches('.').to_ascii_lowercase())
            .filter(|host| !host.is_empty())
            .collect();
        self.browser = Some(BrowserUse { fetcher: browser, always_for_hosts });
        self
    }

    /// True when a browser is available.
    pub fn has_browser(&self) -> bool {
        self.browser.is_some()
    }

    /// Fetches and reads a page: the static fetch first; the browser (if any) renders the page
    /// when the static HTML shows no price, or at once for its hosts. Fetch failures (an HTTP
    /// error, a refused address, a timeout, a robot check) are not retried in the browser: it
    /// would meet them again, and the shop would see two requests. `selector` is the job's
    /// `price_selector`, if any.
    pub async fn read(&self, url: &ProductUrl, selector: Option<&str>) -> PageRead {
        let Some(browser) = &self.browser else {
            return read_with(self.fetcher.as_ref(), url, selector, Rendering::Static).await;
        };
        if browser.always_for(url.host()) {
            return read_with(browser.fetcher.as_ref(), url, selector, Rendering::Browser).await;
        }
        let read = read_with(self.fetcher.as_ref(), url, selector, Rendering::Static).await;
        match read.outcome {
            CheckOutcome::Failed(CheckFailure::NoPrice) => {
                tracing::info!(host = %url.host(), "no price in the static page; rendering it in the browser");
                read_with(browser.fetcher.as_ref(), url, selector, Rendering::Browser).await
            }
            _ => read,
        }
    }

    /// Reads a page in the browser without trying plain HTTP first; `None` without a browser.
    pub async fn read_rendered(&self, url: &ProductUrl, selector: Option<&str>) -> Option<PageRead> {
        let browser = self.browser.as_ref()?;
        Some(read_with(browser.fetcher.as_ref(), url, selector, Rendering::Browser).await)
    }
}

/// Fetches the page with `fetcher` and reads its offer.
async fn read_with(
    fetcher: &dyn PageFetcher,
    url: &ProductUrl,
    selector: Option<&str>,
    rendering: Rendering,
) -> PageRead {
    // A span per fetch: in a trace, where a check's time went (the shop's turn, the network).
    let fetch_span = tracing::info_span!("fetch", method = rendering.as_str(), result = tracing::field::Empty);
    let fetched = fetcher.fetch(url).instrument(fetch_span.clone()).await;
    fetch_span.record("result", fetched.as_ref().map_or_else(|e| e.kind(), |_| "ok"));
    let page = match fetched {
        Ok(page) => page,
        Err(e) => {
            return PageRead {
                outcome: CheckOutcome::Failed(e.to_check_failure()),
                offer: None,
                page: None,
                rendering: Some(rendering),
            };
        }
    };
    let selector = selector.map(str::to_owned);
    let body = page.body.clone();
    let final_url = page.final_url.clone();
    // HTML parsing is CPU work on up to a few MiB: keep it off the async worker threads.
    let extract_span = tracing::info_span!("extract", bytes = body.len());
    let extracted = tokio::task::spawn_blocking(move || {
        extract_span.in_scope(|| match selector {
            Some(selector) => pricetrack_extract::extract_with_selector(&body, &selector),
            None => pricetrack_extract::extract_offer(&body, Some(&final_url)),
        })
    })
    .await;
    let offer = match extracted {
        Ok(Ok(offer)) => offer,
        Ok(Err(ExtractError::Blocked(kind))) => {
            tracing::info!(host = %url.host(), %kind, "the shop showed a robot check instead of the page");
            return PageRead {
                outcome: CheckOutcome::Failed(CheckFailure::Blocked),
                offer: None,
                page: Some(page),
                rendering: Some(rendering),
            };
        }
        Ok(Err(_)) => {
            return PageRead {
                outcome: CheckOutcome::Failed(CheckFailure::NoPrice),
                offer: None,
                page: Some(page),
                rendering: Some(rendering),
            };
        }
        Err(e) => {
            tracing::error!(error = %e, "price extraction panicked");
            return PageRead {
                outcome: CheckOutcome::Failed(CheckFailure::NoPrice),
                offer: None,
                page: Some(page),
                rendering: Some(rendering),
            };
        }
    };
    let mut outcome = outcome_from_offer(&offer);
    if rendering == Rendering::Browser {
        // Recorded with the method, so that a look at the job tells how its price was read.
        match &mut outcome {
            CheckOutcome::Priced(CheckedOffer { method, .. }) | CheckOutcome::Unpriced { method, .. } => {
                method.push_str("+browser");
            }
            CheckOutcome::Failed(_) => {}
        }
    }
    PageRead { outcome, offer: Some(offer), page: Some(page), rendering: Some(rendering) }
}

/// The browser and when to use it.
struct BrowserUse {
    fetcher: Arc<dyn PageFetcher>,
    /// Lower-case host names whose pages always need the browser.
    always_for_hosts: Vec<String>,
}

impl BrowserUse {
    /// True when `host` (or a domain it is under) is one of the hosts that always need it.
    fn always_for(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.always_for_hosts.iter().any(|rule| {
            host == *rule
                || (host.len() > rule.len()
                    && host.ends_with(rule.as_str())
                    && host[..host.len() - rule.len()].ends_with('.'))
        })
    }
}

/// What an extracted offer means for the job: a price; or, without a price, a page that says
/// the product is unavailable (a successful check that never alerts); else no price at all.
fn outcome_from_offer(offer: &Offer) -> CheckOutcome {
    let method = offer.method.as_str().to_owned();
    match (offer.price, offer.availability) {
        // A zero (or negative) price is a parse accident far more often than a free
        // product, and it is below every target: never let it alert.
        (Some(price), availability) if !price.amount.is_zero() && !price.amount.is_sign_negative() => {
            CheckOutcome::Priced(CheckedOffer { price, availability, method })
        }
        (None, Some(availability)) => CheckOutcome::Unpriced { availability, method },
        _ => CheckOutcome::Failed(CheckFailure::NoPrice),
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use pricetrack_domain::{Availability, Currency, Money};
    use pricetrack_extract::{ExtractionMethod, SourcePrice};
    use rust_decimal::Decimal;

    use super::*;

    fn offer(price: Option<&str>, availability: Option<Availability>) -> Offer {
        Offer {
            title: Some("Kettle".into()),
            price: price.map(|p| Money::new(Decimal::from_str(p).expect("decimal"), Some(Currency::EUR))),
            availability,
            method: ExtractionMethod::JsonLd,
            disagreements: Vec::new(),
        }
    }

    #[test]
    fn browser_rules_match_the_host_and_its_subdomains_only() {
        struct Never;
        #[async_trait::async_trait]
        impl PageFetcher for Never {
            async fn fetch(&self, _: &ProductUrl) -> Result<FetchedPage, crate::FetchError> {
                Err(crate::FetchError::Connect { host: String::new() })
            }
        }
        let rules = BrowserUse { fetcher: Arc::new(Never), always_for_hosts: vec!["shop.example".into()] };
        assert!(rules.always_for("shop.example"));
        assert!(rules.always_for("WWW.Shop.Example"));
        assert!(!rules.always_for("evilshop.example"));
        assert!(!rules.always_for("shop.example.org"));
    }

    #[test]
    fn a_priced_offer_is_priced() {
        let mut priced = offer(Some("24.99"), Some(Availability::InStock));
        priced.disagreements.push(SourcePrice {
            method: ExtractionMethod::Microdata,
            price: Money::new(Decimal::from_str("29.99").expect("decimal"), None),
        });
        let CheckOutcome::Priced(found) = outcome_from_offer(&priced) else { panic!("expected a price") };
        assert_eq!(found.price.amount, Decimal::from_str("24.99").expect("decimal"));
        assert_eq!(found.availability, Some(Availability::InStock));
        assert_eq!(found.method, "json-ld");
    }

    #[test]
    fn an_out_of_stock_offer_without_a_price_is_unpriced() {
        assert_eq!(
            outcome_from_offer(&offer(None, Some(Availability::OutOfStock))),
            CheckOutcome::Unpriced { availability: Availability::OutOfStock, method: "json-ld".into() }
        );
    }

    #[test]
    fn no_price_and_no_availability_or_a_zero_price_is_no_price() {
        assert_eq!(outcome_from_offer(&offer(None, None)), CheckOutcome::Failed(CheckFailure::NoPrice));
        assert_eq!(
            outcome_from_offer(&offer(Some("0"), Some(Availability::InStock))),
            CheckOutcome::Failed(CheckFailure::NoPrice)
        );
    }
}

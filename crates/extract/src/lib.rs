//! Finds a product's price, title and availability in a shop page's HTML.
//!
//! Pure functions only: no network, no clock, no files. The page is fetched elsewhere
//! (`pricetrack-scraper`) and handed over as text.
//!
//! * [`parse_price`] reads one price text in any locale (`1.299,99 €`, `$1,299.99`,
//!   `CHF 1'299.90`, `₹1,23,456.00`, `1.299,-`).
//! * [`extract_offer`] reads a whole page. It tries, in order:
//!   1. **a shop rule** when the page is from a shop that has one — Amazon (by host
//!      `amazon.<tld>`, or by its price-block markup when no URL is given) and PCComponentes.
//!      These come first because they are written for that shop's markup, and they know to skip
//!      the strike-through list price and the carousels of other products;
//!   2. **JSON-LD** (`<script type="application/ld+json">`, schema.org `Product` → `offers`);
//!   3. **microdata** (`itemprop="price"`);
//!   4. **meta tags** (`product:price:amount`, `og:price:amount`).
//!
//!   The first method that finds a positive price wins; a page where none does is
//!   [`ExtractError::NoPrice`]. A zero price is never taken as a price.
//! * [`extract_with_selector`] reads the price from a CSS selector given by the user.
//!
//! Amounts are [`rust_decimal::Decimal`] end to end: JSON-LD numbers are read from their source
//! text, never through an `f64`.

mod availability;
mod html;
mod json;
mod jsonld;
mod meta;
mod microdata;
mod price;
mod shops;

use pricetrack_domain::{Availability, Money};
use scraper::Html;
use serde::Serialize;

pub use price::parse_price;

/// How a price was found on a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExtractionMethod {
    /// schema.org data in a `<script type="application/ld+json">` block.
    JsonLd,
    /// schema.org microdata (`itemprop="price"`).
    Microdata,
    /// Open Graph / product `<meta>` tags.
    Meta,
    /// The Amazon rule.
    Amazon,
    /// The PCComponentes rule.
    Pccomponentes,
    /// A CSS selector given by the user.
    Selector,
}

impl ExtractionMethod {
    /// The method's name, e.g. `json-ld`, as stored with a check's result.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::JsonLd => "json-ld",
            Self::Microdata => "microdata",
            Self::Meta => "meta",
            Self::Amazon => "amazon",
            Self::Pccomponentes => "pccomponentes",
            Self::Selector => "selector",
        }
    }
}

impl std::fmt::Display for ExtractionMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a page says about its product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Offer {
    /// The product's name, when the page gives one (from the same source as the price, else
    /// `og:title`, else `<title>`).
    pub title: Option<String>,
    /// The price to pay. Always `Some` today: a page without a price is
    /// [`ExtractError::NoPrice`]. It is an `Option` so that an out-of-stock page without a price
    /// can be reported as an offer later without changing the type.
    pub price: Option<Money>,
    /// Whether the product can be bought, when the page says.
    pub availability: Option<Availability>,
    /// How the price was found.
    pub method: ExtractionMethod,
}

/// Why no offer could be read from a page.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    /// No method found a positive price on the page.
    #[error("no price found on the page")]
    NoPrice,
    /// The CSS selector given to [`extract_with_selector`] does not parse.
    #[error("invalid CSS selector: {0}")]
    InvalidSelector(String),
}

/// One generic extraction method.
type Method = fn(&Html) -> Option<html::Found>;

fn offer_from(found: html::Found, method: ExtractionMethod, doc: &Html) -> Offer {
    Offer {
        title: found.title.or_else(|| html::page_title(doc)),
        price: Some(found.price),
        availability: found.availability,
        method,
    }
}

/// Reads the product offer of a shop page.
///
/// `page_url` is the address the page was fetched from; it selects a shop rule by host
/// (see the [crate] documentation for the order of methods). Returns
/// [`ExtractError::NoPrice`] when no method finds a positive price; an `Ok` offer always has
/// `price: Some(..)`. Never panics, whatever the input.
pub fn extract_offer(html: &str, page_url: Option<&url::Url>) -> Result<Offer, ExtractError> {
    let doc = Html::parse_document(html);
    if let Some(shop) = shops::detect(&doc, page_url)
        && let Some(found) = shops::extract(&doc, shop)
    {
        let method = match shop {
            shops::Shop::Amazon(_) => ExtractionMethod::Amazon,
            shops::Shop::PcComponentes => ExtractionMethod::Pccomponentes,
        };
        return Ok(offer_from(found, method, &doc));
    }
    let methods: [(Method, ExtractionMethod); 3] = [
        (jsonld::extract, ExtractionMethod::JsonLd),
        (microdata::extract, ExtractionMethod::Microdata),
        (meta::extract, ExtractionMethod::Meta),
    ];
    methods
        .iter()
        .find_map(|(extract, method)| extract(&doc).map(|found| offer_from(found, *method, &doc)))
        .ok_or(ExtractError::NoPrice)
}

/// Reads the price from the elements a CSS selector matches, for pages no automatic method
/// reads right.
///
/// The first matching element (of the first 100) whose `content` attribute (else `data-price`,
/// else text) holds a positive price wins. The title comes from `og:title` or `<title>`; availability is not read.
/// Returns [`ExtractError::InvalidSelector`] when the selector does not parse, and
/// [`ExtractError::NoPrice`] when no matching element holds a price.
pub fn extract_with_selector(html: &str, css_selector: &str) -> Result<Offer, ExtractError> {
    let selector = scraper::Selector::parse(css_selector).map_err(|e| ExtractError::InvalidSelector(e.to_string()))?;
    let doc = Html::parse_document(html);
    let price = doc
        .select(&selector)
        .take(html::MAX_CANDIDATES)
        .find_map(|el| match el.attr("content").or_else(|| el.attr("data-price")) {
            Some(value) => html::price_from_value(value, None),
            None => html::price_from_text(&html::text_of(el), None),
        })
        .ok_or(ExtractError::NoPrice)?;
    Ok(Offer {
        title: html::page_title(&doc),
        price: Some(price),
        availability: None,
        method: ExtractionMethod::Selector,
    })
}

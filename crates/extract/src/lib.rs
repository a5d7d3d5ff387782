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
//!   The first method that finds a positive price wins. The generic methods it did not need
//!   are run too (on the same parsed page), and those that read another price are listed in
//!   [`Offer::disagreements`]: the winner stays, the disagreement is there to be seen.
//!   A zero price is never taken as a price.
//!
//!   A page where no method finds a price but whose product says it is out of stock (schema.org
//!   `OutOfStock`, `SoldOut` or `Discontinued` in JSON-LD, microdata or meta tags, or a shop
//!   rule's availability line such as Amazon's `No disponible.`) is an [`Offer`] without a price
//!   and with [`Availability::OutOfStock`]: shops often hide the price of what they cannot
//!   sell. Any other page without a price is [`ExtractError::NoPrice`].
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
    /// The price to pay. `None` only for a page that shows no price and says the product is
    /// out of stock; `availability` is then `Some(Availability::OutOfStock)`.
    pub price: Option<Money>,
    /// Whether the product can be bought, when the page says.
    pub availability: Option<Availability>,
    /// How the price was found; without a price, where the page said it is out of stock.
    pub method: ExtractionMethod,
    /// The other methods that read a different price on the same page (the amount differs, or
    /// both name a currency and the currencies differ), in method order. Empty when they agree,
    /// find nothing, or no price was found; never filled by [`extract_with_selector`].
    pub disagreements: Vec<SourcePrice>,
}

/// The price one extraction method read on a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SourcePrice {
    /// The method.
    pub method: ExtractionMethod,
    /// The price it read.
    pub price: Money,
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

/// The generic methods, most specific first.
const GENERIC_METHODS: [(Method, ExtractionMethod); 3] = [
    (jsonld::extract, ExtractionMethod::JsonLd),
    (microdata::extract, ExtractionMethod::Microdata),
    (meta::extract, ExtractionMethod::Meta),
];

/// Where one generic method reads the product's availability.
type StockReader = fn(&Html) -> Option<html::Stock>;

/// Where each generic method reads the product's availability when no price was found, in the
/// same order.
const GENERIC_STOCK: [(StockReader, ExtractionMethod); 3] = [
    (jsonld::stock, ExtractionMethod::JsonLd),
    (microdata::stock, ExtractionMethod::Microdata),
    (meta::stock, ExtractionMethod::Meta),
];

fn shop_method(shop: shops::Shop) -> ExtractionMethod {
    match shop {
        shops::Shop::Amazon(_) => ExtractionMethod::Amazon,
        shops::Shop::PcComponentes => ExtractionMethod::Pccomponentes,
    }
}

/// Two reads of a price agree when the amounts are equal (`29.9` and `29.90` are) and the
/// currencies do not contradict each other (one unknown is no contradiction).
fn same_price(a: &Money, b: &Money) -> bool {
    a.amount == b.amount && (a.currency.is_none() || b.currency.is_none() || a.currency == b.currency)
}

/// The prices that the given methods read and that differ from `chosen`.
fn disagreements(doc: &Html, methods: &[(Method, ExtractionMethod)], chosen: &Money) -> Vec<SourcePrice> {
    methods
        .iter()
        .filter_map(|(extract, method)| extract(doc).map(|found| SourcePrice { method: *method, price: found.price }))
        .filter(|other| !same_price(&other.price, chosen))
        .collect()
}

fn offer_from(found: html::Found, method: ExtractionMethod, disagreements: Vec<SourcePrice>, doc: &Html) -> Offer {
    Offer {
        title: found.title.or_else(|| html::page_title(doc)),
        price: Some(found.price),
        availability: found.availability,
        method,
        disagreements,
    }
}

/// The offer of a page without a price whose product is out of stock. The first source that
/// states an availability decides (the shop rule, then JSON-LD, microdata, meta tags): a page
/// whose most specific source says "in stock" but shows no price is no out-of-stock page.
fn out_of_stock_offer(doc: &Html, shop: Option<shops::Shop>) -> Option<Offer> {
    let (stock, method) = shop
        .and_then(|shop| shops::stock(doc, shop).map(|stock| (stock, shop_method(shop))))
        .or_else(|| GENERIC_STOCK.iter().find_map(|(read, method)| read(doc).map(|stock| (stock, *method))))?;
    (stock.availability == Availability::OutOfStock).then(|| Offer {
        title: stock.title.or_else(|| html::page_title(doc)),
        price: None,
        availability: Some(Availability::OutOfStock),
        method,
        disagreements: Vec::new(),
    })
}

/// Reads the product offer of a shop page.
///
/// `page_url` is the address the page was fetched from; it selects a shop rule by host
/// (see the [crate] documentation for the order of methods). An `Ok` offer has
/// `price: Some(..)`, except on a page without a price whose product is out of stock
/// (`price: None`, `availability: Some(Availability::OutOfStock)`). Returns
/// [`ExtractError::NoPrice`] for any other page where no method finds a positive price.
/// Never panics, whatever the input.
pub fn extract_offer(html: &str, page_url: Option<&url::Url>) -> Result<Offer, ExtractError> {
    let doc = Html::parse_document(html);
    let shop = shops::detect(&doc, page_url);
    if let Some(shop) = shop
        && let Some(found) = shops::extract(&doc, shop)
    {
        let others = disagreements(&doc, &GENERIC_METHODS, &found.price);
        return Ok(offer_from(found, shop_method(shop), others, &doc));
    }
    for (position, (extract, method)) in GENERIC_METHODS.iter().enumerate() {
        if let Some(found) = extract(&doc) {
            // The methods before this one found nothing; only the later ones can disagree.
            let later = GENERIC_METHODS.get(position + 1..).unwrap_or_default();
            let others = disagreements(&doc, later, &found.price);
            return Ok(offer_from(found, *method, others, &doc));
        }
    }
    out_of_stock_offer(&doc, shop).ok_or(ExtractError::NoPrice)
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
        disagreements: Vec::new(),
    })
}

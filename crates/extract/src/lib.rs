//! Finds a product's price, title and availability in a shop page's HTML.
//!
//! Pure functions only: no network, no clock, no files. The page is fetched elsewhere
//! (`pricetrack-scraper`) and handed over as text.
//!
//! * [`parse_price`] reads one price text in any locale (`1.299,99 €`, `$1,299.99`,
//!   `CHF 1'299.90`, `₹1,23,456.00`, `1.299,-`).
//! * [`extract_offer`] reads a whole page, parsed once, in this order:
//!   1. **a shop rule** when the page is from a shop that has one — Amazon (by host
//!      `amazon.<tld>`, or by its price-block markup when no URL is given) and PCComponentes.
//!      These come first because they are written for that shop's markup, and they know to skip
//!      the strike-through list price and the carousels of other products. When a shop rule
//!      finds no price, the visible markup of that page is not searched for one;
//!   2. **structured data**: JSON-LD (`<script type="application/ld+json">`, schema.org
//!      `Product` → `offers`), then microdata (`itemprop="price"`), then meta tags
//!      (`product:price:amount`, `og:price:amount`), **checked against the buy box**: when the
//!      page shows the structured price as its old (struck-through, "was") price beside another
//!      one, the visible price wins ([`ExtractionMethod::Visible`]); a visible out-of-stock buy
//!      box wins over a structured "in stock"; a missing currency is taken from the visible
//!      price, the declared currency meta tags or the shop's locale, and left empty when those
//!      disagree;
//!   3. **the visible buy box** (`visible.rs`): the price shown next to the product's `<h1>`
//!      and its add-to-cart button, platform price boxes first, never an old, saved, per-unit,
//!      instalment or shipping amount, nor another product's or seller's.
//!
//!   The sources that read another price are listed in [`Offer::disagreements`]. A zero price
//!   is never taken as a price.
//!
//!   A page where no method finds a price but whose product says it is out of stock (schema.org
//!   `OutOfStock`, `SoldOut` or `Discontinued`, a shop rule's availability line such as Amazon's
//!   `No disponible.`, or the buy box: "Sold out", "Ausverkauft", a disabled add-to-cart button)
//!   is an [`Offer`] without a price and with [`Availability::OutOfStock`]: shops often hide the
//!   price of what they cannot sell. A robot check shown instead of the page is
//!   [`ExtractError::Blocked`]. Any other page without a price is [`ExtractError::NoPrice`].
//! * [`price_candidates`] lists every price found on a page (source, a CSS selector that finds
//!   it again, the text around it, a score), the pick first.
//! * [`extract_with_selector`] reads the price from a CSS selector given by the user.
//! * [`detect_block`] says whether a page is a robot check.
//!
//! Amounts are [`rust_decimal::Decimal`] end to end: JSON-LD numbers are read from their source
//! text, never through an `f64`.

mod availability;
mod blocked;
mod html;
mod json;
mod jsonld;
mod meta;
mod microdata;
mod page;
mod price;
mod shops;
mod visible;

use pricetrack_domain::{Availability, Money};
use scraper::Html;
use serde::Serialize;

pub use blocked::{BlockKind, detect_block};
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
    /// The price shown in the page's buy box (no structured data, or structured data the page
    /// contradicts).
    Visible,
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
            Self::Visible => "visible",
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
    /// The shop showed a robot check (a captcha, a bot wall) instead of the page.
    #[error("the shop showed a robot check instead of the page")]
    Blocked(BlockKind),
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

/// What one reading of a page found: the offer, and everything it was chosen from.
struct Reading<'a> {
    offer: Offer,
    shop: Option<(ExtractionMethod, html::Found)>,
    structured: Vec<(ExtractionMethod, html::Found)>,
    visible: visible::Visible<'a>,
}

/// The currencies the page states outside its prices: `og:price:currency`,
/// `product:price:currency`, `itemprop="priceCurrency"`, then the locale (`<html lang>`, country
/// domain). The visible prices' currency comes first. `None` when they disagree: no currency is
/// better than a wrong one.
fn fallback_currency(page: &page::Page<'_>, visible: &visible::Visible<'_>) -> Option<pricetrack_domain::Currency> {
    let mut signals = Vec::new();
    if let Some(pick) = visible.pick()
        && let Some(currency) = pick.price.currency
    {
        signals.push(currency);
    }
    for css in [
        r#"meta[property="og:price:currency"]"#,
        r#"meta[property="product:price:currency"]"#,
        r#"meta[name="og:price:currency"]"#,
        r#"meta[name="product:price:currency"]"#,
        r#"meta[itemprop="priceCurrency"]"#,
        r#"[itemprop="priceCurrency"]"#,
    ] {
        if let Some(el) = html::select_first(page.doc, css) {
            let raw = el.attr("content").map(str::to_owned).unwrap_or_else(|| html::text_of(el));
            if let Some(currency) = price::currency_from_marker(&raw) {
                signals.push(currency);
                break;
            }
        }
    }
    if let Some(currency) = page.locale_currency() {
        signals.push(currency);
    }
    let first = *signals.first()?;
    signals.iter().all(|c| *c == first).then_some(first)
}

/// The product's title as shown: the page's `<h1>` when it has text, else `og:title`/`<title>`.
fn shown_title(doc: &Html) -> Option<String> {
    html::select_first(doc, "h1").map(html::text_of).and_then(html::non_empty).or_else(|| html::page_title(doc))
}

/// Reads a parsed page (see [`extract_offer`] for the order).
fn read_page<'a>(page: &page::Page<'a>) -> Result<Reading<'a>, ExtractError> {
    let doc = page.doc;
    let shop = shops::detect(doc, page.url);
    let shop_found = shop.and_then(|shop| shops::extract(doc, shop).map(|found| (shop_method(shop), found)));
    let structured: Vec<(ExtractionMethod, html::Found)> =
        GENERIC_METHODS.iter().filter_map(|(extract, method)| extract(doc).map(|found| (*method, found))).collect();
    let visible = visible::read(page);
    let visible_price = visible.pick().map(|pick| pick.price);

    let offer = if let Some((method, found)) = &shop_found {
        let mut others: Vec<SourcePrice> = structured
            .iter()
            .filter(|(_, other)| !same_price(&other.price, &found.price))
            .map(|(method, other)| SourcePrice { method: *method, price: other.price })
            .collect();
        others.extend(
            visible_price
                .filter(|v| !same_price(v, &found.price))
                .map(|price| SourcePrice { method: ExtractionMethod::Visible, price }),
        );
        Some(offer_from(found.clone(), *method, others, doc))
    } else if let Some((method, found)) = structured.first() {
        Some(checked_against_buy_box(page, *method, found, &structured, &visible))
    } else if structured_out_of_stock(doc).is_some() {
        // The product says it is out of stock and shows no price: a price elsewhere on the page
        // is another product's.
        None
    } else if let Some(pick) = visible.pick().filter(|_| shop.is_none()) {
        let mut price = pick.price;
        if price.currency.is_none() {
            price.currency = fallback_currency(page, &visible);
        }
        Some(Offer {
            title: shown_title(doc),
            price: Some(price),
            availability: visible.availability,
            method: ExtractionMethod::Visible,
            disagreements: Vec::new(),
        })
    } else {
        None
    };
    let offer = match offer {
        Some(offer) => offer,
        None => match out_of_stock_offer(doc, shop).or_else(|| {
            (visible.availability == Some(Availability::OutOfStock)).then(|| Offer {
                title: shown_title(doc),
                price: None,
                availability: Some(Availability::OutOfStock),
                method: ExtractionMethod::Visible,
                disagreements: Vec::new(),
            })
        }) {
            Some(offer) => offer,
            None => return Err(ExtractError::NoPrice),
        },
    };
    Ok(Reading { offer, shop: shop_found, structured, visible })
}

/// A structured source's offer checked against the buy box: the shopper's price wins when the
/// structured price is one the page shows as old (a stale regular price beside a visible sale),
/// the buy box's out-of-stock wins over a structured "in stock", and a missing currency is taken
/// from the page.
fn checked_against_buy_box(
    page: &page::Page<'_>,
    method: ExtractionMethod,
    found: &html::Found,
    structured: &[(ExtractionMethod, html::Found)],
    visible: &visible::Visible<'_>,
) -> Offer {
    let doc = page.doc;
    let mut offer = offer_from(found.clone(), method, Vec::new(), doc);
    let mut price = found.price;
    let pick = visible.pick();
    let shown_as_old = |amount| visible.seen.iter().any(|s| s.old && s.price.amount == amount);
    match pick {
        Some(pick)
            if !same_price(&pick.price, &price) && shown_as_old(price.amount) && !shown_as_old(pick.price.amount) =>
        {
            // The structured price is the page's struck-through one: stale.
            let mut visible_price = pick.price;
            if visible_price.currency.is_none() {
                visible_price.currency = price.currency;
            }
            offer.method = ExtractionMethod::Visible;
            price = visible_price;
        }
        _ => {}
    }
    if price.currency.is_none() {
        price.currency = fallback_currency(page, visible);
    }
    offer.price = Some(price);
    let mut others: Vec<SourcePrice> = structured
        .iter()
        .filter(|(_, other)| !same_price(&other.price, &price))
        .map(|(method, other)| SourcePrice { method: *method, price: other.price })
        .collect();
    if let Some(pick) = pick.filter(|pick| !same_price(&pick.price, &price)) {
        others.push(SourcePrice { method: ExtractionMethod::Visible, price: pick.price });
    }
    offer.disagreements = others;
    match visible.availability {
        Some(Availability::OutOfStock) => offer.availability = Some(Availability::OutOfStock),
        Some(shown) if offer.availability.is_none() => offer.availability = Some(shown),
        _ => {}
    }
    offer
}

/// The first structured source that states an availability, when it says out of stock.
fn structured_out_of_stock(doc: &Html) -> Option<ExtractionMethod> {
    let (stock, method) = GENERIC_STOCK.iter().find_map(|(read, method)| read(doc).map(|stock| (stock, *method)))?;
    (stock.availability == Availability::OutOfStock).then_some(method)
}

/// Reads the product offer of a shop page.
///
/// `page_url` is the address the page was fetched from; it selects a shop rule by host and gives
/// the shop's country (see the [crate] documentation for the order of methods). An `Ok` offer has
/// `price: Some(..)`, except on a page without a price whose product is out of stock
/// (`price: None`, `availability: Some(Availability::OutOfStock)`). Returns
/// [`ExtractError::Blocked`] for a robot check shown instead of the page, and
/// [`ExtractError::NoPrice`] for any other page where no method finds a positive price.
/// Never panics, whatever the input.
pub fn extract_offer(html: &str, page_url: Option<&url::Url>) -> Result<Offer, ExtractError> {
    let doc = Html::parse_document(html);
    let page = page::Page::new(&doc, page_url);
    match read_page(&page) {
        Ok(reading) => Ok(reading.offer),
        Err(ExtractError::NoPrice) => {
            Err(blocked::detect_block(html).map_or(ExtractError::NoPrice, ExtractError::Blocked))
        }
        Err(e) => Err(e),
    }
}

/// Where a price candidate was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CandidateSource {
    /// A shop's own rule (Amazon, PCComponentes).
    ShopRule,
    /// schema.org JSON-LD.
    JsonLd,
    /// schema.org microdata.
    Microdata,
    /// Product `<meta>` tags.
    Meta,
    /// The visible markup.
    Visible,
}

impl CandidateSource {
    /// The source's name, e.g. `json-ld`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::ShopRule => "shop-rule",
            Self::JsonLd => "json-ld",
            Self::Microdata => "microdata",
            Self::Meta => "meta",
            Self::Visible => "visible",
        }
    }

    fn of(method: ExtractionMethod) -> Self {
        match method {
            ExtractionMethod::JsonLd => Self::JsonLd,
            ExtractionMethod::Microdata => Self::Microdata,
            ExtractionMethod::Meta => Self::Meta,
            ExtractionMethod::Visible | ExtractionMethod::Selector => Self::Visible,
            ExtractionMethod::Amazon | ExtractionMethod::Pccomponentes => Self::ShopRule,
        }
    }
}

/// One price found on a page, for a person choosing which one to track.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    /// The price.
    pub price: Money,
    /// Where it was found.
    pub source: CandidateSource,
    /// A CSS selector that finds it again with [`extract_with_selector`] (for a job's
    /// `price_selector`); `None` when no element shows it (a JSON-LD price that the page does
    /// not show).
    pub selector: Option<String>,
    /// The text around it (its label, the price text, what follows), whitespace collapsed.
    pub context: String,
    /// How likely it is the price to pay; higher is likelier. Not comparable across pages.
    pub score: i32,
    /// Why extraction does not take it (`old price`, `another product's box`…), if it does not.
    pub excluded: Option<&'static str>,
}

/// Every price found on the page, with its source, a selector that finds it again, its context
/// and a score. The first candidate is the one [`extract_offer`] picks (when it picks one); the
/// others follow, the likeliest first. Returns [`ExtractError::Blocked`] for a robot check; a
/// page with no price at all gives an empty list.
pub fn price_candidates(html: &str, page_url: Option<&url::Url>) -> Result<Vec<Candidate>, ExtractError> {
    let doc = Html::parse_document(html);
    let page = page::Page::new(&doc, page_url);
    let reading = match read_page(&page) {
        Ok(reading) => Some(reading),
        Err(ExtractError::NoPrice) => {
            if let Some(kind) = blocked::detect_block(html) {
                return Err(ExtractError::Blocked(kind));
            }
            None
        }
        Err(e) => return Err(e),
    };
    // Without a reading, the visible prices are read again for the list.
    let fresh;
    let visible = match &reading {
        Some(reading) => &reading.visible,
        None => {
            fresh = visible::read(&page);
            &fresh
        }
    };
    let selector_for = |money: &Money| {
        visible
            .seen
            .iter()
            .find(|s| s.excluded.is_none() && s.price.amount == money.amount)
            .map(|s| page.selector_of(s.element))
    };
    let mut list: Vec<Candidate> = Vec::new();
    if let Some(reading) = &reading {
        if let Some((method, found)) = &reading.shop {
            list.push(Candidate {
                price: found.price,
                source: CandidateSource::ShopRule,
                selector: selector_for(&found.price),
                context: format!("{} rule", method.as_str()),
                score: 1000,
                excluded: None,
            });
        }
        for (method, found) in &reading.structured {
            list.push(Candidate {
                price: found.price,
                source: CandidateSource::of(*method),
                selector: structured_selector(&page, *method).or_else(|| selector_for(&found.price)),
                context: found.title.clone().unwrap_or_default(),
                score: 500,
                excluded: None,
            });
        }
    }
    for seen in &visible.seen {
        list.push(Candidate {
            price: seen.price,
            source: CandidateSource::Visible,
            selector: Some(page.selector_of(seen.element)),
            context: seen.context.chars().take(160).collect(),
            score: seen.score,
            excluded: seen.excluded,
        });
    }
    // The pick first: the candidate of the offer's method with the offer's price.
    if let Some(offer) = reading.as_ref().map(|r| &r.offer)
        && let Some(price) = offer.price
    {
        let source = CandidateSource::of(offer.method);
        if let Some(index) = list.iter().position(|c| c.source == source && c.price.amount == price.amount) {
            let mut pick = list.remove(index);
            pick.price = price;
            pick.excluded = None;
            list.insert(0, pick);
        }
    }
    Ok(list)
}

/// A selector for the element a structured method read (microdata's `itemprop="price"`, the
/// meta tag); JSON-LD has none.
fn structured_selector(page: &page::Page<'_>, method: ExtractionMethod) -> Option<String> {
    match method {
        ExtractionMethod::Microdata => {
            let el = html::select_all(page.doc, r#"[itemprop~="price"]"#).into_iter().find(|el| {
                el.attr("content").or_else(|| el.attr("value")).map_or_else(
                    || html::price_from_text(&html::text_of(*el), None).is_some(),
                    |v| html::price_from_value(v, None).is_some(),
                )
            })?;
            Some(page.selector_of(el))
        }
        ExtractionMethod::Meta => {
            ["product:sale_price:amount", "product:price:amount", "og:price:amount"].iter().find_map(|name| {
                let css = format!(r#"meta[property="{name}"]"#);
                html::select_first(page.doc, &css).map(|_| css)
            })
        }
        _ => None,
    }
}

/// Reads the price from the elements a CSS selector matches, for pages no automatic method
/// reads right.
///
/// The first matching element (of the first 100) whose `content` attribute (else `data-price`,
/// else, when those are missing or hold no price, its text as shown, cents in a `<sup>`
/// included) holds a positive price wins. The title
/// comes from `og:title` or `<title>`; availability is not read.
/// Returns [`ExtractError::InvalidSelector`] when the selector does not parse, and
/// [`ExtractError::NoPrice`] when no matching element holds a price.
pub fn extract_with_selector(html: &str, css_selector: &str) -> Result<Offer, ExtractError> {
    let selector = scraper::Selector::parse(css_selector).map_err(|e| ExtractError::InvalidSelector(e.to_string()))?;
    let doc = Html::parse_document(html);
    let price = doc
        .select(&selector)
        .take(html::MAX_CANDIDATES)
        .find_map(|el| {
            el.attr("content")
                .or_else(|| el.attr("data-price"))
                .and_then(|value| html::price_from_value(value, None))
                .or_else(|| html::price_from_text(&visible::price_text(el), None))
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

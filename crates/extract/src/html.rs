//! Small helpers over `scraper`, shared by the extraction methods.

use std::str::FromStr;

use pricetrack_domain::{Availability, Currency, Money};
use rust_decimal::Decimal;
use scraper::{ElementRef, Html, Selector};

use crate::price;

/// What one extraction method found. `price` is always set when a method returns one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) title: Option<String>,
    pub(crate) price: Money,
    pub(crate) availability: Option<Availability>,
}

/// What one source says about the product's availability, read when no method found a price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stock {
    pub(crate) title: Option<String>,
    pub(crate) availability: Availability,
}

/// Parses one of this crate's own selectors. They are all valid; `None` only guards against a
/// typo turning into a panic.
pub(crate) fn selector(css: &str) -> Option<Selector> {
    Selector::parse(css).ok()
}

/// The first [`MAX_CANDIDATES`] elements matching a selector, in document order (none for an
/// invalid selector).
pub(crate) fn select_all<'a>(doc: &'a Html, css: &str) -> Vec<ElementRef<'a>> {
    match selector(css) {
        Some(sel) => doc.select(&sel).take(MAX_CANDIDATES).collect(),
        None => Vec::new(),
    }
}

/// The first element matching a selector.
pub(crate) fn select_first<'a>(doc: &'a Html, css: &str) -> Option<ElementRef<'a>> {
    let sel = selector(css)?;
    doc.select(&sel).next()
}

/// The first [`MAX_CANDIDATES`] elements under `scope` matching a selector.
pub(crate) fn select_within<'a>(scope: ElementRef<'a>, css: &str) -> Vec<ElementRef<'a>> {
    match selector(css) {
        Some(sel) => scope.select(&sel).take(MAX_CANDIDATES).collect(),
        None => Vec::new(),
    }
}

/// Collapses runs of whitespace into one space and trims.
pub(crate) fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// More text than this is never read from one element: prices and titles are short, and this
/// bounds the work when a selector matches a large or deeply nested element.
const MAX_TEXT_BYTES: usize = 8192;

/// At most this many elements are tried per selector, so a page with thousands of matches
/// cannot make extraction quadratic.
pub(crate) const MAX_CANDIDATES: usize = 100;

/// An element's text (its first 8 KiB), whitespace collapsed.
pub(crate) fn text_of(el: ElementRef<'_>) -> String {
    let mut text = String::new();
    for chunk in el.text() {
        text.push_str(chunk);
        if text.len() >= MAX_TEXT_BYTES {
            break;
        }
    }
    collapse(&text)
}

/// `Some` for non-empty text.
pub(crate) fn non_empty(text: String) -> Option<String> {
    let text = collapse(&text);
    (!text.is_empty()).then_some(text)
}

/// The element and its ancestors, nearest first.
pub(crate) fn self_and_ancestors<'a>(el: ElementRef<'a>) -> impl Iterator<Item = ElementRef<'a>> {
    std::iter::once(el).chain(el.ancestors().filter_map(ElementRef::wrap))
}

/// The page's title: `og:title`, else `<title>`.
pub(crate) fn page_title(doc: &Html) -> Option<String> {
    select_all(doc, r#"meta[property="og:title"], meta[name="og:title"]"#)
        .into_iter()
        .find_map(|el| el.attr("content").map(str::to_owned).and_then(non_empty))
        .or_else(|| select_first(doc, "title").map(text_of).and_then(non_empty))
}

/// 10^15: no shop price reaches it.
fn max_amount() -> Decimal {
    Decimal::from(1_000_000_000_000_000_i64)
}

/// A usable price: positive, below 10^15, at most 6 decimals (more are rounded: they are float
/// noise such as `19.990000000000001`).
pub(crate) fn valid_amount(amount: Decimal) -> Option<Decimal> {
    if amount <= Decimal::ZERO || amount >= max_amount() {
        return None;
    }
    Some(if amount.scale() > 6 { amount.round_dp(6) } else { amount })
}

/// A plain decimal as machines write it: `1299`, `19.99`, `19.990` (no sign, no grouping).
pub(crate) fn plain_decimal(text: &str) -> Option<Decimal> {
    let text = text.trim();
    let (integer, fraction) = match text.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (text, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(integer) || fraction.is_some_and(|f| !digits(f)) || integer.trim_start_matches('0').len() > 15 {
        return None;
    }
    Decimal::from_str(text).ok().and_then(valid_amount)
}

/// A machine-readable price (`content="19.99"`, JSON-LD `"price": "19.99"`): a plain decimal
/// first, then any human format through [`price::parse_price`]. The currency written in the text
/// is used only when `currency` is `None`.
pub(crate) fn price_from_value(text: &str, currency: Option<Currency>) -> Option<Money> {
    if let Some(amount) = plain_decimal(text) {
        return Some(Money::new(amount, currency));
    }
    price_from_text(text, currency)
}

/// A human price text (`1.299,99 €`), with a currency known from elsewhere as a hint.
pub(crate) fn price_from_text(text: &str, currency: Option<Currency>) -> Option<Money> {
    let parsed = price::parse_price_hinted(text, currency)?;
    let amount = valid_amount(parsed.amount)?;
    Some(Money::new(amount, currency.or(parsed.currency)))
}

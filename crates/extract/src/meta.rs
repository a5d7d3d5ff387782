//! Open Graph / Facebook product `<meta>` tags: `product:price:amount`, `og:price:amount`.

use pricetrack_domain::Availability;
use scraper::Html;

use crate::availability;
use crate::html::{self, Found, Stock};
use crate::price;

/// The page's `<meta>` elements, collected once per reading (a selector per tag name would walk
/// the whole page each time).
fn metas(doc: &Html) -> Vec<scraper::ElementRef<'_>> {
    match html::selector("meta") {
        Some(sel) => doc.select(&sel).collect(),
        None => Vec::new(),
    }
}

/// The `content` of the first `<meta property=NAME>` (or `name=NAME`, which some shops write)
/// that has one.
fn meta(metas: &[scraper::ElementRef<'_>], name: &str) -> Option<String> {
    metas
        .iter()
        .filter(|el| el.attr("property") == Some(name) || el.attr("name") == Some(name))
        .take(html::MAX_CANDIDATES)
        .find_map(|el| el.attr("content").map(str::to_owned).and_then(html::non_empty))
}

/// The price from the product meta tags. The sale price (`product:sale_price:amount`), when a
/// shop gives one, is the price to pay and wins over the regular one; then
/// `product:price:amount`, then `og:price:amount`, each with its own `:currency` sibling.
pub(crate) fn extract(doc: &Html) -> Option<Found> {
    let metas = metas(doc);
    let price = ["product:sale_price", "product:price", "og:price"].iter().find_map(|prefix| {
        let amount = meta(&metas, &format!("{prefix}:amount"))?;
        let currency = meta(&metas, &format!("{prefix}:currency")).and_then(|c| price::currency_from_marker(&c));
        html::price_from_value(&amount, currency)
    })?;
    Some(Found { title: html::page_title(doc), price, availability: availability(&metas) })
}

/// `product:availability`, else `og:availability`.
fn availability(metas: &[scraper::ElementRef<'_>]) -> Option<Availability> {
    ["product:availability", "og:availability"]
        .iter()
        .find_map(|name| meta(metas, name).and_then(|v| availability::from_schema(&v)))
}

/// The availability the product meta tags state, with the page's title.
pub(crate) fn stock(doc: &Html) -> Option<Stock> {
    Some(Stock { availability: availability(&metas(doc))?, title: html::page_title(doc) })
}

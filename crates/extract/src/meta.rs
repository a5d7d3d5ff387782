//! Open Graph / Facebook product `<meta>` tags: `product:price:amount`, `og:price:amount`.

use pricetrack_domain::Availability;
use scraper::Html;

use crate::availability;
use crate::html::{self, Found, Stock};
use crate::price;

/// The `content` of the first `<meta property=NAME>` (or `name=NAME`, which some shops write).
fn meta(doc: &Html, name: &str) -> Option<String> {
    let css = format!(r#"meta[property="{name}"], meta[name="{name}"]"#);
    html::select_all(doc, &css)
        .into_iter()
        .find_map(|el| el.attr("content").map(str::to_owned).and_then(html::non_empty))
}

/// The price from the product meta tags. The sale price (`product:sale_price:amount`), when a
/// shop gives one, is the price to pay and wins over the regular one; then
/// `product:price:amount`, then `og:price:amount`, each with its own `:currency` sibling.
pub(crate) fn extract(doc: &Html) -> Option<Found> {
    let price = ["product:sale_price", "product:price", "og:price"].iter().find_map(|prefix| {
        let amount = meta(doc, &format!("{prefix}:amount"))?;
        let currency = meta(doc, &format!("{prefix}:currency")).and_then(|c| price::currency_from_marker(&c));
        html::price_from_value(&amount, currency)
    })?;
    Some(Found { title: html::page_title(doc), price, availability: availability(doc) })
}

/// `product:availability`, else `og:availability`.
fn availability(doc: &Html) -> Option<Availability> {
    ["product:availability", "og:availability"]
        .iter()
        .find_map(|name| meta(doc, name).and_then(|v| availability::from_schema(&v)))
}

/// The availability the product meta tags state, with the page's title.
pub(crate) fn stock(doc: &Html) -> Option<Stock> {
    Some(Stock { availability: availability(doc)?, title: html::page_title(doc) })
}

//! schema.org microdata: `itemprop="price"` and its siblings.

use pricetrack_domain::{Availability, Currency, Money};
use scraper::{ElementRef, Html};

use crate::availability;
use crate::html::{self, Found};
use crate::price;

/// The nearest element around `el` (not `el` itself) that opens an item scope.
fn scope_of(el: ElementRef<'_>) -> Option<ElementRef<'_>> {
    el.ancestors().filter_map(ElementRef::wrap).find(|a| a.attr("itemscope").is_some())
}

/// The value of a property element: `content`, then `value` (`<data>`), then text.
fn value_of(el: ElementRef<'_>) -> (String, bool) {
    match el.attr("content").or_else(|| el.attr("value")) {
        Some(v) => (v.to_owned(), true),
        None => (html::text_of(el), false),
    }
}

/// The first property `prop` inside `scope` (else anywhere in the page).
fn property<'a>(doc: &'a Html, scope: Option<ElementRef<'a>>, prop: &str) -> Option<ElementRef<'a>> {
    let css = format!(r#"[itemprop~="{prop}"]"#);
    scope.and_then(|s| html::select_within(s, &css).into_iter().next()).or_else(|| html::select_first(doc, &css))
}

fn currency(doc: &Html, scope: Option<ElementRef<'_>>) -> Option<Currency> {
    let el = property(doc, scope, "priceCurrency")?;
    price::currency_from_marker(&value_of(el).0)
}

fn availability_of(doc: &Html, scope: Option<ElementRef<'_>>) -> Option<Availability> {
    let el = property(doc, scope, "availability")?;
    let raw = el.attr("href").or_else(|| el.attr("content")).or_else(|| el.attr("value"));
    match raw {
        Some(raw) => availability::from_schema(raw),
        None => {
            let text = html::text_of(el);
            availability::from_schema(&text).or_else(|| availability::from_text(&text))
        }
    }
}

/// The name of the `Product` item around `el`: an `itemprop="name"` that belongs to that item
/// (not to a nested brand, offer or review item).
fn title(el: ElementRef<'_>) -> Option<String> {
    let product = el.ancestors().filter_map(ElementRef::wrap).find(|a| {
        a.attr("itemscope").is_some() && a.attr("itemtype").is_some_and(|t| t.to_ascii_lowercase().contains("product"))
    })?;
    html::select_within(product, r#"[itemprop~="name"]"#)
        .into_iter()
        .filter(|name| name.attr("itemscope").is_none() && scope_of(*name).map(|s| s.id()) == Some(product.id()))
        .find_map(|name| html::non_empty(value_of(name).0))
}

fn price_of(el: ElementRef<'_>, currency: Option<Currency>) -> Option<Money> {
    let (value, machine) = value_of(el);
    if machine { html::price_from_value(&value, currency) } else { html::price_from_text(&value, currency) }
}

/// The first `itemprop="price"` (else `lowPrice`) that holds a price.
pub(crate) fn extract(doc: &Html) -> Option<Found> {
    for prop in ["price", "lowPrice"] {
        for el in html::select_all(doc, &format!(r#"[itemprop~="{prop}"]"#)) {
            let scope = scope_of(el);
            let currency = currency(doc, scope);
            if let Some(price) = price_of(el, currency) {
                return Some(Found { title: title(el), price, availability: availability_of(doc, scope) });
            }
        }
    }
    None
}

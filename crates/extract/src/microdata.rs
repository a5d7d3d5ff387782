//! schema.org microdata: `itemprop="price"` and its siblings.

use pricetrack_domain::{Availability, Currency, Money};
use scraper::{ElementRef, Html};

use crate::availability;
use crate::html::{self, Found, Stock};
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

/// The availability an `itemprop="availability"` element states: its `href`, `content` or
/// `value` (a schema.org URL), else its text (`Out of stock`, `Agotado`).
fn availability_value(el: ElementRef<'_>) -> Option<Availability> {
    let raw = el.attr("href").or_else(|| el.attr("content")).or_else(|| el.attr("value"));
    match raw {
        Some(raw) => availability::from_schema(raw),
        None => {
            let text = html::text_of(el);
            availability::from_schema(&text).or_else(|| availability::from_text(&text))
        }
    }
}

fn availability_of(doc: &Html, scope: Option<ElementRef<'_>>) -> Option<Availability> {
    availability_value(property(doc, scope, "availability")?)
}

fn is_product_item(el: &ElementRef<'_>) -> bool {
    el.attr("itemscope").is_some() && el.attr("itemtype").is_some_and(|t| t.to_ascii_lowercase().contains("product"))
}

/// The nearest `Product` item around `el` (not `el` itself).
fn product_of(el: ElementRef<'_>) -> Option<ElementRef<'_>> {
    el.ancestors().filter_map(ElementRef::wrap).find(is_product_item)
}

/// The page's first `Product` item: the product the page is about (related and accessory
/// items come after it).
fn main_product(doc: &Html) -> Option<ElementRef<'_>> {
    html::select_all(doc, "[itemscope][itemtype]").into_iter().find(is_product_item)
}

/// The `prop` elements of `product` itself, not of a product nested in it.
fn own_properties<'a>(product: ElementRef<'a>, prop: &str) -> impl Iterator<Item = ElementRef<'a>> {
    html::select_within(product, &format!(r#"[itemprop~="{prop}"]"#))
        .into_iter()
        .filter(move |el| product_of(*el).map(|p| p.id()) == Some(product.id()))
}

/// The main product says it is out of stock and shows no price of its own: a price elsewhere
/// on the page belongs to another product.
fn out_of_stock_without_price(product: ElementRef<'_>) -> bool {
    let out_of_stock = own_properties(product, "availability")
        .find_map(availability_value)
        .is_some_and(|a| a == Availability::OutOfStock);
    out_of_stock
        && !["price", "lowPrice"]
            .iter()
            .any(|prop| own_properties(product, prop).any(|el| price_of(el, None).is_some()))
}

/// The name of the `Product` item around `el`: an `itemprop="name"` that belongs to that item
/// (not to a nested brand, offer or review item).
fn title(el: ElementRef<'_>) -> Option<String> {
    let product = product_of(el)?;
    html::select_within(product, r#"[itemprop~="name"]"#)
        .into_iter()
        .filter(|name| name.attr("itemscope").is_none() && scope_of(*name).map(|s| s.id()) == Some(product.id()))
        .find_map(|name| html::non_empty(value_of(name).0))
}

fn price_of(el: ElementRef<'_>, currency: Option<Currency>) -> Option<Money> {
    let (value, machine) = value_of(el);
    if machine { html::price_from_value(&value, currency) } else { html::price_from_text(&value, currency) }
}

/// The first `itemprop="price"` (else `lowPrice`) that holds a price, unless the page's main
/// product is out of stock without a price.
pub(crate) fn extract(doc: &Html) -> Option<Found> {
    if main_product(doc).is_some_and(out_of_stock_without_price) {
        return None;
    }
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

/// The availability the main product states (else, on a page without a `Product` item, the
/// first `itemprop="availability"`), with the product's name.
pub(crate) fn stock(doc: &Html) -> Option<Stock> {
    let (el, availability) = match main_product(doc) {
        Some(main) => own_properties(main, "availability").find_map(|el| availability_value(el).map(|a| (el, a)))?,
        None => {
            let el = html::select_first(doc, r#"[itemprop~="availability"]"#)?;
            (el, availability_value(el)?)
        }
    };
    Some(Stock { title: title(el), availability })
}

//! schema.org `Product` data in `<script type="application/ld+json">` blocks.

use std::str::FromStr;

use pricetrack_domain::{Availability, Currency, Money};
use rust_decimal::Decimal;
use scraper::Html;

use crate::availability;
use crate::html::{self, Found, Stock};
use crate::json::{self, Json};
use crate::price;

/// Types whose objects carry `offers` for the product the page is about.
const PRODUCT_TYPES: &[&str] =
    &["product", "productgroup", "individualproduct", "productmodel", "someproducts", "vehicle", "car", "book"];

/// Properties that lead to *other* products (related, similar, accessories): never followed.
/// `itemListElement` too: an `ItemList` of products is a category listing or a "customers also
/// bought" carousel, never the product the page is about.
const OTHER_PRODUCTS: &[&str] = &[
    "isrelatedto",
    "issimilarto",
    "isaccessoryorsparepartfor",
    "isconsumablefor",
    "isvariantof",
    "review",
    "reviews",
    "itemlistelement",
];

/// `priceType` values of prices that are not the price to pay (the strike-through one).
const NOT_TO_PAY: &[&str] =
    &["listprice", "strikethroughprice", "msrp", "srp", "invoiceprice", "minimumadvertisedprice"];

/// At most this many products are looked at.
const MAX_PRODUCTS: usize = 64;

/// Each JSON-LD block of the page, parsed (broken blocks are repaired if possible, else skipped).
fn blocks(doc: &Html) -> Vec<Json> {
    html::select_all(doc, "script[type]")
        .into_iter()
        .filter(|el| el.attr("type").is_some_and(|t| t.trim().to_ascii_lowercase().starts_with("application/ld+json")))
        .filter_map(|el| {
            let text: String = el.text().collect();
            json::parse(&text).or_else(|| json::parse(&json::sanitize(&text)))
        })
        .collect()
}

fn last_segment(raw: &str) -> String {
    let trimmed = raw.trim().trim_end_matches('/');
    trimmed.rsplit(['/', '#', ':']).next().unwrap_or(trimmed).to_ascii_lowercase()
}

fn has_type(node: &Json, types: &[&str]) -> bool {
    node.get("@type").is_some_and(|t| t.strings().iter().any(|s| types.contains(&last_segment(s).as_str())))
}

/// Products in document order; the variants of a product group follow the group.
fn collect_products<'a>(node: &'a Json, depth: usize, out: &mut Vec<&'a Json>) {
    if depth > 20 || out.len() >= MAX_PRODUCTS {
        return;
    }
    match node {
        Json::Array(items) => {
            for item in items {
                collect_products(item, depth + 1, out);
            }
        }
        Json::Object(entries) => {
            if has_type(node, PRODUCT_TYPES) {
                out.push(node);
                if let Some(variants) = node.get("hasVariant") {
                    for variant in variants.items() {
                        collect_products(variant, depth + 1, out);
                    }
                }
                return;
            }
            for (key, value) in entries {
                if !OTHER_PRODUCTS.contains(&key.to_ascii_lowercase().as_str()) {
                    collect_products(value, depth + 1, out);
                }
            }
        }
        _ => {}
    }
}

fn currency_value(value: &Json) -> Option<Currency> {
    value.strings().into_iter().find_map(price::currency_from_marker)
}

fn availability_value(value: &Json) -> Option<Availability> {
    value.strings().into_iter().find_map(availability::from_schema)
}

/// A JSON number from its text: `19.99`, `1299`, `1.5e2`.
fn number(text: &str) -> Option<Decimal> {
    let amount =
        if text.contains(['e', 'E']) { Decimal::from_scientific(text).ok()? } else { Decimal::from_str(text).ok()? };
    html::valid_amount(amount)
}

/// A `price` value: a number, a string (plain decimal first, then any human format), or an
/// array / `@value` object holding one.
fn price_value(value: &Json, currency: Option<Currency>) -> Option<Money> {
    match value {
        Json::Number(text) => number(text).map(|amount| Money::new(amount, currency)),
        Json::String(text) => html::price_from_value(text, currency),
        Json::Array(items) => items.iter().find_map(|item| price_value(item, currency)),
        Json::Object(_) => value.get("@value").and_then(|v| price_value(v, currency)),
        _ => None,
    }
}

/// The price of a `priceSpecification` (object or array), preferring entries that are not a
/// list / strike-through price nor a unit price (`referenceQuantity`).
fn specification_price(specs: &Json, currency: Option<Currency>) -> Option<Money> {
    let items = specs.items();
    let to_pay = |spec: &&&Json| {
        let list = spec
            .get("priceType")
            .is_some_and(|t| t.strings().iter().any(|s| NOT_TO_PAY.contains(&last_segment(s).as_str())));
        !list && spec.get("referenceQuantity").is_none()
    };
    let price_of = |spec: &&Json| -> Option<Money> {
        let currency = spec.get("priceCurrency").and_then(currency_value).or(currency);
        ["price", "minPrice"].iter().find_map(|key| spec.get(key).and_then(|v| price_value(v, currency)))
    };
    items.iter().filter(to_pay).find_map(price_of).or_else(|| items.iter().find_map(price_of))
}

/// One `Offer` / `AggregateOffer`: `price`, else `lowPrice`, else `priceSpecification`, else the
/// offers an aggregate lists.
fn offer(node: &Json, inherited: Option<Currency>, depth: usize) -> Option<(Money, Option<Availability>)> {
    if !matches!(node, Json::Object(_)) {
        return None;
    }
    let currency = node.get("priceCurrency").and_then(currency_value).or(inherited);
    let mut found_availability = node.get("availability").and_then(availability_value);
    let price = ["price", "lowPrice"]
        .iter()
        .find_map(|key| node.get(key).and_then(|v| price_value(v, currency)))
        .or_else(|| node.get("priceSpecification").and_then(|s| specification_price(s, currency)))
        .or_else(|| {
            let nested = node.get("offers").filter(|_| depth < 4)?;
            let (money, availability) = best_offer(nested, currency, depth + 1)?;
            found_availability = found_availability.or(availability);
            Some(money)
        })?;
    Some((price, found_availability))
}

/// The first priced offer that is not out of stock, else the first priced offer.
fn best_offer(offers: &Json, inherited: Option<Currency>, depth: usize) -> Option<(Money, Option<Availability>)> {
    let mut first = None;
    for node in offers.items() {
        let Some(found) = offer(node, inherited, depth) else { continue };
        if found.1 != Some(Availability::OutOfStock) {
            return Some(found);
        }
        first = first.or(Some(found));
    }
    first
}

fn name(product: &Json) -> Option<String> {
    product.get("name").and_then(|n| n.strings().into_iter().find_map(|s| html::non_empty(s.to_owned())))
}

/// The page's products, in document order, read from its JSON-LD blocks.
fn products(blocks: &[Json]) -> Vec<&Json> {
    let mut products = Vec::new();
    for block in blocks {
        collect_products(block, 0, &mut products);
    }
    products
}

/// What a product says about its availability: its first offer that states one, else the
/// product itself.
fn product_availability(product: &Json) -> Option<Availability> {
    product
        .get("offers")
        .and_then(|offers| offers.items().into_iter().find_map(|o| o.get("availability").and_then(availability_value)))
        .or_else(|| product.get("availability").and_then(availability_value))
}

/// The product says it is out of stock and none of its offers has a price: the price of a
/// later product on the page (an accessory, a "you may also like" item outside an `ItemList`)
/// is not its price. A product group is left alone: its variants carry the prices.
fn out_of_stock_without_price(product: &Json) -> bool {
    product.get("hasVariant").is_none()
        && product_availability(product) == Some(Availability::OutOfStock)
        && product.get("offers").and_then(|offers| best_offer(offers, None, 0)).is_none()
}

/// The first product with a priced offer, unless the page's first product is out of stock
/// without a price.
pub(crate) fn extract(doc: &Html) -> Option<Found> {
    let blocks = blocks(doc);
    let products = products(&blocks);
    if products.first().is_some_and(|main| out_of_stock_without_price(main)) {
        return None;
    }
    let first_name = products.iter().find_map(|p| name(p));
    products.iter().find_map(|product| {
        let offers = product.get("offers")?;
        let (price, offer_availability) = best_offer(offers, None, 0)?;
        let availability = offer_availability.or_else(|| product.get("availability").and_then(availability_value));
        Some(Found { title: name(product).or_else(|| first_name.clone()), price, availability })
    })
}

/// The availability of the page's first product that states one, with that product's name.
pub(crate) fn stock(doc: &Html) -> Option<Stock> {
    let blocks = blocks(doc);
    let products = products(&blocks);
    let first_name = products.iter().find_map(|p| name(p));
    products.iter().find_map(|product| {
        let availability = product_availability(product)?;
        Some(Stock { title: name(product).or_else(|| first_name.clone()), availability })
    })
}

/// The availability of the page's first product that states one (to complete a shop rule).
pub(crate) fn availability(doc: &Html) -> Option<Availability> {
    stock(doc).map(|found| found.availability)
}

//! Rules for shops whose pages carry no usable structured data, or carry misleading prices
//! (strike-through list prices, carousels of other products) next to the real one.

use std::str::FromStr;

use pricetrack_domain::{Availability, Currency, Money};
use rust_decimal::Decimal;
use scraper::{ElementRef, Html};

use crate::availability;
use crate::html::{self, Found, Stock};
use crate::jsonld;
use crate::price::{self, Strength};

/// A shop with its own rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shop {
    /// Any Amazon storefront; the currency its domain sells in, when known.
    Amazon(Option<Currency>),
    /// pccomponentes.com (and its .pt/.it/.fr sites): prices in EUR.
    PcComponentes,
}

/// The currency of an Amazon storefront, by the labels after `amazon`.
fn amazon_currency(tld: &[&str]) -> Option<Currency> {
    let code = match tld {
        ["com"] => "USD",
        ["ca"] => "CAD",
        ["com", "mx"] => "MXN",
        ["com", "br"] => "BRL",
        ["co", "uk"] => "GBP",
        ["de" | "fr" | "es" | "it" | "nl" | "ie"] | ["com", "be"] => "EUR",
        ["pl"] => "PLN",
        ["se"] => "SEK",
        ["co", "jp"] => "JPY",
        ["in"] => "INR",
        ["com", "au"] => "AUD",
        ["sg"] => "SGD",
        ["ae"] => "AED",
        ["sa"] => "SAR",
        ["com", "tr"] => "TRY",
        ["eg"] => "EGP",
        ["cn"] => "CNY",
        _ => return None,
    };
    Currency::parse(code).ok()
}

/// Which shop a host belongs to: `www.amazon.es`, `amazon.co.uk`, `smile.amazon.com`,
/// `www.pccomponentes.com`. `amazon.example.com` is no Amazon.
fn shop_of_host(host: &str) -> Option<Shop> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = host.split('.').collect();
    let position = labels.iter().position(|l| *l == "amazon");
    if let Some(tld) = position.and_then(|p| labels.get(p + 1..)) {
        let plausible = match tld {
            [one] => (2..=3).contains(&one.len()),
            [second, top] => matches!(*second, "co" | "com") && top.len() == 2,
            _ => false,
        };
        if plausible {
            return Some(Shop::Amazon(amazon_currency(tld)));
        }
    }
    if labels.len() >= 2 && labels.get(labels.len() - 2) == Some(&"pccomponentes") {
        return Some(Shop::PcComponentes);
    }
    None
}

/// The shop whose rule applies: by the page's host, else by unmistakable markup.
pub(crate) fn detect(doc: &Html, page_url: Option<&url::Url>) -> Option<Shop> {
    if let Some(shop) = page_url.and_then(url::Url::host_str).and_then(shop_of_host) {
        return Some(shop);
    }
    let amazon_markers = "#corePrice_feature_div, #corePriceDisplay_desktop_feature_div, #apex_desktop, \
                          #priceblock_ourprice, #priceblock_dealprice";
    if html::select_first(doc, amazon_markers).is_some() {
        return Some(Shop::Amazon(None));
    }
    if html::select_first(doc, "#pdp-price-current-integer, #precio-main").is_some() {
        return Some(Shop::PcComponentes);
    }
    None
}

/// Runs a shop's rule.
pub(crate) fn extract(doc: &Html, shop: Shop) -> Option<Found> {
    match shop {
        Shop::Amazon(currency) => amazon(doc, currency),
        Shop::PcComponentes => pccomponentes(doc),
    }
}

/// What a shop's page says about availability, read the way its rule reads it, with the
/// product's title.
pub(crate) fn stock(doc: &Html, shop: Shop) -> Option<Stock> {
    let (availability, title) = match shop {
        Shop::Amazon(_) => (amazon_availability(doc)?, amazon_title(doc)),
        Shop::PcComponentes => (pcc_availability(doc)?, pcc_title(doc)),
    };
    Some(Stock { title, availability })
}

// --- Amazon -------------------------------------------------------------------------------

/// Price blocks of the price to pay, most specific first. Each is read through its
/// `.a-offscreen` text (`19,99 €`), else its `.a-price-whole` + `.a-price-fraction`.
const AMAZON_BLOCKS: &[&str] = &[
    "#corePriceDisplay_desktop_feature_div .priceToPay",
    "#corePrice_feature_div .priceToPay",
    ".apexPriceToPay",
    ".priceToPay",
    "#corePriceDisplay_desktop_feature_div .a-price",
    "#corePrice_feature_div .a-price",
    "#corePrice_desktop .a-price",
    "#apex_desktop .a-price",
];

/// Older layouts: elements whose own text is the price.
const AMAZON_ELEMENTS: &[&str] = &[
    "#priceblock_dealprice",
    "#priceblock_saleprice",
    "#priceblock_ourprice",
    "#price_inside_buybox",
    "#newBuyBoxPrice",
    // Kindle and other formats: the Kindle price, else the selected format's swatch.
    "#kindle-price",
    "#tmmSwatches .selected .slot-price",
    "#tmmSwatches .a-button-selected .a-color-price",
    "#buyNewSection .offer-price",
    // Only used offers: the used buy box is the price to pay.
    "#usedBuySection .offer-price",
    "#usedBuySection .a-color-price",
    "#usedPrice",
];

/// Inside a strike-through list price (`data-a-strike`, `a-text-price`, `basisPrice`), or
/// another product's card (carousels, sponsored and similar items): never the price to pay.
fn amazon_excluded(el: ElementRef<'_>) -> bool {
    html::self_and_ancestors(el).any(|e| {
        let v = e.value();
        // `a-text-price` styles the list price, but also the price to pay in the older
        // `apexPriceToPay` table layout.
        let to_pay = v.classes().any(|c| matches!(c, "apexPriceToPay" | "priceToPay"));
        let bad_class = v.classes().any(|c| {
            (c == "a-text-price" && !to_pay)
                || matches!(c, "basisPrice" | "a-text-strike")
                || c.starts_with("a-carousel")
        });
        let struck = v.attr("data-a-strike").is_some_and(|s| s.eq_ignore_ascii_case("true"));
        let other_product = v.id().is_some_and(|id| {
            let id = id.to_ascii_lowercase();
            ["carousel", "sims", "rhf", "sp_detail", "similarities", "p13n", "comparison"]
                .iter()
                .any(|bad| id.contains(bad))
        });
        bad_class || struck || other_product
    })
}

/// The currency of an Amazon price: what the text says when it is specific (`€`, `R$`, `EUR`),
/// else the storefront's (a bare `$` on amazon.ca is CAD, `kr` on amazon.se is SEK).
fn amazon_money(text: &str, store: Option<Currency>) -> Option<Money> {
    let parsed = price::parse_price_detailed(text, store)?;
    let amount = html::valid_amount(parsed.money.amount)?;
    let specific = matches!(parsed.strength, Some(Strength::Symbol | Strength::Iso));
    let currency = if specific { parsed.money.currency } else { store.or(parsed.money.currency) };
    Some(Money::new(amount, currency))
}

fn whole_and_fraction(block: ElementRef<'_>, store: Option<Currency>) -> Option<Money> {
    let first_text = |css: &str| html::select_within(block, css).into_iter().next().map(html::text_of);
    let whole: String = first_text(".a-price-whole")?.chars().filter(char::is_ascii_digit).collect();
    let fraction: String =
        first_text(".a-price-fraction").unwrap_or_default().chars().filter(char::is_ascii_digit).collect();
    if whole.is_empty() || whole.trim_start_matches('0').len() > 15 || fraction.len() > 6 {
        return None;
    }
    let text = if fraction.is_empty() { whole } else { format!("{whole}.{fraction}") };
    let amount = html::valid_amount(Decimal::from_str(&text).ok()?)?;
    let symbol = first_text(".a-price-symbol").unwrap_or_default();
    let currency = match (price::currency_from_marker(&symbol), store) {
        // `$` and `¥` say little: the storefront knows better.
        (Some(_), Some(store)) if matches!(symbol.trim(), "$" | "¥" | "￥") => Some(store),
        (found, store) => found.or(store),
    };
    Some(Money::new(amount, currency))
}

fn amazon_price(doc: &Html, store: Option<Currency>) -> Option<Money> {
    for css in AMAZON_BLOCKS {
        for block in html::select_all(doc, css) {
            if amazon_excluded(block) {
                continue;
            }
            let offscreen = html::select_within(block, ".a-offscreen")
                .into_iter()
                .filter(|el| !amazon_excluded(*el))
                .find_map(|el| amazon_money(&html::text_of(el), store));
            if let Some(money) = offscreen.or_else(|| whole_and_fraction(block, store)) {
                return Some(money);
            }
        }
    }
    AMAZON_ELEMENTS
        .iter()
        .flat_map(|css| html::select_all(doc, css))
        .filter(|el| !amazon_excluded(*el))
        .find_map(|el| amazon_money(&html::text_of(el), store))
}

fn amazon_title(doc: &Html) -> Option<String> {
    html::select_first(doc, "#productTitle, #title").map(html::text_of).and_then(html::non_empty)
}

/// The `#availability` line (`In stock.`, `No disponible.`), else the `#outOfStock` box.
fn amazon_availability(doc: &Html) -> Option<Availability> {
    html::select_first(doc, "#availability")
        .and_then(|el| availability::from_text(&html::text_of(el)))
        .or_else(|| html::select_first(doc, "#outOfStock").map(|_| Availability::OutOfStock))
}

fn amazon(doc: &Html, store: Option<Currency>) -> Option<Found> {
    let price = amazon_price(doc, store)?;
    Some(Found { title: amazon_title(doc), price, availability: amazon_availability(doc) })
}

// --- PCComponentes --------------------------------------------------------------------------
//
// Modelled on two layouts (assumed, from public pages; adjust when real pages disagree):
// * current: `<div id="pdp-price-current-container"><span id="pdp-price-current-integer">1.299
//   </span><span id="pdp-price-current-decimals">,99€</span></div>`, with the old price in
//   `#pdp-price-original`;
// * older: `<div class="priceBlock"><div id="precio-main" data-price="209.9">
//   <span class="baseprice">209</span><span class="cents">,90€</span></div></div>`.
// Prices are Spanish-formatted euros. Availability is read from `#pdp-section-availability` /
// `#pdp-availability` text, else from the page's JSON-LD.

fn pcc_price(doc: &Html) -> Option<Money> {
    let euro = Some(Currency::EUR);
    if let Some(integer) = html::select_first(doc, "#pdp-price-current-integer") {
        let mut text = html::text_of(integer);
        if let Some(decimals) = html::select_first(doc, "#pdp-price-current-decimals") {
            let decimals = html::text_of(decimals);
            if !text.contains(&decimals) {
                if decimals.starts_with(|c: char| c.is_ascii_digit()) && !text.ends_with([',', '.']) {
                    text.push(',');
                }
                text.push_str(&decimals);
            }
        }
        if let Some(money) = html::price_from_text(&text, euro) {
            return Some(money);
        }
    }
    let texts = ["#pdp-price-current-container", "#precio-main", ".priceBlock"];
    let attributes = ["#precio-main[data-price]", ".priceBlock [data-price]", "#pdp-price [data-price]"];
    attributes
        .iter()
        .flat_map(|css| html::select_all(doc, css))
        .find_map(|el| el.attr("data-price").and_then(|v| html::price_from_value(v, euro)))
        .or_else(|| {
            texts
                .iter()
                .flat_map(|css| html::select_all(doc, css))
                .find_map(|el| html::price_from_text(&html::text_of(el), euro))
        })
}

fn pcc_title(doc: &Html) -> Option<String> {
    html::select_first(doc, "#pdp-title, h1").map(html::text_of).and_then(html::non_empty)
}

fn pcc_availability(doc: &Html) -> Option<Availability> {
    html::select_first(doc, "#pdp-section-availability, #pdp-availability, .pdp-availability")
        .and_then(|el| availability::from_text(&html::text_of(el)))
        .or_else(|| jsonld::availability(doc))
}

fn pccomponentes(doc: &Html) -> Option<Found> {
    let price = pcc_price(doc)?;
    Some(Found { title: pcc_title(doc), price, availability: pcc_availability(doc) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(shop_of_host("www.amazon.es"), Some(Shop::Amazon(Some(Currency::EUR))));
        assert_eq!(shop_of_host("amazon.co.uk"), Some(Shop::Amazon(Some(Currency::GBP))));
        assert_eq!(shop_of_host("smile.amazon.com"), Some(Shop::Amazon(Some(Currency::USD))));
        assert_eq!(shop_of_host("www.amazon.com.mx."), Some(Shop::Amazon(Currency::parse("MXN").ok())));
        assert_eq!(shop_of_host("amazon.example.com"), None);
        assert_eq!(shop_of_host("amazon.evil"), None);
        assert_eq!(shop_of_host("amazon.xyz"), Some(Shop::Amazon(None)));
        assert_eq!(shop_of_host("notamazon.com"), None);
        assert_eq!(shop_of_host("www.pccomponentes.com"), Some(Shop::PcComponentes));
        assert_eq!(shop_of_host("pccomponentes.com.evil.org"), None);
        assert_eq!(shop_of_host("example.org"), None);
    }
}

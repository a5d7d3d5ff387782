//! Property tests: no input makes the parsers panic, and whatever they return is a sane price
//! (or, for an out-of-stock page, no price).
//! (The cargo-fuzz targets in `/fuzz` go further; these run with every `cargo test`.)

use pricetrack_domain::Availability;
use pricetrack_extract::{extract_offer, extract_with_selector, parse_price};
use proptest::prelude::*;
use rust_decimal::Decimal;

/// Pieces of price texts: digits, every separator, currency markers, signs, words.
fn price_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{1,4}",
        Just(".".to_owned()),
        Just(",".to_owned()),
        Just(" ".to_owned()),
        Just("\u{a0}".to_owned()),
        Just("\u{202f}".to_owned()),
        Just("'".to_owned()),
        Just("’".to_owned()),
        Just("-".to_owned()),
        Just("–".to_owned()),
        Just(":".to_owned()),
        Just("%".to_owned()),
        Just("/".to_owned()),
        Just("€".to_owned()),
        Just("$".to_owned()),
        Just("US$".to_owned()),
        Just("R$".to_owned()),
        Just("£".to_owned()),
        Just("¥".to_owned()),
        Just("₹".to_owned()),
        Just("kr".to_owned()),
        Just("zł".to_owned()),
        Just("CHF".to_owned()),
        Just("Fr.".to_owned()),
        Just("EUR".to_owned()),
        Just("usd".to_owned()),
        Just("SEK".to_owned()),
        Just("Price".to_owned()),
        Just("ab".to_owned()),
        "\\PC{0,3}",
    ]
}

fn price_text() -> impl Strategy<Value = String> {
    prop::collection::vec(price_piece(), 0..16).prop_map(|pieces| pieces.concat())
}

/// Pieces of product pages: tags the extractors look for, with random prices inside.
fn html_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        price_text(),
        price_text().prop_map(|p| format!(r#"<script type="application/ld+json">{{"@type":"Product","name":"x","offers":{{"price":"{p}","priceCurrency":"EUR"}}}}</script>"#)),
        "[-0-9.eE+]{0,12}".prop_map(|n| format!(r#"<script type="application/ld+json">{{"@graph":[{{"@type":["Product"],"offers":[{{"@type":"AggregateOffer","lowPrice":{n}}}]}}]}}</script>"#)),
        Just(r#"<script type="application/ld+json">"#.to_owned()),
        Just("</script>".to_owned()),
        Just(r#"{"@type":"Product","offers":{"price":"#.to_owned()),
        Just("[{,]}\"".to_owned()),
        price_text().prop_map(|p| format!(r#"<span itemprop="price">{p}</span>"#)),
        price_text().prop_map(|p| format!(r#"<meta itemprop="price" content="{p}">"#)),
        Just(r#"<div itemscope itemtype="https://schema.org/Product">"#.to_owned()),
        Just(r#"<link itemprop="availability" href="https://schema.org/OutOfStock">"#.to_owned()),
        price_text().prop_map(|p| format!(r#"<span itemprop="availability">{p} Sold out</span>"#)),
        price_text().prop_map(|p| format!(r#"<script type="application/ld+json">{{"@type":"Product","name":"x","offers":{{"price":"{p}","availability":"SoldOut"}}}}</script>"#)),
        Just(r#"<meta property="og:availability" content="oos">"#.to_owned()),
        Just(r#"<div id="availability">Currently unavailable.</div>"#.to_owned()),
        Just(r#"<span itemprop="name">Name</span>"#.to_owned()),
        price_text().prop_map(|p| format!(r#"<meta property="og:price:amount" content="{p}">"#)),
        price_text().prop_map(|p| format!(r#"<meta property="product:price:currency" content="{p}">"#)),
        Just(r#"<div id="corePrice_feature_div">"#.to_owned()),
        Just(r#"<span class="a-price priceToPay">"#.to_owned()),
        Just(r#"<span class="a-price a-text-price" data-a-strike="true">"#.to_owned()),
        price_text().prop_map(|p| format!(r#"<span class="a-offscreen">{p}</span>"#)),
        "[0-9,.]{0,8}".prop_map(|p| format!(r#"<span class="a-price-whole">{p}</span>"#)),
        "[0-9]{0,3}".prop_map(|p| format!(r#"<span class="a-price-fraction">{p}</span>"#)),
        price_text().prop_map(|p| format!(r#"<span id="pdp-price-current-integer">{p}</span>"#)),
        price_text().prop_map(|p| format!(r#"<div id="precio-main" data-price="{p}"></div>"#)),
        Just("<div>".to_owned()),
        Just("</div>".to_owned()),
        Just("</span>".to_owned()),
        Just("<!--".to_owned()),
        Just("<".to_owned()),
        "\\PC{0,8}",
    ]
}

fn html_page() -> impl Strategy<Value = String> {
    prop::collection::vec(html_piece(), 0..24).prop_map(|pieces| pieces.concat())
}

fn sane(amount: Decimal) -> bool {
    amount >= Decimal::ZERO && amount < Decimal::from(1_000_000_000_000_000_i64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn parse_price_never_panics_on_any_string(text in "\\PC*") {
        if let Some(money) = parse_price(&text) {
            prop_assert!(sane(money.amount), "{text:?} -> {money:?}");
        }
    }

    #[test]
    fn parse_price_never_panics_on_price_like_text(text in price_text()) {
        if let Some(money) = parse_price(&text) {
            prop_assert!(sane(money.amount), "{text:?} -> {money:?}");
        }
    }

    #[test]
    fn extract_offer_never_panics(html in html_page(), amazon in any::<bool>()) {
        let url = url::Url::parse(if amazon { "https://www.amazon.es/dp/X" } else { "https://www.pccomponentes.com/x" })
            .expect("test URL");
        for page_url in [None, Some(&url)] {
            if let Ok(offer) = extract_offer(&html, page_url) {
                match offer.price {
                    Some(price) => prop_assert!(price.amount > Decimal::ZERO && sane(price.amount), "{html:?} -> {offer:?}"),
                    None => prop_assert!(
                        offer.availability == Some(Availability::OutOfStock) && offer.disagreements.is_empty(),
                        "an offer without a price must be out of stock: {html:?} -> {offer:?}"
                    ),
                }
                for other in &offer.disagreements {
                    prop_assert!(other.price.amount > Decimal::ZERO && sane(other.price.amount), "{html:?} -> {offer:?}");
                }
            }
        }
    }

    #[test]
    fn extract_with_selector_never_panics(html in html_page(), selector in "[a-z.#\\[\\]=\" >:*-]{0,12}") {
        if let Ok(offer) = extract_with_selector(&html, &selector) {
            let price = offer.price.expect("an Ok offer has a price");
            prop_assert!(price.amount > Decimal::ZERO, "{html:?} -> {offer:?}");
        }
    }
}

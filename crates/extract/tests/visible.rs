//! The visible buy box, the structured data checked against it, currencies, stock, robot checks
//! and candidates, each on a small page written for the rule (not copied from a shop).

use std::str::FromStr;

use pricetrack_domain::{Availability, Currency, Money};
use pricetrack_extract::{
    BlockKind, CandidateSource, ExtractError, ExtractionMethod, Offer, SourcePrice, extract_offer,
    extract_with_selector, price_candidates,
};
use rust_decimal::Decimal;

fn money(amount: &str, currency: Option<&str>) -> Money {
    Money::new(
        Decimal::from_str(amount).expect("test amount"),
        currency.map(|c| Currency::parse(c).expect("test currency")),
    )
}

fn read(html: &str, url: Option<&str>) -> Offer {
    let url = url.map(|u| url::Url::parse(u).expect("test URL"));
    extract_offer(html, url.as_ref()).unwrap_or_else(|e| panic!("{e}: {html}"))
}

/// The price and method a page gives (amounts compared as numbers: `29.9` is `29.90`).
fn price_of(html: &str, url: Option<&str>) -> (String, Option<String>, ExtractionMethod) {
    let offer = read(html, url);
    let price = offer.price.unwrap_or_else(|| panic!("no price: {offer:?}"));
    (price.amount.normalize().to_string(), price.currency.map(|c| c.to_string()), offer.method)
}

/// A product page around a buy box: navigation with other products' prices before it, a
/// carousel after it.
fn page(buy_box: &str) -> String {
    format!(
        r#"<!doctype html><html lang="en"><head><title>Shop</title></head><body>
<header><nav class="mega-menu"><ul><li><a href="/a">Lamp</a> <span class="price">$9.99</span></li>
<li><a href="/b">Chair</a> <span class="price">$49.00</span></li></ul></nav></header>
<main><div class="product-main"><h1>Walnut Desk Organiser</h1>
{buy_box}
<p>Hand-made from oiled walnut. Fits A4 paper and a 15" laptop.</p></div>
<section class="related-products"><h2>You may also like</h2><ul>
<li class="card"><a href="/c">Pen tray</a><span class="price">$12.00</span></li>
<li class="card"><a href="/d">Letter rack</a><span class="price">$19.00</span></li>
<li class="card"><a href="/e">Desk lamp</a><span class="price">$89.00</span></li></ul></section></main>
<footer>Free shipping over $50</footer></body></html>"#
    )
}

fn cart() -> &'static str {
    r#"<form action="/cart/add"><button type="submit" class="add-to-cart">Add to cart</button></form>"#
}

#[test]
fn the_general_buy_box_skips_old_savings_unit_instalment_and_shipping_amounts() {
    let html = page(&format!(
        r#"<div class="price-area"><span class="was">Was $64.00</span> <span class="price-now">$48.00</span>
<span class="saving">You save $16.00</span> <span class="unit">($4.80 / 100 g)</span>
<p class="klarna">or 4 payments of $12.00</p></div>{}"#,
        cart()
    ));
    assert_eq!(price_of(&html, None), ("48".into(), Some("USD".into()), ExtractionMethod::Visible));
    // Without the title and the cart, the prices are no one's: nothing is read.
    let bare = r#"<html><body><p>Our bestseller costs around $48.00 in most shops, and sometimes drops to $40.</p></body></html>"#;
    assert_eq!(extract_offer(bare, None), Err(ExtractError::NoPrice));
}

#[test]
fn struck_through_list_and_rrp_prices_are_old() {
    for buy_box in [
        r#"<del>$59.00</del> <ins>$45.00</ins>"#,
        r#"<s>$59.00</s> <strong>$45.00</strong>"#,
        r#"<span style="text-decoration: line-through">$59.00</span> <span>$45.00</span>"#,
        r#"<span class="old-price">$59.00</span> <span class="special-price">$45.00</span>"#,
        r#"<span>RRP $59.00</span> <span class="price">$45.00</span>"#,
        r#"<span>List Price: $59.00</span> <span class="price">$45.00</span>"#,
        r#"<span class="compare-at">$59.00</span> <span class="price">$45.00</span>"#,
    ] {
        let html = page(&format!("<div>{buy_box}</div>{}", cart()));
        assert_eq!(price_of(&html, None).0, "45", "{buy_box}");
    }
}

#[test]
fn split_prices_read_as_one() {
    for (buy_box, amount, currency) in [
        // Cents in a <sup>, thousands with a dot, the currency in its own element.
        (r#"<p class="product-new-price">2.999<sup>99</sup> <span>Lei</span></p>"#, "2999.99", "RON"),
        // Dollars and cents in their own elements.
        (r#"<li class="price-current">$<strong>459</strong><sup>.95</sup></li>"#, "459.95", "USD"),
        // A decimal comma with the cents in a span.
        (r#"<div class="price">€ 9,<span>69</span></div>"#, "9.69", "EUR"),
        // The currency before, in its own span.
        (
            r#"<span class="price"><span class="currency">CHF</span> <span class="value">105.00</span></span>"#,
            "105",
            "CHF",
        ),
    ] {
        let html = page(&format!("{buy_box}{}", cart()));
        let (got, got_currency, _) = price_of(&html, None);
        assert_eq!((got.as_str(), got_currency.as_deref()), (amount, Some(currency)), "{buy_box}");
    }
}

#[test]
fn platform_price_boxes() {
    let cases = [
        // Magento 2: final and old price in one price box.
        (
            r#"<div class="product-info-main"><h1>Walnut Desk Organiser</h1><div class="price-box">
<span class="old-price"><span data-price-type="oldPrice" class="price-wrapper"><span class="price">129,95 €</span></span></span>
<span class="special-price"><span data-price-type="finalPrice" data-price-amount="99.95" class="price-wrapper"><span class="price">99,95 €</span></span></span>
</div><button class="action tocart">In den Warenkorb</button></div>"#,
            "99.95",
        ),
        // WooCommerce: the regular price in <del>, the sale price in <ins>.
        (
            r#"<div class="summary entry-summary"><h1 class="product_title">Walnut Desk Organiser</h1><p class="price">
<del><span class="woocommerce-Price-amount amount"><bdi>59,00&nbsp;<span class="woocommerce-Price-currencySymbol">€</span></bdi></span></del>
<ins><span class="woocommerce-Price-amount amount"><bdi>39,00&nbsp;<span class="woocommerce-Price-currencySymbol">€</span></bdi></span></ins></p>
<button class="single_add_to_cart_button">Add to cart</button></div>"#,
            "39",
        ),
        // Shopify (Dawn): compare-at struck, sale price, unit price.
        (
            r#"<div class="product__info-container"><h1>Walnut Desk Organiser</h1><div class="price price--on-sale">
<s class="price-item price-item--regular">€ 7.99</s><span class="price-item price-item--sale">€ 7.35</span>
<div class="unit-price caption"><span>€ 49.00</span>&nbsp;/&nbsp;100 g</div></div>
<button class="product-form__submit">Add to cart</button></div>"#,
            "7.35",
        ),
        // Salesforce Commerce Cloud: list price struck, sales price.
        (
            r#"<div class="product-detail"><h1 class="product-name">Walnut Desk Organiser</h1><div class="prices">
<span class="strike-through list"><span class="value" content="80.00">$80.00</span></span>
<span class="sales"><span class="value" content="64.00">$64.00</span></span></div>
<button class="add-to-cart btn">Add to Cart</button></div>"#,
            "64",
        ),
        // PrestaShop: regular price, discount, current price.
        (
            r#"<h1 class="h1">Walnut Desk Organiser</h1><div class="product-prices"><div class="product-discount">
<span class="regular-price">24,90 €</span></div><div class="current-price"><span class="current-price-value" content="19.92">19,92 €</span>
<span class="discount discount-percentage">-20%</span></div></div><button class="add-to-cart">Ajouter au panier</button>"#,
            "19.92",
        ),
        // BigCommerce: with and without tax; the tax-included one is the price.
        (
            r#"<h1 class="productView-title">Walnut Desk Organiser</h1><div class="productView-price">
<span class="price price--withoutTax" data-product-price-without-tax>£40.00</span> <span>ex. VAT</span>
<span class="price price--withTax" data-product-price-with-tax>£48.00</span> <span>inc. VAT</span>
<span class="price price--rrp">£60.00</span></div><input type="submit" id="form-action-addToCart" value="Add to Cart">"#,
            "48",
        ),
    ];
    for (markup, amount) in cases {
        let html = format!("<html><body><main>{markup}</main></body></html>");
        assert_eq!(price_of(&html, None).0, amount, "{markup}");
    }
}

#[test]
fn the_tax_included_price_wins_where_both_are_shown() {
    let html = page(&format!(
        r#"<table><tr><th>Preis (exkl. MwSt.)</th><th>Preis (inkl. MwSt.)</th></tr>
<tr><td><span class="price">84,03 €</span></td><td><span class="price">100,00 €</span></td></tr></table>{}"#,
        cart()
    ));
    assert_eq!(price_of(&html, None).0, "100");
    // Only a tax-excluded price shown: it is the price.
    let only = page(&format!(r#"<span class="price">84,03 €</span> <span>zzgl. MwSt.</span>{}"#, cart()));
    assert_eq!(price_of(&only, None).0, "84.03");
}

#[test]
fn other_sellers_and_carousels_are_not_the_price() {
    let html = page(&format!(
        r#"<div class="buy-box"><span class="price">450 TL</span>{}</div>
<div class="other-sellers"><div class="seller"><a href="/s/1">Satıcı A</a><span class="price">455 TL</span></div>
<div class="seller"><a href="/s/2">Satıcı B</a><span class="price">452 TL</span></div>
<div class="seller"><a href="/s/3">Satıcı C</a><span class="price">472 TL</span></div></div>
<div class="promo">900 TL Üzeri 300 TL İndirim</div>"#,
        cart()
    ));
    assert_eq!(price_of(&html, None), ("450".into(), Some("TRY".into()), ExtractionMethod::Visible));
}

#[test]
fn a_stale_structured_price_loses_to_the_visible_sale_and_the_disagreement_is_kept() {
    let html = page(&format!(
        r#"<script type="application/ld+json">{{"@type":"Product","name":"Walnut Desk Organiser","offers":{{"price":"64.00","priceCurrency":"USD","availability":"InStock"}}}}</script>
<div><del class="price-old">$64.00</del> <span class="price-sale">$48.00</span></div>{}"#,
        cart()
    ));
    let offer = read(&html, None);
    assert_eq!(offer.price, Some(money("48.00", Some("USD"))));
    assert_eq!(offer.method, ExtractionMethod::Visible);
    assert_eq!(
        offer.disagreements,
        vec![SourcePrice { method: ExtractionMethod::JsonLd, price: money("64.00", Some("USD")) }]
    );

    // The buy box agrees: the structured price stays, nothing to record.
    let agreeing = page(&format!(
        r#"<script type="application/ld+json">{{"@type":"Product","name":"Walnut Desk Organiser","offers":{{"price":"48","priceCurrency":"USD"}}}}</script>
<div><del>$64.00</del> <span class="price">$48.00</span></div>{}"#,
        cart()
    ));
    let offer = read(&agreeing, None);
    assert_eq!((offer.method, offer.disagreements), (ExtractionMethod::JsonLd, Vec::new()));
}

#[test]
fn a_missing_currency_comes_from_the_page_and_never_from_a_guess() {
    let structured = |head: &str, body: &str, lang: &str| {
        format!(
            r#"<html lang="{lang}"><head>{head}<script type="application/ld+json">{{"@type":"Product","name":"Kettle","offers":{{"price":"19.99"}}}}</script></head>
<body><h1>Kettle</h1>{body}</body></html>"#
        )
    };
    let currency = |html: &str, url: Option<&str>| price_of(html, url).1;
    // The visible price.
    assert_eq!(currency(&structured("", r#"<span class="price">19,99 €</span>"#, "en"), None).as_deref(), Some("EUR"));
    // The declared currency.
    let declared = structured(r#"<meta property="og:price:currency" content="GBP">"#, "", "en");
    assert_eq!(currency(&declared, None).as_deref(), Some("GBP"));
    // The locale: <html lang> with a region, else the country domain.
    assert_eq!(currency(&structured("", "", "de-CH"), None).as_deref(), Some("CHF"));
    assert_eq!(currency(&structured("", "", "en"), Some("https://www.shop.ro/p/1")).as_deref(), Some("RON"));
    // They disagree: no currency.
    assert_eq!(currency(&structured(r#"<meta property="og:price:currency" content="GBP">"#, "", "de-CH"), None), None);
    assert_eq!(currency(&structured("", "", "en"), Some("https://shop.example/p/1")), None);
}

#[test]
fn out_of_stock_in_many_languages_and_a_disabled_cart() {
    for signal in [
        r#"<p class="stock">Sold out</p>"#,
        r#"<span class="availability">Agotado</span>"#,
        r#"<span class="product__badge--soldout">Ausverkauft</span>"#,
        r#"<p class="availability out-of-stock">Épuisé</p>"#,
        r#"<span class="availability">Esaurito</span>"#,
        r#"<button class="add-to-basket sold-out">Tükendi!</button>"#,
        r#"<span class="stock-status">在庫切れ</span>"#,
        r#"<button class="notify">Notify me when available</button>"#,
        r#"<button class="add-to-cart" disabled>Add to cart</button>"#,
        r#"<div id="availability">Currently unavailable.</div>"#,
        r#"<li class="availability-future">Temporarily out of stock</li>"#,
        r#"<span id="product_info_inform_header">Dieser Artikel ist nicht im Sortiment</span>"#,
    ] {
        let html = page(&format!(r#"<span class="price">$48.00</span>{signal}"#));
        let offer = read(&html, None);
        assert_eq!(offer.availability, Some(Availability::OutOfStock), "{signal}");
        assert_eq!(offer.price, Some(money("48.00", Some("USD"))), "{signal}");
    }
    // In stock: a working cart button.
    let html = page(&format!(r#"<span class="price">$48.00</span>{}"#, cart()));
    assert_eq!(read(&html, None).availability, Some(Availability::InStock));
}

#[test]
fn a_visible_out_of_stock_buy_box_overrides_a_structured_in_stock() {
    let html = page(
        r#"<script type="application/ld+json">{"@type":"Product","name":"Walnut Desk Organiser","offers":{"price":"48","priceCurrency":"USD","availability":"https://schema.org/InStock"}}</script>
<span class="price">$48.00</span><button class="add-to-cart sold-out" disabled>Sold out</button>"#,
    );
    let offer = read(&html, None);
    assert_eq!((offer.method, offer.availability), (ExtractionMethod::JsonLd, Some(Availability::OutOfStock)));
}

#[test]
fn amazon_used_only_and_kindle_prices() {
    let used = r#"<html><body><h1 id="title"><span id="productTitle">Old Atlas</span></h1>
<div id="usedBuySection"><span class="a-text-bold">Buy used:</span> <span class="a-size-medium a-color-price offer-price">$12.40</span></div>
<div id="sims-consolidated-1_feature_div"><span class="a-price"><span class="a-offscreen">$3.99</span></span></div></body></html>"#;
    assert_eq!(price_of(used, Some("https://www.amazon.com/dp/B000000020")).0, "12.4");
    let kindle = r#"<html><body><h1 id="title"><span id="productTitle">A Novel</span></h1>
<div id="tmmSwatches"><ul><li class="swatchElement selected"><span class="slot-title">Kindle</span><span class="slot-price"><span>$9.99</span></span></li>
<li class="swatchElement"><span class="slot-title">Hardcover</span><span class="slot-price"><span>$24.00</span></span></li></ul></div>
<span id="kindle-price" class="a-color-price">$9.99</span></body></html>"#;
    assert_eq!(price_of(kindle, Some("https://www.amazon.com/dp/B000000021")).0, "9.99");
}

#[test]
fn an_amazon_page_without_its_price_never_takes_a_sponsored_one() {
    let html = r#"<html><body><h1 id="title"><span id="productTitle">KVM Switch</span></h1>
<div id="availability"><span>Currently unavailable.</span></div>
<div id="value-pick-ac"><span class="a-price" id="value-pick-price-view"><span class="a-offscreen">$99.99</span></span></div>
<table class="comparison-table"><tr><td><span class="a-price"><span class="a-offscreen">$35.99</span></span></td></tr></table></body></html>"#;
    let offer = read(html, Some("https://www.amazon.com/dp/B000000022"));
    assert_eq!((offer.price, offer.availability), (None, Some(Availability::OutOfStock)));
}

#[test]
fn robot_checks_are_blocked_pages_not_pages_without_a_price() {
    let cases = [
        (
            r#"<html><head><title>Robot Check</title></head><body><form action="/errors/validateCaptcha"><p>Type the characters you see in this image:</p></form><p>amazon.com</p></body></html>"#,
            BlockKind::AmazonRobotCheck,
        ),
        (
            r#"<html><head><title>Just a moment...</title></head><body><div id="challenge-stage"></div><script src="/cdn-cgi/challenge-platform/h/g/orchestrate/chl_page/v1"></script></body></html>"#,
            BlockKind::Cloudflare,
        ),
        (
            r#"<html><head><title>Access Denied</title></head><body><h1>Access Denied</h1>You don't have permission to access this page on this server.<p>Reference #18.2f3c1402.1700000000.1a2b3c4d</p><p>https://errors.edgesuite.net/18.2f3c1402</p></body></html>"#,
            BlockKind::Akamai,
        ),
        (
            r#"<html><head><title>shop.example</title></head><body><script>var dd={'rt':'c','cid':'AHrlqA','hsh':'AB12'}</script><script src="https://ct.captcha-delivery.com/c.js"></script></body></html>"#,
            BlockKind::DataDome,
        ),
        (
            r#"<html><head><title>Access to this page has been denied</title></head><body><div id="px-captcha"></div><p>Press &amp; Hold to confirm you are a human (and not a bot).</p></body></html>"#,
            BlockKind::PerimeterX,
        ),
        (
            r#"<html><head><title>Security check</title></head><body><p>We have detected unusual traffic from your network. Please complete the captcha to continue.</p><div class="g-recaptcha" data-sitekey="x"></div></body></html>"#,
            BlockKind::Captcha,
        ),
    ];
    for (html, kind) in cases {
        assert_eq!(extract_offer(html, None), Err(ExtractError::Blocked(kind)), "{html}");
        assert_eq!(price_candidates(html, None), Err(ExtractError::Blocked(kind)), "{html}");
    }
    assert_eq!(
        ExtractError::Blocked(BlockKind::Cloudflare).to_string(),
        "the shop showed a robot check instead of the page"
    );
    // A product page with a newsletter captcha is a product page.
    let html = page(&format!(
        r#"<span class="price">$48.00</span>{}<form class="newsletter"><div class="g-recaptcha"></div></form>"#,
        cart()
    ));
    assert_eq!(price_of(&html, None).0, "48");
}

#[test]
fn candidates_list_every_price_the_pick_first_and_their_selectors_find_them_again() {
    let html = page(&format!(
        r#"<script type="application/ld+json">{{"@type":"Product","name":"Walnut Desk Organiser","offers":{{"price":"48.00","priceCurrency":"USD"}}}}</script>
<meta property="product:price:amount" content="48.00">
<div><del>$64.00</del> <span class="price">$48.00</span> <span class="unit">($4.80 / 100 g)</span></div>{}"#,
        cart()
    ));
    let candidates = price_candidates(&html, None).expect("candidates");
    let first = candidates.first().expect("a candidate");
    assert_eq!((first.source, first.price), (CandidateSource::JsonLd, money("48.00", Some("USD"))));
    let sources: Vec<_> = candidates.iter().map(|c| c.source).collect();
    for source in [CandidateSource::JsonLd, CandidateSource::Meta, CandidateSource::Visible] {
        assert!(sources.contains(&source), "{source:?} missing from {sources:?}");
    }
    let amounts: Vec<String> = candidates.iter().map(|c| c.price.amount.normalize().to_string()).collect();
    for amount in ["48", "64", "4.8", "9.99", "12"] {
        assert!(amounts.iter().any(|a| a == amount), "{amount} missing from {amounts:?}");
    }
    let old = candidates.iter().find(|c| c.price.amount == Decimal::from(64)).expect("the old price");
    assert!(old.excluded.is_some() && old.context.contains("$64.00"), "{old:?}");
    assert_round_trip(&html, &candidates);

    let json = serde_json::to_value(first).expect("serialize");
    assert_eq!(json["source"], "json-ld");
    assert_eq!(json["price"]["amount"], "48.00");

    // A page with no price: no candidates (not an error).
    assert_eq!(price_candidates("<html><body><h1>Hello</h1></body></html>", None), Ok(Vec::new()));
}

/// Every candidate's selector reads the candidate's amount again.
fn assert_round_trip(html: &str, candidates: &[pricetrack_extract::Candidate]) {
    for candidate in candidates {
        let Some(selector) = &candidate.selector else { continue };
        let again = extract_with_selector(html, selector).unwrap_or_else(|e| panic!("{selector}: {e}"));
        assert_eq!(
            again.price.map(|p| p.amount.normalize()),
            Some(candidate.price.amount.normalize()),
            "{selector} for {candidate:?}"
        );
    }
}

#[test]
fn candidates_of_the_real_pages_round_trip() {
    let dir = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/real-pages"));
    let table = std::fs::read_to_string(dir.join("pages.tsv"))
        .unwrap_or_else(|e| panic!("the real-page corpus is missing from {}: {e}", dir.display()));
    for line in table.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let html = String::from_utf8_lossy(&std::fs::read(dir.join("pages").join(cols[0])).expect("page")).into_owned();
        let url = url::Url::parse(cols[1]).expect("url");
        let candidates = price_candidates(&html, Some(&url)).expect("candidates");
        let offer = extract_offer(&html, Some(&url)).expect("offer");
        if let Some(price) = offer.price {
            assert_eq!(candidates.first().map(|c| c.price.amount), Some(price.amount), "{}", cols[0]);
        }
        // The first few, which a person would choose from.
        assert_round_trip(&html, &candidates[..candidates.len().min(4)]);
    }
}

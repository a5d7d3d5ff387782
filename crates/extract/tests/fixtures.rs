//! `extract_offer` against saved pages in `tests/fixtures/`, one per extraction path.

use std::path::PathBuf;
use std::str::FromStr;

use pricetrack_domain::{Availability, Currency, Money};
use pricetrack_extract::{ExtractError, ExtractionMethod, SourcePrice, extract_offer, extract_with_selector};
use rust_decimal::Decimal;

/// What a fixture must give.
enum Expect {
    /// A price: amount, currency, availability, method, title.
    Offer {
        amount: &'static str,
        currency: Option<&'static str>,
        availability: Option<Availability>,
        method: ExtractionMethod,
        title: Option<&'static str>,
    },
    /// No price, and the page says the product is out of stock: method, title.
    OutOfStock { method: ExtractionMethod, title: Option<&'static str> },
    /// An error.
    Error(ExtractError),
}

use Availability::{InStock, OutOfStock, PreOrder};
use ExtractionMethod::{Amazon, JsonLd, Meta, Microdata, Pccomponentes};

const fn offer(
    amount: &'static str,
    currency: Option<&'static str>,
    availability: Option<Availability>,
    method: ExtractionMethod,
    title: Option<&'static str>,
) -> Expect {
    Expect::Offer { amount, currency, availability, method, title }
}

/// (file, page URL, expected result)
fn cases() -> Vec<(&'static str, Option<&'static str>, Expect)> {
    vec![
        (
            "jsonld_simple.html",
            Some("https://shop.example/anvil"),
            offer("19.99", Some("EUR"), Some(InStock), JsonLd, Some("Acme Anvil 10kg")),
        ),
        ("jsonld_graph.html", None, offer("129.00", Some("USD"), Some(InStock), JsonLd, Some("Trail Runner 3"))),
        (
            "jsonld_offers_array.html",
            None,
            offer("289.5", Some("GBP"), Some(InStock), JsonLd, Some("Noise Cancelling Headphones X2")),
        ),
        (
            "jsonld_aggregate_offer.html",
            None,
            offer("249.00", Some("GBP"), Some(InStock), JsonLd, Some("Espresso Machine Pro")),
        ),
        (
            "jsonld_price_specification.html",
            None,
            offer("99.99", Some("EUR"), Some(InStock), JsonLd, Some("Akkuschrauber 18V")),
        ),
        (
            "jsonld_string_price.html",
            None,
            offer("1299.00", Some("EUR"), Some(PreOrder), JsonLd, Some("Consola Nova (reserva)")),
        ),
        (
            "jsonld_several_blocks_one_broken.html",
            None,
            offer("34.95", Some("EUR"), Some(InStock), JsonLd, Some("Garden Hose 30m")),
        ),
        (
            "jsonld_product_group.html",
            None,
            offer("59.00", Some("CHF"), Some(PreOrder), JsonLd, Some("Merino T-Shirt")),
        ),
        (
            "jsonld_main_entity_related.html",
            None,
            offer("150", Some("USD"), Some(InStock), JsonLd, Some("Desk Lamp Arc")),
        ),
        ("jsonld_zero_then_microdata.html", None, offer("39.90", Some("EUR"), None, Microdata, Some("Kettle 1.7 l"))),
        (
            "microdata_content.html",
            None,
            offer("1299.99", Some("EUR"), Some(InStock), Microdata, Some("Kaffeevollautomat EQ.6 plus s300")),
        ),
        ("microdata_text.html", None, offer("1049.95", Some("USD"), Some(InStock), Microdata, Some("Widget Deluxe"))),
        ("og_meta.html", None, offer("34.50", Some("GBP"), Some(InStock), Meta, Some("Waxed Cotton Jacket"))),
        (
            "product_meta.html",
            None,
            offer("59.90", Some("CHF"), Some(OutOfStock), Meta, Some("Wanderrucksack 30 l | Bergsport")),
        ),
        ("product_meta_sale.html", None, offer("329.00", Some("PLN"), None, Meta, Some("Słuchawki BT-500"))),
        (
            "amazon_es.html",
            Some("https://www.amazon.es/dp/B000000001"),
            offer("19.99", Some("EUR"), Some(InStock), Amazon, Some("Cafetera Italiana de Aluminio, 6 tazas")),
        ),
        // Without the URL, the Amazon markup is recognised all the same.
        (
            "amazon_es.html",
            None,
            offer("19.99", Some("EUR"), Some(InStock), Amazon, Some("Cafetera Italiana de Aluminio, 6 tazas")),
        ),
        (
            "amazon_com_whole_fraction.html",
            Some("https://www.amazon.com/dp/B000000002"),
            offer("1299.99", Some("USD"), Some(InStock), Amazon, Some("UltraWide Monitor 34\"")),
        ),
        (
            "amazon_de.html",
            Some("https://www.amazon.de/-/de/dp/B000000003"),
            offer("1299.00", Some("EUR"), Some(InStock), Amazon, Some("Staubsauger-Roboter S8 mit Absaugstation")),
        ),
        ("amazon_uk_no_url.html", None, offer("8.99", Some("GBP"), Some(OutOfStock), Amazon, Some("Paperback Novel"))),
        (
            "amazon_ca_dollar.html",
            Some("https://www.amazon.ca/dp/B000000004"),
            offer("49.97", Some("CAD"), Some(InStock), Amazon, Some("Cast Iron Skillet 12\"")),
        ),
        // No price, "No disponible.": out of stock, not a failure (the carousel's prices are others').
        (
            "amazon_unavailable.html",
            Some("https://www.amazon.es/dp/B000000005"),
            Expect::OutOfStock { method: Amazon, title: Some("Auriculares inalámbricos Z") },
        ),
        (
            "pccomponentes.html",
            Some("https://www.pccomponentes.com/portatil-gaming-x15"),
            offer("1299.99", Some("EUR"), Some(InStock), Pccomponentes, Some("Portátil Gaming X15 16GB 1TB RTX 4060")),
        ),
        (
            "pccomponentes_old.html",
            Some("https://www.pccomponentes.com/raton-m720"),
            offer("209.90", Some("EUR"), Some(OutOfStock), Pccomponentes, Some("Ratón Inalámbrico M720")),
        ),
        ("no_price.html", Some("https://blog.example/grinders"), Expect::Error(ExtractError::NoPrice)),
        ("sold_out_no_price.html", None, Expect::OutOfStock { method: JsonLd, title: Some("Zapatillas Runner") }),
        // Sold out, the price hidden; the cross-selling cards' JSON-LD prices are other products'.
        (
            "shopware_sold_out_jsonld.html",
            None,
            Expect::OutOfStock { method: JsonLd, title: Some("Espressomühle Präzision 64") },
        ),
        // Only the microdata availability text says so; the related products' prices are others'.
        (
            "prestashop_rupture_microdata.html",
            None,
            Expect::OutOfStock { method: Microdata, title: Some("Cocotte en fonte ronde 24 cm") },
        ),
        // No price and no word on stock: still no price.
        ("price_on_request.html", None, Expect::Error(ExtractError::NoPrice)),
        // No structured data: the price shown next to the title is read (a user may still pin
        // it with a selector, see below).
        (
            "custom_selector.html",
            None,
            offer("1249.00", Some("EUR"), None, ExtractionMethod::Visible, Some("Bicicletta Pieghevole")),
        ),
        // Amazon storefronts: the price to pay, never the struck RRP / list price or a carousel.
        (
            "amazon_co_uk_rrp.html",
            Some("https://www.amazon.co.uk/dp/B000000006"),
            offer("24.99", Some("GBP"), Some(InStock), Amazon, Some("Electric Toothbrush Pro 3, Rechargeable")),
        ),
        (
            "amazon_fr.html",
            Some("https://www.amazon.fr/dp/B000000007"),
            offer("1299.00", Some("EUR"), Some(InStock), Amazon, Some("Lave-linge hublot 9 kg, classe A")),
        ),
        (
            "amazon_it_whole_fraction.html",
            Some("https://www.amazon.it/dp/B000000008"),
            offer("29.90", Some("EUR"), Some(InStock), Amazon, Some("Moka Express 3 tazze")),
        ),
        (
            "amazon_co_jp.html",
            Some("https://www.amazon.co.jp/dp/B000000009"),
            offer("3980", Some("JPY"), Some(InStock), Amazon, Some("ステンレス電気ケトル 1.0L")),
        ),
        (
            "amazon_com_deal.html",
            Some("https://www.amazon.com/dp/B000000010"),
            offer("79.99", Some("USD"), Some(InStock), Amazon, Some("Noise Cancelling Earbuds, Wireless")),
        ),
        // A bare `$` is the storefront's currency.
        (
            "amazon_com_mx.html",
            Some("https://www.amazon.com.mx/dp/B000000011"),
            offer("1299.00", Some("MXN"), Some(InStock), Amazon, Some("Licuadora de alta potencia 1200 W")),
        ),
        (
            "amazon_ca_list_price.html",
            Some("https://www.amazon.ca/dp/B000000012"),
            offer("32.95", Some("CAD"), Some(OutOfStock), Amazon, Some("Insulated Water Bottle 1 L")),
        ),
        (
            "pccomponentes_discount.html",
            Some("https://www.pccomponentes.com/monitor-gaming-27-qhd"),
            offer("279.90", Some("EUR"), Some(InStock), Pccomponentes, Some("Monitor Gaming 27\" QHD 170Hz IPS")),
        ),
        // Shop platforms.
        ("shopify.html", None, offer("32.00", Some("USD"), Some(InStock), JsonLd, Some("Merino Beanie"))),
        ("shopify_meta_only.html", None, offer("1150.00", Some("CAD"), None, Meta, Some("Cedar Adirondack Chair"))),
        (
            "woocommerce_sale.html",
            Some("https://cocina.example/producto/sarten-hierro-28/"),
            offer("39.00", Some("EUR"), Some(InStock), JsonLd, Some("Sartén de hierro 28 cm")),
        ),
        // The microdata states no availability; the page's "Auf Lager" line does.
        ("magento.html", None, offer("129.95", Some("EUR"), Some(InStock), Microdata, Some("Wanderschuh Alpin GTX"))),
        (
            "prestashop.html",
            None,
            offer("19.92", Some("EUR"), Some(InStock), Microdata, Some("Théière en fonte 0,8 L")),
        ),
        // The price is drawn by JavaScript: nothing in the static HTML (the browser path reads it).
        ("js_rendered_spa.html", Some("https://hometech.example/p/t9"), Expect::Error(ExtractError::NoPrice)),
        // Pages that are not a product.
        ("blog_post.html", Some("https://brewnotes.example/grinders"), Expect::Error(ExtractError::NoPrice)),
        ("not_found_404.html", Some("https://technikmarkt.example/p/gone"), Expect::Error(ExtractError::NoPrice)),
        ("category_page.html", Some("https://homestore.example/c/kettles"), Expect::Error(ExtractError::NoPrice)),
        // Sources that agree up to formatting (29.90, 29.9, "29,90"), and sources that do not:
        // the most specific one wins either way.
        (
            "jsonld_meta_same_price.html",
            None,
            offer("29.90", Some("EUR"), Some(InStock), JsonLd, Some("Tetera de hierro fundido 1 l")),
        ),
        (
            "jsonld_microdata_disagree.html",
            None,
            offer("24.99", Some("USD"), Some(InStock), JsonLd, Some("Cast Iron Grill Pan 26 cm")),
        ),
        // Traps: a strike-through "was" price and a free-shipping threshold; cheaper accessories.
        (
            "was_price_free_shipping.html",
            None,
            offer("59.00", Some("EUR"), Some(InStock), JsonLd, Some("Lampe de bureau LED Arco")),
        ),
        (
            "related_carousel_jsonld.html",
            None,
            offer("149.00", Some("USD"), Some(InStock), JsonLd, Some("Cordless Drill 18V Brushless")),
        ),
        (
            "related_carousel_microdata.html",
            None,
            offer("64.95", Some("EUR"), Some(InStock), Microdata, Some("Koffiezetapparaat Filter 1,25 l")),
        ),
    ]
}

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn fixtures_table() {
    let cases = cases();
    let files: std::collections::BTreeSet<_> = cases.iter().map(|(file, _, _)| *file).collect();
    assert!(files.len() >= 40, "only {} fixture files", files.len());
    let mut failures = Vec::new();
    for (file, page_url, expect) in &cases {
        let url = page_url.map(|u| url::Url::parse(u).expect("test URL"));
        let got = extract_offer(&fixture(file), url.as_ref());
        let ok = match (expect, &got) {
            (Expect::Error(expected), Err(err)) => expected == err,
            (Expect::Offer { amount, currency, availability, method, title }, Ok(offer)) => {
                let expected_amount = Decimal::from_str(amount).expect("test amount");
                offer.price.is_some_and(|p| {
                    p.amount == expected_amount && p.currency.map(|c| c.to_string()).as_deref() == *currency
                }) && offer.availability == *availability
                    && offer.method == *method
                    && offer.title.as_deref() == *title
            }
            (Expect::OutOfStock { method, title }, Ok(offer)) => {
                offer.price.is_none()
                    && offer.availability == Some(OutOfStock)
                    && offer.method == *method
                    && offer.title.as_deref() == *title
                    && offer.disagreements.is_empty()
            }
            _ => false,
        };
        if !ok {
            failures.push(format!("{file} ({page_url:?}): got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} fixtures failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn every_fixture_file_is_in_the_table() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let listed: Vec<_> = cases().iter().map(|(file, _, _)| *file).collect();
    for entry in std::fs::read_dir(dir).expect("fixtures dir") {
        let name = entry.expect("entry").file_name().to_string_lossy().into_owned();
        assert!(listed.contains(&name.as_str()), "{name} has no expected result");
    }
}

#[test]
fn amounts_keep_their_source_digits() {
    // 19.99 must not come out as 19.989999999999998 (an f64 on the way).
    let offer = extract_offer(&fixture("jsonld_simple.html"), None).expect("offer");
    assert_eq!(offer.price.expect("price").amount.to_string(), "19.99");
}

#[test]
fn selector_reads_the_chosen_element() {
    let html = fixture("custom_selector.html");
    let offer = extract_with_selector(&html, ".prezzo .prezzo-attuale").expect("offer");
    let price = offer.price.expect("price");
    assert_eq!(price.amount, Decimal::from_str("1249.00").expect("decimal"));
    assert_eq!(price.currency.map(|c| c.to_string()).as_deref(), Some("EUR"));
    assert_eq!(offer.method, ExtractionMethod::Selector);
    assert_eq!(offer.title.as_deref(), Some("Bicicletta Pieghevole – Negozio Bici"));

    let meta = r#"<html><head><meta id="p" content="12.50"></head><body></body></html>"#;
    let offer = extract_with_selector(meta, "#p").expect("offer");
    assert_eq!(offer.price.expect("price").amount, Decimal::from_str("12.5").expect("decimal"));
}

#[test]
fn selector_errors() {
    let html = fixture("custom_selector.html");
    assert!(matches!(extract_with_selector(&html, "div[[["), Err(ExtractError::InvalidSelector(_))));
    assert_eq!(extract_with_selector(&html, "h1"), Err(ExtractError::NoPrice));
    assert_eq!(extract_with_selector(&html, ".missing"), Err(ExtractError::NoPrice));
    assert_eq!(ExtractError::NoPrice.to_string(), "no price found on the page");
}

#[test]
fn method_names_and_serialization() {
    let names: Vec<_> =
        [JsonLd, Microdata, Meta, Amazon, Pccomponentes, ExtractionMethod::Selector, ExtractionMethod::Visible]
            .iter()
            .map(ExtractionMethod::as_str)
            .collect();
    assert_eq!(names, ["json-ld", "microdata", "meta", "amazon", "pccomponentes", "selector", "visible"]);
    let offer = extract_offer(&fixture("og_meta.html"), None).expect("offer");
    let json = serde_json::to_value(&offer).expect("serialize");
    assert_eq!(json["method"], "meta");
    assert_eq!(json["price"]["amount"], "34.50");
    assert_eq!(json["price"]["currency"], "GBP");
    assert_eq!(json["availability"], "in_stock");
    assert_eq!(json["disagreements"], serde_json::json!([]));

    let offer = extract_offer(&fixture("sold_out_no_price.html"), None).expect("out-of-stock offer");
    let json = serde_json::to_value(&offer).expect("serialize");
    assert_eq!(json["price"], serde_json::Value::Null);
    assert_eq!(json["availability"], "out_of_stock");
    assert_eq!(json["method"], "json-ld");
}

fn money(amount: &str, currency: &str) -> Money {
    Money::new(Decimal::from_str(amount).expect("test amount"), Some(Currency::parse(currency).expect("test currency")))
}

#[test]
fn sources_that_agree_up_to_formatting_are_no_disagreement() {
    let html = fixture("jsonld_meta_same_price.html");
    let offer = extract_offer(&html, None).expect("offer");
    assert_eq!(offer.price, Some(money("29.90", "EUR")));
    assert_eq!(offer.method, JsonLd);
    assert_eq!(offer.disagreements, Vec::new(), "29.90 and 29.9 are one price");

    // The meta tags do hold a price (29.9): without the JSON-LD block they are what is read.
    let (head, rest) = html.split_once("<script type=\"application/ld+json\">").expect("JSON-LD block");
    let (_, tail) = rest.split_once("</script>").expect("end of block");
    let meta_only = extract_offer(&format!("{head}{tail}"), None).expect("offer");
    assert_eq!(meta_only.method, Meta);
    assert_eq!(meta_only.price, Some(money("29.9", "EUR")));
}

#[test]
fn a_disagreeing_source_is_recorded_and_the_more_specific_one_wins() {
    let offer = extract_offer(&fixture("jsonld_microdata_disagree.html"), None).expect("offer");
    assert_eq!(offer.method, JsonLd);
    assert_eq!(offer.price, Some(money("24.99", "USD")));
    assert_eq!(offer.disagreements, vec![SourcePrice { method: Microdata, price: money("29.99", "USD") }]);
    let json = serde_json::to_value(&offer).expect("serialize");
    assert_eq!(
        json["disagreements"],
        serde_json::json!([{"method": "microdata", "price": {"amount": "29.99", "currency": "USD"}}])
    );
}

#[test]
fn a_currency_contradiction_is_a_disagreement_an_unknown_currency_is_not() {
    let page = |meta_currency: &str| {
        format!(
            r#"<html><head>
<meta property="product:price:amount" content="19.99">{meta_currency}
<script type="application/ld+json">{{"@type":"Product","name":"Mug","offers":{{"price":"19.99","priceCurrency":"GBP"}}}}</script>
</head><body></body></html>"#
        )
    };
    let unknown = extract_offer(&page(""), None).expect("offer");
    assert_eq!(unknown.disagreements, Vec::new());
    let other = extract_offer(&page(r#"<meta property="product:price:currency" content="EUR">"#), None).expect("offer");
    assert_eq!(other.price, Some(money("19.99", "GBP")));
    assert_eq!(other.disagreements, vec![SourcePrice { method: Meta, price: money("19.99", "EUR") }]);
}

/// Across the whole corpus, only these pages have sources that read different prices.
#[test]
fn disagreements_in_the_corpus() {
    for (file, page_url, _) in cases() {
        let url = page_url.map(|u| url::Url::parse(u).expect("test URL"));
        let Ok(offer) = extract_offer(&fixture(file), url.as_ref()) else { continue };
        let want = match file {
            "jsonld_microdata_disagree.html" => vec![SourcePrice { method: Microdata, price: money("29.99", "USD") }],
            // The PCComponentes rule reads the price shown; the page's JSON-LD has another one.
            "pccomponentes.html" => vec![SourcePrice { method: JsonLd, price: money("1399.99", "EUR") }],
            _ => Vec::new(),
        };
        assert_eq!(offer.disagreements, want, "{file}");
    }
}

#[test]
fn out_of_stock_signals_without_a_price() {
    let out_of_stock = |html: &str| {
        let offer = extract_offer(html, None).expect("an out-of-stock offer");
        assert_eq!((offer.price, offer.availability), (None, Some(OutOfStock)), "{html}");
        offer.method
    };
    // Microdata, as a schema.org URL.
    assert_eq!(
        out_of_stock(
            r#"<div itemscope itemtype="https://schema.org/Product"><h1 itemprop="name">Lamp</h1>
<div itemprop="offers" itemscope itemtype="https://schema.org/Offer"><link itemprop="availability" href="https://schema.org/Discontinued"></div></div>"#
        ),
        Microdata
    );
    // Meta tags only.
    assert_eq!(
        out_of_stock(r#"<html><head><meta property="og:availability" content="oos"><title>Lamp</title></head></html>"#),
        Meta
    );
    // JSON-LD, the availability on the product itself.
    assert_eq!(
        out_of_stock(
            r#"<script type="application/ld+json">{"@type":"Product","name":"Lamp","availability":"SoldOut"}</script>"#
        ),
        JsonLd
    );

    for html in [
        // Pre-order or in stock without a price: no price, not an out-of-stock page.
        r#"<script type="application/ld+json">{"@type":"Product","name":"Lamp","offers":{"availability":"PreOrder"}}</script>"#,
        r#"<script type="application/ld+json">{"@type":"Product","name":"Lamp","offers":{"availability":"InStock"}}</script>"#,
        // The most specific source says in stock: the less specific one does not overrule it.
        r#"<script type="application/ld+json">{"@type":"Product","name":"Lamp","offers":{"availability":"InStock"}}</script>
<meta property="og:availability" content="oos">"#,
        // "Sold out" in running text is no stock signal.
        "<html><body><h1>Lamp</h1><p>Last year's model sold out in a week.</p></body></html>",
        // An out-of-stock product in a listing is not the page's product.
        r#"<script type="application/ld+json">{"@type":"ItemList","itemListElement":[{"@type":"ListItem","item":{"@type":"Product","name":"Lamp","offers":{"availability":"OutOfStock"}}}]}</script>"#,
    ] {
        assert_eq!(extract_offer(html, None), Err(ExtractError::NoPrice), "{html}");
    }
}

#[test]
fn empty_and_garbage_pages() {
    for html in ["", "<", "<html>", "\u{0}", "<script type=\"application/ld+json\">[[[[</script>"] {
        assert_eq!(extract_offer(html, None), Err(ExtractError::NoPrice), "{html:?}");
    }
}

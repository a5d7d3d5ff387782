//! The command-line tools, run as a user runs them.

use std::process::{Command, Output};

use serde_json::Value;

fn pricetrack(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pricetrack"))
        .args(args)
        .env_remove("PRICETRACK_ALLOW_PRIVATE_TARGETS")
        .output()
        .expect("run pricetrack")
}

fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", String::from_utf8_lossy(&output.stdout)))
}

#[test]
fn parse_price_prints_amount_and_currency() {
    let out = pricetrack(&["parse-price", "1.299,99 €"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout_json(&out), serde_json::json!({"amount": "1299.99", "currency": "EUR"}));

    let out = pricetrack(&["parse-price", "$1,299.99"]);
    assert_eq!(stdout_json(&out), serde_json::json!({"amount": "1299.99", "currency": "USD"}));
}

#[test]
fn parse_price_fails_on_text_without_a_price() {
    let out = pricetrack(&["parse-price", "Sold out"]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no price"));
}

#[test]
fn extract_reads_a_saved_page() {
    let dir = tempfile::tempdir().expect("tempdir");
    let page = dir.path().join("page.html");
    std::fs::write(
        &page,
        r#"<html><head><script type="application/ld+json">
{"@type":"Product","name":"Kettle","offers":{"@type":"Offer","price":"29.90","priceCurrency":"EUR","availability":"https://schema.org/InStock"}}
</script></head><body></body></html>"#,
    )
    .expect("write page");
    let out =
        pricetrack(&["extract", "--file", page.to_str().expect("utf-8 path"), "--url", "https://shop.example/kettle"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json = stdout_json(&out);
    assert_eq!(json["title"], "Kettle");
    assert_eq!(json["price"], "29.90", "the page's own precision is kept");
    assert_eq!(json["currency"], "EUR");
    assert_eq!(json["availability"], "in_stock");
    assert_eq!(json["method"], "json-ld");
    assert_eq!(json["note"], Value::Null);
    assert_eq!(json["disagreements"], serde_json::json!([]));
}

/// Runs `extract` on `html` saved to a file and returns its JSON output.
fn extract_saved(html: &str) -> Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let page = dir.path().join("page.html");
    std::fs::write(&page, html).expect("write page");
    let out = pricetrack(&["extract", "--file", page.to_str().expect("utf-8 path")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    stdout_json(&out)
}

#[test]
fn extract_says_an_out_of_stock_page_shows_no_price() {
    let json = extract_saved(
        r#"<html><head><script type="application/ld+json">
{"@type":"Product","name":"Kettle","offers":{"@type":"Offer","priceCurrency":"EUR","availability":"https://schema.org/SoldOut"}}
</script></head><body><p>Sold out</p></body></html>"#,
    );
    assert_eq!(json["title"], "Kettle");
    assert_eq!(json["price"], Value::Null);
    assert_eq!(json["availability"], "out_of_stock");
    assert_eq!(json["method"], "json-ld");
    assert_eq!(json["note"], "no price shown");
}

#[test]
fn extract_shows_the_sources_that_disagree() {
    let json = extract_saved(
        r#"<html><head><script type="application/ld+json">
{"@type":"Product","name":"Grill Pan","offers":{"@type":"Offer","price":"24.99","priceCurrency":"USD"}}
</script></head><body><div itemscope itemtype="http://schema.org/Product"><div itemprop="offers" itemscope itemtype="http://schema.org/Offer">
<meta itemprop="price" content="29.99"><meta itemprop="priceCurrency" content="USD"></div></div>
<meta property="product:price:amount" content="24.990"></body></html>"#,
    );
    assert_eq!(json["price"], "24.99");
    assert_eq!(json["method"], "json-ld");
    assert_eq!(
        json["disagreements"],
        serde_json::json!([{"method": "microdata", "price": "29.99", "currency": "USD"}])
    );
}

#[test]
fn extract_fails_on_a_page_without_a_price() {
    let dir = tempfile::tempdir().expect("tempdir");
    let page = dir.path().join("page.html");
    std::fs::write(&page, "<html><body><h1>About us</h1><p>Call 555-1234</p></body></html>").expect("write page");
    let out = pricetrack(&["extract", "--file", page.to_str().expect("utf-8 path")]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no price"));
}

#[test]
fn extract_reads_the_visible_buy_box_and_lists_the_candidates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let page = dir.path().join("page.html");
    let html = r#"<html lang="de-DE"><head><title>Kaffeemühle</title></head><body>
<h1>Kaffeemühle Präzision</h1><div class="price-box"><span class="old-price">UVP 89,00 €</span>
<span class="price">69,<sup>90</sup> €</span></div><button class="add-to-cart">In den Warenkorb</button>
</body></html>"#;
    std::fs::write(&page, html).expect("write page");
    let path = page.to_str().expect("utf-8 path");

    let out = pricetrack(&["extract", "--file", path]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json = stdout_json(&out);
    assert_eq!((json["price"].as_str(), json["currency"].as_str()), (Some("69.90"), Some("EUR")), "{json}");
    assert_eq!(json["method"], "visible");
    assert_eq!(json["availability"], "in_stock");

    let out = pricetrack(&["extract", "--candidates", "--file", path]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json = stdout_json(&out);
    assert_eq!(json["offer"]["price"], "69.90");
    let candidates = json["candidates"].as_array().expect("a list");
    assert_eq!(candidates[0]["price"], "69.90", "{json}");
    assert_eq!(candidates[0]["source"], "visible");
    let old = candidates.iter().find(|c| c["price"] == "89.00").expect("the old price is listed");
    assert!(old["excluded"].is_string(), "{old}");
    // The first candidate's selector reads the same price as the job's price_selector.
    let selector = candidates[0]["selector"].as_str().expect("a selector");
    let out = pricetrack(&["extract", "--file", path, "--selector", selector]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout_json(&out)["price"], "69.90");
}

#[test]
fn extract_says_when_the_shop_showed_a_robot_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let page = dir.path().join("page.html");
    std::fs::write(
        &page,
        r#"<html><head><title>Robot Check</title></head><body><form action="/errors/validateCaptcha">
<p>Type the characters you see in this image:</p></form></body></html>"#,
    )
    .expect("write page");
    let out = pricetrack(&["extract", "--file", page.to_str().expect("utf-8 path")]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the shop showed a robot check instead of the page"), "{stderr}");
}

#[test]
fn extract_refuses_internal_urls_by_default() {
    for url in
        ["http://127.0.0.1:1/", "http://169.254.169.254/latest/meta-data/", "http://2130706433/", "file:///etc/passwd"]
    {
        let out = pricetrack(&["extract", url]);
        assert!(!out.status.success(), "{url} was fetched");
        assert!(!String::from_utf8_lossy(&out.stderr).is_empty());
    }
}

/// A page whose price only JavaScript draws, served on 127.0.0.1 from a thread of its own.
fn javascript_shop() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async move {
            let router = axum::Router::new().route(
                "/widget",
                axum::routing::get(|| async {
                    axum::response::Html(
                        r#"<html><head><title>Widget</title></head><body><div id="p">…</div><script>
                        setTimeout(() => { const p = document.getElementById('p');
                          p.setAttribute('itemprop', 'price'); p.setAttribute('content', '12.50');
                          p.textContent = '12,50 €'; }, 50);
                        </script></body></html>"#,
                    )
                }),
            );
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            axum::serve(listener, router).await.expect("serve");
        });
    });
    format!("http://{addr}/widget")
}

#[test]
fn extract_renders_a_javascript_page_when_the_html_has_no_price() {
    let url = javascript_shop();
    for args in [vec!["extract", url.as_str()], vec!["extract", "--browser", url.as_str()]] {
        let out = Command::new(env!("CARGO_BIN_EXE_pricetrack"))
            .args(&args)
            .env("PRICETRACK_ALLOW_PRIVATE_TARGETS", "true")
            .env_remove("PRICETRACK_BROWSER_TABS")
            .output()
            .expect("run pricetrack");
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        let json = stdout_json(&out);
        assert_eq!(json["price"], "12.50", "{args:?}: {json}");
        assert_eq!(json["fetched_with"], "browser", "{args:?}: {json}");
    }

    // A saved copy of the page, rendered in the browser from a loopback origin of its own:
    // the guard stays on (PRICETRACK_ALLOW_PRIVATE_TARGETS is unset).
    let dir = tempfile::tempdir().expect("tempdir");
    let page = dir.path().join("spa.html");
    std::fs::write(
        &page,
        r#"<html><head><title>Widget</title></head><body><h1>Widget</h1><p class="price"></p>
<button class="add-to-cart">Add to cart</button>
<script>setTimeout(() => { document.querySelector('.price').textContent = '12,50 €'; }, 50);</script></body></html>"#,
    )
    .expect("write page");
    let path = page.to_str().expect("utf-8 path");
    let out = Command::new(env!("CARGO_BIN_EXE_pricetrack"))
        .args(["extract", "--file", path, "--browser", "--url", "https://shop.example/widget"])
        .env_remove("PRICETRACK_ALLOW_PRIVATE_TARGETS")
        .env_remove("PRICETRACK_BROWSER_TABS")
        .output()
        .expect("run pricetrack");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json = stdout_json(&out);
    assert_eq!((json["price"].as_str(), json["fetched_with"].as_str()), (Some("12.50"), Some("browser")), "{json}");
    // Without the browser, the saved HTML has no price.
    let out = pricetrack(&["extract", "--file", path]);
    assert!(!out.status.success());

    // With the browser turned off, the page has no price.
    let out = Command::new(env!("CARGO_BIN_EXE_pricetrack"))
        .args(["extract", url.as_str()])
        .env("PRICETRACK_ALLOW_PRIVATE_TARGETS", "true")
        .env("PRICETRACK_BROWSER_TABS", "0")
        .output()
        .expect("run pricetrack");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no price"), "{}", String::from_utf8_lossy(&out.stderr));
}

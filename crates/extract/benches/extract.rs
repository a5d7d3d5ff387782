//! Extraction speed on large pages (results in BENCHMARKS.md):
//! `cargo bench -p pricetrack-extract --bench extract`.
//!
//! `real_pages` reads every page of `../shared/real-pages` (real shop pages, kept beside the
//! repository, not in it) and reports MB/s per page.
//!
//! Real product pages run from 200 KB to over 1 MB of HTML, most of it navigation, reviews and
//! carousels around one price. The pages here are fixture pages padded to about 500 KB with such
//! filler, so the cost measured is that of parsing a realistic page, not of a toy one.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pricetrack_extract::{extract_offer, extract_with_selector, parse_price};

const TARGET_BYTES: usize = 500 * 1024;

/// `fixture` with filler inserted before `</body>` until the page is about 500 KB.
fn padded(fixture: &str) -> String {
    let block = r#"<div class="review"><h4 class="review-title">Works as described</h4>
<p class="review-body">Bought this for the kitchen, arrived in two days, does what it says. The box was
slightly dented but the product was fine. Would buy again at this price. <a href="/reviews/123">Read more</a></p>
<ul class="meta"><li>Verified purchase</li><li>Colour: black</li><li>12 people found this helpful</li></ul></div>
<nav class="crumbs"><a href="/">Home</a> › <a href="/kitchen">Kitchen</a> › <a href="/kitchen/small">Small appliances</a></nav>
"#;
    let (head, tail) = fixture.rsplit_once("</body>").unwrap_or((fixture, ""));
    let mut page = String::with_capacity(TARGET_BYTES + fixture.len());
    page.push_str(head);
    while page.len() < TARGET_BYTES {
        page.push_str(block);
    }
    page.push_str("</body>");
    page.push_str(tail);
    page
}

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

fn pages(c: &mut Criterion) {
    let mut group = c.benchmark_group("extract_offer_500kb");
    for (name, url) in [
        ("jsonld_simple.html", None),
        ("microdata_text.html", None),
        ("amazon_es.html", Some("https://www.amazon.es/dp/B0TEST")),
        ("no_price.html", None),
    ] {
        let page = padded(&fixture(name));
        let url = url.map(|u| url::Url::parse(u).expect("bench url"));
        group.throughput(Throughput::Bytes(page.len() as u64));
        group.bench_function(name.trim_end_matches(".html"), |b| {
            b.iter(|| extract_offer(black_box(&page), url.as_ref()));
        });
    }
    // Parsing alone, the floor under every method: extraction costs what it adds to this.
    let page = padded(&fixture("jsonld_simple.html"));
    group.bench_function("parse_only", |b| b.iter(|| scraper::Html::parse_document(black_box(&page))));
    let page = padded(&fixture("custom_selector.html"));
    group.bench_function("selector", |b| b.iter(|| extract_with_selector(black_box(&page), ".prezzo .prezzo-attuale")));
    group.finish();
}

fn prices(c: &mut Criterion) {
    c.bench_function("parse_price", |b| {
        b.iter(|| {
            for text in ["1.299,99 €", "$1,299.99", "CHF 1'299.90", "₹1,23,456.00", "From $19.99", "Sold out"] {
                black_box(parse_price(black_box(text)));
            }
        });
    });
}

/// Every real page of `../shared/real-pages`, as shops served them.
fn real_pages(c: &mut Criterion) {
    let dir = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/real-pages"));
    let table = std::fs::read_to_string(dir.join("pages.tsv"))
        .unwrap_or_else(|e| panic!("the real-page corpus is missing from {}: {e}", dir.display()));
    let mut group = c.benchmark_group("real_pages");
    group.sample_size(10);
    for line in table.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (Some(file), Some(url)) = (cols.first(), cols.get(1)) else { continue };
        let bytes = std::fs::read(dir.join("pages").join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let html = String::from_utf8_lossy(&bytes).into_owned();
        let url = url::Url::parse(url).ok();
        group.throughput(Throughput::Bytes(html.len() as u64));
        group.bench_function(file.trim_end_matches(".html"), |b| {
            b.iter(|| extract_offer(black_box(&html), url.as_ref()));
        });
    }
    group.finish();
}

criterion_group!(benches, pages, prices, real_pages);
criterion_main!(benches);

//! Every page of `../shared/real-pages` (real product pages that real shops served, kept outside
//! the repository) is read as a shopper reads it: the price paid, its currency and the stock state.

use std::path::PathBuf;
use std::str::FromStr;

use pricetrack_extract::extract_offer;
use rust_decimal::Decimal;

/// The corpus, beside the repository (CI has it there too).
fn corpus_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/real-pages"))
}

/// One row of `pages.tsv`.
struct Row {
    file: String,
    url: String,
    price: Option<Decimal>,
    currency: Option<String>,
    availability: Option<String>,
}

fn rows() -> Vec<Row> {
    let path = corpus_dir().join("pages.tsv");
    let table = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "the real-page corpus is missing: {} ({e}); it lives in ../shared/real-pages beside the repository",
            path.display()
        )
    });
    table
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            assert!(cols.len() >= 5, "pages.tsv row with {} columns: {line}", cols.len());
            let dash = |v: &str| (v != "-" && v != "NONE").then(|| v.to_owned());
            Row {
                file: cols[0].to_owned(),
                url: cols[1].to_owned(),
                price: dash(cols[2]).map(|p| Decimal::from_str(&p).expect("price column")),
                currency: dash(cols[3]),
                availability: dash(cols[4]),
            }
        })
        .collect()
}

#[test]
fn every_real_page_is_read_as_a_shopper_reads_it() {
    let rows = rows();
    assert!(rows.len() >= 24, "pages.tsv lists only {} pages", rows.len());
    let mut failures = Vec::new();
    for row in &rows {
        let path = corpus_dir().join("pages").join(&row.file);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let html = String::from_utf8_lossy(&bytes);
        let url = url::Url::parse(&row.url).expect("page URL");
        let got = extract_offer(&html, Some(&url));
        let (price, currency, availability) = match &got {
            Ok(offer) => (
                offer.price.map(|p| p.amount),
                offer.price.and_then(|p| p.currency).map(|c| c.to_string()),
                offer.availability.map(|a| a.as_str().to_owned()),
            ),
            Err(_) => (None, None, None),
        };
        let price_ok = price.map(|p| p.normalize()) == row.price.map(|p| p.normalize());
        let currency_ok = row.price.is_none() || currency == row.currency;
        // `-`: the page does not say clearly; any reading is accepted.
        let availability_ok = row.availability.is_none() || availability == row.availability;
        if !(price_ok && currency_ok && availability_ok) {
            failures.push(format!(
                "{}: want {:?} {:?} {:?}, got {got:?}",
                row.file, row.price, row.currency, row.availability
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} real pages read wrong:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

//! `parse_price` never panics, and what it returns is a sane amount.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rust_decimal::Decimal;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(money) = pricetrack_extract::parse_price(&text) {
        assert!(money.amount >= Decimal::ZERO, "{text:?} -> {money:?}");
        assert!(money.amount < Decimal::from(1_000_000_000_000_000_i64), "{text:?} -> {money:?}");
    }
});

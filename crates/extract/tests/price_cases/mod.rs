//! The table runner shared by the `parse_price` test files: each case is (input, expected amount
//! or `None` for no price, expected ISO currency or `None`), and every failing case is reported
//! at once.

use std::str::FromStr;

use pricetrack_extract::parse_price;
use rust_decimal::Decimal;

/// (input, expected amount, expected ISO currency).
pub type Case = (&'static str, Option<&'static str>, Option<&'static str>);

/// Runs every case through `parse_price`; fails listing each case that read otherwise.
pub fn check(cases: &[Case]) {
    let mut failures = Vec::new();
    for &(input, amount, currency) in cases {
        let got = parse_price(input);
        let expected_amount = amount.map(|a| Decimal::from_str(a).expect("test amount"));
        let ok = match (got, expected_amount) {
            (None, None) => true,
            (Some(money), Some(expected)) => {
                money.amount == expected && money.currency.map(|c| c.to_string()).as_deref() == currency
            }
            _ => false,
        };
        if !ok {
            failures.push(format!("{input:?}: expected {amount:?} {currency:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

//! Money: a decimal amount with an ISO 4217 currency. Never a float.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A string that is not an ISO 4217 alphabetic code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("currency must be a three-letter ISO 4217 code such as EUR or USD")]
pub struct InvalidCurrency;

/// An ISO 4217 alphabetic currency code (three upper-case ASCII letters), e.g. `EUR`.
///
/// The code is not checked against the list of currencies in circulation: the list changes, and a
/// shop quoting a code we have not heard of should still be tracked.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    /// Euro.
    pub const EUR: Currency = Currency(*b"EUR");
    /// US dollar.
    pub const USD: Currency = Currency(*b"USD");
    /// Pound sterling.
    pub const GBP: Currency = Currency(*b"GBP");

    /// Parses a code, accepting lower case (`eur`) and surrounding spaces.
    pub fn parse(raw: &str) -> Result<Self, InvalidCurrency> {
        let trimmed = raw.trim();
        let bytes = trimmed.as_bytes();
        if bytes.len() != 3 || !bytes.iter().all(u8::is_ascii_alphabetic) {
            return Err(InvalidCurrency);
        }
        Ok(Self([bytes[0].to_ascii_uppercase(), bytes[1].to_ascii_uppercase(), bytes[2].to_ascii_uppercase()]))
    }

    /// The code as text, e.g. `"EUR"`.
    pub fn as_str(&self) -> &str {
        // Only ASCII letters are ever stored, so this cannot fail.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl FromStr for Currency {
    type Err = InvalidCurrency;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Currency {
    type Error = InvalidCurrency;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Currency> for String {
    fn from(value: Currency) -> Self {
        value.as_str().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An amount of money as seen on a page: a non-negative decimal and, when the page says, its
/// currency. Two amounts that differ only in trailing zeros (`29.9`, `29.90`) are equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    /// The amount, e.g. `1299.99`.
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// The currency, when known.
    pub currency: Option<Currency>,
}

impl Money {
    /// Builds a money value.
    pub fn new(amount: Decimal, currency: Option<Currency>) -> Self {
        Self { amount, currency }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.currency {
            Some(currency) => write!(f, "{} {}", self.amount.normalize(), currency),
            None => write!(f, "{}", self.amount.normalize()),
        }
    }
}

/// Why a target price is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidTargetPrice {
    /// Not a decimal number.
    #[error("target_price must be a decimal number such as \"79.99\"")]
    NotANumber,
    /// Zero or negative.
    #[error("target_price must be greater than 0")]
    NotPositive,
    /// Absurdly large or precise: no shop prices like that, and it would not fit every store.
    #[error("target_price must be below 1000000000000 with at most 4 decimal places")]
    OutOfRange,
}

/// The price at or below which a user wants to hear about a product: a positive decimal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "Decimal", into = "Decimal")]
pub struct TargetPrice(Decimal);

impl TargetPrice {
    /// Validates a decimal as a target.
    pub fn new(amount: Decimal) -> Result<Self, InvalidTargetPrice> {
        if amount <= Decimal::ZERO {
            return Err(InvalidTargetPrice::NotPositive);
        }
        if amount >= Decimal::from(1_000_000_000_000_i64) || amount.normalize().scale() > 4 {
            return Err(InvalidTargetPrice::OutOfRange);
        }
        Ok(Self(amount.normalize()))
    }

    /// Parses the decimal text a user typed (`"79.99"`). Only a plain decimal with a `.`
    /// separator: locale formats belong to page parsing, not to an API contract.
    pub fn parse(raw: &str) -> Result<Self, InvalidTargetPrice> {
        let trimmed = raw.trim();
        let plain =
            !trimmed.is_empty() && trimmed.chars().all(|c| c.is_ascii_digit() || c == '.' || c == '-' || c == '+');
        if !plain {
            return Err(InvalidTargetPrice::NotANumber);
        }
        let amount = Decimal::from_str(trimmed).map_err(|_| InvalidTargetPrice::NotANumber)?;
        Self::new(amount)
    }

    /// The amount.
    pub fn amount(&self) -> Decimal {
        self.0
    }
}

impl TryFrom<Decimal> for TargetPrice {
    type Error = InvalidTargetPrice;
    fn try_from(value: Decimal) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<TargetPrice> for Decimal {
    fn from(value: TargetPrice) -> Self {
        value.0
    }
}

impl fmt::Display for TargetPrice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_codes() {
        assert_eq!(Currency::parse("eur").expect("valid"), Currency::EUR);
        for bad in ["", "EU", "EURO", "€", "E1R"] {
            assert!(Currency::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn money_equality_ignores_trailing_zeros() {
        let a = Money::new(Decimal::from_str("29.9").expect("decimal"), Some(Currency::EUR));
        let b = Money::new(Decimal::from_str("29.90").expect("decimal"), Some(Currency::EUR));
        assert_eq!(a, b);
    }

    #[test]
    fn target_price_rules() {
        assert_eq!(TargetPrice::parse("79.99").expect("valid").to_string(), "79.99");
        assert_eq!(TargetPrice::parse("80.00").expect("valid").to_string(), "80");
        assert_eq!(TargetPrice::parse("0").unwrap_err(), InvalidTargetPrice::NotPositive);
        assert_eq!(TargetPrice::parse("-5").unwrap_err(), InvalidTargetPrice::NotPositive);
        assert_eq!(TargetPrice::parse("abc").unwrap_err(), InvalidTargetPrice::NotANumber);
        assert_eq!(TargetPrice::parse("1e5").unwrap_err(), InvalidTargetPrice::NotANumber);
        assert_eq!(TargetPrice::parse("1,5").unwrap_err(), InvalidTargetPrice::NotANumber);
        assert_eq!(TargetPrice::parse("0.00001").unwrap_err(), InvalidTargetPrice::OutOfRange);
        assert_eq!(TargetPrice::parse("99999999999999").unwrap_err(), InvalidTargetPrice::OutOfRange);
    }
}

//! What a check of a product page finds.

use serde::{Deserialize, Serialize};

use crate::{JobId, Money, Timestamp};

/// Whether the product can be bought, as the page says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    /// Can be ordered now.
    InStock,
    /// Cannot be ordered now.
    OutOfStock,
    /// Can be ordered, ships later.
    PreOrder,
}

impl Availability {
    /// The wire name, e.g. `in_stock`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::InStock => "in_stock",
            Self::OutOfStock => "out_of_stock",
            Self::PreOrder => "pre_order",
        }
    }

    /// Parses a wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "in_stock" => Some(Self::InStock),
            "out_of_stock" => Some(Self::OutOfStock),
            "pre_order" => Some(Self::PreOrder),
            _ => None,
        }
    }
}

/// The offer a successful check found on the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedOffer {
    /// The price of the main offer.
    pub price: Money,
    /// Availability, when the page says.
    pub availability: Option<Availability>,
    /// Which extraction method found the price (e.g. `json-ld`), for diagnosis.
    pub method: String,
}

/// Why a check found no usable price. The message is shown to the job's owner as `last_error`,
/// so it says what went wrong in words a user can act on and never carries internal detail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckFailure {
    /// The page could not be fetched (DNS, connection, timeout, HTTP status, size limit).
    #[error("could not fetch the page: {0}")]
    Fetch(String),
    /// The target address is not allowed (private network, loopback, cloud metadata...).
    #[error("refused to fetch the page: {0}")]
    Forbidden(String),
    /// The page was fetched but no price was found on it.
    #[error("no price found on the page")]
    NoPrice,
    /// The shop answered with a robot check (a captcha, a bot wall) instead of the page: not a
    /// page without a price, and nothing the job's owner can fix in the job. Fails the check like
    /// any failure (never alerts), and says so.
    #[error("the shop showed a robot check instead of the page")]
    Blocked,
    /// The page shows a price in another currency than the job's.
    #[error("the page shows a price in {found}, the job's target is in {expected}")]
    CurrencyMismatch {
        /// The job's currency.
        expected: String,
        /// The page's currency.
        found: String,
    },
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    /// A price was found.
    Priced(CheckedOffer),
    /// The page was read and shows no price because the product cannot be bought now (out of
    /// stock, sold out, discontinued): shops often hide the price then. This is a successful
    /// check — the page is reachable and says what it is — so it clears the job's error, but
    /// with no price it never alerts, never re-arms and keeps the last price seen; its
    /// observation has no price (a gap in the history).
    Unpriced {
        /// What the page says about the product; out of stock for every page read today.
        availability: Availability,
        /// Which extraction method read the availability (e.g. `json-ld`), for diagnosis.
        method: String,
    },
    /// Nothing usable: never alerts, never stores a price.
    Failed(CheckFailure),
}

/// One successful check's finding, kept as history beside the job (run-length: see
/// [`crate::history`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// The job observed.
    pub job_id: JobId,
    /// When.
    pub observed_at: Timestamp,
    /// The price seen; `None` for a check that found the product unpriced (out of stock).
    pub price: Option<Money>,
    /// Availability seen, if any.
    pub availability: Option<Availability>,
}

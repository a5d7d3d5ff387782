//! Reading a page before tracking it: what a check would find there (title, price, stock) and
//! every candidate price, so that a user can confirm the tracker's pick or choose another.

use async_trait::async_trait;

use crate::ProductUrl;

/// One price found on a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewCandidate {
    /// The amount, a decimal string.
    pub price: String,
    /// Its currency (ISO 4217), when known.
    pub currency: Option<String>,
    /// Where it was found (`json-ld`, `microdata`, `meta`, `visible`, `shop-rule`).
    pub source: String,
    /// A CSS selector that finds it again, for a job's `price_selector`; `None` when no element
    /// shows it.
    pub selector: Option<String>,
    /// The text around it.
    pub context: String,
    /// Why extraction would not take it (an old price…), when it would not.
    pub excluded: Option<String>,
}

/// What a check would read on a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PagePreview {
    /// The product's name, when the page gives one.
    pub title: Option<String>,
    /// The price a check would record, a decimal string.
    pub price: Option<String>,
    /// Its currency.
    pub currency: Option<String>,
    /// `in_stock`, `out_of_stock`…, when the page says.
    pub availability: Option<String>,
    /// Every price found, the one a check would take first.
    pub candidates: Vec<PreviewCandidate>,
}

/// Why a page could not be previewed, in words for the user (a check's failure text: never an
/// internal detail).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PreviewFailed(pub String);

/// Reads a page as a check would: the port behind `POST /api/v1/preview`, supplied by the
/// program that owns the fetchers.
#[async_trait]
pub trait PagePreviewer: Send + Sync {
    /// Fetches `url` once, with every guard of a check, and lists what it finds.
    async fn preview(&self, url: &ProductUrl) -> Result<PagePreview, PreviewFailed>;
}

//! Headless Chromium as a [`pricetrack_scraper::PageFetcher`], for shops that draw their price
//! with JavaScript.
//!
//! The scraper fetches every page statically first; only when that finds no price (or a shop
//! rule says the shop needs it) does the page go to the [`BrowserFetcher`]. See
//! [`BrowserFetcher`] for the pool, the guard and the limits, and [`BrowserSettings`] for the
//! knobs.

mod fetcher;
mod guard;
mod proxy;
mod settings;
mod setup;
mod tab;

pub use fetcher::{BrowserError, BrowserFetcher, PoolStats};
pub use settings::{BrowserSettings, DEFAULT_EXECUTABLE};
pub use setup::Fetchers;

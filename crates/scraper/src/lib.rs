//! The scraper: fetches product pages, extracts prices, records check outcomes and publishes
//! alerts, fed by check requests from the queue.

mod fetch;
mod static_fetcher;

pub use fetch::{FetchError, FetchedPage, PageFetcher};
pub use static_fetcher::{
    FetcherBuildError, FetcherConfig, GuardError, StaticFetcher, check_redirect, check_target,
};

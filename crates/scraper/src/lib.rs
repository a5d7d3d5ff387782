//! The scraper: fetches product pages, extracts prices, records check outcomes and publishes
//! alerts, fed by check requests from the queue.
//!
//! - [`PageFetcher`] is the port for getting a page; [`StaticFetcher`] implements it with plain
//!   HTTP, limits, and a guard against requests to internal networks.
//! - [`PoliteFetcher`] wraps any fetcher with per-host limits and back-off ([`PolitenessSettings`]).
//! - [`PageReader`] reads one page as a check does (static fetch, browser fallback, extraction);
//!   the checker and `pricetrack extract` both use it.
//! - [`Checker`] is the check use case: one check request from the job read to the alert.
//! - [`WorkerPool`] / [`run_workers`] feed the checker from the check queue.

mod checker;
mod fetch;
mod politeness;
mod preview;
mod reader;
mod static_fetcher;
mod worker;

pub use checker::{Checker, CheckerError, Clock, HandleOutcome};
pub use fetch::{FetchError, FetchedPage, PageFetcher, record_fetch};
pub use politeness::{PoliteFetcher, PolitenessSettings};
pub use preview::ReaderPreviewer;
pub use reader::{PageRead, PageReader, Rendering};
pub use static_fetcher::{
    FetcherBuildError, GuardError, StaticFetcher, StaticFetcherSettings, check_redirect, check_target,
    guarded_client_builder, parse_retry_after, resolve_public,
};
pub use worker::{WorkerPool, WorkerSettings, count_queue_op, run_workers};

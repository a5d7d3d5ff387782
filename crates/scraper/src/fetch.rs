//! The page-fetching port of the scraper: what a check needs from the network.

use async_trait::async_trait;
use pricetrack_domain::CheckFailure;
use pricetrack_domain::ProductUrl;
use pricetrack_domain::ports::BackendError;
use url::Url;

/// A page as fetched: where the redirects ended, the final status and the decoded body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedPage {
    /// The URL after redirects: relative links and JSON-LD `url`s resolve against it.
    pub final_url: Url,
    /// The HTTP status of the final response (always 2xx for a page a fetcher returns).
    pub status: u16,
    /// The body, decoded as text.
    pub body: String,
}

/// Why a page could not be fetched.
///
/// The `Display` text is meant for the job's owner (it ends up in `last_error` through
/// [`CheckFailure`]): it says what went wrong in plain words and never carries internal detail
/// such as library error text. The source of [`FetchError::Network`] is for logs only.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The host resolves to (or is) an address on a private, loopback, link-local or otherwise
    /// internal network. Refused before connecting.
    #[error("the address of {host} is on a private or internal network")]
    PrivateAddress {
        /// The host name or literal address of the URL (or of a redirect target).
        host: String,
    },
    /// A redirect pointed to something other than an http or https URL.
    #[error("the page redirected to an address that is not a web page")]
    UnsupportedRedirect,
    /// The host name does not resolve.
    #[error("could not find the address of {host}")]
    UnknownHost {
        /// The host name.
        host: String,
    },
    /// No connection could be made to the host.
    #[error("could not connect to {host}")]
    Connect {
        /// The host name.
        host: String,
    },
    /// The page did not finish loading within the fetcher's deadline.
    #[error("the page took longer than {secs} s to load")]
    Timeout {
        /// The deadline, in whole seconds (at least 1).
        secs: u64,
    },
    /// The shop answered with a status other than 2xx.
    #[error("the shop answered with HTTP status {status}")]
    Status {
        /// The HTTP status.
        status: u16,
    },
    /// The shop answered `429 Too Many Requests` or `503 Service Unavailable`: it wants fewer
    /// requests. [`crate::PoliteFetcher`] turns this into a back-off of the host.
    #[error("the shop asked us to slow down (HTTP status {status})")]
    SlowDown {
        /// The HTTP status (429 or 503).
        status: u16,
        /// How long the shop asked us to wait (its `Retry-After` header, in seconds or as an HTTP
        /// date, measured from when the answer arrived), if it said.
        retry_after: Option<std::time::Duration>,
    },
    /// The host is backed off after it asked us to slow down: the page was not requested.
    #[error("the shop asked us to slow down; retrying after {}", .until.format("%Y-%m-%d %H:%M:%S UTC"))]
    Throttled {
        /// When the host may be requested again.
        until: chrono::DateTime<chrono::Utc>,
    },
    /// The page redirected more often than allowed.
    #[error("the page redirected more than {max} times")]
    TooManyRedirects {
        /// The number of redirects allowed.
        max: usize,
    },
    /// The body (after decompression) is larger than allowed.
    #[error("the page is larger than {} KiB", .limit / 1024)]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The shop answered with a robot check (captcha, bot wall) instead of the page.
    #[error("the shop showed a robot check instead of the page")]
    Blocked {
        /// Which kind of check, for logs.
        kind: pricetrack_extract::BlockKind,
    },
    /// Any other network or protocol failure (reset connection, TLS failure, broken body...).
    #[error("the connection failed while loading the page")]
    Network {
        /// What failed, for logs only.
        #[source]
        source: BackendError,
    },
}

impl FetchError {
    /// The check failure to record for this error: [`CheckFailure::Forbidden`] for a refused
    /// target, [`CheckFailure::Blocked`] for a robot check, [`CheckFailure::Fetch`] otherwise,
    /// with this error's user-readable text.
    pub fn to_check_failure(&self) -> CheckFailure {
        match self {
            Self::PrivateAddress { .. } | Self::UnsupportedRedirect => CheckFailure::Forbidden(self.to_string()),
            Self::Blocked { .. } => CheckFailure::Blocked,
            _ => CheckFailure::Fetch(self.to_string()),
        }
    }

    /// A short name of the kind of failure, for metrics labels (a closed set: never the host,
    /// the status or the URL).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::PrivateAddress { .. } | Self::UnsupportedRedirect => "forbidden",
            Self::UnknownHost { .. } => "dns",
            Self::Connect { .. } => "connect",
            Self::Timeout { .. } => "timeout",
            Self::Status { .. } => "status",
            Self::SlowDown { .. } => "slow_down",
            Self::Throttled { .. } => "throttled",
            Self::TooManyRedirects { .. } => "redirects",
            Self::TooLarge { .. } => "too_large",
            Self::Blocked { .. } => "blocked",
            Self::Network { .. } => "network",
        }
    }

    /// True when the target was refused by the address guard (never fetched).
    pub fn is_forbidden(&self) -> bool {
        matches!(self, Self::PrivateAddress { .. } | Self::UnsupportedRedirect)
    }
}

impl From<FetchError> for CheckFailure {
    fn from(value: FetchError) -> Self {
        value.to_check_failure()
    }
}

/// Fetches product pages. [`crate::StaticFetcher`] does plain HTTP; a headless-browser fetcher
/// for pages that render their price with JavaScript implements the same trait.
#[async_trait]
pub trait PageFetcher: Send + Sync {
    /// Fetches one page, following redirects. Only a 2xx page is returned.
    async fn fetch(&self, url: &ProductUrl) -> Result<FetchedPage, FetchError>;
}

/// Records one fetch in the process's metrics: its duration by `method` (`static`, `browser`)
/// and result (`ok` or [`FetchError::kind`]). Fetchers call it around the network work only, so
/// politeness waits are not counted as fetch time.
pub fn record_fetch(method: &'static str, elapsed: std::time::Duration, result: &Result<FetchedPage, FetchError>) {
    let result = match result {
        Ok(_) => "ok",
        Err(e) => e.kind(),
    };
    metrics::histogram!(pricetrack_metrics::names::FETCH_DURATION, "method" => method, "result" => result)
        .record(elapsed);
}

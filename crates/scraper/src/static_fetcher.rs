//! Plain HTTP fetching with reqwest, with limits and a guard against server-side request forgery.

use std::error::Error as StdError;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pricetrack_domain::ProductUrl;
use pricetrack_domain::target::is_public_ip;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{ACCEPT, HeaderMap, HeaderValue};
use url::{Host, Url};

use crate::fetch::{FetchError, FetchedPage, PageFetcher};

/// How a [`StaticFetcher`] behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticFetcherSettings {
    /// The `User-Agent` sent: honest about who is asking.
    pub user_agent: String,
    /// Longest wait for a connection (DNS included).
    pub connect_timeout: Duration,
    /// Longest time for a whole fetch: connection, redirects and body.
    pub deadline: Duration,
    /// Most redirects followed.
    pub max_redirects: usize,
    /// Largest body accepted, in bytes, after decompression.
    pub max_body_bytes: usize,
    /// Allows hosts on private, loopback and link-local networks. Only for tests and for a
    /// deployment that really tracks pages on its own network: with it on, a user can make the
    /// scraper read internal services.
    pub allow_private_targets: bool,
}

impl StaticFetcherSettings {
    /// The default `User-Agent`: `pricetrack/<version> (+https://github.com/pricetrack)`.
    pub fn default_user_agent() -> String {
        format!("pricetrack/{} (+https://github.com/pricetrack)", env!("CARGO_PKG_VERSION"))
    }
}

impl Default for StaticFetcherSettings {
    fn default() -> Self {
        Self {
            user_agent: Self::default_user_agent(),
            connect_timeout: Duration::from_secs(10),
            deadline: Duration::from_secs(30),
            max_redirects: 5,
            max_body_bytes: 5 * 1024 * 1024,
            allow_private_targets: false,
        }
    }
}

/// The HTTP client could not be built (TLS backend initialisation failed, say).
#[derive(Debug, thiserror::Error)]
#[error("could not build the HTTP client")]
pub struct FetcherBuildError(#[source] reqwest::Error);

/// Fetches pages over plain HTTP(S) with reqwest (rustls).
///
/// Limits: a connect timeout, a deadline for the whole fetch, a bounded number of redirects and a
/// body size cap enforced while streaming (on the decompressed bytes). Unless
/// [`StaticFetcherSettings::allow_private_targets`] is set, it refuses every target on an internal network:
/// literal IP hosts are checked before the request and on every redirect, and host names are
/// resolved by a resolver that refuses the name when any of its addresses is not public (the
/// connection is then made to the addresses that were checked, so a rebinding DNS answer cannot
/// slip in between). Proxies from the environment are ignored, since a proxy would resolve names
/// out of the guard's sight.
#[derive(Debug, Clone)]
pub struct StaticFetcher {
    client: reqwest::Client,
    config: StaticFetcherSettings,
}

impl StaticFetcher {
    /// Builds a fetcher.
    pub fn new(config: StaticFetcherSettings) -> Result<Self, FetcherBuildError> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"));
        let max_redirects = config.max_redirects;
        let allow_private = config.allow_private_targets;
        let client = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .default_headers(headers)
            .connect_timeout(config.connect_timeout)
            .timeout(config.deadline)
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver { allow_private }))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                match check_redirect(attempt.url(), attempt.previous().len(), max_redirects, allow_private) {
                    Ok(()) => attempt.follow(),
                    Err(refusal) => attempt.error(refusal),
                }
            }))
            .build()
            .map_err(FetcherBuildError)?;
        Ok(Self { client, config })
    }

    /// The settings in use.
    pub fn settings(&self) -> &StaticFetcherSettings {
        &self.config
    }

    async fn fetch_within_deadline(&self, url: &Url) -> Result<FetchedPage, FetchError> {
        let mut response = self.client.get(url.clone()).send().await.map_err(|e| self.map_error(e, url))?;
        let status = response.status();
        if status.as_u16() == 429 || status.as_u16() == 503 {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
            return Err(FetchError::SlowDown { status: status.as_u16(), retry_after });
        }
        if status.as_u16() == 403 {
            // Bot walls answer 403 with a challenge page: read its start to tell them from a
            // plain refusal.
            if response.headers().get("cf-mitigated").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"challenge")) {
                return Err(FetchError::Blocked { kind: pricetrack_extract::BlockKind::Cloudflare });
            }
            let mut head: Vec<u8> = Vec::new();
            while head.len() < 64 * 1024
                && let Ok(Some(chunk)) = response.chunk().await
            {
                head.extend_from_slice(&chunk);
            }
            if let Some(kind) = pricetrack_extract::detect_block(&String::from_utf8_lossy(&head)) {
                return Err(FetchError::Blocked { kind });
            }
        }
        if !status.is_success() {
            return Err(FetchError::Status { status: status.as_u16() });
        }
        let limit = self.config.max_body_bytes;
        // Only a hint (absent when the body is compressed or chunked): the real cap is below.
        if response.content_length().is_some_and(|len| len > limit as u64) {
            return Err(FetchError::TooLarge { limit });
        }
        let final_url = response.url().clone();
        let mut body: Vec<u8> = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.map_error(e, &final_url))? {
            if body.len().saturating_add(chunk.len()) > limit {
                return Err(FetchError::TooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        let body = match String::from_utf8(body) {
            Ok(text) => text,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        Ok(FetchedPage { final_url, status: status.as_u16(), body })
    }

    fn timeout_error(&self) -> FetchError {
        FetchError::Timeout { secs: self.config.deadline.as_secs().max(1) }
    }

    fn map_error(&self, error: reqwest::Error, url: &Url) -> FetchError {
        // Refusals raised by the resolver or the redirect policy travel inside reqwest's error.
        let mut source: Option<&(dyn StdError + 'static)> = error.source();
        while let Some(cause) = source {
            if let Some(own) = cause.downcast_ref::<GuardError>() {
                return own.to_fetch_error(self.config.max_redirects);
            }
            source = cause.source();
        }
        let host = error.url().and_then(Url::host_str).or_else(|| url.host_str()).unwrap_or_default().to_owned();
        if error.is_timeout() {
            self.timeout_error()
        } else if error.is_connect() {
            FetchError::Connect { host }
        } else {
            FetchError::Network { source: Box::new(error) }
        }
    }
}

#[async_trait]
impl PageFetcher for StaticFetcher {
    async fn fetch(&self, url: &ProductUrl) -> Result<FetchedPage, FetchError> {
        let url = url.as_url();
        check_target(url, self.config.allow_private_targets)?;
        // reqwest's own timeout covers the request and the body; this one is a backstop that
        // also bounds anything outside reqwest (name resolution through the guard included).
        let started = std::time::Instant::now();
        let result = tokio::time::timeout(self.config.deadline, self.fetch_within_deadline(url))
            .await
            .unwrap_or_else(|_| Err(self.timeout_error()));
        crate::fetch::record_fetch("static", started.elapsed(), &result);
        result
    }
}

/// Checks a URL's scheme and, unless `allow_private`, a literal IP host. Host names are left to
/// the resolver, which sees the addresses they resolve to.
pub fn check_target(url: &Url, allow_private: bool) -> Result<(), FetchError> {
    GuardError::check_url(url, allow_private).map_err(|e| e.to_fetch_error(0))
}

/// Resolves `host` and returns its addresses, refusing it (unless `allow_private`) when any of
/// them is not public: the check the static fetcher's resolver makes, for fetchers that do not
/// connect through reqwest (the browser's request interception).
pub async fn resolve_public(host: &str, allow_private: bool) -> Result<Vec<SocketAddr>, GuardError> {
    GuardedResolver::lookup(host.to_owned(), allow_private).await
}

/// A reqwest client builder with the product pages' address guard: names are resolved by the
/// guarded resolver (refused when any address is internal, unless `allow_private`; the
/// connection goes to the addresses checked), proxies from the environment are ignored, and
/// redirects are not followed. For other outbound requests to user-given URLs (alert channels);
/// check a literal IP host with [`check_target`] before each request.
pub fn guarded_client_builder(allow_private: bool) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver { allow_private }))
        .redirect(reqwest::redirect::Policy::none())
}

/// Decides one redirect hop: refuses a scheme other than http/https, a literal internal IP host
/// (unless `allow_private`), and a hop beyond `max_redirects`. `previous_urls` is the number of
/// URLs already requested in the chain, the original one included (so `1` on the first redirect).
pub fn check_redirect(
    next: &Url,
    previous_urls: usize,
    max_redirects: usize,
    allow_private: bool,
) -> Result<(), GuardError> {
    if previous_urls > max_redirects {
        return Err(GuardError::TooManyRedirects);
    }
    GuardError::check_url(next, allow_private)
}

/// A refusal by the address guard or the redirect policy. Carried through reqwest's error and
/// turned into a [`FetchError`] by [`StaticFetcher`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    /// The host is, or resolves to, an internal address.
    #[error("the address of {host} is on a private or internal network")]
    PrivateAddress {
        /// The host.
        host: String,
    },
    /// Not http or https.
    #[error("the page redirected to an address that is not a web page")]
    UnsupportedScheme,
    /// Too many redirects.
    #[error("too many redirects")]
    TooManyRedirects,
    /// The name does not resolve.
    #[error("could not find the address of {host}")]
    UnknownHost {
        /// The host.
        host: String,
    },
}

impl GuardError {
    /// Checks a URL's scheme (http or https only) and, unless `allow_private`, a literal IP host
    /// (every numeric form the URL parser accepts, such as `http://2130706433/`, is an IP here).
    /// Host names are not resolved: see [`resolve_public`].
    pub fn check_url(url: &Url, allow_private: bool) -> Result<(), Self> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Self::UnsupportedScheme);
        }
        if allow_private {
            return Ok(());
        }
        let literal: Option<IpAddr> = match url.host() {
            Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(Host::Domain(_)) => None,
            None => {
                return Err(Self::UnknownHost { host: String::new() });
            }
        };
        match literal {
            Some(ip) if !is_public_ip(ip) => {
                Err(Self::PrivateAddress { host: url.host_str().unwrap_or_default().to_owned() })
            }
            _ => Ok(()),
        }
    }

    /// The fetch error to report for this refusal (`max_redirects` completes the redirect one).
    pub fn to_fetch_error(&self, max_redirects: usize) -> FetchError {
        match self {
            Self::PrivateAddress { host } => FetchError::PrivateAddress { host: host.clone() },
            Self::UnsupportedScheme => FetchError::UnsupportedRedirect,
            Self::TooManyRedirects => FetchError::TooManyRedirects { max: max_redirects },
            Self::UnknownHost { host } => FetchError::UnknownHost { host: host.clone() },
        }
    }
}

/// Resolves with the system resolver and refuses a name when any address it resolves to is not
/// public (refusing rather than filtering: a name that points inside is a clear sign of abuse).
#[derive(Debug, Clone, Copy)]
struct GuardedResolver {
    allow_private: bool,
}

impl GuardedResolver {
    async fn lookup(host: String, allow_private: bool) -> Result<Vec<SocketAddr>, GuardError> {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
            .await
            .map_err(|_| GuardError::UnknownHost { host: host.clone() })?
            .collect();
        if addrs.is_empty() {
            return Err(GuardError::UnknownHost { host });
        }
        if !allow_private && addrs.iter().any(|a| !is_public_ip(a.ip())) {
            return Err(GuardError::PrivateAddress { host });
        }
        Ok(addrs)
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let allow_private = self.allow_private;
        Box::pin(async move {
            match Self::lookup(host, allow_private).await {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as Addrs),
                Err(refusal) => Err(Box::new(refusal) as Box<dyn StdError + Send + Sync>),
            }
        })
    }
}

/// Reads a `Retry-After` value: a number of seconds or an HTTP date. A date in the past gives zero.
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&chrono::Utc);
    Some((date - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(raw: &str) -> Url {
        Url::parse(raw).expect("url")
    }

    #[test]
    fn redirect_to_metadata_address_is_refused() {
        for target in [
            "http://169.254.169.254/latest/meta-data/",
            "http://127.0.0.1:8080/",
            "http://[::1]/",
            "http://2130706433/",
            "http://[::ffff:10.0.0.1]/",
        ] {
            assert!(
                matches!(check_redirect(&url(target), 1, 5, false), Err(GuardError::PrivateAddress { .. })),
                "{target}"
            );
            assert_eq!(check_redirect(&url(target), 1, 5, true), Ok(()), "{target}");
        }
    }

    #[test]
    fn redirect_to_other_schemes_is_refused_even_when_private_targets_are_allowed() {
        for target in ["file:///etc/passwd", "ftp://example.com/x", "gopher://example.com/"] {
            assert_eq!(check_redirect(&url(target), 1, 5, true), Err(GuardError::UnsupportedScheme));
        }
    }

    #[test]
    fn redirect_to_public_hosts_is_followed_up_to_the_limit() {
        let next = url("https://shop.example/p/2");
        assert_eq!(check_redirect(&next, 1, 5, false), Ok(()));
        assert_eq!(check_redirect(&next, 5, 5, false), Ok(()));
        assert_eq!(check_redirect(&next, 6, 5, false), Err(GuardError::TooManyRedirects));
        assert_eq!(check_redirect(&url("http://8.8.8.8/"), 1, 5, false), Ok(()));
    }

    #[test]
    fn refusals_map_to_forbidden_check_failures() {
        let err = check_target(&url("http://169.254.169.254/"), false).expect_err("refused");
        assert!(err.is_forbidden());
        assert_eq!(
            err.to_check_failure().to_string(),
            "refused to fetch the page: the address of 169.254.169.254 is on a private or internal network"
        );
    }

    #[tokio::test]
    async fn resolver_refuses_names_pointing_inside() {
        let resolver = GuardedResolver { allow_private: false };
        let name: Name = "localhost".parse().expect("name");
        let err = resolver.resolve(name).await.err().expect("refused");
        assert_eq!(err.downcast_ref::<GuardError>(), Some(&GuardError::PrivateAddress { host: "localhost".into() }));

        let open = GuardedResolver { allow_private: true };
        let name: Name = "localhost".parse().expect("name");
        let addrs: Vec<SocketAddr> = open.resolve(name).await.expect("resolves").collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }

    #[tokio::test]
    async fn resolver_reports_unknown_names() {
        let resolver = GuardedResolver { allow_private: false };
        let name: Name = "no-such-host.invalid".parse().expect("name");
        let err = resolver.resolve(name).await.err().expect("fails");
        assert!(matches!(err.downcast_ref::<GuardError>(), Some(GuardError::UnknownHost { .. })));
    }

    #[test]
    fn retry_after_values() {
        let now = chrono::DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z").expect("date").to_utc();
        assert_eq!(super::parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(super::parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(super::parse_retry_after("Wed, 21 Oct 2015 07:30:00 GMT", now), Some(Duration::from_secs(120)));
        assert_eq!(super::parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(super::parse_retry_after("soon", now), None);
        assert_eq!(super::parse_retry_after("-5", now), None);
    }
}

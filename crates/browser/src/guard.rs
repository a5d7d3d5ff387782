//! The address guard as the browser applies it: every request a page makes (the document, each
//! redirect hop, frames, scripts, XHR/fetch) is paused by request interception and decided here
//! before Chromium may send it.

use chromiumoxide::cdp::browser_protocol::network::ResourceType;
use pricetrack_scraper::{GuardError, resolve_public};

use crate::proxy::ProxyPolicy;
use url::Url;

/// What to do with one paused request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Let it go.
    Continue,
    /// Not needed to read a price (images, media, fonts): dropped to save time and memory.
    Skip,
    /// Refused by the guard.
    Refuse(GuardError),
}

/// Decides requests: the same rules as the static fetcher, plus the resource types skipped.
#[derive(Debug, Clone)]
pub(crate) struct RequestGuard {
    allow_private: bool,
    /// Origins exempt from the address check.
    exempt_origins: Vec<url::Origin>,
}

impl RequestGuard {
    pub(crate) fn new(allow_private: bool, exempt_origins: &[String]) -> Self {
        let exempt_origins =
            exempt_origins.iter().filter_map(|raw| Url::parse(raw).ok()).map(|url| url.origin()).collect();
        Self { allow_private, exempt_origins }
    }

    /// The same rules for the proxy, which sees `host:port` and no scheme.
    pub(crate) fn proxy_policy(&self) -> ProxyPolicy {
        let exempt = self
            .exempt_origins
            .iter()
            .filter_map(|origin| match origin {
                url::Origin::Tuple(_, host, port) => {
                    Some((host.to_string().trim_matches(['[', ']']).to_owned(), *port))
                }
                url::Origin::Opaque(_) => None,
            })
            .collect();
        ProxyPolicy { allow_private: self.allow_private, exempt, tunnel: crate::proxy::TunnelLimits::default() }
    }

    /// Decides a request for `raw_url` of type `resource_type`.
    pub(crate) async fn decide(&self, raw_url: &str, resource_type: &ResourceType) -> Verdict {
        if matches!(resource_type, ResourceType::Image | ResourceType::Media | ResourceType::Font) {
            return Verdict::Skip;
        }
        let Ok(url) = Url::parse(raw_url) else {
            return Verdict::Refuse(GuardError::UnsupportedScheme);
        };
        // Never on the network: the page's own data.
        if matches!(url.scheme(), "data" | "blob" | "about") {
            return Verdict::Continue;
        }
        match self.check(&url).await {
            Ok(()) => Verdict::Continue,
            Err(refusal) => Verdict::Refuse(refusal),
        }
    }

    /// Checks a URL the way the static fetcher does: scheme, literal address, and every address
    /// its host name resolves to.
    pub(crate) async fn check(&self, url: &Url) -> Result<(), GuardError> {
        let exempt = self.exempt_origins.contains(&url.origin());
        let allow_private = self.allow_private || exempt;
        GuardError::check_url(url, allow_private)?;
        if allow_private {
            return Ok(());
        }
        if let Some(url::Host::Domain(host)) = url.host() {
            resolve_public(host, false).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refuses_internal_targets_and_skips_heavy_resources() {
        let guard = RequestGuard::new(false, &["http://127.0.0.1:8080".to_owned()]);
        let doc = ResourceType::Document;
        for target in [
            "http://127.0.0.1:9/",
            "http://localhost/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://[::ffff:10.0.0.1]/",
            "http://100.64.0.1/",
            "http://224.0.0.1/",
            "http://0.0.0.0/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
        ] {
            assert!(
                matches!(guard.decide(target, &doc).await, Verdict::Refuse(GuardError::PrivateAddress { .. })),
                "{target}"
            );
        }
        assert_eq!(guard.decide("file:///etc/passwd", &doc).await, Verdict::Refuse(GuardError::UnsupportedScheme));
        assert_eq!(guard.decide("ftp://example.com/", &doc).await, Verdict::Refuse(GuardError::UnsupportedScheme));
        assert_eq!(guard.decide("http://127.0.0.1:8080/page", &doc).await, Verdict::Continue);
        assert_eq!(guard.decide("data:text/plain,hi", &ResourceType::Script).await, Verdict::Continue);
        assert_eq!(guard.decide("http://127.0.0.1:9/a.png", &ResourceType::Image).await, Verdict::Skip);
        assert_eq!(guard.decide("http://8.8.8.8/", &doc).await, Verdict::Continue);
    }

    #[tokio::test]
    async fn allow_private_lifts_the_address_check_but_not_the_scheme_check() {
        let guard = RequestGuard::new(true, &[]);
        assert_eq!(guard.decide("http://127.0.0.1:9/", &ResourceType::Document).await, Verdict::Continue);
        assert_eq!(
            guard.decide("file:///etc/passwd", &ResourceType::Document).await,
            Verdict::Refuse(GuardError::UnsupportedScheme)
        );
    }
}

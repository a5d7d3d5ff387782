//! The product page a job watches, and which network addresses a check may reach.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};
use url::{Host, Url};

/// Why a product URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidProductUrl {
    /// Longer than [`ProductUrl::MAX_LEN`].
    #[error("url must be at most 2048 characters")]
    TooLong,
    /// Not a URL at all.
    #[error("url is not a valid absolute URL")]
    Malformed,
    /// Not http or https.
    #[error("url must use http or https")]
    Scheme,
    /// Carries `user:password@`: credentials do not belong in a tracked link.
    #[error("url must not contain a user name or password")]
    Credentials,
    /// No host name.
    #[error("url must have a host name")]
    NoHost,
    /// The host is an address on a private, loopback or otherwise internal network.
    #[error("url points to a private or internal network address")]
    PrivateAddress,
}

/// An absolute http(s) URL of a product page, at most 2,048 characters, without credentials.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProductUrl(Url);

impl ProductUrl {
    /// Longest accepted URL, in bytes.
    pub const MAX_LEN: usize = 2048;

    /// Parses a URL a user gave. Hosts that are literal internal addresses (`127.0.0.1`,
    /// `[::1]`, `169.254.169.254`, `2130706433`, `localhost`) are accepted here; callers that
    /// must refuse them use [`ProductUrl::parse_public`].
    pub fn parse(raw: &str) -> Result<Self, InvalidProductUrl> {
        let raw = raw.trim();
        if raw.len() > Self::MAX_LEN {
            return Err(InvalidProductUrl::TooLong);
        }
        let url = Url::parse(raw).map_err(|_| InvalidProductUrl::Malformed)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(InvalidProductUrl::Scheme);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(InvalidProductUrl::Credentials);
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(InvalidProductUrl::NoHost);
        }
        if url.as_str().len() > Self::MAX_LEN {
            return Err(InvalidProductUrl::TooLong);
        }
        Ok(Self(url))
    }

    /// Like [`ProductUrl::parse`], and also refuses hosts that are obviously internal without a
    /// DNS lookup: literal non-public IP addresses (in any spelling the URL parser normalises,
    /// such as `http://2130706433/`) and `localhost`. Names that only resolve to internal
    /// addresses are caught at connection time by the fetcher.
    pub fn parse_public(raw: &str) -> Result<Self, InvalidProductUrl> {
        let url = Self::parse(raw)?;
        let internal = match url.0.host() {
            Some(Host::Ipv4(ip)) => !is_public_ip(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => !is_public_ip(IpAddr::V6(ip)),
            Some(Host::Domain(d)) => {
                let d = d.trim_end_matches('.');
                d == "localhost" || d.ends_with(".localhost")
            }
            None => true,
        };
        if internal {
            return Err(InvalidProductUrl::PrivateAddress);
        }
        Ok(url)
    }

    /// The parsed URL.
    pub fn as_url(&self) -> &Url {
        &self.0
    }

    /// The URL as text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The host name, lower case.
    pub fn host(&self) -> &str {
        self.0.host_str().unwrap_or_default()
    }
}

impl TryFrom<String> for ProductUrl {
    type Error = InvalidProductUrl;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<ProductUrl> for String {
    fn from(value: ProductUrl) -> Self {
        value.0.into()
    }
}

impl fmt::Display for ProductUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl fmt::Debug for ProductUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProductUrl({})", self.0.as_str())
    }
}

/// True when an address is on the public internet: not loopback, private, link-local (cloud
/// metadata lives at 169.254.169.254), carrier-grade NAT, multicast, broadcast, documentation,
/// benchmarking, reserved or unspecified, nor an IPv6 unique-local, link-local or site-local
/// address, nor an IPv4 address wrapped in IPv6 (mapped, compatible, NAT64, 6to4) that is any
/// of those.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_ipv4(v4),
        IpAddr::V6(v6) => is_public_ipv6(v6),
    }
}

fn is_public_ipv4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let internal = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT 100.64.0.0/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18.0.0/15
        || a >= 240; // reserved, broadcast
    !internal
}

fn is_public_ipv6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_ipv4(v4);
    }
    let segments = ip.segments();
    // IPv4-compatible (::a.b.c.d, deprecated) and NAT64 (64:ff9b::/96) carry an IPv4 address.
    if segments[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_loopback() && !ip.is_unspecified() {
        return is_public_ipv4(Ipv4Addr::new(
            (segments[6] >> 8) as u8,
            segments[6] as u8,
            (segments[7] >> 8) as u8,
            segments[7] as u8,
        ));
    }
    if segments[0] == 0x64 && segments[1] == 0xff9b && segments[2..6] == [0, 0, 0, 0] {
        return is_public_ipv4(Ipv4Addr::new(
            (segments[6] >> 8) as u8,
            segments[6] as u8,
            (segments[7] >> 8) as u8,
            segments[7] as u8,
        ));
    }
    // 6to4 (2002::/16) embeds an IPv4 address in segments 1 and 2.
    if segments[0] == 0x2002 {
        return is_public_ipv4(Ipv4Addr::new(
            (segments[1] >> 8) as u8,
            segments[1] as u8,
            (segments[2] >> 8) as u8,
            segments[2] as u8,
        ));
    }
    let internal = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (segments[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (segments[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
        || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
        || (segments[0] == 0x0100 && segments[1..4] == [0, 0, 0]); // discard-only 100::/64
    !internal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_shop_urls() {
        let url = ProductUrl::parse_public("https://www.amazon.es/dp/B0ABC?th=1").expect("valid");
        assert_eq!(url.host(), "www.amazon.es");
    }

    #[test]
    fn refuses_bad_urls() {
        assert_eq!(ProductUrl::parse("ftp://example.com/x").unwrap_err(), InvalidProductUrl::Scheme);
        assert_eq!(ProductUrl::parse("javascript:alert(1)").unwrap_err(), InvalidProductUrl::Scheme);
        assert_eq!(ProductUrl::parse("file:///etc/passwd").unwrap_err(), InvalidProductUrl::Scheme);
        assert_eq!(ProductUrl::parse("not a url").unwrap_err(), InvalidProductUrl::Malformed);
        assert_eq!(ProductUrl::parse("https://u:p@example.com/").unwrap_err(), InvalidProductUrl::Credentials);
        let long = format!("https://example.com/{}", "a".repeat(2100));
        assert_eq!(ProductUrl::parse(&long).unwrap_err(), InvalidProductUrl::TooLong);
    }

    #[test]
    fn refuses_internal_hosts_when_public_is_required() {
        for raw in [
            "http://127.0.0.1/",
            "http://localhost:8080/",
            "http://api.localhost/",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/",
            "http://192.168.1.1/",
            "http://172.16.0.1/",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://017700000001/",
            "http://127.1/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:169.254.169.254]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[2002:7f00:1::]/",
            "http://224.0.0.1/",
        ] {
            assert_eq!(ProductUrl::parse_public(raw).unwrap_err(), InvalidProductUrl::PrivateAddress, "{raw}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public_ip(ip.parse().expect("ip")), "{ip}");
        }
    }
}

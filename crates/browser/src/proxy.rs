//! A forward proxy on 127.0.0.1 that every connection of the browser goes through, so that the
//! address guard holds at connection time in the browser too.
//!
//! Request interception checks each request's URL, but Chromium then resolves the host name
//! again by itself: a name whose DNS answer changes between the two (DNS rebinding) could reach
//! an internal address. Through this proxy Chromium resolves nothing: the proxy resolves the
//! name, refuses it when any address is internal, and connects to the very addresses it checked.
//! HTTPS and WebSockets arrive as `CONNECT host:port` and are tunnelled; plain HTTP arrives as
//! `GET http://host/path` and is forwarded on a connection closed after one exchange.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use pricetrack_scraper::{GuardError, resolve_public};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Largest request head accepted from the browser.
const MAX_HEAD: usize = 32 * 1024;
/// Longest wait for a connection to a shop.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Size of each direction's relay buffer.
const RELAY_BUFFER: usize = 16 * 1024;

/// Bounds of one proxied connection, so that a page (or a shop) cannot keep a connection, and
/// the task and sockets behind it, open forever or stream without end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TunnelLimits {
    /// Closed when neither side sent anything for this long (a page has 30 s to load; an
    /// idle keep-alive connection is not worth keeping past a check). Default 20 s.
    pub(crate) idle_timeout: Duration,
    /// Closed once this many bytes went through, both directions together. Default 64 MiB:
    /// far above a product page with its scripts, far below what a runaway stream would send.
    pub(crate) max_bytes: u64,
}

impl Default for TunnelLimits {
    fn default() -> Self {
        Self { idle_timeout: Duration::from_secs(20), max_bytes: 64 * 1024 * 1024 }
    }
}

/// What the proxies of a fetcher did, across browser restarts.
#[derive(Debug, Default)]
pub(crate) struct ProxyCounters {
    /// Connections refused because their destination is internal.
    pub(crate) refused: AtomicU64,
    /// Connections forwarded to their destination.
    pub(crate) forwarded: AtomicU64,
    /// Connections closed because nothing went through for [`TunnelLimits::idle_timeout`].
    pub(crate) idle_closed: AtomicU64,
    /// Connections closed because they reached [`TunnelLimits::max_bytes`].
    pub(crate) capped: AtomicU64,
}

/// The running proxy; stops when dropped.
#[derive(Debug)]
pub(crate) struct GuardProxy {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for GuardProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Which internal destinations the proxy lets through.
#[derive(Debug, Clone)]
pub(crate) struct ProxyPolicy {
    /// Everything is allowed (tests and local demos).
    pub(crate) allow_private: bool,
    /// `host:port` pairs allowed although internal (the exempt origins).
    pub(crate) exempt: Vec<(String, u16)>,
    /// Bounds of each connection once forwarded.
    pub(crate) tunnel: TunnelLimits,
}

impl GuardProxy {
    /// Starts the proxy on an ephemeral port of 127.0.0.1.
    /// What it does is counted in `counters`.
    pub(crate) async fn start(policy: ProxyPolicy, counters: Arc<ProxyCounters>) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let policy = Arc::new(policy);
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else { continue };
                let policy = Arc::clone(&policy);
                let counters = Arc::clone(&counters);
                tokio::spawn(async move { handle(client, &policy, &counters).await });
            }
        });
        Ok(Self { addr, task })
    }

    /// Where the proxy listens.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Serves one connection from the browser. A failure just closes the connection (the browser
/// reports it as a network error).
async fn handle(mut client: TcpStream, policy: &ProxyPolicy, counters: &ProxyCounters) {
    let Some((head, rest)) = read_head(&mut client).await else { return };
    let Some(RequestHead { method, target, version, headers }) = parse_head(&head) else {
        let _ignored = client.write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n").await;
        return;
    };
    let (host, port, origin_form) = if method.eq_ignore_ascii_case("CONNECT") {
        let Some((host, port)) = split_host_port(target, 443) else { return };
        (host, port, None)
    } else {
        let Ok(url) = url::Url::parse(target) else { return };
        if url.scheme() != "http" {
            let _ignored = client.write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n").await;
            return;
        }
        let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']).to_owned();
        let port = url.port_or_known_default().unwrap_or(80);
        let path = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        (host, port, Some(path))
    };
    let upstream = match connect_checked(&host, port, policy).await {
        Ok(upstream) => upstream,
        Err(ConnectError::Refused) => {
            tracing::info!(host, port, "browser connection refused by the address guard");
            let _ignored =
                client.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
            counters.refused.fetch_add(1, Ordering::SeqCst);
            return;
        }
        Err(ConnectError::Failed) => {
            let _ignored =
                client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
            return;
        }
    };
    counters.forwarded.fetch_add(1, Ordering::SeqCst);
    let mut upstream = upstream;
    match origin_form {
        None => {
            if client.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n").await.is_err() {
                return;
            }
        }
        Some(path) => {
            // One exchange per connection: the browser may send its next request, for another
            // host, on the same proxy connection, and that one must be checked too.
            let mut forwarded = format!("{method} {path} {version}\r\n");
            for (name, value) in headers {
                if !["proxy-connection", "connection", "keep-alive"].iter().any(|h| name.eq_ignore_ascii_case(h)) {
                    forwarded.push_str(&format!("{name}: {value}\r\n"));
                }
            }
            forwarded.push_str("Connection: close\r\n\r\n");
            if upstream.write_all(forwarded.as_bytes()).await.is_err() {
                return;
            }
        }
    }
    if !rest.is_empty() && upstream.write_all(&rest).await.is_err() {
        return;
    }
    match relay(&mut client, &mut upstream, policy.tunnel).await {
        RelayEnd::Closed => {}
        RelayEnd::Idle => {
            tracing::debug!(host, port, "browser connection closed: idle");
            counters.idle_closed.fetch_add(1, Ordering::SeqCst);
        }
        RelayEnd::Capped => {
            tracing::info!(
                host,
                port,
                max_bytes = policy.tunnel.max_bytes,
                "browser connection closed: byte cap reached"
            );
            counters.capped.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Why a relayed connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RelayEnd {
    /// Both sides closed, or one failed.
    Closed,
    /// Nothing went through for the idle timeout.
    Idle,
    /// The byte cap was reached.
    Capped,
}

/// Copies both ways between the browser and the shop until both sides are done, nothing moved
/// for `limits.idle_timeout`, or `limits.max_bytes` went through.
async fn relay(client: &mut TcpStream, upstream: &mut TcpStream, limits: TunnelLimits) -> RelayEnd {
    let (mut client_read, mut client_write) = client.split();
    let (mut upstream_read, mut upstream_write) = upstream.split();
    let mut from_client = vec![0u8; RELAY_BUFFER];
    let mut from_upstream = vec![0u8; RELAY_BUFFER];
    let (mut client_open, mut upstream_open) = (true, true);
    let mut relayed: u64 = 0;
    while client_open || upstream_open {
        // Reads are cancel-safe: the branch that loses the race has read nothing.
        let step = tokio::time::timeout(limits.idle_timeout, async {
            tokio::select! {
                read = client_read.read(&mut from_client), if client_open => (true, read),
                read = upstream_read.read(&mut from_upstream), if upstream_open => (false, read),
            }
        })
        .await;
        let Ok((upward, read)) = step else { return RelayEnd::Idle };
        let (buffer, writer) =
            if upward { (&from_client, &mut upstream_write) } else { (&from_upstream, &mut client_write) };
        match read {
            Ok(0) => {
                // Half-close: pass the end on, keep the other direction going.
                let _ignored = writer.shutdown().await;
                if upward {
                    client_open = false;
                } else {
                    upstream_open = false;
                }
            }
            Ok(n) => {
                relayed = relayed.saturating_add(n as u64);
                if relayed > limits.max_bytes {
                    return RelayEnd::Capped;
                }
                let Some(bytes) = buffer.get(..n) else { return RelayEnd::Closed };
                if writer.write_all(bytes).await.is_err() {
                    return RelayEnd::Closed;
                }
            }
            Err(_) => return RelayEnd::Closed,
        }
    }
    RelayEnd::Closed
}

enum ConnectError {
    Refused,
    Failed,
}

/// Resolves `host` with the static fetcher's guard ([`resolve_public`]: refused when any of its
/// addresses is internal, unless allowed) and connects to one of the addresses it checked.
async fn connect_checked(host: &str, port: u16, policy: &ProxyPolicy) -> Result<TcpStream, ConnectError> {
    let exempt = policy.exempt.iter().any(|(h, p)| h.eq_ignore_ascii_case(host) && *p == port);
    let addrs = resolve_public(host, policy.allow_private || exempt).await.map_err(|refusal| match refusal {
        GuardError::PrivateAddress { .. } => ConnectError::Refused,
        _ => ConnectError::Failed,
    })?;
    for mut addr in addrs {
        addr.set_port(port);
        if let Ok(Ok(stream)) = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            return Ok(stream);
        }
    }
    Err(ConnectError::Failed)
}

/// Reads up to the end of the request head; returns the head and any bytes after it.
async fn read_head(client: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let n = client.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(chunk.get(..n)?);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Some((String::from_utf8_lossy(&buf).into_owned(), rest));
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
    }
}

/// A request head from the browser.
struct RequestHead<'a> {
    method: &'a str,
    target: &'a str,
    version: &'a str,
    headers: Vec<(&'a str, &'a str)>,
}

/// The request line's method, target and version, and the headers.
fn parse_head(head: &str) -> Option<RequestHead<'_>> {
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let (method, target, version) = (request_line.next()?, request_line.next()?, request_line.next()?);
    let headers = lines
        .filter(|line| !line.is_empty())
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim(), value.trim()))
        .collect();
    Some(RequestHead { method, target, version, headers })
}

/// `host:port` or `[v6]:port` of a CONNECT target.
fn split_host_port(target: &str, default_port: u16) -> Option<(String, u16)> {
    if let Some(rest) = target.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':').map_or(Some(default_port), |p| p.parse().ok())?;
        return Some((host.to_owned(), port));
    }
    match target.rsplit_once(':') {
        Some((host, port)) => Some((host.to_owned(), port.parse().ok()?)),
        None => Some((target.to_owned(), default_port)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn counting_server() -> (u16, Arc<AtomicU64>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let hits = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&hits);
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let _ignored =
                    conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok").await;
            }
        });
        (port, hits)
    }

    async fn ask(proxy: SocketAddr, request: &str) -> String {
        let mut conn = TcpStream::connect(proxy).await.expect("proxy");
        conn.write_all(request.as_bytes()).await.expect("write");
        let mut answer = Vec::new();
        let _read = tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut answer)).await;
        String::from_utf8_lossy(&answer).into_owned()
    }

    #[tokio::test]
    async fn names_and_addresses_inside_are_refused_at_connection_time() {
        let (port, hits) = counting_server().await;
        let counters = Arc::new(ProxyCounters::default());
        let policy = ProxyPolicy { allow_private: false, exempt: Vec::new(), tunnel: TunnelLimits::default() };
        let proxy = GuardProxy::start(policy, Arc::clone(&counters)).await.expect("proxy");
        for request in [
            format!("CONNECT localhost:{port} HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n"),
            format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n"),
            format!("CONNECT [::ffff:127.0.0.1]:{port} HTTP/1.1\r\n\r\n"),
            format!("GET http://localhost:{port}/secret HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n"),
            "GET http://169.254.169.254/latest/meta-data/ HTTP/1.1\r\n\r\n".to_owned(),
        ] {
            let answer = ask(proxy.addr(), &request).await;
            assert!(answer.starts_with("HTTP/1.1 403"), "{request}: {answer}");
        }
        assert_eq!(hits.load(Ordering::SeqCst), 0);
        assert_eq!(counters.refused.load(Ordering::SeqCst), 5);
        assert_eq!(counters.forwarded.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn exempt_and_allowed_destinations_are_forwarded() {
        let (port, hits) = counting_server().await;
        let policy = ProxyPolicy {
            allow_private: false,
            exempt: vec![("127.0.0.1".into(), port)],
            tunnel: TunnelLimits::default(),
        };
        let proxy = GuardProxy::start(policy, Arc::default()).await.expect("proxy");
        let answer = ask(proxy.addr(), &format!("GET http://127.0.0.1:{port}/ HTTP/1.1\r\nHost: x\r\n\r\n")).await;
        assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok"), "{answer}");
        let answer =
            ask(proxy.addr(), &format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n")).await;
        assert!(answer.starts_with("HTTP/1.1 200 Connection Established"), "{answer}");
        assert_eq!(hits.load(Ordering::SeqCst), 2);
    }

    /// A server that answers each connection with `send` bytes, then keeps it open and silent.
    async fn silent_server(send: usize) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let _ignored = conn.write_all(&vec![b'x'; send]).await;
                    tokio::time::sleep(Duration::from_secs(60)).await;
                });
            }
        });
        port
    }

    #[tokio::test]
    async fn an_idle_tunnel_is_closed_after_the_idle_timeout() {
        let port = silent_server(0).await;
        let counters = Arc::new(ProxyCounters::default());
        let tunnel = TunnelLimits { idle_timeout: Duration::from_millis(300), ..TunnelLimits::default() };
        let policy = ProxyPolicy { allow_private: true, exempt: Vec::new(), tunnel };
        let proxy = GuardProxy::start(policy, Arc::clone(&counters)).await.expect("proxy");
        let started = std::time::Instant::now();
        let answer = ask(proxy.addr(), &format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n")).await;
        let took = started.elapsed();
        assert_eq!(answer, "HTTP/1.1 200 Connection Established\r\n\r\n");
        assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(3), "closed after {took:?}");
        assert_eq!(counters.idle_closed.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_tunnel_is_cut_at_its_byte_cap() {
        let port = silent_server(1024 * 1024).await;
        let counters = Arc::new(ProxyCounters::default());
        let tunnel = TunnelLimits { max_bytes: 100 * 1024, ..TunnelLimits::default() };
        let policy = ProxyPolicy { allow_private: true, exempt: Vec::new(), tunnel };
        let proxy = GuardProxy::start(policy, Arc::clone(&counters)).await.expect("proxy");
        let started = std::time::Instant::now();
        let answer = ask(proxy.addr(), &format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n")).await;
        let relayed = answer.len() - "HTTP/1.1 200 Connection Established\r\n\r\n".len();
        assert!(relayed <= 100 * 1024, "{relayed} bytes went through a 100 KiB cap");
        assert!(relayed >= 100 * 1024 - RELAY_BUFFER, "only {relayed} bytes went through");
        assert!(started.elapsed() < Duration::from_secs(3), "the capped connection was not closed");
        assert_eq!(counters.capped.load(Ordering::SeqCst), 1);
    }
}

//! A TCP proxy for fault tests: put it between a program and a dependency (moto_server,
//! PostgreSQL), then make the dependency misbehave without root and without touching the real
//! server:
//!
//! - [`Fault::None`]: bytes pass both ways;
//! - [`Fault::Hang`]: connections are accepted, and nothing passes either way on any connection,
//!   new or open (a network partition, a server that stopped answering);
//! - [`Fault::Refuse`]: every open connection is cut and new ones are closed as soon as they are
//!   accepted (a server that is down);
//! - [`Fault::Latency`]: every chunk of bytes waits this long before it is passed on.
//!
//! [`FaultProxy::cut`] closes every open connection once (a restart of the dependency, a load
//! balancer dropping connections).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use pricetrack_fault_proxy::{Fault, FaultProxy};
//!
//! let proxy = FaultProxy::start("127.0.0.1:5432".parse().expect("addr")).await?;
//! let url = format!("postgres://postgres@{}/postgres", proxy.addr());
//! proxy.set(Fault::Hang);
//! // ... the program behind `url` now waits on a dependency that never answers ...
//! proxy.set(Fault::None);
//! # let _ = url;
//! # Ok(())
//! # }
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does to the traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Bytes pass both ways.
    None,
    /// Nothing passes on any connection; new connections are accepted and stall.
    Hang,
    /// Open connections are cut; new ones are closed at once.
    Refuse,
    /// Every chunk waits this long before it is passed on.
    Latency(Duration),
}

/// The proxy's state: the fault, and how many times every connection was cut.
#[derive(Debug, Clone, Copy)]
struct State {
    fault: Fault,
    cuts: u64,
}

/// A running fault-injecting proxy on 127.0.0.1. Stops (and closes every connection) when
/// dropped.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    state: watch::Sender<State>,
    accept: JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on a free port of 127.0.0.1 and forwards every connection to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = watch::Sender::new(State { fault: Fault::None, cuts: 0 });
        let accept = tokio::spawn(accept_loop(listener, upstream, state.clone()));
        Ok(Self { addr, state, accept })
    }

    /// The address to give the program instead of the dependency's.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`, for an HTTP dependency such as moto_server.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Applies `fault` from now on (to open connections too). [`Fault::Refuse`] also cuts every
    /// open connection.
    pub fn set(&self, fault: Fault) {
        self.state.send_modify(|state| {
            state.fault = fault;
            if fault == Fault::Refuse {
                state.cuts += 1;
            }
        });
    }

    /// The fault in force.
    pub fn fault(&self) -> Fault {
        self.state.borrow().fault
    }

    /// Closes every open connection once; new connections are served as the fault says.
    pub fn cut(&self) {
        self.state.send_modify(|state| state.cuts += 1);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
        // Ends every connection task.
        self.state.send_modify(|state| {
            state.fault = Fault::Refuse;
            state.cuts += 1;
        });
    }
}

async fn accept_loop(listener: TcpListener, upstream: SocketAddr, state: watch::Sender<State>) {
    loop {
        let Ok((client, _)) = listener.accept().await else { continue };
        let current = *state.borrow();
        if current.fault == Fault::Refuse {
            drop(client);
            continue;
        }
        let state = state.subscribe();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(upstream).await else { return };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            let cuts = current.cuts;
            // Either direction ending (EOF, error, a cut) ends the connection.
            tokio::select! {
                () = pump(client_read, server_write, state.clone(), cuts) => {}
                () = pump(server_read, client_write, state, cuts) => {}
            }
        });
    }
}

/// Copies `from` to `to` chunk by chunk, applying the fault in force to each chunk; returns when
/// either side closes, or when the connections are cut.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut state: watch::Receiver<State>, cuts: u64) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let read = tokio::select! {
            read = from.read(&mut buf) => read,
            () = cut(&mut state, cuts) => return,
        };
        let n = match read {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return;
            }
            Ok(n) => n,
        };
        // Wait until the fault lets this chunk through.
        loop {
            let now = *state.borrow_and_update();
            if now.cuts != cuts {
                return;
            }
            match now.fault {
                Fault::None => break,
                Fault::Latency(delay) => {
                    tokio::time::sleep(delay).await;
                    break;
                }
                Fault::Refuse => return,
                Fault::Hang => {
                    if state.changed().await.is_err() {
                        return;
                    }
                }
            }
        }
        let slice = buf.get(..n).unwrap_or_default();
        let written = tokio::select! {
            written = to.write_all(slice) => written,
            () = cut(&mut state, cuts) => return,
        };
        if written.is_err() {
            return;
        }
    }
}

/// Completes when the connections are cut (or the proxy is gone).
async fn cut(state: &mut watch::Receiver<State>, cuts: u64) {
    loop {
        if state.borrow_and_update().cuts != cuts {
            return;
        }
        if state.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// An echo server on 127.0.0.1.
    async fn echo() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = stream.read(&mut buf).await {
                        if n == 0 || stream.write_all(buf.get(..n).unwrap_or_default()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn round_trip(stream: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
        stream.write_all(b"ping").await.ok()?;
        let mut buf = [0u8; 4];
        match tokio::time::timeout(within, stream.read_exact(&mut buf)).await {
            Ok(Ok(_)) => Some(buf.to_vec()),
            _ => None,
        }
    }

    #[tokio::test]
    async fn passes_hangs_delays_cuts_and_refuses() {
        let proxy = FaultProxy::start(echo().await).await.expect("proxy");
        let mut open = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert_eq!(round_trip(&mut open, Duration::from_secs(2)).await.as_deref(), Some(&b"ping"[..]));

        proxy.set(Fault::Hang);
        assert_eq!(round_trip(&mut open, Duration::from_millis(300)).await, None, "an open connection hangs");
        let mut new = TcpStream::connect(proxy.addr()).await.expect("a new connection is accepted");
        assert_eq!(round_trip(&mut new, Duration::from_millis(300)).await, None, "a new connection hangs");

        proxy.set(Fault::Latency(Duration::from_millis(200)));
        // The ping held during the hang goes through now, then this one.
        let started = Instant::now();
        assert!(round_trip(&mut new, Duration::from_secs(2)).await.is_some());
        assert!(started.elapsed() >= Duration::from_millis(200));

        proxy.set(Fault::None);
        proxy.cut();
        let mut buf = [0u8; 8];
        let read = tokio::time::timeout(Duration::from_secs(2), new.read(&mut buf)).await.expect("cut at once");
        assert!(matches!(read, Ok(0) | Err(_)), "the cut connection is closed: {read:?}");
        let mut after = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert!(round_trip(&mut after, Duration::from_secs(2)).await.is_some(), "new connections pass after a cut");

        proxy.set(Fault::Refuse);
        let mut refused = TcpStream::connect(proxy.addr()).await.expect("accepted, then closed");
        let read = tokio::time::timeout(Duration::from_secs(2), refused.read(&mut buf)).await.expect("closed at once");
        assert!(matches!(read, Ok(0) | Err(_)), "refused: {read:?}");
        drop(open);
    }
}

//! The pricetrack HTTP API: accounts, sessions and tracking jobs, all JSON under `/api/v1`,
//! plus `/healthz` and `/readyz` probes.
//!
//! The crate is storage-agnostic: it reaches users, jobs, the check queue and the notifier only
//! through the domain's ports, handed in as [`ApiPorts`]. [`router`] builds the
//! [`axum::Router`]; [`Application`] binds it to a socket (port 0 in tests) and serves it until a
//! shutdown future completes.
//!
//! Every error has one shape, `{"error":{"code":"...","message":"..."}}` (plus `"field"` for
//! invalid input), and is logged once by the request middleware; internal details never reach a
//! client, and bodies, cookies, tokens and emails never reach a log.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::SubsecRound;
use pricetrack_domain::ports::{CheckQueue, JobStore, Notifier, UserStore};
use pricetrack_domain::{SchedulePolicy, Timestamp};
use secrecy::SecretString;
use tokio::net::{TcpListener, TcpSocket};
use tower_http::catch_panic::CatchPanicLayer;

mod body;
mod error;
mod jobs;
mod limiter;
mod observe;
mod password;
mod session;
mod state;
mod users;

use crate::error::ApiError;
use crate::state::AppState;

/// How the API behaves. Built by the binary from its configuration.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// The HS256 key that signs session tokens. The caller checks it is at least 32 bytes of
    /// real randomness; it never comes from the repository or a ConfigMap.
    pub jwt_secret: SecretString,
    /// Whether the session cookie carries `Secure` (true everywhere but plain-HTTP local runs).
    pub cookie_secure: bool,
    /// How long a session lasts (the token's `exp` and the cookie's `Max-Age`).
    pub session_ttl: Duration,
    /// The operator's scheduling rules: interval floor and default, and the lease a new job
    /// starts with.
    pub schedule: SchedulePolicy,
    /// Accept job URLs whose host is a literal private, loopback or link-local address (local
    /// development and tests only; the fetcher still decides what it connects to).
    pub allow_private_targets: bool,
}

impl ApiSettings {
    /// Default session length: 24 hours.
    pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(24 * 3600);

    /// Settings with the defaults: `Secure` cookies, 24-hour sessions, the default schedule
    /// policy, and public targets only.
    pub fn new(jwt_secret: SecretString) -> Self {
        Self {
            jwt_secret,
            cookie_secure: true,
            session_ttl: Self::DEFAULT_SESSION_TTL,
            schedule: SchedulePolicy::default(),
            allow_private_targets: false,
        }
    }
}

/// The adapters the API works through.
#[derive(Clone)]
pub struct ApiPorts {
    /// Accounts.
    pub users: Arc<dyn UserStore>,
    /// Tracking jobs.
    pub jobs: Arc<dyn JobStore>,
    /// Where a new job's first check request goes.
    pub queue: Arc<dyn CheckQueue>,
    /// Told about each new user, so their alerts can reach them.
    pub notifier: Arc<dyn Notifier>,
}

/// The API's routes and middleware, ready to serve.
pub fn router(settings: ApiSettings, ports: ApiPorts) -> Router {
    let state = AppState::new(settings, ports);
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/v1/signup", post(users::signup))
        .route("/api/v1/signin", post(users::signin))
        .route("/api/v1/signout", post(users::signout))
        .route("/api/v1/validate", get(users::validate))
        .route("/api/v1/jobs", post(jobs::create).get(jobs::list).delete(jobs::delete_all))
        .route("/api/v1/jobs/{id}", get(jobs::get).patch(jobs::patch).delete(jobs::delete))
        .route("/api/v1/jobs/{id}/history", get(jobs::history))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(body::MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(observe::panic_response))
        .layer(axum::middleware::from_fn(observe::observe))
        .with_state(state)
}

/// Connections the kernel may queue before the server accepts them.
const LISTEN_BACKLOG: u32 = 4096;

/// The API bound to a socket: build it (port 0 picks a free port), read the address, then run
/// it until a shutdown signal.
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    router: Router,
}

impl Application {
    /// Binds `addr` and builds the router.
    pub async fn build(addr: SocketAddr, settings: ApiSettings, ports: ApiPorts) -> std::io::Result<Self> {
        let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
        socket.set_reuseaddr(true)?;
        socket.set_nodelay(true)?;
        socket.bind(addr)?;
        // A deep accept queue: a burst of thousands of connections at once waits to be accepted
        // instead of being refused (the kernel caps it at net.core.somaxconn).
        let listener = socket.listen(LISTEN_BACKLOG)?;
        let local_addr = listener.local_addr()?;
        Ok(Self { listener, local_addr, router: router(settings, ports) })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves requests until `shutdown` completes, then stops accepting connections and waits
    /// for the requests in flight to finish.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        tracing::info!(addr = %self.local_addr, "api listening");
        axum::serve(self.listener, self.router).with_graceful_shutdown(shutdown).await
    }
}

/// `GET /healthz`: the process is up.
async fn healthz() -> Response {
    axum::Json(serde_json::json!({"status": "ok"})).into_response()
}

/// `GET /readyz`: the stores answer.
async fn readyz(State(state): State<AppState>) -> Result<Response, ApiError> {
    let (users, jobs) = tokio::join!(state.ports.users.ping(), state.ports.jobs.ping());
    users.map_err(|e| ApiError::NotReady(Box::new(e)))?;
    jobs.map_err(|e| ApiError::NotReady(Box::new(e)))?;
    Ok(axum::Json(serde_json::json!({"status": "ok"})).into_response())
}

/// Unknown routes.
async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// Now, at the millisecond precision the stores keep.
fn now() -> Timestamp {
    chrono::Utc::now().trunc_subsecs(3)
}

/// An error and its causes on one line, for logs.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_chain_joins_causes() {
        let err = pricetrack_domain::ports::StoreError::Backend(Box::new(std::io::Error::other("disk full")));
        assert_eq!(error_chain(&err), "job store backend failed: disk full");
    }
}

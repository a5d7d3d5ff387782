//! The pricetrack HTTP API: accounts, sessions and tracking jobs, all JSON under `/api/v1`,
//! plus `/healthz` and `/readyz` probes and the process's Prometheus metrics at `/metrics`.
//!
//! The crate is storage-agnostic: it reaches users, jobs, the check queue and the notifier only
//! through the domain's ports, handed in as [`ApiPorts`]. [`router`] builds the
//! [`axum::Router`]; [`Application`] binds it to a socket (port 0 in tests) and serves it until a
//! shutdown future completes.
//!
//! Sign-in creates a server-side session named by the token, so sign-out, a password change and
//! an account deletion end tokens before they expire. Sign-up and sign-in are limited per client
//! address (`tower_governor`), password attempts per (address, account) pair; state-changing
//! requests whose `Origin` is another site's are refused.
//!
//! Every error has one shape, `{"error":{"code":"...","message":"..."}}` (plus `"field"` for
//! invalid input), and is logged once by the request middleware; internal details never reach a
//! client, and bodies, cookies, tokens and emails never reach a log.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::SubsecRound;
use pricetrack_domain::ports::{CheckQueue, JobStore, Notifier, SessionStore, UserStore};
use pricetrack_domain::{SchedulePolicy, Timestamp};
use secrecy::SecretString;
use tokio::net::{TcpListener, TcpSocket};
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

mod alerts;
mod body;
mod channels;
mod error;
mod jobs;
mod limiter;
mod metrics;
mod observe;
mod openapi;
mod password;
pub mod preview;
mod quota;
pub mod resilience;
mod rules;
mod session;
mod state;
mod users;

/// An error and its causes on one line, for logs (one helper for every program).
pub(crate) use pricetrack_telemetry::error_chain;

use crate::error::ApiError;
use crate::state::AppState;
pub use crate::state::DeliveryPorts;

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
    /// Most jobs one user may have (`PRICETRACK_MAX_JOBS_PER_USER`); creating one more answers
    /// 403 `job_limit_reached`.
    pub max_jobs_per_user: u32,
    /// Sign-up and sign-in requests one client address may send at once...
    pub auth_burst_per_address: u32,
    /// ...and how often it gets one more.
    pub auth_refill_per_address: Duration,
}

impl ApiSettings {
    /// Default session length: 24 hours.
    pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(24 * 3600);
    /// Default most jobs per user.
    pub const DEFAULT_MAX_JOBS_PER_USER: u32 = 500;
    /// Default burst of sign-up and sign-in requests per client address.
    pub const DEFAULT_AUTH_BURST_PER_ADDRESS: u32 = 20;
    /// Default refill of that burst: one request every 3 s (20 a minute sustained).
    pub const DEFAULT_AUTH_REFILL_PER_ADDRESS: Duration = Duration::from_secs(3);

    /// Settings with the defaults: `Secure` cookies, 24-hour sessions, the default schedule
    /// policy, and public targets only.
    pub fn new(jwt_secret: SecretString) -> Self {
        Self {
            jwt_secret,
            cookie_secure: true,
            session_ttl: Self::DEFAULT_SESSION_TTL,
            schedule: SchedulePolicy::default(),
            allow_private_targets: false,
            max_jobs_per_user: Self::DEFAULT_MAX_JOBS_PER_USER,
            auth_burst_per_address: Self::DEFAULT_AUTH_BURST_PER_ADDRESS,
            auth_refill_per_address: Self::DEFAULT_AUTH_REFILL_PER_ADDRESS,
        }
    }
}

/// The adapters the API works through.
#[derive(Clone)]
pub struct ApiPorts {
    /// Accounts.
    pub users: Arc<dyn UserStore>,
    /// Sign-in sessions (usually the same adapter as `users`: sessions belong to users).
    pub sessions: Arc<dyn SessionStore>,
    /// Tracking jobs.
    pub jobs: Arc<dyn JobStore>,
    /// Where a new job's first check request goes.
    pub queue: Arc<dyn CheckQueue>,
    /// Told about each new user, so their alerts can reach them.
    pub notifier: Arc<dyn Notifier>,
    /// Channels, the delivery log and channel tests; `None`: those routes answer 404.
    pub delivery: Option<DeliveryPorts>,
    /// Reads a page as a check would, for `POST /api/v1/preview`; `None`: no such route (and
    /// none in the contract).
    pub previewer: Option<Arc<dyn preview::PagePreviewer>>,
}

/// The API's routes and middleware, ready to serve, probing the ports' stores
/// ([`resilience::Dependency::from_ports`]). The sign-up and sign-in limits key on the
/// peer address, so serve it with `into_make_service_with_connect_info::<SocketAddr>()` (as
/// [`Application`] does); behind a proxy every client shares the proxy's address.
pub fn router(settings: ApiSettings, ports: ApiPorts) -> Router {
    let dependencies = resilience::Dependency::from_ports(&ports);
    router_with_dependencies(settings, ports, dependencies)
}

/// [`router`] with the dependencies the prober watches named and chosen by the caller (the AWS
/// deployment reports `postgres`, `dynamodb`, `sqs` and `sns`).
pub fn router_with_dependencies(
    settings: ApiSettings,
    ports: ApiPorts,
    dependencies: Vec<resilience::Dependency>,
) -> Router {
    // The API serves the process's metrics: make sure they are being recorded.
    pricetrack_metrics::install();
    let health = resilience::Health::start(dependencies);
    let per_address = limiter::per_address_layer(settings.auth_burst_per_address, settings.auth_refill_per_address);
    let previewer = ports.previewer.clone();
    let state = AppState::new(settings, ports);
    let (routes, contract) = documented_routes(previewer, per_address).split_for_parts();
    let contract = Arc::new(openapi::to_json(&contract));
    let routes = routes
        .route("/api/v1/openapi.json", get(move || serve_contract(Arc::clone(&contract))))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(std::sync::Arc::clone(&health), resilience::gate))
        // Prometheus scrapes this: outside /api/v1, no session, and not behind the resilience
        // gate (an outage is exactly when the metrics matter).
        .route("/metrics", get(pricetrack_metrics::handler))
        .layer(axum::Extension(health))
        .layer(axum::middleware::from_fn(refuse_foreign_origin))
        .layer(DefaultBodyLimit::max(body::MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(observe::panic_response));
    // Outermost: timeouts and panics are counted too.
    observe::layers(routes).layer(axum::middleware::from_fn(metrics::record)).with_state(state)
}

/// Every route of the contract, registered with its OpenAPI description: a route cannot be
/// served without being documented. The page preview is there only when a previewer is.
fn documented_routes(
    previewer: Option<Arc<dyn preview::PagePreviewer>>,
    per_address: limiter::PerAddressLayer,
) -> OpenApiRouter<AppState> {
    let auth = OpenApiRouter::new().routes(routes!(users::signup)).routes(routes!(users::signin)).layer(per_address);
    let routes = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(healthz))
        .routes(routes!(resilience::readyz))
        .merge(auth)
        .routes(routes!(users::signout))
        .routes(routes!(users::validate))
        .routes(routes!(users::me, users::delete_me))
        .routes(routes!(users::change_password))
        .routes(routes!(jobs::create, jobs::list, jobs::delete_all))
        .routes(routes!(jobs::get, jobs::patch, jobs::delete))
        .routes(routes!(jobs::history))
        .routes(routes!(channels::create, channels::list))
        .routes(routes!(channels::get, channels::update, channels::delete))
        .routes(routes!(channels::test))
        .routes(routes!(alerts::list));
    match previewer {
        Some(previewer) => routes.merge(preview::routes(previewer)),
        None => routes,
    }
}

/// The OpenAPI document this server was built with (`docs/openapi.json` is a copy; a test
/// keeps the two equal).
pub fn openapi_document(with_preview: bool) -> String {
    struct NoPreview;
    #[async_trait::async_trait]
    impl preview::PagePreviewer for NoPreview {
        async fn preview(
            &self,
            _: &pricetrack_domain::ProductUrl,
        ) -> Result<preview::PagePreview, preview::PreviewFailed> {
            Err(preview::PreviewFailed("no previewer".to_owned()))
        }
    }
    let previewer: Option<Arc<dyn preview::PagePreviewer>> = with_preview.then(|| Arc::new(NoPreview) as _);
    let per_address = limiter::per_address_layer(
        ApiSettings::DEFAULT_AUTH_BURST_PER_ADDRESS,
        ApiSettings::DEFAULT_AUTH_REFILL_PER_ADDRESS,
    );
    let (_, contract) = documented_routes(previewer, per_address).split_for_parts();
    openapi::to_json(&contract)
}

/// `GET /api/v1/openapi.json`: the contract, generated at start-up.
async fn serve_contract(contract: Arc<String>) -> Response {
    ([(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-cache")], contract.as_str().to_owned())
        .into_response()
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
        let dependencies = resilience::Dependency::from_ports(&ports);
        Self::build_with_dependencies(addr, settings, ports, dependencies).await
    }

    /// [`Application::build`] with the dependencies the prober watches chosen by the caller (see
    /// [`router_with_dependencies`]).
    pub async fn build_with_dependencies(
        addr: SocketAddr,
        settings: ApiSettings,
        ports: ApiPorts,
        dependencies: Vec<resilience::Dependency>,
    ) -> std::io::Result<Self> {
        let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
        socket.set_reuseaddr(true)?;
        socket.set_nodelay(true)?;
        socket.bind(addr)?;
        // A deep accept queue: a burst of thousands of connections at once waits to be accepted
        // instead of being refused (the kernel caps it at net.core.somaxconn).
        let listener = socket.listen(LISTEN_BACKLOG)?;
        let local_addr = listener.local_addr()?;
        Ok(Self { listener, local_addr, router: router_with_dependencies(settings, ports, dependencies) })
    }

    /// Wraps the API's router, e.g. to serve the web dashboard in front of it; the API's own
    /// routes and middleware stay as they are.
    pub fn wrap_router(mut self, wrap: impl FnOnce(Router) -> Router) -> Self {
        self.router = wrap(self.router);
        self
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves requests until `shutdown` completes, then stops accepting connections and waits
    /// for the requests in flight to finish.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        tracing::info!(addr = %self.local_addr, "api listening");
        let service = self.router.into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(self.listener, service).with_graceful_shutdown(shutdown).await
    }
}

/// `GET /healthz`: the process is up (never looks at a dependency).
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "liveness",
    summary = "Is the process up?",
    tag = "probes",
    responses((status = 200, description = "The process is up", body = openapi::ProbeDoc)),
)]
async fn healthz() -> Response {
    axum::Json(serde_json::json!({"status": "ok"})).into_response()
}

/// Refuses (403 `foreign_origin`) a state-changing request whose `Origin` header names another
/// site than the one it is sent to: defence in depth next to `SameSite` cookies and the JSON
/// content type. Requests without `Origin` (scripts, curl) pass.
async fn refuse_foreign_origin(req: Request, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && let Some(origin) = req.headers().get(header::ORIGIN) {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()));
        if !same_origin(origin.to_str().ok(), host) {
            return ApiError::ForeignOrigin.into_response();
        }
    }
    next.run(req).await
}

/// Whether `origin` (`scheme://host[:port]`) names the host the request was sent to.
fn same_origin(origin: Option<&str>, host: Option<&str>) -> bool {
    let (Some(origin), Some(host)) = (origin, host) else { return false };
    let Some((_, authority)) = origin.split_once("://") else { return false };
    !authority.is_empty() && authority.eq_ignore_ascii_case(host)
}

/// Unknown routes.
async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// Now, at the millisecond precision the stores keep.
fn now() -> Timestamp {
    chrono::Utc::now().trunc_subsecs(3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_origin_compares_host_and_port() {
        assert!(same_origin(Some("http://127.0.0.1:8080"), Some("127.0.0.1:8080")));
        assert!(same_origin(Some("https://Shop.Example"), Some("shop.example")));
        assert!(!same_origin(Some("https://evil.example"), Some("shop.example")));
        assert!(!same_origin(Some("http://127.0.0.1:8081"), Some("127.0.0.1:8080")));
        assert!(!same_origin(Some("null"), Some("shop.example")));
        assert!(!same_origin(Some("https://shop.example"), None));
    }
}

//! Staying honest while a dependency is sick: a background prober keeps each dependency's state
//! (`ok`, `slow`, `down`), `GET /readyz` answers from it at once, and a gate in front of the
//! routes fails requests that need a dependency known to be down with `503 unavailable` and
//! `Retry-After` at once, instead of letting each one wait out a timeout. It also sheds load: at
//! most [`MAX_IN_FLIGHT`] requests are served at once; one more waits up to [`SHED_AFTER`] for
//! a place (a spike of connections is served a little later, not refused) and is answered `503`
//! after that (a backlog that is not draining, as during an outage, stays bounded).
//!
//! The prober is the circuit breaker's half-open probe: while a dependency is down only the
//! prober touches it (one cheap call every [`PROBE_PERIOD`]), and the first probe that succeeds
//! lets requests through again, so the API serves normally within a second of the dependency's
//! return, without a restart. `/healthz` depends on none of this.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::ApiPorts;
use crate::error::{ApiError, ErrorReport, Message};

/// How often each dependency is probed.
pub const PROBE_PERIOD: Duration = Duration::from_millis(500);
/// A probe that takes longer than this counts as a failure: the dependency is `down`.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(800);
/// A probe that succeeds but takes longer than this marks the dependency `slow` (still ready).
pub const SLOW_PROBE: Duration = Duration::from_millis(300);
/// The longest `GET /readyz` waits for the prober's first round (right after start-up); at any
/// other time it answers from the cache at once. The readiness probe's timeout in the manifests
/// must be at least this (the deployment checks read it from `deploy-facts`).
pub const READYZ_FIRST_PROBE_WAIT: Duration = PROBE_TIMEOUT.saturating_add(Duration::from_millis(100));
/// Requests served at once; further ones wait up to [`SHED_AFTER`], then are shed with `503`
/// (probes are never shed).
pub const MAX_IN_FLIGHT: usize = 1024;
/// Longest a request waits for one of the [`MAX_IN_FLIGHT`] places before it is shed. Healthy,
/// the server drains about 10,000 requests a second, so a spike of 2,000 connections waits tens
/// of milliseconds; while a dependency hangs, places free up only every 2 s and the backlog is
/// answered `503` instead of piling up.
pub const SHED_AFTER: Duration = Duration::from_millis(500);
/// Longest a request that needs a dependency may take before it is answered `503`.
pub const DEPENDENCY_DEADLINE: Duration = Duration::from_secs(2);
/// The `Retry-After` of a `503 unavailable`, in seconds.
pub const RETRY_AFTER_SECS: u64 = 1;

/// What part of the API a dependency backs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backs {
    /// Accounts: sign-up and sign-in.
    Users,
    /// Tracking jobs: every `/api/v1/jobs` route.
    Jobs,
    /// Nothing a request waits on (the check queue, the notifier): reported, never gating.
    Background,
}

/// A boxed probe: one cheap call to a dependency, `Err` with a log-safe reason when it fails.
pub type ProbeFn = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// One dependency the API probes.
#[derive(Clone)]
pub struct Dependency {
    name: &'static str,
    backs: Backs,
    probe: ProbeFn,
}

impl std::fmt::Debug for Dependency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dependency").field("name", &self.name).field("backs", &self.backs).finish_non_exhaustive()
    }
}

impl Dependency {
    /// A dependency called `name` in `/readyz` and the logs, backing `backs`, probed by `probe`.
    pub fn new<F, Fut, E>(name: &'static str, backs: Backs, probe: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::error::Error + 'static,
    {
        let probe: ProbeFn = Arc::new(move || {
            let call = probe();
            Box::pin(async move { call.await.map_err(|e| crate::error_chain(&e)) })
        });
        Self { name, backs, probe }
    }

    /// The dependencies every API has: the user store (`users`) and the job store (`jobs`),
    /// probed through their ports' `ping`.
    pub fn from_ports(ports: &ApiPorts) -> Vec<Self> {
        let users = Arc::clone(&ports.users);
        let jobs = Arc::clone(&ports.jobs);
        vec![
            Self::new("users", Backs::Users, move || {
                let users = Arc::clone(&users);
                async move { users.ping().await }
            }),
            Self::new("jobs", Backs::Jobs, move || {
                let jobs = Arc::clone(&jobs);
                async move { jobs.ping().await }
            }),
        ]
    }
}

/// A dependency's state as the last probe saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum DepState {
    /// Not probed yet.
    Unknown = 0,
    Ok = 1,
    Slow = 2,
    Down = 3,
}

impl DepState {
    fn from_u8(value: u8) -> Self {
        match value {
            1 => Self::Ok,
            2 => Self::Slow,
            3 => Self::Down,
            _ => Self::Unknown,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Ok => "ok",
            Self::Slow => "slow",
            Self::Down => "down",
        }
    }
}

struct Tracked {
    dependency: Dependency,
    state: AtomicU8,
    down_since: Mutex<Option<Instant>>,
}

/// The dependencies' states and the load-shedding budget, shared by the prober, the gate and
/// `/readyz`.
pub(crate) struct Health {
    tracked: Vec<Tracked>,
    in_flight: Arc<Semaphore>,
    /// Whether every dependency has been probed once.
    probed: tokio::sync::watch::Sender<bool>,
}

impl Health {
    /// Tracks `dependencies` and starts probing them in the background (when called inside a
    /// Tokio runtime; the prober stops when the router is dropped).
    pub(crate) fn start(dependencies: Vec<Dependency>) -> Arc<Self> {
        let health = Arc::new(Self {
            tracked: dependencies
                .into_iter()
                .map(|dependency| Tracked { dependency, state: AtomicU8::new(0), down_since: Mutex::new(None) })
                .collect(),
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            probed: tokio::sync::watch::Sender::new(false),
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(probe_forever(Arc::downgrade(&health)));
        }
        health
    }

    fn state_of(&self, backs: Backs) -> Option<&'static str> {
        self.tracked
            .iter()
            .find(|t| {
                t.dependency.backs == backs && DepState::from_u8(t.state.load(Ordering::Relaxed)) == DepState::Down
            })
            .map(|t| t.dependency.name)
    }

    fn states(&self) -> BTreeMap<&'static str, DepState> {
        self.tracked.iter().map(|t| (t.dependency.name, DepState::from_u8(t.state.load(Ordering::Relaxed)))).collect()
    }
}

async fn probe_forever(health: Weak<Health>) {
    let mut ticker = tokio::time::interval(PROBE_PERIOD);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(health) = health.upgrade() else { return };
        // All at once: one hung dependency must not delay the others' states.
        futures::future::join_all(health.tracked.iter().map(probe_once)).await;
        health.probed.send_replace(true);
    }
}

async fn probe_once(tracked: &Tracked) {
    let started = Instant::now();
    // Its own task: a probe that panics (a bug in an adapter) marks its dependency down instead
    // of ending the prober.
    let mut call = tokio::spawn((tracked.dependency.probe)());
    let outcome = match tokio::time::timeout(PROBE_TIMEOUT, &mut call).await {
        Ok(Ok(Ok(()))) if started.elapsed() > SLOW_PROBE => Ok(DepState::Slow),
        Ok(Ok(Ok(()))) => Ok(DepState::Ok),
        Ok(Ok(Err(reason))) => Err(reason),
        Ok(Err(_)) => Err("the probe panicked".to_owned()),
        Err(_) => {
            call.abort();
            Err(format!("no answer within {} ms", PROBE_TIMEOUT.as_millis()))
        }
    };
    let name = tracked.dependency.name;
    let previous = DepState::from_u8(tracked.state.load(Ordering::Relaxed));
    let mut down_since = tracked.down_since.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    match outcome {
        Ok(state) => {
            tracked.state.store(state as u8, Ordering::Relaxed);
            if let Some(since) = down_since.take() {
                let down_ms = u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX);
                tracing::info!(
                    dependency = name,
                    down_ms,
                    "dependency is back: requests that need it are served again"
                );
            } else if state == DepState::Slow && previous != DepState::Slow {
                tracing::warn!(
                    dependency = name,
                    probe_ms = started.elapsed().as_millis() as u64,
                    "dependency is slow"
                );
            }
        }
        Err(reason) => {
            tracked.state.store(DepState::Down as u8, Ordering::Relaxed);
            if down_since.is_none() {
                *down_since = Some(Instant::now());
                tracing::error!(dependency = name, error = %reason, "dependency is down: requests that need it are answered 503 until it is back");
            }
        }
    }
}

/// What a request needs, from its route.
fn needs(path: &str) -> &'static [Backs] {
    match path {
        "/api/v1/signup" | "/api/v1/signin" => &[Backs::Users],
        // A new job's first check request is best effort (the job's lease brings it back), so
        // creating a job needs only the job store.
        p if p == "/api/v1/jobs" || p.starts_with("/api/v1/jobs/") => &[Backs::Jobs],
        _ => &[],
    }
}

/// The gate in front of the routes: sheds load beyond [`MAX_IN_FLIGHT`], answers `503` at once
/// for a request that needs a dependency known to be down, and bounds a request that needs one to
/// [`DEPENDENCY_DEADLINE`]. The probes (`/healthz`, `/readyz`) pass untouched.
pub(crate) async fn gate(State(health): State<Arc<Health>>, request: Request, next: Next) -> Response {
    let path = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    let path = path.as_deref().unwrap_or_else(|| request.uri().path());
    if path == "/healthz" || path == "/readyz" {
        return next.run(request).await;
    }
    let needs = needs(path);
    let Ok(Ok(_permit)) = tokio::time::timeout(SHED_AFTER, Arc::clone(&health.in_flight).acquire_owned()).await else {
        return ApiError::Unavailable(Some(Box::new(Message("shed: too many requests in flight")))).into_response();
    };
    if let Some(name) = needs.iter().find_map(|backs| health.state_of(*backs)) {
        return ApiError::Unavailable(Some(Box::new(DownDependency(name)))).into_response();
    }
    if needs.is_empty() {
        return next.run(request).await;
    }
    match tokio::time::timeout(DEPENDENCY_DEADLINE, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Unavailable(Some(Box::new(Message("no answer from a dependency within the deadline"))))
            .into_response(),
    }
}

/// The source logged for a request refused because `0` is known to be down.
#[derive(Debug)]
struct DownDependency(&'static str);

impl std::fmt::Display for DownDependency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is down (known from the prober)", self.0)
    }
}

impl std::error::Error for DownDependency {}

/// `GET /readyz`: each dependency's state from the prober, at once: `200 {"status":"ok",
/// "dependencies":{"postgres":"ok","dynamodb":"slow","sqs":"down"}}` when every dependency that
/// requests wait on is `ok` or `slow`; `503` in the error shape, with the same `dependencies`
/// inside `error`, when one is down (or has not answered its first probe).
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readiness",
    summary = "Are the dependencies requests need up?",
    tag = "probes",
    responses(
        (status = 200, description = "Every dependency requests wait on is up (or slow)", body = crate::openapi::ProbeDoc),
        (status = 503, description = "A dependency is down; `error.dependencies` names each one's state", body = crate::openapi::ErrorDoc),
    ),
)]
pub(crate) async fn readyz(axum::Extension(health): axum::Extension<Arc<Health>>) -> Response {
    // Just after start-up, wait for the first round of probes (bounded by the probe timeout)
    // rather than answer "unknown".
    let mut probed = health.probed.subscribe();
    let _ = tokio::time::timeout(READYZ_FIRST_PROBE_WAIT, probed.wait_for(|done| *done)).await;
    let states = health.states();
    // A dependency no request waits on (the queue, the notifier) is reported but does not take
    // the pod out of the Service.
    let ready = health
        .tracked
        .iter()
        .filter(|t| t.dependency.backs != Backs::Background)
        .all(|t| matches!(DepState::from_u8(t.state.load(Ordering::Relaxed)), DepState::Ok | DepState::Slow));
    let dependencies: serde_json::Map<String, serde_json::Value> =
        states.iter().map(|(name, state)| ((*name).to_owned(), state.as_str().into())).collect();
    if ready {
        return axum::Json(serde_json::json!({"status": "ok", "dependencies": dependencies})).into_response();
    }
    let body = serde_json::json!({
        "error": {"code": "not_ready", "message": "not ready", "dependencies": dependencies},
    });
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    // The body already has the error shape: the observing middleware keeps it as it is.
    response.extensions_mut().insert(ErrorReport { code: "not_ready", source: None });
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn through_gate(health: &Arc<Health>) -> axum::http::StatusCode {
        use tower::ServiceExt;
        let app = axum::Router::new()
            .route("/api/v1/validate", axum::routing::get(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(Arc::clone(health), gate));
        let request = axum::http::Request::get("/api/v1/validate").body(axum::body::Body::empty()).expect("request");
        app.oneshot(request).await.expect("infallible").status()
    }

    #[tokio::test]
    async fn a_full_server_queues_briefly_then_sheds() {
        let health = Health::start(Vec::new());
        let all = Arc::clone(&health.in_flight).acquire_many_owned(MAX_IN_FLIGHT as u32).await.expect("permits");
        // No place frees up: shed after SHED_AFTER, not at once and not never.
        let started = tokio::time::Instant::now();
        assert_eq!(through_gate(&health).await, axum::http::StatusCode::SERVICE_UNAVAILABLE);
        assert!(started.elapsed() >= SHED_AFTER);
        // A place frees up within the wait: served.
        let waiting = tokio::spawn({
            let health = Arc::clone(&health);
            async move { through_gate(&health).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(all);
        assert_eq!(waiting.await.expect("task"), axum::http::StatusCode::OK);
    }

    #[test]
    fn routes_need_what_they_touch() {
        assert_eq!(needs("/api/v1/signin"), &[Backs::Users]);
        assert_eq!(needs("/api/v1/jobs/{id}"), &[Backs::Jobs]);
        assert!(needs("/api/v1/signout").is_empty());
        assert!(needs("/healthz").is_empty());
    }
}

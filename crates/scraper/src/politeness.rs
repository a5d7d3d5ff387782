//! Politeness towards shops: a per-host concurrency limit, a minimum delay between the starts of
//! two requests to the same host, and back-off when a shop answers `429`/`503`.
//!
//! [`PoliteFetcher`] wraps any [`PageFetcher`] (the static fetcher, a browser fetcher) and is
//! meant to be shared by every worker of a process, so the limits hold process-wide.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use pricetrack_domain::ProductUrl;
use pricetrack_metrics::names;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tracing::Instrument as _;

use crate::fetch::{FetchError, FetchedPage, PageFetcher};

/// How politely a [`PoliteFetcher`] treats each host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolitenessSettings {
    /// Most requests in flight to one host at a time (at least 1 is used). Default 2.
    pub max_concurrent_per_host: usize,
    /// Least time between the starts of two requests to the same host. Default 1 s.
    pub min_delay: Duration,
    /// The first back-off of a host that answered `429`/`503` without a usable `Retry-After`;
    /// doubled on each further such answer in a row (reset by a successful fetch). Default 60 s.
    pub initial_backoff: Duration,
    /// The longest back-off, whatever `Retry-After` asks for. Default 1 h.
    pub max_backoff: Duration,
    /// How many hosts are remembered before idle ones are forgotten. Default 10 000.
    pub max_hosts: usize,
}

impl Default for PolitenessSettings {
    fn default() -> Self {
        Self {
            max_concurrent_per_host: 2,
            min_delay: Duration::from_secs(1),
            initial_backoff: Duration::from_secs(60),
            max_backoff: Duration::from_secs(3600),
            max_hosts: 10_000,
        }
    }
}

/// What is known about one host.
#[derive(Debug)]
struct HostState {
    /// Limits the requests in flight (and holds the waiting ones).
    permits: Arc<Semaphore>,
    /// The earliest start of the next request.
    next_start: Instant,
    /// The host is backed off until then (monotonic, and wall clock for the message).
    backoff_until: Option<(Instant, chrono::DateTime<chrono::Utc>)>,
    /// `429`/`503` answers in a row without `Retry-After` (for the exponential back-off).
    strikes: u32,
}

impl HostState {
    fn throttled(&self, now: Instant) -> Option<FetchError> {
        match self.backoff_until {
            Some((until, wall)) if until > now => Some(FetchError::Throttled { until: wall }),
            _ => None,
        }
    }

    /// Nobody uses or waits for the host, and forgetting it loses no delay or back-off.
    fn idle(&self, now: Instant) -> bool {
        Arc::strong_count(&self.permits) == 1
            && self.next_start <= now
            && self.backoff_until.is_none_or(|(until, _)| until <= now)
    }
}

/// A [`PageFetcher`] that keeps the inner fetcher polite: per host (the URL's lower-case host
/// name, whatever the port), at most [`PolitenessSettings::max_concurrent_per_host`] requests at
/// once, starts spaced by [`PolitenessSettings::min_delay`], and after a `429`/`503` no request
/// until the back-off ends: such a check fails at once with "the shop asked us to slow down;
/// retrying after …" ([`FetchError::Throttled`]).
pub struct PoliteFetcher {
    inner: Arc<dyn PageFetcher>,
    settings: PolitenessSettings,
    /// Shared with the fetchers made by [`PoliteFetcher::sharing_limits`].
    hosts: Arc<Mutex<HashMap<String, HostState>>>,
}

impl std::fmt::Debug for PoliteFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoliteFetcher").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl PoliteFetcher {
    /// Wraps `inner`. Share one `PoliteFetcher` between all workers of a process.
    pub fn new(inner: Arc<dyn PageFetcher>, settings: PolitenessSettings) -> Self {
        Self { inner, settings, hosts: Arc::new(Mutex::new(HashMap::new())) }
    }

    /// Wraps another fetcher under the same per-host limits and back-offs as this one: the
    /// browser beside the static fetcher, so that a page fetched statically and then rendered
    /// counts twice against one host budget rather than once against two.
    pub fn sharing_limits(&self, inner: Arc<dyn PageFetcher>) -> Self {
        Self { inner, settings: self.settings.clone(), hosts: Arc::clone(&self.hosts) }
    }

    /// The settings in use.
    pub fn settings(&self) -> &PolitenessSettings {
        &self.settings
    }

    /// How many hosts are currently remembered.
    pub fn tracked_hosts(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, HostState>> {
        self.hosts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The host's semaphore, or the back-off error when the host is backed off.
    fn enter(&self, host: &str) -> Result<Arc<Semaphore>, FetchError> {
        let now = Instant::now();
        let mut hosts = self.lock();
        if !hosts.contains_key(host) && hosts.len() >= self.settings.max_hosts {
            hosts.retain(|_, state| !state.idle(now));
        }
        let state = hosts.entry(host.to_owned()).or_insert_with(|| HostState {
            permits: Arc::new(Semaphore::new(self.settings.max_concurrent_per_host.max(1))),
            next_start: now,
            backoff_until: None,
            strikes: 0,
        });
        if let Some(err) = state.throttled(now) {
            return Err(err);
        }
        Ok(Arc::clone(&state.permits))
    }

    /// Reserves the next start slot of the host; the back-off error if it was backed off meanwhile.
    fn reserve_start(&self, host: &str) -> Result<Instant, FetchError> {
        let now = Instant::now();
        let mut hosts = self.lock();
        let Some(state) = hosts.get_mut(host) else { return Ok(now) };
        if let Some(err) = state.throttled(now) {
            return Err(err);
        }
        let start = state.next_start.max(now);
        state.next_start = start + self.settings.min_delay;
        Ok(start)
    }

    /// Records how a request ended; turns a `429`/`503` into a back-off of the host.
    fn record(&self, host: &str, result: Result<FetchedPage, FetchError>) -> Result<FetchedPage, FetchError> {
        let mut hosts = self.lock();
        let Some(state) = hosts.get_mut(host) else { return result };
        match result {
            Err(FetchError::SlowDown { retry_after, status }) => {
                let wait = match retry_after {
                    Some(wait) => wait,
                    None => {
                        let factor = 1u32.checked_shl(state.strikes.min(20)).unwrap_or(u32::MAX);
                        state.strikes = state.strikes.saturating_add(1);
                        self.settings.initial_backoff.saturating_mul(factor)
                    }
                }
                .min(self.settings.max_backoff);
                let until = Instant::now() + wait;
                let wall = chrono::Utc::now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::zero());
                // Never shorten a longer back-off another request already set.
                if state.backoff_until.is_none_or(|(current, _)| current < until) {
                    state.backoff_until = Some((until, wall));
                }
                tracing::info!(host, status, wait_secs = wait.as_secs(), "shop asked to slow down; host backed off");
                let reason = match status {
                    429 => "http_429",
                    503 => "http_503",
                    _ => "http_other",
                };
                metrics::counter!(names::POLITENESS_BACKOFFS, "reason" => reason).increment(1);
                Err(FetchError::Throttled { until: wall })
            }
            Ok(page) => {
                state.strikes = 0;
                Ok(page)
            }
            Err(err) => Err(err),
        }
    }
}

#[async_trait]
impl PageFetcher for PoliteFetcher {
    async fn fetch(&self, url: &ProductUrl) -> Result<FetchedPage, FetchError> {
        let host = url.host().to_ascii_lowercase();
        let permits = self.enter(&host).inspect_err(count_throttled)?;
        // The wait for the shop's turn, as a span of its own in a trace.
        let turn = tracing::info_span!("shop_turn");
        let queued = Instant::now();
        // The semaphore is never closed; should it be, go on without the limit.
        let _permit = permits.acquire_owned().instrument(turn.clone()).await.ok();
        record_wait("host_concurrency", queued);
        let start = self.reserve_start(&host).inspect_err(count_throttled)?;
        let spaced = Instant::now();
        tokio::time::sleep_until(start).instrument(turn).await;
        record_wait("host_spacing", spaced);
        if let Some(err) = self.lock().get(&host).and_then(|state| state.throttled(Instant::now())) {
            count_throttled(&err);
            return Err(err);
        }
        let result = self.inner.fetch(url).await;
        self.record(&host, result)
    }
}

/// Counts a fetch not made because its host is backed off.
fn count_throttled(_: &FetchError) {
    metrics::counter!(names::POLITENESS_THROTTLED).increment(1);
}

/// Records how long a fetch waited for its host since `since`, and why.
fn record_wait(reason: &'static str, since: Instant) {
    metrics::histogram!(names::POLITENESS_WAIT, "reason" => reason).record(since.elapsed());
}

//! An in-memory limit on failed password attempts per (client address, account) pair, against
//! password guessing.
//!
//! The limit is on the pair, not the account: a stranger who fails ten times from their address
//! locks only themselves out of that account, never its owner signing in from elsewhere. (What
//! stops one address from guessing across many accounts, or one attacker from spreading guesses
//! over many addresses quickly, is the per-address limit on the routes themselves, see
//! `lib.rs`.)
//!
//! Keys are keyed hashes of the pair (the key is random per process), so the table holds no
//! email or address. Each attempt counts as a failure until it succeeds, which also stops a burst
//! of parallel guesses from slipping through between the check and the count.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The per-address limit of sign-up and sign-in.
pub(crate) type PerAddressLayer = tower_governor::GovernorLayer<
    tower_governor::key_extractor::PeerIpKeyExtractor,
    governor::middleware::NoOpMiddleware,
    axum::body::Body,
>;

/// The per-address limit on sign-up and sign-in: `burst` requests at once, one more every
/// `refill`, keyed by the peer address. Over the limit a request gets 429 `too_many_attempts`
/// with `Retry-After`. Idle addresses are swept once a minute.
pub(crate) fn per_address_layer(burst: u32, refill: Duration) -> PerAddressLayer {
    let config = tower_governor::governor::GovernorConfigBuilder::default()
        .burst_size(burst.max(1))
        .period(refill.max(Duration::from_millis(1)))
        .finish()
        .map(std::sync::Arc::new)
        .unwrap_or_default();
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let limiter = std::sync::Arc::downgrade(config.limiter());
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                let Some(limiter) = limiter.upgrade() else { break };
                limiter.retain_recent();
            }
        });
    }
    tower_governor::GovernorLayer::new(config).error_handler(|error| {
        use axum::response::IntoResponse;
        match error {
            tower_governor::GovernorError::TooManyRequests { wait_time, .. } => {
                crate::error::ApiError::TooManyAttempts { retry_after: Duration::from_secs(wait_time) }.into_response()
            }
            _ => crate::error::ApiError::internal_msg("the client address could not be read").into_response(),
        }
    })
}

/// Entries kept before expired ones are swept.
const SWEEP_AT: usize = 10_000;
/// Most entries kept at all: past this, new accounts are not tracked until old entries expire
/// (an attacker flooding the table with addresses must not be able to grow memory without end).
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    window_start: Instant,
}

/// Counts failed sign-ins per account in fixed windows.
#[derive(Debug)]
pub(crate) struct SignInLimiter {
    max_failures: u32,
    window: Duration,
    hasher: std::collections::hash_map::RandomState,
    entries: Mutex<HashMap<u64, Entry>>,
}

/// A sign-in attempt that was let through: report how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Attempt {
    key: u64,
}

impl SignInLimiter {
    /// At most `max_failures` failed sign-ins per account per `window`.
    pub(crate) fn new(max_failures: u32, window: Duration) -> Self {
        Self {
            max_failures,
            window,
            hasher: std::collections::hash_map::RandomState::new(),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Starts an attempt from `client` on the account `account_key` (the normalised email, the
    /// raw text when it does not parse, or a user id). `Err` holds how long until this pair may
    /// try again.
    pub(crate) fn begin(&self, client: IpAddr, account_key: &str) -> Result<Attempt, Duration> {
        self.begin_at(client, account_key, Instant::now())
    }

    fn begin_at(&self, client: IpAddr, account_key: &str, now: Instant) -> Result<Attempt, Duration> {
        let key = self.hasher.hash_one((client, account_key));
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= SWEEP_AT && !entries.contains_key(&key) {
            let window = self.window;
            entries.retain(|_, e| now.saturating_duration_since(e.window_start) < window);
        }
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(&key) {
            return Ok(Attempt { key });
        }
        let entry = entries.entry(key).or_insert(Entry { failures: 0, window_start: now });
        if now.saturating_duration_since(entry.window_start) >= self.window {
            *entry = Entry { failures: 0, window_start: now };
        }
        if entry.failures >= self.max_failures {
            let elapsed = now.saturating_duration_since(entry.window_start);
            return Err(self.window.saturating_sub(elapsed));
        }
        entry.failures += 1;
        Ok(Attempt { key })
    }

    /// The attempt could not be judged (the user store failed): it does not count against the
    /// account, so an outage never locks anyone out.
    pub(crate) fn not_counted(&self, attempt: Attempt) {
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(entry) = entries.get_mut(&attempt.key) {
            entry.failures = entry.failures.saturating_sub(1);
        }
    }

    /// The attempt succeeded: the account's count starts over.
    pub(crate) fn succeeded(&self, attempt: Attempt) {
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.remove(&attempt.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const STRANGER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 7));

    #[test]
    fn blocks_after_the_limit_until_the_window_ends() {
        let limiter = SignInLimiter::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.begin_at(HOME, "ada@example.com", t0).is_ok());
        }
        let wait = limiter.begin_at(HOME, "ada@example.com", t0 + Duration::from_secs(10)).expect_err("blocked");
        assert_eq!(wait, Duration::from_secs(50));
        // Other accounts are not affected.
        assert!(limiter.begin_at(HOME, "bob@example.com", t0).is_ok());
        // A stranger's failures never lock the owner out from their own address.
        assert!(limiter.begin_at(STRANGER, "ada@example.com", t0).is_ok());
        // A new window starts over.
        assert!(limiter.begin_at(HOME, "ada@example.com", t0 + Duration::from_secs(61)).is_ok());
    }

    #[test]
    fn a_stranger_locks_out_only_their_own_address() {
        let limiter = SignInLimiter::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        for _ in 0..2 {
            assert!(limiter.begin_at(STRANGER, "ada@example.com", t0).is_ok());
        }
        assert!(limiter.begin_at(STRANGER, "ada@example.com", t0).is_err());
        assert!(limiter.begin_at(HOME, "ada@example.com", t0).is_ok());
    }

    #[test]
    fn success_resets() {
        let limiter = SignInLimiter::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        let first = limiter.begin_at(HOME, "ada@example.com", t0).expect("allowed");
        assert!(limiter.begin_at(HOME, "ada@example.com", t0).is_ok());
        limiter.succeeded(first);
        assert!(limiter.begin_at(HOME, "ada@example.com", t0).is_ok());
    }
}

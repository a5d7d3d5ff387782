//! An in-memory limit on failed sign-ins per account, against password guessing.
//!
//! Keys are keyed hashes of the normalised email (the key is random per process), so the table
//! holds no address. Each attempt counts as a failure until it succeeds, which also stops a burst
//! of parallel guesses from slipping through between the check and the count.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

    /// Starts an attempt for the account `email_key` (the normalised email, or the raw text
    /// when it does not parse). `Err` holds how long until the account may try again.
    pub(crate) fn begin(&self, email_key: &str) -> Result<Attempt, Duration> {
        self.begin_at(email_key, Instant::now())
    }

    fn begin_at(&self, email_key: &str, now: Instant) -> Result<Attempt, Duration> {
        let key = self.hasher.hash_one(email_key);
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

    #[test]
    fn blocks_after_the_limit_until_the_window_ends() {
        let limiter = SignInLimiter::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.begin_at("ada@example.com", t0).is_ok());
        }
        let wait = limiter.begin_at("ada@example.com", t0 + Duration::from_secs(10)).expect_err("blocked");
        assert_eq!(wait, Duration::from_secs(50));
        // Other accounts are not affected.
        assert!(limiter.begin_at("bob@example.com", t0).is_ok());
        // A new window starts over.
        assert!(limiter.begin_at("ada@example.com", t0 + Duration::from_secs(61)).is_ok());
    }

    #[test]
    fn success_resets() {
        let limiter = SignInLimiter::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        let first = limiter.begin_at("ada@example.com", t0).expect("allowed");
        assert!(limiter.begin_at("ada@example.com", t0).is_ok());
        limiter.succeeded(first);
        assert!(limiter.begin_at("ada@example.com", t0).is_ok());
    }
}

//! Waiting out a sick dependency: capped exponential back-off with full jitter, and an
//! [`Outage`] that logs once when a dependency goes down and once when it comes back.
//!
//! Full jitter (a uniformly random pause between zero and the capped exponential bound) is what
//! the AWS Builders' Library recommends: a fleet of workers that failed together does not retry
//! together.

use std::time::{Duration, Instant};

use pricetrack_metrics::names;

/// Capped exponential back-off with full jitter.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    failures: u32,
}

impl Backoff {
    /// The workers' default: bounds from 100 ms, doubling, capped at 30 s.
    pub const WORKER_BASE: Duration = Duration::from_millis(100);
    /// The workers' default cap.
    pub const WORKER_CAP: Duration = Duration::from_secs(30);

    /// A back-off whose bound starts at `base` and doubles on each failure up to `cap`.
    pub fn new(base: Duration, cap: Duration) -> Self {
        Self { base, cap: cap.max(base), failures: 0 }
    }

    /// The bound of the next pause (before jitter): `min(cap, base * 2^failures)`.
    pub fn bound(&self) -> Duration {
        let factor = 1u32.checked_shl(self.failures.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The pause after one more failure: uniformly random in `[0, bound]`.
    pub fn next_delay(&mut self) -> Duration {
        let bound = self.bound();
        self.failures = self.failures.saturating_add(1);
        let fraction: f64 = rand::random();
        bound.mul_f64(fraction)
    }

    /// Failures since the last [`reset`](Self::reset).
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Back to the first bound, after a success.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Self::WORKER_BASE, Self::WORKER_CAP)
    }
}

/// The state of one dependency as a loop sees it, so that it logs a warning when the dependency
/// goes down and one line when it comes back (with how long it was gone), not once per attempt.
#[derive(Debug)]
pub struct Outage {
    dependency: &'static str,
    down_since: Option<Instant>,
    failed_attempts: u64,
}

impl Outage {
    /// Tracks `dependency` (a name for logs: `sqs`, `dynamodb`, `check queue`).
    pub fn new(dependency: &'static str) -> Self {
        Self { dependency, down_since: None, failed_attempts: 0 }
    }

    /// Whether the last attempt failed.
    pub fn is_down(&self) -> bool {
        self.down_since.is_some()
    }

    /// An attempt failed with `error`: logs a warning if the dependency was up until now.
    pub fn failed(&mut self, error: &dyn std::fmt::Display) {
        self.failed_attempts += 1;
        metrics::counter!(names::DEPENDENCY_FAILURES, "dependency" => self.dependency).increment(1);
        metrics::gauge!(names::DEPENDENCY_UP, "dependency" => self.dependency).set(0.0);
        if self.down_since.is_none() {
            self.down_since = Some(Instant::now());
            tracing::warn!(dependency = self.dependency, error = %error, "dependency is down; backing off and retrying");
        } else {
            tracing::debug!(dependency = self.dependency, error = %error, "dependency still down");
        }
    }

    /// An attempt succeeded: logs the recovery if the dependency was down, and returns how long
    /// it was down.
    pub fn succeeded(&mut self) -> Option<Duration> {
        metrics::gauge!(names::DEPENDENCY_UP, "dependency" => self.dependency).set(1.0);
        let since = self.down_since.take()?;
        let down_for = since.elapsed();
        tracing::info!(
            dependency = self.dependency,
            down_ms = u64::try_from(down_for.as_millis()).unwrap_or(u64::MAX),
            failed_attempts = self.failed_attempts,
            "dependency is back"
        );
        self.failed_attempts = 0;
        Some(down_for)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_doubles_up_to_the_cap_and_delays_stay_under_it() {
        let mut backoff = Backoff::default();
        let mut bounds = Vec::new();
        for _ in 0..12 {
            bounds.push(backoff.bound());
            let delay = backoff.next_delay();
            assert!(delay <= *bounds.last().unwrap_or(&Duration::ZERO));
        }
        assert_eq!(bounds[0], Duration::from_millis(100));
        assert_eq!(bounds[1], Duration::from_millis(200));
        assert_eq!(bounds[8], Duration::from_millis(25_600));
        assert_eq!(bounds[9], Backoff::WORKER_CAP);
        assert_eq!(bounds[11], Backoff::WORKER_CAP);
        backoff.reset();
        assert_eq!(backoff.bound(), Backoff::WORKER_BASE);
    }

    #[test]
    fn delays_are_jittered() {
        let mut backoff = Backoff::new(Duration::from_secs(10), Duration::from_secs(10));
        let delays: std::collections::HashSet<Duration> = (0..20).map(|_| backoff.next_delay()).collect();
        assert!(delays.len() > 10, "full jitter spreads the pauses: {delays:?}");
    }

    #[test]
    fn outage_reports_its_length_once() {
        let mut outage = Outage::new("queue");
        assert_eq!(outage.succeeded(), None);
        outage.failed(&"refused");
        outage.failed(&"refused");
        assert!(outage.is_down());
        assert!(outage.succeeded().is_some());
        assert!(!outage.is_down());
        assert_eq!(outage.succeeded(), None);
    }
}

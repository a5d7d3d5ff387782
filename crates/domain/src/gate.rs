//! The fleet-wide politeness port: one budget per shop host shared by every scraper process.
//!
//! A process-local limiter (the scraper's `PoliteFetcher`) keeps one process polite; with many
//! scraper processes each one would spend the whole budget again. A [`HostGate`] is consulted
//! once per check, before the page is requested: it hands out one of the host's concurrency
//! slots and the host's next start time, or says the host is busy and when to come back. A busy
//! answer never makes the caller wait: the caller puts the check back on the queue for
//! [`GateDecision::Busy::retry_after`] and takes other work.

use std::time::Duration;

use async_trait::async_trait;

use crate::Timestamp;
use crate::ports::BackendError;

/// The right to send one check's requests to a host: a slot of its concurrency, and a start
/// time at least the host's spacing after the previous start anywhere in the fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPass {
    /// The host (lower case) the pass is for.
    pub host: String,
    /// Which of the host's concurrency slots is held.
    pub slot: u32,
    /// Proves the holder when the slot is given back (a slot held past its hold time may have
    /// been taken by another process meanwhile; giving back then changes nothing).
    pub token: String,
    /// The check's first request may start at this time, not before (at most one spacing ahead).
    pub start_at: Timestamp,
}

/// What the gate answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateDecision {
    /// Go ahead at [`HostPass::start_at`]; give the pass back with [`HostGate::leave`].
    Enter(HostPass),
    /// Every slot of the host is held, or its next start is further away than one spacing: put
    /// the check back and try again after `retry_after`.
    Busy {
        /// When to try again, from now.
        retry_after: Duration,
    },
}

/// A per-host concurrency and spacing budget shared by every process that checks pages.
///
/// Contract: across every caller, at most the configured number of passes of one host are held
/// at a time (a pass not given back expires after the gate's hold time), and the `start_at` of
/// two passes of one host are at least the configured spacing apart. A failure of the backend is
/// an `Err`: the caller leaves the check to be delivered again.
#[async_trait]
pub trait HostGate: Send + Sync + 'static {
    /// Asks to check a page of `host` now.
    async fn enter(&self, host: &str) -> Result<GateDecision, BackendError>;

    /// Gives a pass back once the check's requests are done.
    async fn leave(&self, pass: &HostPass) -> Result<(), BackendError>;
}

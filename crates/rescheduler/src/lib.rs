//! The rescheduler: finds due jobs and queues one check request for each.
//!
//! The due time doubles as a lease. [`JobStore::claim_due`] moves each due job's
//! `next_check_at` to `now + lease` and bumps its version, atomically and for one caller only, so
//! overlapping runs never queue a job twice. A request that is never sent (or never handled)
//! costs one lease: when the lease runs out the job is simply due again, so a job is never lost.

use std::sync::Arc;
use std::time::Duration;

use pricetrack_domain::ports::{CheckQueue, ClaimedJob, JobStore, MAX_SEND_DELAY, StoreError};
use pricetrack_domain::{CheckRequest, SchedulePolicy, Timestamp};
use pricetrack_metrics::names;
use pricetrack_runtime::backoff::{Backoff, Outage};
use tokio_util::sync::CancellationToken;

/// Messages per queue send (the SQS batch maximum).
pub const SEND_BATCH: usize = 10;

/// Most jobs one [`run_once`] claims, whatever the batch size: bounds a run's duration so the
/// leases of the first jobs claimed do not run out before their requests are sent. The rest is
/// claimed by the next run.
pub const MAX_CLAIMS_PER_RUN: usize = 10_000;

/// Jobs claimed per store call in [`run_every`].
pub const DEFAULT_BATCH_LIMIT: usize = 100;

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Jobs claimed (leased).
    pub claimed: usize,
    /// Check requests sent.
    pub sent: usize,
    /// Check requests that could not be sent: their jobs are due again when the lease runs out.
    pub failed: usize,
}

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum RescheduleError {
    /// The job store failed. Jobs claimed before the failure had their requests sent (or are
    /// left to their lease); the report says how far the run got.
    #[error("job store failed while claiming due jobs")]
    Store {
        /// The store's error.
        #[source]
        source: StoreError,
        /// What the run did before the failure.
        report: RunReport,
    },
}

/// Claims the jobs due at `now`, page by page (`batch_limit` per claim), and queues one check
/// request per claimed job, in batches of [`SEND_BATCH`].
///
/// Stops when a claim returns fewer than `batch_limit` jobs, after [`MAX_CLAIMS_PER_RUN`] jobs,
/// or after the queue refused a whole batch (queue down: claiming more would only lease more jobs
/// for nothing). Requests that could not be sent are counted in [`RunReport::failed`] and left to
/// the lease. Its work grows with the number of due jobs, not with the number of jobs.
pub async fn run_once(
    jobs: &dyn JobStore,
    queue: &dyn CheckQueue,
    now: Timestamp,
    policy: &SchedulePolicy,
    batch_limit: usize,
) -> Result<RunReport, RescheduleError> {
    let result = claim_and_send(jobs, queue, now, policy, batch_limit).await;
    record_metrics(&result);
    result
}

/// Counts a run in the process's metrics (`pricetrack serve` and `rescheduler --every` serve
/// them; the Lambda reports the same figures as CloudWatch embedded metrics instead).
fn record_metrics(result: &Result<RunReport, RescheduleError>) {
    let (report, outcome) = match result {
        Ok(report) if report.failed == 0 => (report, "ok"),
        Ok(report) | Err(RescheduleError::Store { report, .. }) => (report, "failed"),
    };
    metrics::counter!(names::RESCHEDULER_RUNS, "result" => outcome).increment(1);
    metrics::counter!(names::RESCHEDULER_CLAIMED).increment(count(report.claimed));
    metrics::counter!(names::RESCHEDULER_SENT).increment(count(report.sent));
    metrics::counter!(names::RESCHEDULER_SEND_FAILED).increment(count(report.failed));
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// [`run_once`]'s work.
async fn claim_and_send(
    jobs: &dyn JobStore,
    queue: &dyn CheckQueue,
    now: Timestamp,
    policy: &SchedulePolicy,
    batch_limit: usize,
) -> Result<RunReport, RescheduleError> {
    let batch_limit = batch_limit.clamp(1, MAX_CLAIMS_PER_RUN);
    let lease = chrono::Duration::from_std(policy.lease).unwrap_or(chrono::Duration::minutes(5));
    let lease_until = now + lease;
    let mut report = RunReport::default();

    loop {
        let limit = batch_limit.min(MAX_CLAIMS_PER_RUN - report.claimed);
        let claimed = match jobs.claim_due(now, lease_until, limit).await {
            Ok(claimed) => claimed,
            Err(source) => {
                tracing::error!(error = %source, ?report, "claiming due jobs failed");
                return Err(RescheduleError::Store { source, report });
            }
        };
        report.claimed += claimed.len();
        let queue_down = send_requests(queue, &claimed, policy, &mut report).await;
        if queue_down || claimed.len() < limit || report.claimed >= MAX_CLAIMS_PER_RUN {
            break;
        }
    }

    if report.failed > 0 {
        tracing::warn!(?report, "some check requests were not sent; their jobs are due again after the lease");
    } else if report.claimed > 0 {
        tracing::info!(?report, "due jobs queued");
    }
    Ok(report)
}

/// Sends one request per claimed job, a shop host's requests spread [`SchedulePolicy::host_spread`]
/// apart (the first at once). Returns true when the queue refused a whole batch.
async fn send_requests(
    queue: &dyn CheckQueue,
    claimed: &[ClaimedJob],
    policy: &SchedulePolicy,
    report: &mut RunReport,
) -> bool {
    let delays = spread_by_host(claimed, policy.host_spread);
    let mut queue_down = false;
    for (chunk, chunk_delays) in claimed.chunks(SEND_BATCH).zip(delays.chunks(SEND_BATCH)) {
        let messages: Vec<(String, Duration)> = chunk
            .iter()
            .zip(chunk_delays)
            .map(|(job, delay)| (CheckRequest::new(job.key, job.version).to_json(), *delay))
            .collect();
        let sent = if chunk_delays.iter().all(Duration::is_zero) {
            let bodies: Vec<String> = messages.into_iter().map(|(body, _)| body).collect();
            queue.send_batch(&bodies).await
        } else {
            queue.send_batch_delayed(&messages).await
        };
        match sent {
            Ok(failed) => {
                let failed = failed.iter().filter(|&&i| i < chunk.len()).count();
                if failed > 0 {
                    tracing::warn!(failed, "some check requests in a batch were not sent");
                }
                report.failed += failed;
                report.sent += chunk.len() - failed;
            }
            Err(e) => {
                tracing::warn!(error = %e, count = chunk.len(), "sending check requests failed");
                report.failed += chunk.len();
                queue_down = true;
            }
        }
    }
    queue_down
}

/// The delay of each claimed job's request: the n-th job of a host in this run (from 0) waits
/// n × `spread`, up to the queue's longest delay; jobs whose host is unknown go at once.
fn spread_by_host(claimed: &[ClaimedJob], spread: Duration) -> Vec<Duration> {
    let mut seen: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
    claimed
        .iter()
        .map(|job| match &job.host {
            Some(host) => {
                let n = seen.entry(host.as_str()).or_insert(0);
                let delay = spread.saturating_mul(*n).min(MAX_SEND_DELAY);
                *n += 1;
                delay
            }
            None => Duration::ZERO,
        })
        .collect()
}

/// Runs [`run_once`] every `tick` until `shutdown` is cancelled (the single-process mode). A
/// failed run (the store or the queue down) is retried after the tick plus a capped, fully
/// jittered back-off, and logged once when the outage starts and once when it ends.
pub async fn run_every(
    jobs: Arc<dyn JobStore>,
    queue: Arc<dyn CheckQueue>,
    policy: SchedulePolicy,
    tick: Duration,
    shutdown: CancellationToken,
) {
    let tick = tick.max(Duration::from_millis(10));
    let mut backoff = Backoff::default();
    let mut outage = Outage::new("job store or check queue");
    let mut wait = Duration::ZERO;
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(wait) => {}
        }
        let run = run_once(jobs.as_ref(), queue.as_ref(), chrono::Utc::now(), &policy, DEFAULT_BATCH_LIMIT);
        let result = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            result = run => result,
        };
        wait = match result {
            Ok(report) if report.failed == 0 => {
                backoff.reset();
                outage.succeeded();
                tick
            }
            Ok(report) => {
                outage.failed(&format_args!("{} check requests were not sent", report.failed));
                tick + backoff.next_delay()
            }
            Err(e) => {
                outage.failed(&e);
                tick + backoff.next_delay()
            }
        };
    }
    tracing::info!("rescheduler stopped");
}

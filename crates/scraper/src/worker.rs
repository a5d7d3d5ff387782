//! The worker pool: receives check requests from the queue and runs them through the checker.

use std::sync::Arc;
use std::time::Duration;

use pricetrack_domain::CheckRequest;
use pricetrack_domain::ports::{CheckQueue, Delivery, QueueError};
use pricetrack_telemetry::error_chain;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use pricetrack_metrics::names;
use pricetrack_runtime::backoff::{Backoff, Outage};

use crate::checker::{Checker, HandleOutcome};

/// Most messages asked for in one receive (the SQS maximum).
const MAX_RECEIVE_BATCH: usize = 10;
/// Shortest interval between two visibility extensions.
const MIN_HEARTBEAT: Duration = Duration::from_millis(50);

/// How the worker pool runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSettings {
    /// Checks run at once.
    pub workers: usize,
    /// The queue's visibility timeout: a message being handled is extended by this much every
    /// third of it, so a slow check is never delivered to a second worker.
    pub visibility_timeout: Duration,
    /// Longest wait of one receive (long polling; 20 s is the SQS maximum).
    pub receive_wait: Duration,
    /// On shutdown, how long in-flight checks may take to finish before they are abandoned (their
    /// messages are then delivered again later).
    pub shutdown_grace: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            workers: 5,
            visibility_timeout: Duration::from_secs(60),
            receive_wait: Duration::from_secs(20),
            shutdown_grace: Duration::from_secs(25),
        }
    }
}

/// A bounded pool of workers fed from the check queue.
///
/// It receives only when a worker is free, and never more messages than free workers (a message
/// waiting in memory is on the visibility clock). A message is acknowledged only once its check
/// is handled; a malformed body is logged (without its content) and left unacknowledged, so the
/// queue moves it to the dead-letter queue after its maximum receive count. Receive errors back
/// off with full jitter (capped at 30 s) and are logged once when the queue goes down and once when
/// it comes back. Handling one message is abandoned (not acknowledged) after the policy's
/// lease, when the job is due again anyway. Nothing a message does stops the pool: only the
/// shutdown token does.
pub struct WorkerPool {
    queue: Arc<dyn CheckQueue>,
    checker: Arc<Checker>,
    settings: WorkerSettings,
}

impl std::fmt::Debug for WorkerPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerPool").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl WorkerPool {
    /// A pool over this queue and checker.
    pub fn new(queue: Arc<dyn CheckQueue>, checker: Arc<Checker>, settings: WorkerSettings) -> Self {
        Self { queue, checker, settings }
    }

    /// Runs until `shutdown` is cancelled; then stops receiving, lets in-flight checks finish
    /// within [`WorkerSettings::shutdown_grace`] and returns.
    pub async fn run(self, shutdown: CancellationToken) {
        let workers = self.settings.workers.max(1);
        let slots = Arc::new(Semaphore::new(workers));
        let mut tasks: JoinSet<TaskEnd> = JoinSet::new();
        let mut backoff = Backoff::default();
        let mut queue_outage = Outage::new("check queue");
        // The job store (or the fleet's host gate) failing makes every check fail: while it does,
        // receiving more messages only churns them, so receives pause with a capped, jittered
        // back-off, and one receive at a time probes for the recovery.
        let mut store_backoff = Backoff::default();
        let mut store_outage = Outage::new("job store");
        tracing::info!(workers, "worker pool started");

        loop {
            match reap(&mut tasks) {
                Reaped::DependencyFailed(error) => {
                    store_outage.failed(&error);
                    let delay = store_backoff.next_delay();
                    tokio::select! {
                        biased;
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(delay) => {}
                    }
                }
                Reaped::Handled => {
                    store_backoff.reset();
                    store_outage.succeeded();
                }
                Reaped::Nothing => {}
            }
            let first = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                permit = Arc::clone(&slots).acquire_owned() => match permit {
                    Ok(permit) => permit,
                    // The semaphore is never closed.
                    Err(_) => break,
                },
            };
            let mut permits = vec![first];
            // During a store outage one message at a time tests whether it is over.
            let batch = if store_outage.is_down() { 1 } else { MAX_RECEIVE_BATCH };
            while permits.len() < batch {
                match Arc::clone(&slots).try_acquire_owned() {
                    Ok(permit) => permits.push(permit),
                    Err(_) => break,
                }
            }

            let received = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                received = self.queue.receive(permits.len(), self.settings.receive_wait) => received,
            };
            count_queue_op(QUEUE, "receive", received.as_ref().map(|_| ()));
            match received {
                Ok(deliveries) => {
                    backoff.reset();
                    queue_outage.succeeded();
                    metrics::counter!(names::QUEUE_MESSAGES_RECEIVED, "queue" => QUEUE)
                        .increment(u64::try_from(deliveries.len()).unwrap_or(u64::MAX));
                    if deliveries.len() > permits.len() {
                        tracing::warn!(
                            asked = permits.len(),
                            got = deliveries.len(),
                            "queue returned more messages than asked; the extra ones are left to be delivered again"
                        );
                    }
                    for (delivery, permit) in deliveries.into_iter().zip(permits.drain(..)) {
                        tasks.spawn(process(
                            Arc::clone(&self.queue),
                            Arc::clone(&self.checker),
                            delivery,
                            self.settings.clone(),
                            permit,
                        ));
                    }
                }
                Err(e) => {
                    drop(permits);
                    let delay = backoff.next_delay();
                    queue_outage.failed(&e);
                    tokio::select! {
                        biased;
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }

        let in_flight = tasks.len();
        tracing::info!(in_flight, "worker pool stopping: no more receives");
        let drained = tokio::time::timeout(self.settings.shutdown_grace, async {
            while let Some(result) = tasks.join_next().await {
                let _ = task_end(result);
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                abandoned = tasks.len(),
                "shutdown grace ran out; abandoning checks in flight (their messages will be delivered again)"
            );
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
        tracing::info!("worker pool stopped");
    }
}

/// Runs a [`WorkerPool`] until `shutdown` is cancelled (see [`WorkerPool::run`]).
pub async fn run_workers(
    queue: Arc<dyn CheckQueue>,
    checker: Arc<Checker>,
    settings: WorkerSettings,
    shutdown: CancellationToken,
) {
    WorkerPool::new(queue, checker, settings).run(shutdown).await;
}

/// How handling one delivery ended, as far as the pool cares.
enum TaskEnd {
    /// Handled (or dropped) without a dependency failing.
    Handled,
    /// The job store or the host gate failed: the error, for the pool's one outage log line.
    DependencyFailed(String),
}

/// Handles one delivery in a span of its own (`check`), which continues the trace the message
/// was sent in (the API request that created the job, when it carries one); holds a worker slot
/// (`_permit`) until done.
async fn process(
    queue: Arc<dyn CheckQueue>,
    checker: Arc<Checker>,
    delivery: Delivery,
    settings: WorkerSettings,
    permit: OwnedSemaphorePermit,
) -> TaskEnd {
    let span = tracing::info_span!(
        "check",
        receive_count = delivery.receive_count,
        job_id = tracing::field::Empty,
        outcome = tracing::field::Empty,
        method = tracing::field::Empty,
        result = tracing::field::Empty,
    );
    pricetrack_telemetry::continue_trace(&span, delivery.trace.as_ref());
    process_in_span(queue, checker, delivery, settings, permit).instrument(span).await
}

async fn process_in_span(
    queue: Arc<dyn CheckQueue>,
    checker: Arc<Checker>,
    delivery: Delivery,
    settings: WorkerSettings,
    _permit: OwnedSemaphorePermit,
) -> TaskEnd {
    let request = match CheckRequest::from_json(&delivery.body) {
        Ok(request) => request,
        Err(e) => {
            count_request("malformed");
            // Never log the body: a malformed message may carry anything, personal data included.
            tracing::warn!(
                error = %e,
                receive_count = delivery.receive_count,
                body_bytes = delivery.body.len(),
                "malformed check request; not acknowledged, it will end in the dead-letter queue"
            );
            return TaskEnd::Handled;
        }
    };
    let job_id = request.job_id;
    tracing::Span::current().record("job_id", tracing::field::display(job_id));
    // Past the job's lease the job is due again and this outcome would be dropped anyway: abandon
    // the handling then, so a hung backend cannot hold a worker (and, through the heartbeat, a
    // message) forever.
    let handle_timeout = checker.policy().lease;
    let started = std::time::Instant::now();

    let handled = {
        let handle = tokio::time::timeout(handle_timeout, checker.handle(request));
        tokio::pin!(handle);
        let heartbeat = heartbeat(queue.as_ref(), &delivery.receipt, settings.visibility_timeout);
        tokio::select! {
            handled = &mut handle => handled,
            // The heartbeat only ends if its receipt is gone; the check still runs to its end.
            () = heartbeat => handle.await,
        }
    };

    metrics::histogram!(names::CHECK_DURATION).record(started.elapsed());
    let result = match &handled {
        Ok(Ok(HandleOutcome::Recorded { .. })) => "recorded",
        Ok(Ok(HandleOutcome::JobGone)) => "job_gone",
        Ok(Ok(HandleOutcome::Stale)) => "stale",
        Ok(Ok(HandleOutcome::Discarded)) => "discarded",
        Ok(Ok(HandleOutcome::Deferred { .. })) => "deferred",
        Ok(Err(_)) => "error",
        Err(_) => "timeout",
    };
    count_request(result);
    tracing::Span::current().record("result", result);
    match handled {
        Ok(Ok(HandleOutcome::Deferred { retry_after })) => {
            // The host is busy elsewhere in the fleet: free this worker for another message.
            let deferred = queue.defer(&delivery, retry_after).await;
            count_queue_op(QUEUE, "defer", deferred.as_ref().map(|_| ()));
            if let Err(e) = deferred {
                tracing::warn!(%job_id, error = %e, "could not put a deferred check request back; it comes back after its visibility");
            }
        }
        Ok(Ok(outcome)) => {
            tracing::debug!(%job_id, ?outcome, "check request handled");
            let acked = queue.ack(&delivery.receipt).await;
            count_queue_op(QUEUE, "delete", acked.as_ref().map(|_| ()));
            match acked {
                Ok(()) => {}
                Err(QueueError::StaleReceipt) => {
                    tracing::warn!(%job_id, "could not acknowledge: the receipt expired (the request will be seen again, and found stale)");
                }
                Err(e) => tracing::warn!(%job_id, error = %e, "could not acknowledge a handled check request"),
            }
        }
        Ok(Err(e)) => {
            // Logged once per outage by the pool; per message only at debug.
            let error = error_chain(&e);
            tracing::debug!(%job_id, error = %error, "check request failed; it will be delivered again");
            return TaskEnd::DependencyFailed(error);
        }
        Err(_) => {
            tracing::error!(%job_id, timeout_s = handle_timeout.as_secs(), "check request took too long; abandoned, it will be delivered again");
        }
    }
    TaskEnd::Handled
}

/// Keeps a message invisible while it is handled: extends its visibility every third of it.
/// Returns only when the receipt is no longer valid.
async fn heartbeat(queue: &dyn CheckQueue, receipt: &str, visibility: Duration) {
    let period = (visibility / 3).max(MIN_HEARTBEAT);
    loop {
        tokio::time::sleep(period).await;
        let extended = queue.extend(receipt, visibility).await;
        count_queue_op(QUEUE, "heartbeat", extended.as_ref().map(|_| ()));
        match extended {
            Ok(()) => {}
            Err(QueueError::StaleReceipt) => {
                tracing::warn!("visibility could not be extended: the receipt expired");
                return;
            }
            Err(e) => tracing::warn!(error = %e, "visibility could not be extended; will retry"),
        }
    }
}

/// The `queue` label of the check queue's operations.
const QUEUE: &str = "check";

/// Counts an operation on `queue` (`check`, `delivery`): `ok`, `stale` (an expired receipt) or
/// `error`. The check workers here and the delivery workers count through this one function.
pub fn count_queue_op(queue: &'static str, operation: &'static str, result: Result<(), &QueueError>) {
    let result = match result {
        Ok(()) => "ok",
        Err(QueueError::StaleReceipt) => "stale",
        Err(_) => "error",
    };
    metrics::counter!(names::QUEUE_OPERATIONS, "queue" => queue, "operation" => operation, "result" => result)
        .increment(1);
}

/// Counts how handling a check request ended.
fn count_request(result: &'static str) {
    metrics::counter!(names::CHECK_REQUESTS, "result" => result).increment(1);
}

/// What the tasks that ended since the last look say about the job store.
enum Reaped {
    /// No task ended.
    Nothing,
    /// Tasks ended and none failed on a dependency.
    Handled,
    /// At least one failed on a dependency (the last such error).
    DependencyFailed(String),
}

fn reap(tasks: &mut JoinSet<TaskEnd>) -> Reaped {
    let mut reaped = Reaped::Nothing;
    while let Some(result) = tasks.try_join_next() {
        match task_end(result) {
            Some(TaskEnd::DependencyFailed(error)) => reaped = Reaped::DependencyFailed(error),
            Some(TaskEnd::Handled) if matches!(reaped, Reaped::Nothing) => reaped = Reaped::Handled,
            _ => {}
        }
    }
    reaped
}

fn task_end(result: Result<TaskEnd, tokio::task::JoinError>) -> Option<TaskEnd> {
    match result {
        Ok(end) => Some(end),
        Err(e) => {
            if e.is_panic() {
                tracing::error!("a check worker panicked; its message will be delivered again");
            }
            None
        }
    }
}

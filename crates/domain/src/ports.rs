//! The ports: what the use cases need from storage, queues and notifiers. Adapters implement
//! them; each trait's documentation is the contract that the suites in [`crate::testing`] check.

use std::error::Error as StdError;
use std::time::Duration;

use async_trait::async_trait;

use crate::{
    Alert, AlertId, Email, HistoryQuery, Job, JobId, JobKey, Observation, PasswordHash, PricePoint, SessionId,
    Timestamp, TraceContext, User, UserId, UserSession,
};

/// A boxed error from an adapter's backend, kept as a source for logs, never shown to a client.
pub type BackendError = Box<dyn StdError + Send + Sync + 'static>;

/// A job store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A job with this id already exists (ids are random, so this means a bug or a replay).
    #[error("a job with this id already exists")]
    AlreadyExists,
    /// The pagination cursor was not produced by this store.
    #[error("the pagination cursor is not valid")]
    InvalidCursor,
    /// The backend failed or is unreachable.
    #[error("job store backend failed")]
    Backend(#[source] BackendError),
}

/// A user store failure.
#[derive(Debug, thiserror::Error)]
pub enum UserStoreError {
    /// The email already belongs to an account.
    #[error("an account with this email already exists")]
    DuplicateEmail,
    /// The backend failed or is unreachable.
    #[error("user store backend failed")]
    Backend(#[source] BackendError),
}

/// A queue failure.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The receipt is unknown or expired (the message was redelivered to someone else, or acked).
    #[error("the message receipt is no longer valid")]
    StaleReceipt,
    /// The backend failed or is unreachable.
    #[error("queue backend failed")]
    Backend(#[source] BackendError),
}

/// A notifier failure.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The backend failed or is unreachable; the alert stays in the job's outbox.
    #[error("notifier backend failed")]
    Backend(#[source] BackendError),
    /// The receiver refused the alert for good (an HTTP 4xx other than 408 and 429, a recipient
    /// that no longer exists): sending it again cannot help, so the delivery stage fails it at
    /// once instead of retrying for a day.
    #[error("the receiver refused the alert")]
    Refused(#[source] BackendError),
}

/// Which page of a listing to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// At most this many items (1 to [`PageRequest::MAX_LIMIT`]).
    pub limit: u32,
    /// Where the previous page ended; `None` for the first page.
    pub cursor: Option<String>,
}

impl PageRequest {
    /// Largest page.
    pub const MAX_LIMIT: u32 = 100;
    /// Page size when the client does not ask.
    pub const DEFAULT_LIMIT: u32 = 20;
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items, in the listing's order.
    pub items: Vec<T>,
    /// Opaque cursor for the next page; `None` when this is the last page.
    pub next_cursor: Option<String>,
}

/// A job handed out by [`JobStore::claim_due`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedJob {
    /// The job.
    pub key: JobKey,
    /// Its version after the claim: put in the check request.
    pub version: u64,
    /// The shop host of its URL, so that one run can spread a host's checks over time; `None`
    /// when the adapter does not say.
    pub host: Option<String>,
}

/// How a conditional write ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Written.
    Applied,
    /// The job no longer exists: nothing was written (and nothing was re-created).
    Gone,
    /// The job exists with another version: nothing was written.
    VersionMismatch,
}

/// How long an `Idempotency-Key` is remembered: the same key from the same user within this
/// window replays the first creation.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// What [`JobStore::create_idempotent`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotentCreate {
    /// The job was stored and the key now remembers it.
    Created,
    /// The key was used by this user within [`IDEMPOTENCY_WINDOW`]: nothing was stored.
    Replayed {
        /// The job the first request created.
        job_id: JobId,
        /// The response the first request stored, unchanged.
        response: String,
    },
}

/// Order of a job listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListOrder {
    /// Oldest first (by id).
    #[default]
    Oldest,
    /// Newest first (by id).
    Newest,
}

/// Where jobs live. The source of truth: queues only carry "check job X now".
///
/// Contract (checked by [`crate::testing`]):
/// - jobs are addressed by [`JobKey`]; a key with another user's id finds nothing;
/// - `list` returns a user's jobs oldest first (by id), in pages that together hold every job
///   exactly once;
/// - `claim_due` hands each due job (`next_check_at <= now`) to one caller only, however many
///   call at once: it moves `next_check_at` to `lease_until` and bumps `version`, atomically per
///   job; its work grows with the number of due jobs, not with the number of jobs;
/// - `record_check` writes only if the job still exists at `expected_version`; it never creates
///   a job. On success the observation, if any, is kept too;
/// - `clear_pending_alert` clears the outbox only if it still holds that alert; it neither bumps
///   the version nor creates a job;
/// - a deleted job is gone for good, its history with it: no later call brings it back;
/// - a paused job has no due entry: `claim_due` never hands it out until it is resumed;
/// - history is run-length (see [`crate::history`]): an observation equal in price, currency and
///   availability to the newest point extends it (`last_seen_at`, `checks`), anything else adds
///   a point, so a year of unchanged prices is one stored point. Unpriced observations are
///   points too. Points whose `last_seen_at` is older than the store's retention are never
///   returned and are eventually removed;
/// - `update` (an owner's edit) is conditional on the version like `record_check`, so an edit
///   and a check's result never overwrite each other silently: the loser sees `VersionMismatch`
///   and re-reads;
/// - `create_idempotent` stores the job and remembers the key in one atomic step; the same user
///   and key within [`IDEMPOTENCY_WINDOW`] replays the stored response and stores nothing, even
///   when two such requests race.
#[async_trait]
pub trait JobStore: Send + Sync + 'static {
    /// Stores a new job. [`StoreError::AlreadyExists`] if its id is taken.
    async fn create(&self, job: &Job) -> Result<(), StoreError>;

    /// Reads one job.
    async fn get(&self, key: JobKey) -> Result<Option<Job>, StoreError>;

    /// Reads one page of a user's jobs, oldest first.
    async fn list(&self, user_id: UserId, page: &PageRequest) -> Result<Page<Job>, StoreError>;

    /// Stores a new job unless `user_id` used `idempotency_key` within [`IDEMPOTENCY_WINDOW`]
    /// before `now`; remembers `response` (opaque to the store) to replay it.
    async fn create_idempotent(
        &self,
        job: &Job,
        idempotency_key: &str,
        response: &str,
        now: Timestamp,
    ) -> Result<IdempotentCreate, StoreError>;

    /// Reads one page of a user's jobs in `order`.
    async fn list_ordered(
        &self,
        user_id: UserId,
        page: &PageRequest,
        order: ListOrder,
    ) -> Result<Page<Job>, StoreError>;

    /// Replaces a job's state with an owner's edit (`job.version` the new one) if the stored job
    /// has `expected_version`. Never creates a job.
    async fn update(&self, job: &Job, expected_version: u64) -> Result<WriteOutcome, StoreError> {
        self.record_check(job, expected_version, None).await
    }

    /// Deletes one job and its history; `false` if there was none.
    async fn delete(&self, key: JobKey) -> Result<bool, StoreError>;

    /// Deletes all of a user's jobs; returns how many.
    async fn delete_all(&self, user_id: UserId) -> Result<u64, StoreError>;

    /// Claims up to `limit` due jobs, leasing each until `lease_until`.
    async fn claim_due(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<ClaimedJob>, StoreError>;

    /// Replaces a job's state with `job` (whose `version` is the new one) if the stored job has
    /// `expected_version`, and keeps `observation` beside it.
    async fn record_check(
        &self,
        job: &Job,
        expected_version: u64,
        observation: Option<&Observation>,
    ) -> Result<WriteOutcome, StoreError>;

    /// Empties the job's outbox if it still holds `alert_id`.
    async fn clear_pending_alert(&self, key: JobKey, alert_id: AlertId) -> Result<WriteOutcome, StoreError>;

    /// A page of a job's history (run-length points), newest first; empty for another user's
    /// job. [`StoreError::InvalidCursor`] for a cursor this store did not make.
    async fn history(&self, key: JobKey, query: &HistoryQuery) -> Result<Page<PricePoint>, StoreError>;

    /// Cheap round trip to the backend, for readiness probes.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// A message taken from the queue, invisible to others until its visibility runs out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Proves this receive; needed to extend or acknowledge.
    pub receipt: String,
    /// The raw body: the consumer parses it, so that a malformed body is the consumer's to reject.
    pub body: String,
    /// How many times this message has been received, this time included.
    pub receive_count: u32,
    /// The trace the message was sent in, if it carried a valid one.
    pub trace: Option<TraceContext>,
}

/// A message to put on a queue: its body, how long before it may be received, and the trace it
/// continues (so that the work it asks for joins the trace of whatever asked for it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// The body, as the consumer parses it.
    pub body: String,
    /// How long before it may be received (at most [`MAX_SEND_DELAY`]).
    pub delay: Duration,
    /// The trace it continues, if any.
    pub trace: Option<TraceContext>,
}

impl OutgoingMessage {
    /// A message to be received at once, in no trace.
    pub fn now(body: impl Into<String>) -> Self {
        Self { body: body.into(), delay: Duration::ZERO, trace: None }
    }

    /// A message to be received no sooner than `delay` from now, in no trace.
    pub fn delayed(body: impl Into<String>, delay: Duration) -> Self {
        Self { body: body.into(), delay, trace: None }
    }

    /// The same message, continuing `trace`.
    #[must_use]
    pub fn in_trace(mut self, trace: Option<TraceContext>) -> Self {
        self.trace = trace;
        self
    }
}

/// The longest delay a message can be sent with: SQS's limit, 15 minutes.
pub const MAX_SEND_DELAY: Duration = Duration::from_secs(900);

/// The check queue, with SQS semantics: at-least-once delivery, a visibility timeout that a
/// receiver can extend, deletion only on acknowledgement, and a dead-letter queue for messages
/// received too many times.
///
/// Contract (checked by [`crate::testing`]):
/// - a sent message is received; while its visibility lasts no other receive gets it;
/// - a message not acknowledged becomes visible again when its visibility runs out, with a
///   higher `receive_count`; `extend` pushes that moment back;
/// - an acknowledged message is never received again;
/// - a message received more than the queue's maximum receive count goes to the dead-letter
///   queue instead of being delivered again;
/// - `receive` waits up to `wait` for a message and returns at most `max` (1 to 10);
/// - a message sent with a trace is received with that trace, one sent without it without one.
#[async_trait]
pub trait CheckQueue: Send + Sync + 'static {
    /// Sends messages, each received no sooner than its delay and carrying its trace. Returns
    /// the indices of those that could not be sent (the caller leaves them to the lease, which
    /// makes their jobs due again).
    async fn send(&self, messages: &[OutgoingMessage]) -> Result<Vec<usize>, QueueError>;

    /// Sends message bodies at once, in no trace (see [`CheckQueue::send`]).
    async fn send_batch(&self, bodies: &[String]) -> Result<Vec<usize>, QueueError> {
        let messages: Vec<OutgoingMessage> = bodies.iter().map(OutgoingMessage::now).collect();
        self.send(&messages).await
    }

    /// Sends message bodies, each received no sooner than its delay, in no trace (see
    /// [`CheckQueue::send`]).
    async fn send_batch_delayed(&self, messages: &[(String, Duration)]) -> Result<Vec<usize>, QueueError> {
        let messages: Vec<OutgoingMessage> =
            messages.iter().map(|(body, delay)| OutgoingMessage::delayed(body.clone(), *delay)).collect();
        self.send(&messages).await
    }

    /// Receives up to `max` messages, waiting up to `wait` for the first.
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError>;

    /// Makes a received message stay invisible for `visibility` from now.
    async fn extend(&self, receipt: &str, visibility: Duration) -> Result<(), QueueError>;

    /// Deletes a received message: it is done.
    async fn ack(&self, receipt: &str) -> Result<(), QueueError>;

    /// Puts a received message back to be delivered again after `delay`, because its work cannot
    /// be done now (its shop host is busy). The default makes the message invisible for `delay`;
    /// an adapter whose receive count leads to the dead-letter queue should re-send the body with
    /// a delay (and its trace) and delete the received copy instead, so that waiting for a host
    /// never counts as a failed delivery.
    async fn defer(&self, delivery: &Delivery, delay: Duration) -> Result<(), QueueError> {
        self.extend(&delivery.receipt, delay).await
    }
}

/// Delivers alerts to users.
///
/// Contract: `publish` either delivers (at least once) or fails; the same alert published twice
/// carries the same [`Alert::id`] so receivers can de-duplicate. An alert reaches its owner only.
#[async_trait]
pub trait Notifier: Send + Sync + 'static {
    /// Delivers one alert.
    async fn publish(&self, alert: &Alert) -> Result<(), NotifyError>;

    /// Registers a new user as a recipient of their own alerts (an SNS email subscription with a
    /// filter on their id, say). Notifiers that need no registration do nothing.
    async fn subscribe(&self, _user: &User) -> Result<(), NotifyError> {
        Ok(())
    }
}

/// A user together with the hash of their password, as read for sign-in.
#[derive(Debug, Clone)]
pub struct UserCredentials {
    /// The user.
    pub user: User,
    /// Their password hash.
    pub password_hash: PasswordHash,
}

/// Where users live.
///
/// Contract: emails are unique (after normalisation, which [`Email`] does);
/// [`UserStoreError::DuplicateEmail`] on a second account for one email, even when two sign-ups
/// race. `delete` removes the user and every session of theirs (jobs live in the [`JobStore`]
/// and are deleted there); afterwards neither `get` nor `find_by_email` finds them, and the email
/// is free for a new account.
#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// Stores a new user.
    async fn create(&self, user: &User, password_hash: &PasswordHash) -> Result<(), UserStoreError>;

    /// Finds a user by email, with the password hash.
    async fn find_by_email(&self, email: &Email) -> Result<Option<UserCredentials>, UserStoreError>;

    /// Finds a user by id.
    async fn get(&self, id: UserId) -> Result<Option<User>, UserStoreError>;

    /// Replaces a user's password hash; `false` if there is no such user.
    async fn set_password_hash(&self, id: UserId, password_hash: &PasswordHash) -> Result<bool, UserStoreError>;

    /// Deletes a user and their sessions; `false` if there was none.
    async fn delete(&self, id: UserId) -> Result<bool, UserStoreError>;

    /// Cheap round trip to the backend, for readiness probes.
    async fn ping(&self) -> Result<(), UserStoreError>;
}

/// A session store failure.
#[derive(Debug, thiserror::Error)]
pub enum SessionStoreError {
    /// The backend failed or is unreachable.
    #[error("session store backend failed")]
    Backend(#[source] BackendError),
}

/// Where sign-in sessions live, so that a token can be ended before it expires.
///
/// Contract (checked by [`crate::testing`]):
/// - a created session is live (`live_user` names its user) until it expires or is revoked;
/// - `revoke` ends one session for good; `revoke_all` ends every session of a user but the one
///   kept, and no other user's;
/// - sessions belong to an existing user, and deleting the user ([`UserStore::delete`]) ends them.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Stores a new session.
    async fn create_session(&self, session: &UserSession) -> Result<(), SessionStoreError>;

    /// The user of a session that exists and has not expired at `now`.
    async fn live_user(&self, id: SessionId, now: Timestamp) -> Result<Option<UserId>, SessionStoreError>;

    /// A user's sessions that are live at `now`, oldest first.
    async fn live_sessions(&self, user_id: UserId, now: Timestamp) -> Result<Vec<UserSession>, SessionStoreError>;

    /// Ends one session; `false` if there was none.
    async fn revoke(&self, id: SessionId) -> Result<bool, SessionStoreError>;

    /// Ends every session of `user_id` except `keep`; returns how many ended.
    async fn revoke_all(&self, user_id: UserId, keep: Option<SessionId>) -> Result<u64, SessionStoreError>;
}

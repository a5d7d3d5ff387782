//! The pricetrack domain: what a user, a job, a price and an alert are, the rules that move a job
//! from one state to the next, the message that asks for a check, and the ports (traits) through
//! which the services reach storage, queues and notifiers.
//!
//! This crate does no I/O. Adapters live in their own crates and prove themselves against the
//! contract suites in [`testing`] (feature `testing`).

pub mod alert;
pub mod channel;
pub mod check;
pub mod delivery;
#[cfg(feature = "testing")]
pub mod delivery_testing;
pub mod email;
pub mod gate;
pub mod history;
pub mod ids;
pub mod job;
pub mod message;
pub mod money;
pub mod password;
pub mod ports;
pub mod preview;
pub mod rules;
pub mod target;
#[cfg(feature = "testing")]
pub mod testing;
pub mod trace;
pub mod user;

pub use alert::{Alert, AlertDetails, AlertRuleKind};
pub use channel::{Channel, ChannelKey, ChannelKind, ChannelSecret, ChannelStatus, ChannelTarget, InvalidChannel};
pub use check::{Availability, CheckFailure, CheckOutcome, CheckedOffer, Observation};
pub use delivery::{AlertEntry, DeliveryRecord, DeliveryStatus};
pub use email::Email;
pub use history::{HistoryQuery, PricePoint, Resolution};
pub use ids::{AlertId, ChannelId, JobId, SessionId, UserId};
pub use job::{AlertState, CheckInterval, Job, JobEdit, JobKey, JobStatus, NewJob, SchedulePolicy};
pub use message::CheckRequest;
pub use money::{Currency, Money, TargetPrice};
pub use password::{Password, PasswordHash};
pub use rules::{AlertRule, Alerting, AlertingEdit, Baseline};
pub use target::ProductUrl;
pub use trace::TraceContext;
pub use user::{User, UserSession};

/// Points in time across the domain: UTC, millisecond precision is what the stores keep.
pub type Timestamp = chrono::DateTime<chrono::Utc>;

//! The check request: the only message on the check queue. Versioned JSON.

use serde::{Deserialize, Serialize};

use crate::{JobId, JobKey, UserId};

/// Why a queue message body is not a check request. Carries no part of the body: a malformed
/// message may hold anything, personal data included, and this error ends up in logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MalformedMessage {
    /// Not JSON, or not the right shape.
    #[error("message body is not a check request ({0})")]
    Shape(String),
    /// A version this build does not know.
    #[error("check request version {0} is not supported")]
    Version(u32),
    /// Larger than any request this system sends.
    #[error("message body is too large")]
    TooLarge,
}

/// "Check job X now": sent by the rescheduler (or by the API right after a job is created),
/// received by a scraper worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRequest {
    /// Message format version; this build writes and reads [`CheckRequest::VERSION`].
    pub v: u32,
    /// The job's owner: with the id, it addresses the job in one read.
    pub user_id: UserId,
    /// The job.
    pub job_id: JobId,
    /// The job version the sender's claim produced. A worker that finds another version knows the
    /// request is stale (already handled, or superseded by a newer claim) and only acknowledges it.
    pub job_version: u64,
}

impl CheckRequest {
    /// The format version this build writes.
    pub const VERSION: u32 = 1;
    /// Largest body accepted; real requests are about 150 bytes.
    pub const MAX_BODY_BYTES: usize = 4096;

    /// A request for one claimed job.
    pub fn new(key: JobKey, job_version: u64) -> Self {
        Self { v: Self::VERSION, user_id: key.user_id, job_id: key.job_id, job_version }
    }

    /// The job addressed.
    pub fn key(&self) -> JobKey {
        JobKey { user_id: self.user_id, job_id: self.job_id }
    }

    /// The wire form.
    pub fn to_json(&self) -> String {
        // Serialising a struct of ids and integers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses a queue message body.
    pub fn from_json(body: &str) -> Result<Self, MalformedMessage> {
        if body.len() > Self::MAX_BODY_BYTES {
            return Err(MalformedMessage::TooLarge);
        }
        #[derive(Deserialize)]
        struct Versioned {
            v: u32,
        }
        let versioned: Versioned =
            serde_json::from_str(body).map_err(|e| MalformedMessage::Shape(e.classify_name().to_owned()))?;
        if versioned.v != Self::VERSION {
            return Err(MalformedMessage::Version(versioned.v));
        }
        serde_json::from_str(body).map_err(|e| MalformedMessage::Shape(e.classify_name().to_owned()))
    }
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "io",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "wrong fields",
            serde_json::error::Category::Eof => "truncated",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let req = CheckRequest::new(JobKey { user_id: UserId::new(), job_id: JobId::new() }, 7);
        assert_eq!(CheckRequest::from_json(&req.to_json()).expect("parses"), req);
    }

    #[test]
    fn malformed_bodies_are_refused_without_echoing_them() {
        for body in [
            "",
            "null",
            "[]",
            "{\"v\":1}",
            "not json secret@example.com",
            "{\"v\":1,\"user_id\":\"x\",\"job_id\":\"y\",\"job_version\":1}",
        ] {
            let err = CheckRequest::from_json(body).expect_err(body);
            assert!(!err.to_string().contains("secret"), "{err}");
        }
        let future =
            format!("{{\"v\":2,\"user_id\":\"{}\",\"job_id\":\"{}\",\"job_version\":1}}", UserId::new(), JobId::new());
        assert_eq!(CheckRequest::from_json(&future), Err(MalformedMessage::Version(2)));
        assert_eq!(CheckRequest::from_json(&"x".repeat(5000)), Err(MalformedMessage::TooLarge));
    }
}

//! The one error shape of the API, `{"error":{"code","message"[,"field"]}}`, and the errors
//! handlers return.
//!
//! Turning an [`ApiError`] into a response has no side effects: the response carries an
//! [`ErrorReport`] extension, and the observing middleware (see `observe.rs`) logs it once and
//! removes it before the response leaves the server.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pricetrack_domain::ports::{QueueError, SessionStoreError, StoreError, UserStoreError};
use serde::Serialize;

/// A boxed error kept as the source of an internal error: logged, never shown to a client.
pub(crate) type Source = Box<dyn StdError + Send + Sync + 'static>;

/// Everything a handler or an extractor can answer with instead of success.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// The body is not JSON, or not a JSON object.
    #[error("{0}")]
    MalformedJson(&'static str),
    /// One field of the request is missing or invalid.
    #[error("{message}")]
    InvalidField {
        /// The field, as the client spelled it.
        field: String,
        /// What is wrong with it, in words the client can act on.
        message: String,
    },
    /// The body has a field this endpoint does not know.
    #[error("unknown field")]
    UnknownField {
        /// The field, as the client spelled it (cut to a sane length).
        field: String,
    },
    /// No valid session.
    #[error("authentication required")]
    Unauthenticated,
    /// Sign-in failed: unknown email and wrong password look the same.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// Too many sign-up or sign-in requests from one address, or failed password attempts
    /// from one address on one account.
    #[error("too many attempts, try again later")]
    TooManyAttempts {
        /// When the client may try again.
        retry_after: Duration,
    },
    /// The password given to confirm an account change is not the account's.
    #[error("the password is not correct")]
    WrongPassword,
    /// The user already has as many jobs as one user may have.
    #[error("you already have the most jobs one account may have ({limit}); delete one first")]
    JobLimitReached {
        /// The limit.
        limit: u32,
    },
    /// A state-changing request sent by a page of another origin.
    #[error("requests from another origin are not allowed")]
    ForeignOrigin,
    /// No such resource (or not the caller's).
    #[error("not found")]
    NotFound,
    /// Sign-up with an email that already has an account.
    #[error("an account with this email already exists")]
    EmailTaken,
    /// An `Idempotency-Key` whose job was deleted since: replaying its creation would name a
    /// job that no longer exists.
    #[error("this Idempotency-Key created a job that has since been deleted; send the request with a new key")]
    IdempotencyKeyReused,
    /// The body is larger than the limit.
    #[error("request body is too large")]
    PayloadTooLarge,
    /// The body is not declared as JSON.
    #[error("request body must be JSON (content-type: application/json)")]
    UnsupportedMediaType,
    /// `If-Match` names another version of the job than the stored one: nothing changed.
    #[error("the job has changed since that version (If-Match does not match its ETag)")]
    PreconditionFailed,
    /// A dependency the request needs failed, hung, or is known to be down; or the server is
    /// shedding load. The client may try again after `Retry-After`; the source is logged only.
    #[error("the service is temporarily unavailable, try again shortly")]
    Unavailable(#[source] Option<Source>),
    /// Anything else: a bug or a backend failure. Only "internal error" reaches the client.
    #[error("internal error")]
    Internal(#[source] Source),
}

impl ApiError {
    /// An invalid field with a message (usually a domain error's `Display`).
    pub(crate) fn invalid(field: impl Into<String>, message: impl fmt::Display) -> Self {
        Self::InvalidField { field: field.into(), message: message.to_string() }
    }

    /// An internal error from any error type.
    pub(crate) fn internal(source: impl StdError + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(source))
    }

    /// An internal error described by a fixed message.
    pub(crate) fn internal_msg(message: &'static str) -> Self {
        Self::Internal(Box::new(Message(message)))
    }

    /// The HTTP status.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::MalformedJson(_) | Self::InvalidField { .. } | Self::UnknownField { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthenticated | Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::WrongPassword | Self::JobLimitReached { .. } | Self::ForeignOrigin => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::EmailTaken | Self::IdempotencyKeyReused => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The machine-readable code.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Self::MalformedJson(_) => "malformed_json",
            Self::InvalidField { .. } => "invalid_field",
            Self::UnknownField { .. } => "unknown_field",
            Self::Unauthenticated => "unauthenticated",
            Self::InvalidCredentials => "invalid_credentials",
            Self::TooManyAttempts { .. } => "too_many_attempts",
            Self::WrongPassword => "wrong_password",
            Self::JobLimitReached { .. } => "job_limit_reached",
            Self::ForeignOrigin => "foreign_origin",
            Self::NotFound => "not_found",
            Self::EmailTaken => "email_taken",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::PreconditionFailed => "precondition_failed",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    fn message(&self) -> String {
        match self {
            Self::UnknownField { field } => format!("unknown field `{field}`"),
            other => other.to_string(),
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            Self::InvalidField { field, .. } | Self::UnknownField { field } => Some(field),
            _ => None,
        }
    }
}

impl From<UserStoreError> for ApiError {
    fn from(value: UserStoreError) -> Self {
        match value {
            UserStoreError::DuplicateEmail => Self::EmailTaken,
            // A backend that fails is a dependency that is down or sick: 503, not a 500.
            other @ UserStoreError::Backend(_) => Self::Unavailable(Some(Box::new(other))),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(value: StoreError) -> Self {
        match value {
            StoreError::InvalidCursor => Self::invalid("cursor", "cursor is not valid"),
            other @ StoreError::Backend(_) => Self::Unavailable(Some(Box::new(other))),
            other => Self::internal(other),
        }
    }
}

impl From<SessionStoreError> for ApiError {
    fn from(value: SessionStoreError) -> Self {
        // The session store failing is an outage like any other store's: 503, not 500.
        match value {
            other @ SessionStoreError::Backend(_) => Self::Unavailable(Some(Box::new(other))),
        }
    }
}

impl From<QueueError> for ApiError {
    fn from(value: QueueError) -> Self {
        match value {
            other @ QueueError::Backend(_) => Self::Unavailable(Some(Box::new(other))),
            other => Self::internal(other),
        }
    }
}

/// A fixed description used as an error source.
#[derive(Debug)]
pub(crate) struct Message(pub(crate) &'static str);

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl StdError for Message {}

/// What the observing middleware needs to log an error response: its code and, for server-side
/// failures, the source. Put in the response's extensions by [`ApiError::into_response`] and
/// removed by the middleware before the response is sent.
#[derive(Clone, Debug)]
pub(crate) struct ErrorReport {
    /// The error code sent to the client.
    pub(crate) code: &'static str,
    /// The server-side cause, for 5xx responses.
    pub(crate) source: Option<Arc<dyn StdError + Send + Sync + 'static>>,
}

impl ErrorReport {
    /// The source and its causes, joined: `job store backend failed: disk I/O error`.
    pub(crate) fn source_chain(&self) -> Option<String> {
        let source: &(dyn StdError + 'static) = self.source.as_deref()?;
        Some(crate::error_chain(source))
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

/// A response in the error shape.
pub(crate) fn error_response(status: StatusCode, code: &str, message: &str, field: Option<&str>) -> Response {
    let body = ErrorBody { error: ErrorDetail { code, message, field } };
    (status, Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let code = self.code();
        let mut response = error_response(status, code, &self.message(), self.field());
        let retry_after = match &self {
            Self::TooManyAttempts { retry_after } => Some(retry_after.as_secs().max(1)),
            Self::Unavailable(_) => Some(crate::resilience::RETRY_AFTER_SECS),
            _ => None,
        };
        if let Some(secs) = retry_after
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        let source: Option<Arc<dyn StdError + Send + Sync>> = match self {
            Self::Internal(source) | Self::Unavailable(Some(source)) => Some(Arc::from(source)),
            _ => None,
        };
        response.extensions_mut().insert(ErrorReport { code, source });
        response
    }
}

/// The code and message used for an error response that did not come from an [`ApiError`]
/// (a rejection or a layer outside our handlers), by status.
pub(crate) fn default_code_for(status: StatusCode) -> (&'static str, &'static str) {
    match status {
        StatusCode::BAD_REQUEST => ("bad_request", "bad request"),
        StatusCode::UNAUTHORIZED => ("unauthenticated", "authentication required"),
        StatusCode::NOT_FOUND => ("not_found", "not found"),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "method not allowed"),
        StatusCode::REQUEST_TIMEOUT => ("timeout", "the request took too long"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "request body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ("unsupported_media_type", "request body must be JSON (content-type: application/json)")
        }
        StatusCode::UNPROCESSABLE_ENTITY => ("invalid_request", "the request could not be processed"),
        StatusCode::TOO_MANY_REQUESTS => ("too_many_requests", "too many requests"),
        StatusCode::SERVICE_UNAVAILABLE => ("unavailable", "service unavailable"),
        s if s.is_server_error() => ("internal", "internal error"),
        _ => ("bad_request", "bad request"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_source_but_report_it() {
        let err = ApiError::internal(std::io::Error::other("disk on fire at /var/secret"));
        let response = err.into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let report = response.extensions().get::<ErrorReport>().cloned().expect("report");
        assert_eq!(report.code, "internal");
        assert!(report.source_chain().unwrap_or_default().contains("disk on fire"));
    }

    #[test]
    fn client_errors_carry_no_source() {
        let response = ApiError::invalid("url", "url must use http or https").into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let report = response.extensions().get::<ErrorReport>().cloned().expect("report");
        assert_eq!(report.code, "invalid_field");
        assert!(report.source.is_none());
    }

    #[test]
    fn backend_failures_are_unavailable_with_retry_after_and_no_internals() {
        let err =
            ApiError::from(StoreError::Backend(Box::new(std::io::Error::other("dynamodb at 10.0.0.7 timed out"))));
        let response = err.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers().get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()), Some("1"));
        let report = response.extensions().get::<ErrorReport>().cloned().expect("report");
        assert_eq!(report.code, "unavailable");
        assert!(report.source_chain().unwrap_or_default().contains("timed out"));
        let users = ApiError::from(UserStoreError::Backend(Box::new(std::io::Error::other("refused"))));
        assert_eq!(users.code(), "unavailable");
    }

    #[test]
    fn too_many_attempts_sets_retry_after() {
        let response = ApiError::TooManyAttempts { retry_after: Duration::from_secs(90) }.into_response();
        assert_eq!(response.headers().get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()), Some("90"));
    }
}

//! Reading JSON request bodies: content type, size limit, syntax, and field-by-field access that
//! names the offending field in every error.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::error::ApiError;

/// Largest request body accepted, in bytes.
pub(crate) const MAX_BODY_BYTES: usize = 16 * 1024;

/// Longest field name echoed back in an `unknown_field` error.
const MAX_ECHOED_NAME: usize = 64;

/// A JSON object body whose members are kept as raw JSON text until a handler asks for them
/// with a type. Numbers are never read through a float unless a handler asks for one.
#[derive(Debug)]
pub(crate) struct JsonObject {
    members: BTreeMap<String, Box<RawValue>>,
}

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json_content_type(req.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::MalformedJson("request body could not be read")
            }
        })?;
        Self::parse(&bytes)
    }
}

impl JsonObject {
    /// Parses a body that must be one JSON object.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, ApiError> {
        match serde_json::from_slice::<BTreeMap<String, Box<RawValue>>>(bytes) {
            Ok(members) => Ok(Self { members }),
            Err(e) if e.classify() == serde_json::error::Category::Data => {
                Err(ApiError::MalformedJson("request body must be a JSON object"))
            }
            Err(_) => Err(ApiError::MalformedJson("request body is not valid JSON")),
        }
    }

    /// Refuses members other than `allowed`.
    pub(crate) fn deny_unknown(&self, allowed: &[&str]) -> Result<(), ApiError> {
        match self.members.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(unknown) => Err(ApiError::UnknownField { field: cut(unknown) }),
            None => Ok(()),
        }
    }

    /// The raw JSON text of a member; `None` when absent or `null`.
    pub(crate) fn raw(&self, name: &str) -> Option<&str> {
        self.members.get(name).map(|raw| raw.get().trim()).filter(|text| *text != "null")
    }

    /// Whether a member is present with the value `null` (a merge patch's "clear this").
    pub(crate) fn is_null(&self, name: &str) -> bool {
        self.members.get(name).is_some_and(|raw| raw.get().trim() == "null")
    }

    /// A member that must be present (and not `null`), read as `T`.
    pub(crate) fn required<T: DeserializeOwned>(&self, name: &str, kind: &str) -> Result<T, ApiError> {
        self.optional(name, kind)?.ok_or_else(|| ApiError::invalid(name, format!("{name} is required")))
    }

    /// A member that may be absent or `null`, read as `T`.
    pub(crate) fn optional<T: DeserializeOwned>(&self, name: &str, kind: &str) -> Result<Option<T>, ApiError> {
        match self.raw(name) {
            None => Ok(None),
            Some(text) => serde_json::from_str(text)
                .map(Some)
                .map_err(|_| ApiError::invalid(name, format!("{name} must be {kind}"))),
        }
    }
}

/// True for `application/json` and `application/<anything>+json`, with any parameters.
fn is_json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// A client-supplied name, cut to [`MAX_ECHOED_NAME`] characters.
fn cut(name: &str) -> String {
    name.chars().take(MAX_ECHOED_NAME).collect()
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(content_type: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_str(content_type).expect("header"));
        h
    }

    #[test]
    fn content_types() {
        assert!(is_json_content_type(&headers("application/json")));
        assert!(is_json_content_type(&headers("Application/JSON; charset=utf-8")));
        assert!(is_json_content_type(&headers("application/problem+json")));
        assert!(!is_json_content_type(&headers("text/plain")));
        assert!(!is_json_content_type(&headers("application/jsonx")));
        assert!(!is_json_content_type(&HeaderMap::new()));
    }

    #[test]
    fn numbers_keep_their_text() {
        let body = JsonObject::parse(br#"{"p": 79.99, "q": 0.1000000000000000055511151231257827}"#).expect("object");
        assert_eq!(body.raw("p"), Some("79.99"));
        assert_eq!(body.raw("q"), Some("0.1000000000000000055511151231257827"));
    }

    #[test]
    fn shapes() {
        assert!(matches!(JsonObject::parse(b"[1]"), Err(ApiError::MalformedJson(_))));
        assert!(matches!(JsonObject::parse(b"{"), Err(ApiError::MalformedJson(_))));
        assert!(matches!(JsonObject::parse(b""), Err(ApiError::MalformedJson(_))));
        let body = JsonObject::parse(br#"{"a": null, "b": "x", "c": 5}"#).expect("object");
        assert!(matches!(body.deny_unknown(&["a", "b"]), Err(ApiError::UnknownField { field }) if field == "c"));
        assert_eq!(body.optional::<String>("a", "a string").ok().flatten(), None);
        assert!(matches!(
            body.required::<String>("a", "a string"),
            Err(ApiError::InvalidField { field, .. }) if field == "a"
        ));
        assert!(matches!(
            body.required::<String>("c", "a string"),
            Err(ApiError::InvalidField { message, .. }) if message == "c must be a string"
        ));
    }
}

//! Sessions: HS256 JWTs carried in an `Authorization` cookie (or a bearer header), and the
//! extractor that turns one into the signed-in [`User`].

use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use pricetrack_domain::{Timestamp, User, UserId};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::state::AppState;

/// The cookie's name.
pub(crate) const COOKIE_NAME: &str = "Authorization";

/// What a session token says.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The user id.
    sub: String,
    /// Issued at, seconds since the epoch.
    iat: i64,
    /// Expires at, seconds since the epoch.
    exp: i64,
}

/// Issues and checks session tokens.
pub(crate) struct Sessions {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
    cookie_secure: bool,
}

impl Sessions {
    /// Sessions signed with `secret`, valid for `ttl`.
    pub(crate) fn new(secret: &SecretString, ttl: Duration, cookie_secure: bool) -> Self {
        let bytes = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.validate_exp = true;
        validation.set_required_spec_claims(&["exp", "iat", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            validation,
            ttl,
            cookie_secure,
        }
    }

    /// A token for `user_id`, issued at `now`.
    pub(crate) fn issue(&self, user_id: UserId, now: Timestamp) -> Result<String, ApiError> {
        let iat = now.timestamp();
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let claims = Claims { sub: user_id.to_string(), iat, exp: iat.saturating_add(ttl) };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(ApiError::internal)
    }

    /// The user a token names, if it is genuine and unexpired.
    pub(crate) fn verify(&self, token: &str) -> Option<UserId> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).ok()?;
        data.claims.sub.parse().ok()
    }

    /// The `Set-Cookie` value that stores `token` in the browser.
    pub(crate) fn cookie(&self, token: &str) -> Result<HeaderValue, ApiError> {
        self.cookie_value(token, self.ttl.as_secs())
    }

    /// The `Set-Cookie` value that removes the session cookie.
    pub(crate) fn cleared_cookie(&self) -> Result<HeaderValue, ApiError> {
        self.cookie_value("", 0)
    }

    fn cookie_value(&self, token: &str, max_age: u64) -> Result<HeaderValue, ApiError> {
        let secure = if self.cookie_secure { "; Secure" } else { "" };
        let value = format!("{COOKIE_NAME}={token}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}{secure}");
        HeaderValue::from_str(&value).map_err(ApiError::internal)
    }
}

/// The token a request carries: an `Authorization: Bearer` header first, else the cookie.
fn token_from(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| token.trim());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, token)| token.trim())
}

/// The id of the signed-in user, proven by a genuine, unexpired token alone. Rejects with 401
/// `unauthenticated` otherwise.
///
/// Job routes use this rather than [`AuthUser`]: every job read and write is scoped by the
/// owner's id, so the user row adds nothing there, and skipping it halves the storage round trips
/// of the busiest route (`GET /jobs`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Session(pub(crate) UserId);

impl FromRequestParts<AppState> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = token_from(&parts.headers).filter(|t| !t.is_empty()).ok_or(ApiError::Unauthenticated)?;
        state.sessions.verify(token).map(Self).ok_or(ApiError::Unauthenticated)
    }
}

/// The signed-in user, read from the user store. Rejects with 401 `unauthenticated` when the
/// request has no genuine, unexpired token, or when its user no longer exists.
#[derive(Debug, Clone)]
pub(crate) struct AuthUser(pub(crate) User);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Session(user_id) = Session::from_request_parts(parts, state).await?;
        let user = state.ports.users.get(user_id).await?.ok_or(ApiError::Unauthenticated)?;
        Ok(Self(user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions(secret: &str) -> Sessions {
        Sessions::new(&SecretString::from(secret.to_owned()), Duration::from_secs(3600), true)
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn round_trip() {
        let s = sessions(SECRET);
        let id = UserId::new();
        let token = s.issue(id, chrono::Utc::now()).expect("issued");
        assert_eq!(s.verify(&token), Some(id));
    }

    #[test]
    fn refuses_other_secrets_expired_and_tampered() {
        let s = sessions(SECRET);
        let id = UserId::new();
        let other = sessions("another secret of at least 32 bytes!").issue(id, chrono::Utc::now());
        assert_eq!(s.verify(&other.expect("issued")), None);
        let old = s.issue(id, chrono::Utc::now() - chrono::Duration::hours(2)).expect("issued");
        assert_eq!(s.verify(&old), None);
        let token = s.issue(id, chrono::Utc::now()).expect("issued");
        let mut tampered = token.clone();
        tampered.pop();
        tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(s.verify(&tampered), None);
        assert_eq!(s.verify(""), None);
    }

    #[test]
    fn cookie_attributes() {
        let s = sessions(SECRET);
        let cookie = s.cookie("tok").expect("cookie");
        assert_eq!(cookie, "Authorization=tok; HttpOnly; SameSite=Lax; Path=/; Max-Age=3600; Secure");
        let cleared = s.cleared_cookie().expect("cookie");
        assert_eq!(cleared, "Authorization=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0; Secure");
    }

    #[test]
    fn finds_tokens() {
        let mut h = HeaderMap::new();
        assert_eq!(token_from(&h), None);
        h.insert(header::COOKIE, HeaderValue::from_static("a=b; Authorization=xyz; c=d"));
        assert_eq!(token_from(&h), Some("xyz"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        assert_eq!(token_from(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(token_from(&h), None);
    }
}

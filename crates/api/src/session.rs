//! Sessions: HS256 JWTs carried in the session cookie (or a bearer header), each naming a
//! server-side session (`sid`) that sign-out and a password change end; and the extractors that
//! turn a request into the signed-in user.
//!
//! Every authenticated request checks that its session is still live. To keep the busiest route
//! (`GET /jobs`) off the session store, a live session is remembered in this process for
//! [`LIVE_SESSION_TTL`]; revoking a session in this process forgets it at once. Another API
//! process (AWS mode runs several) may still let a revoked token in until its own memory of that
//! session runs out, so a revocation takes effect everywhere within [`LIVE_SESSION_TTL`].

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use cookie::{Cookie, SameSite};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use pricetrack_domain::{SessionId, Timestamp, User, UserId, UserSession};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::now;
use crate::state::AppState;

/// The cookie's name on plain-HTTP local runs.
pub(crate) const COOKIE_NAME: &str = "Authorization";
/// The cookie's name when cookies are `Secure`: the `__Host-` prefix makes the browser refuse it
/// unless it is `Secure`, has `Path=/` and no `Domain`, so a sibling subdomain cannot plant it.
pub(crate) const SECURE_COOKIE_NAME: &str = "__Host-Authorization";

/// How long this process trusts its memory that a session is live.
pub(crate) const LIVE_SESSION_TTL: Duration = Duration::from_secs(5);
/// While the session store is down, a session this process saw live less than this long ago is
/// still let in (revocations made in this process are forgotten at once): an outage of the
/// account database must not sign everybody out of the jobs they can still read.
pub(crate) const SESSION_STORE_OUTAGE_GRACE: Duration = Duration::from_secs(15 * 60);
/// Most sessions remembered; past this the memory starts over (a miss costs one store read).
const LIVE_SESSION_CAPACITY: usize = 100_000;

/// What a session token says.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The user id.
    sub: String,
    /// The session id.
    sid: String,
    /// Issued at, seconds since the epoch.
    iat: i64,
    /// Expires at, seconds since the epoch.
    exp: i64,
}

/// A freshly issued token and the session it names.
pub(crate) struct IssuedToken {
    /// The signed token.
    pub(crate) token: String,
    /// The session to store.
    pub(crate) session: UserSession,
}

/// Issues and checks session tokens, builds the session cookie, and remembers live sessions.
pub(crate) struct Sessions {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
    cookie_secure: bool,
    live: RwLock<HashMap<SessionId, (UserId, Instant)>>,
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
            live: RwLock::new(HashMap::new()),
        }
    }

    /// A token for a new session of `user_id`, issued at `now`.
    pub(crate) fn issue(&self, user_id: UserId, now: Timestamp) -> Result<IssuedToken, ApiError> {
        let iat = now.timestamp();
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let exp = iat.saturating_add(ttl);
        let session = UserSession {
            id: SessionId::new(),
            user_id,
            created_at: now,
            expires_at: chrono::DateTime::from_timestamp(exp, 0)
                .ok_or_else(|| ApiError::internal_msg("session expiry out of range"))?,
        };
        let claims = Claims { sub: user_id.to_string(), sid: session.id.to_string(), iat, exp };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(ApiError::internal)?;
        Ok(IssuedToken { token, session })
    }

    /// The user and session a token names, if it is genuine and unexpired (whether the session
    /// is still live is the caller's next question).
    pub(crate) fn verify(&self, token: &str) -> Option<(UserId, SessionId)> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).ok()?;
        Some((data.claims.sub.parse().ok()?, data.claims.sid.parse().ok()?))
    }

    /// The cookie's name: `__Host-` prefixed when cookies are `Secure`.
    pub(crate) fn cookie_name(&self) -> &'static str {
        if self.cookie_secure { SECURE_COOKIE_NAME } else { COOKIE_NAME }
    }

    /// The `Set-Cookie` value that stores `token` in the browser.
    pub(crate) fn cookie(&self, token: &str) -> Result<HeaderValue, ApiError> {
        self.cookie_value(token.to_owned(), self.ttl)
    }

    /// The `Set-Cookie` value that removes the session cookie.
    pub(crate) fn cleared_cookie(&self) -> Result<HeaderValue, ApiError> {
        self.cookie_value(String::new(), Duration::ZERO)
    }

    fn cookie_value(&self, token: String, max_age: Duration) -> Result<HeaderValue, ApiError> {
        let max_age = cookie::time::Duration::seconds(i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX / 2));
        let cookie = Cookie::build((self.cookie_name(), token))
            .http_only(true)
            .same_site(SameSite::Lax)
            .path("/")
            .max_age(max_age)
            .secure(self.cookie_secure)
            .build();
        HeaderValue::from_str(&cookie.to_string()).map_err(ApiError::internal)
    }

    /// The token a request carries: an `Authorization: Bearer` header first, else the cookie.
    pub(crate) fn token_from<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            let value = value.to_str().ok()?;
            let (scheme, token) = value.split_once(' ')?;
            return scheme.eq_ignore_ascii_case("bearer").then(|| token.trim());
        }
        let name = self.cookie_name();
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(Cookie::split_parse)
            .filter_map(Result::ok)
            .find(|cookie| cookie.name() == name)
            .and_then(|cookie| cookie.value_raw())
            .map(str::trim)
    }

    /// The user of a live session remembered less than [`LIVE_SESSION_TTL`] ago.
    fn remembered(&self, id: SessionId) -> Option<UserId> {
        self.remembered_within(id, LIVE_SESSION_TTL)
    }

    /// The user of a live session remembered less than `max` ago.
    fn remembered_within(&self, id: SessionId, max: Duration) -> Option<UserId> {
        let live = self.live.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        live.get(&id).filter(|(_, at)| at.elapsed() < max).map(|(user_id, _)| *user_id)
    }

    /// Remembers that `id` is live for `user_id`.
    pub(crate) fn remember(&self, id: SessionId, user_id: UserId) {
        let mut live = self.live.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if live.len() >= LIVE_SESSION_CAPACITY {
            live.retain(|_, (_, at)| at.elapsed() < SESSION_STORE_OUTAGE_GRACE);
            if live.len() >= LIVE_SESSION_CAPACITY {
                live.clear();
            }
        }
        live.insert(id, (user_id, Instant::now()));
    }

    /// Forgets one session at once (it was revoked here).
    pub(crate) fn forget(&self, id: SessionId) {
        self.live.write().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&id);
    }

    /// Forgets every session of `user_id` but `keep` (they were revoked here).
    pub(crate) fn forget_user(&self, user_id: UserId, keep: Option<SessionId>) {
        let mut live = self.live.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        live.retain(|id, (owner, _)| *owner != user_id || Some(*id) == keep);
    }
}

/// The signed-in user's id and session: a genuine, unexpired token naming a live session.
/// Rejects with 401 `unauthenticated` otherwise.
///
/// Job routes use [`Session`] rather than [`AuthUser`]: every job read and write is scoped by the
/// owner's id, so the user row adds nothing there.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CurrentSession {
    /// The user.
    pub(crate) user_id: UserId,
    /// Their session.
    pub(crate) session_id: SessionId,
}

impl FromRequestParts<AppState> for CurrentSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token =
            state.sessions.token_from(&parts.headers).filter(|t| !t.is_empty()).ok_or(ApiError::Unauthenticated)?;
        let (user_id, session_id) = state.sessions.verify(token).ok_or(ApiError::Unauthenticated)?;
        if state.sessions.remembered(session_id) == Some(user_id) {
            return Ok(Self { user_id, session_id });
        }
        let live = match state.ports.sessions.live_user(session_id, now()).await {
            Ok(live) => live,
            // The store is down: a session seen live here lately stays in; any other gets 503.
            Err(e) => match state.sessions.remembered_within(session_id, SESSION_STORE_OUTAGE_GRACE) {
                Some(owner) if owner == user_id => return Ok(Self { user_id, session_id }),
                _ => return Err(e.into()),
            },
        };
        match live {
            Some(owner) if owner == user_id => {
                state.sessions.remember(session_id, user_id);
                Ok(Self { user_id, session_id })
            }
            _ => Err(ApiError::Unauthenticated),
        }
    }
}

/// The id of the signed-in user (see [`CurrentSession`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Session(pub(crate) UserId);

impl FromRequestParts<AppState> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        CurrentSession::from_request_parts(parts, state).await.map(|s| Self(s.user_id))
    }
}

/// The signed-in user, read from the user store, and their session. Rejects with 401
/// `unauthenticated` when the request has no live session, or when its user no longer exists.
#[derive(Debug, Clone)]
pub(crate) struct AuthUser(pub(crate) User, pub(crate) SessionId);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let session = CurrentSession::from_request_parts(parts, state).await?;
        let user = state.ports.users.get(session.user_id).await?.ok_or(ApiError::Unauthenticated)?;
        Ok(Self(user, session.session_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions(secret: &str, secure: bool) -> Sessions {
        Sessions::new(&SecretString::from(secret.to_owned()), Duration::from_secs(3600), secure)
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn round_trip() {
        let s = sessions(SECRET, true);
        let id = UserId::new();
        let issued = s.issue(id, chrono::Utc::now()).expect("issued");
        assert_eq!(issued.session.user_id, id);
        assert_eq!(s.verify(&issued.token), Some((id, issued.session.id)));
    }

    #[test]
    fn refuses_other_secrets_expired_and_tampered() {
        let s = sessions(SECRET, true);
        let id = UserId::new();
        let other = sessions("another secret of at least 32 bytes!", true).issue(id, chrono::Utc::now());
        assert_eq!(s.verify(&other.expect("issued").token), None);
        let old = s.issue(id, chrono::Utc::now() - chrono::Duration::hours(2)).expect("issued");
        assert_eq!(s.verify(&old.token), None);
        let token = s.issue(id, chrono::Utc::now()).expect("issued").token;
        let mut tampered = token.clone();
        tampered.pop();
        tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(s.verify(&tampered), None);
        assert_eq!(s.verify(""), None);
    }

    #[test]
    fn cookie_attributes() {
        let s = sessions(SECRET, true);
        let cookie = s.cookie("tok").expect("cookie");
        assert_eq!(cookie, "__Host-Authorization=tok; HttpOnly; SameSite=Lax; Secure; Path=/; Max-Age=3600");
        let cleared = s.cleared_cookie().expect("cookie");
        assert_eq!(cleared, "__Host-Authorization=; HttpOnly; SameSite=Lax; Secure; Path=/; Max-Age=0");
        let plain = sessions(SECRET, false).cookie("tok").expect("cookie");
        assert_eq!(plain, "Authorization=tok; HttpOnly; SameSite=Lax; Path=/; Max-Age=3600");
    }

    #[test]
    fn finds_tokens() {
        let s = sessions(SECRET, false);
        let mut h = HeaderMap::new();
        assert_eq!(s.token_from(&h), None);
        h.insert(header::COOKIE, HeaderValue::from_static("a=b; Authorization=xyz; c=d"));
        assert_eq!(s.token_from(&h), Some("xyz"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        assert_eq!(s.token_from(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(s.token_from(&h), None);
    }

    #[test]
    fn secure_cookies_are_read_only_under_the_host_prefix() {
        let s = sessions(SECRET, true);
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("Authorization=planted"));
        assert_eq!(s.token_from(&h), None);
        h.insert(header::COOKIE, HeaderValue::from_static("Authorization=planted; __Host-Authorization=real"));
        assert_eq!(s.token_from(&h), Some("real"));
    }

    #[test]
    fn forgetting_drops_remembered_sessions() {
        let s = sessions(SECRET, false);
        let (user, other) = (UserId::new(), UserId::new());
        let (a, b, c) = (SessionId::new(), SessionId::new(), SessionId::new());
        s.remember(a, user);
        s.remember(b, user);
        s.remember(c, other);
        s.forget_user(user, Some(b));
        assert_eq!(s.remembered(a), None);
        assert_eq!(s.remembered(b), Some(user));
        assert_eq!(s.remembered(c), Some(other));
        s.forget(b);
        assert_eq!(s.remembered(b), None);
    }
}

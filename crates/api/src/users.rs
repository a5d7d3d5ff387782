//! Accounts and sessions: sign-up, sign-in, sign-out, validate, and the signed-in user's own
//! account (`/me`): read it, change its password, delete it.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pricetrack_domain::{Email, Password, User, UserId};
use serde::Serialize;

use crate::body::JsonObject;
use crate::error::ApiError;
use crate::limiter::Attempt;
use crate::session::AuthUser;
use crate::state::AppState;
use crate::{error_chain, now};

/// A user as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = User)]
pub(crate) struct UserView {
    id: String,
    email: String,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        Self { id: user.id.to_string(), email: user.email.as_str().to_owned() }
    }
}

/// The signed-in user, as `GET /validate` shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Session)]
pub(crate) struct SessionView {
    user_id: String,
    email: String,
}

/// The signed-in user's account, as `GET /me` shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Account)]
pub(crate) struct AccountView {
    id: String,
    email: String,
    #[schema(format = DateTime)]
    created_at: String,
}

const NO_STORE: (header::HeaderName, HeaderValue) = (header::CACHE_CONTROL, HeaderValue::from_static("no-store"));

/// `POST /api/v1/signup {email, password}` -> 201 `{id, email}`.
#[utoipa::path(
    post,
    path = "/api/v1/signup",
    operation_id = "sign_up",
    summary = "Create an account",
    tag = "accounts",
    request_body(content = crate::openapi::CredentialsDoc, content_type = "application/json"),
    responses(
        (status = 201, description = "The account was created", body = UserView),
        (status = 400, description = "Invalid input: the field and what is wrong with it", body = crate::openapi::ErrorDoc),
        (status = 409, description = "Conflict", body = crate::openapi::ErrorDoc),
        (status = 413, description = "Body too large", body = crate::openapi::ErrorDoc),
        (status = 415, description = "Body not declared as JSON", body = crate::openapi::ErrorDoc),
        (status = 429, description = "Too many requests; `Retry-After` says when to try again", body = crate::openapi::ErrorDoc),
        (status = 503, description = "A dependency is down: try again after `Retry-After`", body = crate::openapi::ErrorDoc),
        (status = "default", description = "Any other error, in the one error shape", body = crate::openapi::ErrorDoc),
    ),
)]
pub(crate) async fn signup(State(state): State<AppState>, body: JsonObject) -> Result<Response, ApiError> {
    body.deny_unknown(&["email", "password"])?;
    let email: String = body.required("email", "a string")?;
    let password: String = body.required("password", "a string")?;
    let email = Email::parse(&email).map_err(|e| ApiError::invalid("email", e))?;
    let password = Password::new(password).map_err(|e| ApiError::invalid("password", e))?;

    // Cheap early answer before paying for a hash; the store's uniqueness settles races.
    if state.ports.users.find_by_email(&email).await?.is_some() {
        return Err(ApiError::EmailTaken);
    }
    let hash = state.hasher.hash(password).await?;
    let user = User { id: UserId::new(), email, created_at: now() };
    state.ports.users.create(&user, &hash).await?;
    if let Err(e) = state.ports.notifier.subscribe(&user).await {
        tracing::warn!(user_id = %user.id, error = %error_chain(&e), "subscribing a new user to alerts failed");
    }
    Ok((StatusCode::CREATED, Json(UserView::from(&user))).into_response())
}

/// `POST /api/v1/signin {email, password}` -> 200 `{id, email}` and the session cookie.
#[utoipa::path(
    post,
    path = "/api/v1/signin",
    operation_id = "sign_in",
    summary = "Sign in: sets the session cookie",
    tag = "accounts",
    request_body(content = crate::openapi::CredentialsDoc, content_type = "application/json"),
    responses(
        (status = 200, description = "Signed in: the session cookie is set", body = UserView, headers(("Set-Cookie" = String, description = "The session cookie (HttpOnly, SameSite=Lax)"))),
        (status = 400, description = "Invalid input: the field and what is wrong with it", body = crate::openapi::ErrorDoc),
        (status = 401, description = "No valid session", body = crate::openapi::ErrorDoc),
        (status = 413, description = "Body too large", body = crate::openapi::ErrorDoc),
        (status = 415, description = "Body not declared as JSON", body = crate::openapi::ErrorDoc),
        (status = 429, description = "Too many requests; `Retry-After` says when to try again", body = crate::openapi::ErrorDoc),
        (status = 503, description = "A dependency is down: try again after `Retry-After`", body = crate::openapi::ErrorDoc),
        (status = "default", description = "Any other error, in the one error shape", body = crate::openapi::ErrorDoc),
    ),
)]
pub(crate) async fn signin(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    body: JsonObject,
) -> Result<Response, ApiError> {
    body.deny_unknown(&["email", "password"])?;
    let raw_email: String = body.required("email", "a string")?;
    let raw_password: String = body.required("password", "a string")?;

    let email = Email::parse(&raw_email).ok();
    let limit_key = email.as_ref().map_or_else(|| raw_email.trim().to_lowercase(), |e| e.as_str().to_owned());
    let attempt = begin_attempt(&state, client, &limit_key)?;
    // Longer than any password an account can have: it cannot match, and is not worth a hash.
    let password = Password::for_sign_in(raw_password).map_err(|_| ApiError::InvalidCredentials)?;

    let credentials = match &email {
        Some(email) => match state.ports.users.find_by_email(email).await {
            Ok(credentials) => credentials,
            Err(e) => {
                state.limiter.not_counted(attempt);
                return Err(e.into());
            }
        },
        None => None,
    };
    let (user, stored) = match credentials {
        Some(c) => (Some(c.user), Some(c.password_hash)),
        None => (None, None),
    };
    // Unknown accounts are verified against a dummy hash: same answer, about the same time.
    let matches = state.hasher.verify(password, stored).await?;
    let user = match user {
        Some(user) if matches => user,
        _ => return Err(ApiError::InvalidCredentials),
    };
    state.limiter.succeeded(attempt);

    let issued = state.sessions.issue(user.id, now())?;
    state.ports.sessions.create_session(&issued.session).await?;
    // Live by construction: its first requests need no store read.
    state.sessions.remember(issued.session.id, user.id);
    let cookie = state.sessions.cookie(&issued.token)?;
    let headers = [(header::SET_COOKIE, cookie), NO_STORE];
    Ok((StatusCode::OK, headers, Json(UserView::from(&user))).into_response())
}

/// `POST /api/v1/signout` -> 204, the session ended and its cookie cleared. Without a valid
/// session it still clears the cookie.
#[utoipa::path(
    post,
    path = "/api/v1/signout",
    operation_id = "sign_out",
    summary = "Sign out: ends the session",
    tag = "accounts",
    responses(
        (status = 204, description = "The session ended and its cookie is cleared (also without a session)"),
        (status = 403, description = "Refused (see the code)", body = crate::openapi::ErrorDoc),
        (status = 503, description = "A dependency is down: try again after `Retry-After`", body = crate::openapi::ErrorDoc),
        (status = "default", description = "Any other error, in the one error shape", body = crate::openapi::ErrorDoc),
    ),
)]
pub(crate) async fn signout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let session = state.sessions.token_from(&headers).and_then(|token| state.sessions.verify(token));
    if let Some((_, session_id)) = session {
        state.sessions.forget(session_id);
        state.ports.sessions.revoke(session_id).await?;
    }
    let cookie = state.sessions.cleared_cookie()?;
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

/// `GET /api/v1/validate` -> 200 `{user_id, email}` for a valid session.
#[utoipa::path(
    get,
    path = "/api/v1/validate",
    operation_id = "validate_session",
    summary = "Is this session valid, and whose is it?",
    tag = "accounts",
    responses(
        (status = 200, description = "The session is valid", body = SessionView),
        (status = 401, description = "No valid session", body = crate::openapi::ErrorDoc),
        (status = 503, description = "A dependency is down: try again after `Retry-After`", body = crate::openapi::ErrorDoc),
        (status = "default", description = "Any other error, in the one error shape", body = crate::openapi::ErrorDoc),
    ),
    security(("session" = [])),
)]
pub(crate) async fn validate(AuthUser(user, _): AuthUser) -> Response {
    let view = SessionView { user_id: user.id.to_string(), email: user.email.as_str().to_owned() };
    ([NO_STORE], Json(view)).into_response()
}

/// `GET /api/v1/me` -> 200 `{id, email, created_at}`.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    operation_id = "get_account",
    summary = "The signed-in account",
    tag = "accounts",
    responses(
        (status = 200, description = "The signed-in user's account", body = AccountView),
        (status = 401, description = "No valid session", body = crate::openapi::ErrorDoc),
        (status = 503, description = "A dependency is down: try again after `Retry-After`", body = crate::openapi::ErrorDoc),
        (status = "default", description = "Any other error, in the one error shape", body = crate::openapi::ErrorDoc),
    ),
    security(("session" = [])),
)]
pub(crate) async fn me(AuthUser(user, _): AuthUser) -> Response {
    let view = AccountView {
        id: user.id.to_string(),
        email: user.email.as_str().to_owned(),
        created_at: user.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    };
    ([NO_STORE], Json(view)).into_response()
}

/// `POST /api/v1/me/password {current_password, new_password}` -> 204. Every other session of
/// the user ends; this one goes on.
#[utoipa::path(
    post,
    path = "/api/v1/me/password",
    operation_id = "change_password",
    summary = "Change the password (ends the other sessions)",
    tag = "accounts",
    request_body(content = crate::openapi::PasswordChangeDoc, content_type = "application/json"),
    responses(
        (status = 204, description = "Changed; every other session of the user ended"),
        (status = 400, description = "Invalid input: the field and what is wrong with it", body = crate::openapi::ErrorDoc),
        (status = 401, description = "No valid session", body = crate::openapi::ErrorDoc),
        (status = 403, description = "Refused (see the code)", body = crate::openapi::ErrorDoc),
        (status = 413, description = "Body too large", body = crate::openapi::ErrorDoc),
        (status = 415, description = "Body not declared as JSON", body = crate::openapi::ErrorDoc),
        (status = 429, description = "Too many requests; `Retry-After` says when to try again", body = crate::openapi::ErrorDoc),
        (status = 503, description = "A dependency is down: try again after `Retry-After`", body = crate::openapi::ErrorDoc),
        (status = "default", description = "Any other error, in the one error shape", body = crate::openapi::ErrorDoc),
    ),
    security(("session" = [])),
)]
pub(crate) async fn change_password(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    AuthUser(user, session_id): AuthUser,
    body: JsonObject,
) -> Result<Response, ApiError> {
    body.deny_unknown(&["current_password", "new_password"])?;
    let current: String = body.required("current_password", "a string")?;
    let new: String = body.required("new_password", "a string")?;
    let new = Password::new(new).map_err(|e| ApiError::invalid("new_password", e))?;
    check_password(&state, client, &user, current).await?;

    let hash = state.hasher.hash(new).await?;
    if !state.ports.users.set_password_hash(user.id, &hash).await? {
        return Err(ApiError::Unauthenticated);
    }
    state.sessions.forget_user(user.id, Some(session_id));
    state.ports.sessions.revoke_all(user.id, Some(session_id)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /api/v1/me {password}` -> 204: the user's jobs (with their history), sessions and
/// account are deleted; afterwards sign-in answers as for an unknown email.
#[utoipa::path(
    delete,
    path = "/api/v1/me",
    operation_id = "delete_account",
    summary = "Delete the account and everything in it",
    tag = "accounts",
    request_body(content = crate::openapi::AccountDeletionDoc, content_type = "application/json"),
    responses(
        (status = 204, description = "The account, its jobs, history, channels and sessions are deleted"),
        (status = 400, description = "Invalid input: the field and what is wrong with it", body = crate::openapi::ErrorDoc),
        (status = 401, description = "No valid session", body = crate::openapi::ErrorDoc),
        (status = 403, description = "Refused (see the code)", body = crate::openapi::ErrorDoc),
        (status = 413, description = "Body too large", body = crate::openapi::ErrorDoc),
        (status = 415, description = "Body not declared as JSON", body = crate::openapi::ErrorDoc),
        (status = 429, description = "Too many requests; `Retry-After` says when to try again", body = crate::openapi::ErrorDoc),
        (status = 503, description = "A dependency is down: try again after `Retry-After`", body = crate::openapi::ErrorDoc),
        (status = "default", description = "Any other error, in the one error shape", body = crate::openapi::ErrorDoc),
    ),
    security(("session" = [])),
)]
pub(crate) async fn delete_me(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    AuthUser(user, _): AuthUser,
    body: JsonObject,
) -> Result<Response, ApiError> {
    body.deny_unknown(&["password"])?;
    let password: String = body.required("password", "a string")?;
    check_password(&state, client, &user, password).await?;

    // Jobs first: should a step fail, the account still exists and the user can try again.
    // Then the user's channels (with what they set up outside the store, such as an email
    // channel's SNS subscription) and delivery log (alerts and every delivery record), so
    // nothing of the user is left; jobs go first so that no new alert is decided meanwhile.
    state.ports.jobs.delete_all(user.id).await?;
    if let Some(delivery) = &state.ports.delivery {
        for channel in delivery.channels.list(user.id).await? {
            crate::channels::release(delivery, &channel).await?;
        }
        delivery.channels.delete_all(user.id).await?;
        delivery.log.delete_all(user.id).await?;
    }
    state.sessions.forget_user(user.id, None);
    state.ports.sessions.revoke_all(user.id, None).await?;
    state.ports.users.delete(user.id).await?;
    tracing::info!(user_id = %user.id, "account deleted");
    let cookie = state.sessions.cleared_cookie()?;
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

/// Starts a limited password attempt for the pair (client address, account).
fn begin_attempt(state: &AppState, client: SocketAddr, account_key: &str) -> Result<Attempt, ApiError> {
    state.limiter.begin(client.ip(), account_key).map_err(|retry_after| ApiError::TooManyAttempts { retry_after })
}

/// Checks the signed-in user's password (limited like sign-in); 403 `wrong_password` if it does
/// not match.
async fn check_password(state: &AppState, client: SocketAddr, user: &User, password: String) -> Result<(), ApiError> {
    let attempt = begin_attempt(state, client, user.email.as_str())?;
    let password = Password::for_sign_in(password).map_err(|_| ApiError::WrongPassword)?;
    let stored = state.ports.users.find_by_email(&user.email).await?.map(|c| c.password_hash);
    if stored.is_none() {
        return Err(ApiError::Unauthenticated);
    }
    if !state.hasher.verify(password, stored).await? {
        return Err(ApiError::WrongPassword);
    }
    state.limiter.succeeded(attempt);
    Ok(())
}

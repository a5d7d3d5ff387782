//! Accounts and sessions: sign-up, sign-in, sign-out, validate.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pricetrack_domain::{Email, Password, User, UserId};
use serde::Serialize;

use crate::body::JsonObject;
use crate::error::ApiError;
use crate::session::AuthUser;
use crate::state::AppState;
use crate::{error_chain, now};

/// A user as the API shows it.
#[derive(Debug, Serialize)]
struct UserView {
    id: String,
    email: String,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        Self { id: user.id.to_string(), email: user.email.as_str().to_owned() }
    }
}

/// The signed-in user, as `GET /validate` shows it.
#[derive(Debug, Serialize)]
struct SessionView {
    user_id: String,
    email: String,
}

/// `POST /api/v1/signup {email, password}` -> 201 `{id, email}`.
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
pub(crate) async fn signin(State(state): State<AppState>, body: JsonObject) -> Result<Response, ApiError> {
    body.deny_unknown(&["email", "password"])?;
    let raw_email: String = body.required("email", "a string")?;
    let raw_password: String = body.required("password", "a string")?;

    let email = Email::parse(&raw_email).ok();
    let limit_key = email.as_ref().map_or_else(|| raw_email.trim().to_lowercase(), |e| e.as_str().to_owned());
    let attempt = state.limiter.begin(&limit_key).map_err(|retry_after| ApiError::TooManyAttempts { retry_after })?;
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

    let token = state.sessions.issue(user.id, now())?;
    let cookie = state.sessions.cookie(&token)?;
    let headers = [(header::SET_COOKIE, cookie), (header::CACHE_CONTROL, HeaderValue::from_static("no-store"))];
    Ok((StatusCode::OK, headers, Json(UserView::from(&user))).into_response())
}

/// `POST /api/v1/signout` -> 204, the session cookie cleared.
pub(crate) async fn signout(State(state): State<AppState>) -> Result<Response, ApiError> {
    let cookie = state.sessions.cleared_cookie()?;
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

/// `GET /api/v1/validate` -> 200 `{user_id, email}` for a valid session.
pub(crate) async fn validate(AuthUser(user): AuthUser) -> Response {
    let view = SessionView { user_id: user.id.to_string(), email: user.email.as_str().to_owned() };
    ([(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))], Json(view)).into_response()
}

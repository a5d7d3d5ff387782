//! Password hashing and verification (argon2id), off the async runtime and bounded: hashing is
//! expensive by design, so an unbounded number of hashes at once is a denial of service.

use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{self, PasswordHasher as _, PasswordVerifier as _, SaltString};
use pricetrack_domain::{Password, PasswordHash};
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// An argon2id hash (the `argon2` crate's default parameters, m=19456 KiB, t=2, p=1) of 32
/// random bytes that were thrown away. Sign-in with an unknown email verifies against it, so that it takes
/// about as long as a wrong password for a known email.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$kq7MUQ5K4aWfkfV+qDr+tA$T5MlsYvgRePgVCVQMIjU8C5MDGgKcTtYtZZIxisrp8M";

/// Hashes and verifies passwords on the blocking pool, a few at a time.
#[derive(Clone)]
pub(crate) struct Hasher {
    permits: Arc<Semaphore>,
}

impl Hasher {
    /// A hasher running at most `concurrency` hashes at once (at least one).
    pub(crate) fn new(concurrency: usize) -> Self {
        Self { permits: Arc::new(Semaphore::new(concurrency.max(1))) }
    }

    /// Hashes a new password.
    pub(crate) async fn hash(&self, password: Password) -> Result<PasswordHash, ApiError> {
        self.run(move || {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(password.expose().as_bytes(), &salt)
                .map(|hash| PasswordHash::new(hash.to_string()))
                .map_err(ApiError::internal)
        })
        .await
    }

    /// Whether `password` matches `stored`. With no stored hash (unknown account) the password
    /// is checked against a dummy hash, taking the same time, and the answer is `false`.
    pub(crate) async fn verify(&self, password: Password, stored: Option<PasswordHash>) -> Result<bool, ApiError> {
        self.run(move || {
            let known = stored.is_some();
            let phc = stored.as_ref().map_or(DUMMY_HASH, PasswordHash::as_str);
            let parsed = password_hash::PasswordHash::new(phc).map_err(ApiError::internal)?;
            match Argon2::default().verify_password(password.expose().as_bytes(), &parsed) {
                Ok(()) => Ok(known),
                Err(password_hash::Error::Password) => Ok(false),
                Err(other) => Err(ApiError::internal(other)),
            }
        })
        .await
    }

    async fn run<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce() -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let permit = Arc::clone(&self.permits).acquire_owned().await.map_err(ApiError::internal)?;
        tokio::task::spawn_blocking(move || {
            let result = work();
            drop(permit);
            result
        })
        .await
        .map_err(ApiError::internal)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dummy_hash_uses_the_default_parameters() {
        let parsed = password_hash::PasswordHash::new(DUMMY_HASH).expect("valid PHC string");
        let params = argon2::Params::try_from(&parsed).expect("argon2 params");
        let defaults = argon2::Params::default();
        assert_eq!(parsed.algorithm, argon2::Algorithm::Argon2id.ident());
        assert_eq!(params.m_cost(), defaults.m_cost());
        assert_eq!(params.t_cost(), defaults.t_cost());
        assert_eq!(params.p_cost(), defaults.p_cost());
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let hasher = Hasher::new(2);
        let password = Password::new("correct horse".into()).expect("valid");
        let hash = hasher.hash(password.clone()).await.expect("hashes");
        assert!(hash.as_str().starts_with("$argon2id$"));
        assert!(hasher.verify(password, Some(hash.clone())).await.expect("verifies"));
        let wrong = Password::for_sign_in("battery staple".into()).expect("valid");
        assert!(!hasher.verify(wrong.clone(), Some(hash)).await.expect("verifies"));
        assert!(!hasher.verify(wrong, None).await.expect("verifies"));
    }
}

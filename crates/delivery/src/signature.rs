//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>): HMAC-SHA256 over
//! `<webhook-id>.<webhook-timestamp>.<body>` with the channel's secret, sent as
//! `webhook-signature: v1,<base64>`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// The prefix of a Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// Why a signature could not be made or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The secret is not `whsec_<base64>`.
    #[error("the signing secret is not a whsec_ secret")]
    BadSecret,
    /// No `v1` signature in the header matches.
    #[error("no signature matches")]
    Mismatch,
}

/// A fresh secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> String {
    let mut key = [0_u8; 32];
    rand::rng().fill_bytes(&mut key);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
}

fn key(secret: &str) -> Result<Vec<u8>, SignatureError> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).ok_or(SignatureError::BadSecret)?;
    STANDARD.decode(encoded).map_err(|_| SignatureError::BadSecret)
}

fn mac(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<Hmac<Sha256>, SignatureError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(&key(secret)?).map_err(|_| SignatureError::BadSecret)?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(mac)
}

/// The `webhook-signature` header value for one message: `v1,<base64 HMAC-SHA256>`.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, SignatureError> {
    Ok(format!("v1,{}", STANDARD.encode(mac(secret, id, timestamp, body)?.finalize().into_bytes())))
}

/// Verifies a `webhook-signature` header (space-separated `v1,<base64>` entries; one match is
/// enough), in constant time, as a receiver does.
pub fn verify(secret: &str, id: &str, timestamp: i64, body: &[u8], header: &str) -> Result<(), SignatureError> {
    for entry in header.split_whitespace() {
        let Some(encoded) = entry.strip_prefix("v1,") else { continue };
        let Ok(signature) = STANDARD.decode(encoded) else { continue };
        if mac(secret, id, timestamp, body)?.verify_slice(&signature).is_ok() {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_specification_example() {
        // The example of the Standard Webhooks reference libraries.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let timestamp = 1_614_265_330;
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(sign(secret, id, timestamp, body).expect("sign"), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn verifies_its_own_signatures_only() {
        let secret = new_secret();
        let header = sign(&secret, "id", 1, b"body").expect("sign");
        verify(&secret, "id", 1, b"body", &format!("v1,bm9wZQ== {header}")).expect("verifies");
        assert_eq!(verify(&secret, "id", 1, b"other", &header), Err(SignatureError::Mismatch));
        assert_eq!(verify(&new_secret(), "id", 1, b"body", &header), Err(SignatureError::Mismatch));
        assert_eq!(sign("nope", "id", 1, b"").expect_err("bad secret"), SignatureError::BadSecret);
    }
}

//! Credential primitives: opaque random tokens and their SHA-256 digests, argon2id password
//! hashes, and keyed hashes of guest device secrets.
//!
//! Tokens are 32 random bytes, URL-safe base64 without padding. The database only ever sees a
//! token's SHA-256 (hex), so a leaked table cannot be replayed.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::config::PasswordHashing;

/// Why a secret operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The OS random source failed.
    #[error("random source unavailable: {0}")]
    Random(String),
    /// argon2 refused the parameters or the stored hash.
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Fills `buf` from the OS random source.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), SecretError> {
    getrandom::fill(buf).map_err(|e| SecretError::Random(e.to_string()))
}

/// A new opaque token.
pub fn new_token() -> Result<String, SecretError> {
    let mut bytes = [0u8; 32];
    random_bytes(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The digest stored in place of a token.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// argon2id with the configured cost.
#[derive(Clone)]
pub struct PasswordHasherConfig {
    params: Params,
}

impl PasswordHasherConfig {
    /// Builds the hasher; parameters were validated with the configuration.
    pub fn new(cost: PasswordHashing) -> Result<Self, SecretError> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| SecretError::Hash(e.to_string()))?;
        Ok(PasswordHasherConfig { params })
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Hashes a password into a PHC string (salt and parameters included). CPU-heavy: call
    /// from a blocking thread.
    pub fn hash(&self, password: &str) -> Result<String, SecretError> {
        let mut salt = [0u8; 16];
        random_bytes(&mut salt)?;
        let salt = SaltString::encode_b64(&salt).map_err(|e| SecretError::Hash(e.to_string()))?;
        self.argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| SecretError::Hash(e.to_string()))
    }

    /// Checks a password against a stored PHC string, with the parameters stored in it.
    /// CPU-heavy: call from a blocking thread.
    pub fn verify(&self, password: &str, stored: &str) -> bool {
        PasswordHash::new(stored)
            .map(|parsed| {
                self.argon2()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    }
}

/// Keyed, salted digest of a guest device secret: SHA-256 over pepper, salt and secret, each
/// length-prefixed. The secret is 32–128 random bytes, so a fast hash is enough; the pepper
/// keeps a stolen table useless without the server's configuration.
pub fn guest_secret_hash(pepper: &[u8], salt: &[u8], secret: &[u8]) -> String {
    let mut h = Sha256::new();
    for part in [pepper, salt, secret] {
        h.update((part.len() as u32).to_le_bytes());
        h.update(part);
    }
    hex(&h.finalize())
}

/// Constant-time equality of two strings of hex digits.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, b) = (new_token().expect("token"), new_token().expect("token"));
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
    }

    #[test]
    fn passwords_verify_only_when_right() {
        let cost = PasswordHashing {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        };
        let h = PasswordHasherConfig::new(cost).expect("params");
        let stored = h.hash("correct horse").expect("hash");
        assert!(stored.starts_with("$argon2id$"));
        assert!(h.verify("correct horse", &stored));
        assert!(!h.verify("wrong horse", &stored));
        assert!(!h.verify("x", "not a phc string"));
    }

    #[test]
    fn guest_hashes_depend_on_every_part() {
        let base = guest_secret_hash(b"pepper", b"salt", b"secret");
        assert_ne!(base, guest_secret_hash(b"pepper2", b"salt", b"secret"));
        assert_ne!(base, guest_secret_hash(b"pepper", b"salt2", b"secret"));
        assert_ne!(base, guest_secret_hash(b"pepper", b"salt", b"secret2"));
        assert!(constant_time_eq(&base, &base.clone()));
        assert!(!constant_time_eq(&base, &base[1..]));
    }
}

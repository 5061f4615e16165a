//! Random secrets and identifiers, and the hash under which tokens are stored.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::{Rng, RngCore, distributions::Alphanumeric};
use sha2::{Digest, Sha256};

/// A fresh 256-bit secret, URL-safe base64 (43 characters).
pub(crate) fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The sha256 of a token: the only form in which tokens are stored.
pub(crate) fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Hex form of a token hash, as kept in device records.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses [`hex`] output back to bytes.
pub(crate) fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A random id of `len` characters from `[A-Z]` (device ids, as Synapse shapes them).
pub(crate) fn random_upper(len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len).map(|_| char::from(rng.gen_range(b'A'..=b'Z'))).collect()
}

/// A random alphanumeric string (UIA session ids, nonces).
pub(crate) fn random_alphanumeric(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_256_bit_and_distinct() {
        let a = generate_secret();
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).map(|b| b.len()).ok(), Some(32));
        assert_ne!(a, generate_secret());
    }

    #[test]
    fn hex_round_trips() {
        let hash = hash_token("secret");
        assert_eq!(unhex(&hex(&hash)), Some(hash.to_vec()));
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
    }
}

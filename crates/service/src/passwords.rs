//! Password hashing with argon2id. Hashing is deliberately slow, so callers run it on the
//! blocking pool, never on the async workers.

use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};

use crate::{Error, Result};

/// Hashes `password` with argon2id and a fresh salt, on the blocking pool.
pub(crate) async fn hash(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|err| Error::Internal(format!("password hashing failed: {err}")))
    })
    .await?
}

/// Whether `password` matches the stored PHC string, checked on the blocking pool.
pub(crate) async fn verify(password: String, stored: String) -> Result<bool> {
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&stored)
            .map_err(|err| Error::Internal(format!("stored password hash is unreadable: {err}")))?;
        Ok(Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
    })
    .await?
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[tokio::test]
    async fn hash_verifies_only_the_same_password() {
        let stored = super::hash("correct horse".to_owned()).await.unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(super::verify("correct horse".to_owned(), stored.clone()).await.unwrap());
        assert!(!super::verify("wrong".to_owned(), stored).await.unwrap());
    }
}

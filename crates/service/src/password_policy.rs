//! `[password_policy]`: the rules a new password must meet, checked on registration and on
//! password change (not on admin-set passwords, as on Synapse: an admin may need to set a
//! temporary one). A refusal is 400 `M_WEAK_PASSWORD` (spec) naming the rule that failed.

use accord_core::config::PasswordPolicyConfig;
use ruma::api::error::ErrorKind;

use crate::{Error, Result};

/// Longest password accepted at all, in bytes: hashing a megabyte on every login is a cheap
/// way to load the server (Synapse's limit too).
const MAX_PASSWORD_BYTES: usize = 512;

/// Checks `password` against `policy`; the first rule it breaks is the error.
pub fn check(policy: &PasswordPolicyConfig, password: &str) -> Result<()> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(Error::invalid_param(format!(
            "Passwords may be at most {MAX_PASSWORD_BYTES} bytes long"
        )));
    }
    if !policy.enabled {
        return Ok(());
    }
    let weak = |why: String| Err(Error::new(ErrorKind::WeakPassword, why));
    if password.chars().count() < policy.minimum_length {
        return weak(format!(
            "The password must be at least {} characters long",
            policy.minimum_length
        ));
    }
    if policy.require_digit && !password.chars().any(|c| c.is_ascii_digit()) {
        return weak("The password must contain a digit".to_owned());
    }
    if policy.require_symbol && password.chars().all(|c| c.is_ascii_alphanumeric()) {
        return weak("The password must contain a symbol (a character other than a letter or digit)".to_owned());
    }
    if policy.require_uppercase && !password.chars().any(char::is_uppercase) {
        return weak("The password must contain an upper-case letter".to_owned());
    }
    if policy.require_lowercase && !password.chars().any(char::is_lowercase) {
        return weak("The password must contain a lower-case letter".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict() -> PasswordPolicyConfig {
        PasswordPolicyConfig {
            enabled: true,
            minimum_length: 10,
            require_digit: true,
            require_symbol: true,
            require_uppercase: true,
            require_lowercase: true,
        }
    }

    #[test]
    fn each_rule_refuses_with_weak_password() {
        for weak in [
            "Sh0rt!",
            "NoDigitsHere!",
            "NoSymbols123",
            "no upper 123!",
            "NO LOWER 123!",
        ] {
            let err = check(&strict(), weak).err();
            assert!(
                matches!(err.as_ref().and_then(Error::kind), Some(ErrorKind::WeakPassword)),
                "{weak}: {err:?}"
            );
        }
        assert!(check(&strict(), "Correct Horse 42").is_ok());
    }

    #[test]
    fn off_by_default_but_huge_passwords_are_always_refused() {
        let policy = PasswordPolicyConfig::default();
        assert!(check(&policy, "a").is_ok());
        let err = check(&policy, &"a".repeat(513)).err();
        assert!(matches!(
            err.as_ref().and_then(Error::kind),
            Some(ErrorKind::InvalidParam)
        ));
    }
}

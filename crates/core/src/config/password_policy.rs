//! `[password_policy]`: what a new password must look like. Synapse's `password_config.policy`
//! options, off by default as there; the spec recommends (but doesn't require) the shape
//! below for servers that enforce one.

use serde::{Deserialize, Serialize};

/// `[password_policy]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordPolicyConfig {
    /// Whether new passwords (registration, password change) are checked at all.
    pub enabled: bool,
    /// Fewest characters.
    pub minimum_length: usize,
    /// At least one digit 0-9.
    pub require_digit: bool,
    /// At least one character that is not an ASCII letter or digit.
    pub require_symbol: bool,
    /// At least one upper-case letter.
    pub require_uppercase: bool,
    /// At least one lower-case letter.
    pub require_lowercase: bool,
}

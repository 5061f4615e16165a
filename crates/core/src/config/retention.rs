//! `[retention]`: how long message content is kept. Rooms set their own lifetime with the
//! `m.room.retention` state event (`max_lifetime`, ms); the server bounds it and fills in a
//! default for rooms that set none. A periodic job prunes what expired.

use serde::{Deserialize, Serialize};

/// `[retention]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Whether the purge job runs (and `m.room.retention` is honoured).
    pub enabled: bool,
    /// Lifetime of messages in rooms without an `m.room.retention` event, ms; 0 keeps them
    /// forever.
    pub default_max_lifetime_ms: u64,
    /// The shortest lifetime a room may ask for, ms: shorter requests are raised to it.
    pub allowed_min_lifetime_ms: u64,
    /// The longest lifetime a room may ask for, ms (0: no bound): longer ones are cut to it.
    pub allowed_max_lifetime_ms: u64,
    /// How often the purge job runs, seconds.
    pub purge_interval_secs: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            default_max_lifetime_ms: 0,
            allowed_min_lifetime_ms: 86_400_000,
            allowed_max_lifetime_ms: 0,
            purge_interval_secs: 3600,
        }
    }
}

impl RetentionConfig {
    /// The lifetime that applies to a room asking for `requested` (ms), or nothing when its
    /// messages are kept forever.
    pub fn effective_lifetime(&self, requested: Option<u64>) -> Option<u64> {
        let lifetime = match requested {
            Some(asked) => asked,
            None if self.default_max_lifetime_ms > 0 => self.default_max_lifetime_ms,
            None => return None,
        };
        let lifetime = lifetime.max(self.allowed_min_lifetime_ms);
        Some(if self.allowed_max_lifetime_ms > 0 {
            lifetime.min(self.allowed_max_lifetime_ms)
        } else {
            lifetime
        })
    }
}

#[cfg(test)]
mod tests {
    use super::RetentionConfig;

    #[test]
    fn rooms_ask_within_the_server_bounds() {
        let config = RetentionConfig {
            enabled: true,
            default_max_lifetime_ms: 0,
            allowed_min_lifetime_ms: 1000,
            allowed_max_lifetime_ms: 10_000,
            purge_interval_secs: 60,
        };
        assert_eq!(config.effective_lifetime(None), None, "kept forever without a default");
        assert_eq!(config.effective_lifetime(Some(5000)), Some(5000));
        assert_eq!(config.effective_lifetime(Some(10)), Some(1000), "raised to the minimum");
        assert_eq!(
            config.effective_lifetime(Some(99_999)),
            Some(10_000),
            "cut to the maximum"
        );
        let with_default = RetentionConfig {
            default_max_lifetime_ms: 7000,
            ..config
        };
        assert_eq!(with_default.effective_lifetime(None), Some(7000));
    }
}

//! Media ids: the last part of an `mxc://server/id` URI, and a path segment on every media
//! endpoint. Only URL-safe characters are accepted, so an id can never name a path outside
//! the store or need escaping.

use rand::{Rng, distributions::Alphanumeric};

/// Length of the ids this server makes: 24 alphanumerics, about 143 bits.
const NEW_ID_LENGTH: usize = 24;

/// Longest media id accepted from anyone (Synapse's ids are 24 characters; other servers vary).
const MAX_ID_LENGTH: usize = 255;

/// A fresh random media id.
pub fn new_media_id() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(NEW_ID_LENGTH)
        .map(char::from)
        .collect()
}

/// Whether `id` may be a media id: 1 to 255 of `A-Z a-z 0-9 _ -` (the spec's "opaque
/// identifier" in the characters every server uses). Anything else (`..`, `/`, `%2F`, spaces)
/// is refused before it reaches storage or a remote server.
pub fn is_valid_media_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LENGTH
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_valid_and_distinct() {
        let (a, b) = (new_media_id(), new_media_id());
        assert!(is_valid_media_id(&a), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn path_tricks_are_refused() {
        for bad in ["", "..", "../etc", "a/b", "a%2Fb", "a b", "ä", &"x".repeat(256)] {
            assert!(!is_valid_media_id(bad), "{bad:?}");
        }
        assert!(is_valid_media_id("AbC_1-2"));
    }
}

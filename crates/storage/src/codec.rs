//! The tuple key codec: how every table turns a tuple of typed parts into the bytes the engine
//! orders, and back.
//!
//! # Layout
//!
//! A key is its parts, in order, joined by the separator byte [`SEP`] (`0xFF`):
//!
//! ```text
//! part_0 0xFF part_1 0xFF ... 0xFF part_n
//! ```
//!
//! - A **string** part is its UTF-8 bytes, unescaped. Valid UTF-8 never contains `0xFF`, so the
//!   separator can't occur inside it.
//! - A **`u64`** part is exactly 8 bytes, big-endian, so byte order equals numeric order. It may
//!   contain `0xFF` bytes; readers know the schema and take 8 bytes rather than scanning for the
//!   separator. It is followed by the separator like any other part, unless it is last.
//! - A **raw bytes** part is copied as is; the caller guarantees it contains no `0xFF`.
//! - A full key ([`KeyBuilder::build`]) has no trailing separator. A *prefix*
//!   ([`KeyBuilder::prefix`]) is the same bytes plus one trailing `0xFF`, so a prefix scan over
//!   it yields exactly the keys whose leading parts equal the given ones (`"@a:x"` does not match
//!   `"@a:xy"`). A prefix of zero parts is empty and matches every key.
//!
//! Example: `("@a:x", 1)` encodes as `40 61 3A 78 FF 00 00 00 00 00 00 00 01`.
//!
//! # Ordering
//!
//! Keys sort by plain byte comparison. For keys of one table schema that share their leading
//! parts, the next part orders numerically (`u64`) or by UTF-8 bytes (strings). One quirk:
//! because `0xFF` is greater than every UTF-8 byte, a non-final string part sorts *after* any
//! longer string it is a prefix of (`("ab", 0)` > `("abc", 0)`). Scans grouped by exact leading
//! parts, which is what the stores do, are unaffected.

/// The byte joining key parts; never present in UTF-8, so strings need no escaping.
pub const SEP: u8 = 0xFF;

/// A malformed key: it does not decode with the schema the reader expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key codec: {0}")]
pub struct CodecError(pub String);

/// Builds a key (or a scan prefix) part by part; see the module docs for the layout.
#[derive(Debug, Default, Clone)]
pub struct KeyBuilder {
    buf: Vec<u8>,
    parts: usize,
}

impl KeyBuilder {
    /// An empty builder (zero parts).
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a new part: the separator goes between parts, never before the first.
    fn begin_part(&mut self) {
        if self.parts > 0 {
            self.buf.push(SEP);
        }
        self.parts += 1;
    }

    /// Append a string part (its UTF-8 bytes, unescaped).
    pub fn str(mut self, s: &str) -> Self {
        self.begin_part();
        self.buf.extend_from_slice(s.as_bytes());
        self
    }

    /// Append a `u64` part: 8 bytes big-endian, so byte order is numeric order.
    pub fn u64(mut self, n: u64) -> Self {
        self.begin_part();
        self.buf.extend_from_slice(&n.to_be_bytes());
        self
    }

    /// Append raw bytes; the caller guarantees they contain no [`SEP`] (they would split the part).
    pub fn bytes(mut self, b: &[u8]) -> Self {
        debug_assert!(!b.contains(&SEP), "raw key part contains the separator byte 0xFF");
        self.begin_part();
        self.buf.extend_from_slice(b);
        self
    }

    /// The full key: parts joined by [`SEP`], no trailing separator.
    pub fn build(self) -> Vec<u8> {
        self.buf
    }

    /// A scan prefix: the key plus a trailing [`SEP`], so it matches only keys whose leading
    /// parts are exactly these. Zero parts give the empty prefix (every key).
    pub fn prefix(mut self) -> Vec<u8> {
        if self.parts > 0 {
            self.buf.push(SEP);
        }
        self.buf
    }
}

/// The key made of these string parts.
pub fn key(parts: &[&str]) -> Vec<u8> {
    parts.iter().fold(KeyBuilder::new(), |b, p| b.str(p)).build()
}

/// The scan prefix matching keys whose leading string parts are exactly these.
pub fn prefix(parts: &[&str]) -> Vec<u8> {
    parts.iter().fold(KeyBuilder::new(), |b, p| b.str(p)).prefix()
}

/// Reads a key part by part, in the order its schema declares; see the module docs.
#[derive(Debug, Clone)]
pub struct KeyReader<'a> {
    /// Bytes not yet consumed (the separator after the last read part is already consumed).
    rest: &'a [u8],
    /// Parts read so far, for error messages.
    parts: usize,
    /// Whether the last read part ended the key (rather than being followed by a separator).
    ended: bool,
}

impl<'a> KeyReader<'a> {
    /// A reader positioned at the first part of `key`.
    pub fn new(key: &'a [u8]) -> Self {
        Self {
            rest: key,
            parts: 0,
            ended: false,
        }
    }

    fn missing(&self, what: &str) -> CodecError {
        CodecError(format!("key ends before part {} ({what})", self.parts))
    }

    /// Consumes what follows a part of length `len`: the end of the key or one separator.
    fn finish_part(&mut self, len: usize, what: &str) -> Result<&'a [u8], CodecError> {
        let (part, after) = self.rest.split_at(len);
        match after.split_first() {
            None => {
                self.rest = after;
                self.ended = true;
            }
            Some((&SEP, tail)) => self.rest = tail,
            Some((other, _)) => {
                return Err(CodecError(format!(
                    "expected separator 0xFF after {what} part {}, found 0x{other:02X}",
                    self.parts
                )));
            }
        }
        self.parts += 1;
        Ok(part)
    }

    /// Reads raw bytes up to the next separator or the end of the key.
    pub fn bytes(&mut self) -> Result<&'a [u8], CodecError> {
        if self.ended {
            return Err(self.missing("bytes"));
        }
        let len = self.rest.iter().position(|&b| b == SEP).unwrap_or(self.rest.len());
        self.finish_part(len, "bytes")
    }

    /// Reads a string part: bytes up to the next separator or the end, which must be UTF-8.
    pub fn str(&mut self) -> Result<&'a str, CodecError> {
        if self.ended {
            return Err(self.missing("string"));
        }
        let index = self.parts;
        let raw = self.bytes()?;
        std::str::from_utf8(raw).map_err(|e| CodecError(format!("string part {index} is not UTF-8: {e}")))
    }

    /// Reads a `u64` part: exactly 8 big-endian bytes, then a separator or the end of the key.
    pub fn u64(&mut self) -> Result<u64, CodecError> {
        if self.ended {
            return Err(self.missing("u64"));
        }
        let Some(head) = self.rest.first_chunk::<8>() else {
            return Err(CodecError(format!(
                "u64 part {} needs 8 bytes, only {} left",
                self.parts,
                self.rest.len()
            )));
        };
        let n = u64::from_be_bytes(*head);
        self.finish_part(8, "u64")?;
        Ok(n)
    }

    /// Checks the whole key was read: no bytes and no separator-announced part remain.
    pub fn finish(self) -> Result<(), CodecError> {
        if self.ended {
            Ok(())
        } else {
            Err(CodecError(format!(
                "{} unread byte(s) after part {}: the key has more parts than the schema",
                self.rest.len(),
                self.parts
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn str_then_u64_has_exact_bytes() {
        let k = KeyBuilder::new().str("@a:x").u64(1).build();
        assert_eq!(k, b"@a:x\xff\x00\x00\x00\x00\x00\x00\x00\x01");
    }

    #[test]
    fn u64_in_the_middle_is_followed_by_separator() {
        let k = KeyBuilder::new().u64(0x0102).str("a").build();
        assert_eq!(k, b"\x00\x00\x00\x00\x00\x00\x01\x02\xffa");
    }

    #[test]
    fn prefix_has_trailing_separator() {
        assert_eq!(KeyBuilder::new().str("!r:x").prefix(), b"!r:x\xff");
        assert_eq!(
            KeyBuilder::new().str("a").u64(2).prefix(),
            b"a\xff\x00\x00\x00\x00\x00\x00\x00\x02\xff"
        );
        assert_eq!(prefix(&["a", "b"]), b"a\xffb\xff");
        assert_eq!(prefix(&[]), b"");
        assert_eq!(KeyBuilder::new().prefix(), b"");
    }

    #[test]
    fn string_helpers_join_with_separator() {
        assert_eq!(key(&["a", "bc", ""]), b"a\xffbc\xff");
        assert_eq!(key(&["only"]), b"only");
        assert_eq!(key(&[]), b"");
    }

    #[test]
    fn bytes_part_is_raw() {
        assert_eq!(
            KeyBuilder::new().bytes(&[0, 1, 0xFE]).str("z").build(),
            b"\x00\x01\xfe\xffz"
        );
    }

    #[test]
    fn round_trip() {
        let k = KeyBuilder::new()
            .str("!room:x")
            .u64(u64::MAX)
            .bytes(b"\x01\x02")
            .str("é")
            .u64(7)
            .build();
        let mut r = KeyReader::new(&k);
        assert_eq!(r.str().unwrap(), "!room:x");
        assert_eq!(r.u64().unwrap(), u64::MAX);
        assert_eq!(r.bytes().unwrap(), b"\x01\x02");
        assert_eq!(r.str().unwrap(), "é");
        assert_eq!(r.u64().unwrap(), 7);
        r.finish().unwrap();
    }

    #[test]
    fn round_trip_with_empty_string_parts() {
        let k = key(&["", "a", ""]);
        assert_eq!(k, b"\xffa\xff");
        let mut r = KeyReader::new(&k);
        assert_eq!(r.str().unwrap(), "");
        assert_eq!(r.str().unwrap(), "a");
        assert_eq!(r.str().unwrap(), "");
        r.finish().unwrap();
    }

    #[test]
    fn u64_byte_order_is_numeric_order() {
        let enc = |n: u64| KeyBuilder::new().str("p").u64(n).build();
        let values = [0, 1, 255, 256, 1 << 40, u64::MAX];
        for pair in values.windows(2) {
            assert!(
                enc(pair[0]) < enc(pair[1]),
                "{} should sort before {}",
                pair[0],
                pair[1]
            );
        }
    }

    #[test]
    fn truncated_u64_is_an_error() {
        let k = KeyBuilder::new().str("a").u64(5).build();
        let mut r = KeyReader::new(&k[..k.len() - 1]);
        r.str().unwrap();
        let err = r.u64().unwrap_err();
        assert!(err.0.contains("needs 8 bytes"), "{err}");
    }

    #[test]
    fn u64_not_followed_by_separator_is_an_error() {
        let mut k = KeyBuilder::new().u64(5).build();
        k.push(b'x');
        assert!(KeyReader::new(&k).u64().is_err());
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        let k = [b'a', 0xC3, SEP, b'b'];
        let err = KeyReader::new(&k).str().unwrap_err();
        assert!(err.0.contains("not UTF-8"), "{err}");
    }

    #[test]
    fn reading_past_the_end_is_an_error() {
        let k = key(&["a"]);
        let mut r = KeyReader::new(&k);
        r.str().unwrap();
        assert!(r.str().is_err());
        assert!(r.u64().is_err());
        assert!(r.bytes().is_err());
    }

    #[test]
    fn finish_rejects_leftover_parts() {
        let k = KeyBuilder::new().str("a").u64(1).build();
        let mut r = KeyReader::new(&k);
        r.str().unwrap();
        let err = r.finish().unwrap_err();
        assert!(err.0.contains("unread"), "{err}");

        // A trailing separator announces another (empty) part the schema did not read.
        let k = b"a\xff";
        let mut r = KeyReader::new(k);
        r.str().unwrap();
        assert!(r.finish().is_err());

        // Nothing read at all.
        assert!(KeyReader::new(b"a").finish().is_err());
    }
}

//! Config values that are text but may arrive as numbers or booleans. figment reads each
//! `ACCORD_*` environment variable as a TOML-like value, so `ACCORD_ROOMS__DEFAULT_ROOM_VERSION=10`
//! is the integer 10 and `ACCORD_REGISTRATION__SHARED_SECRET=1234` a number too. Admins write
//! these in Docker and systemd files without quotes; these readers take the value as its text.

use std::fmt;

use serde::{
    Deserialize, Deserializer,
    de::{self, Visitor},
};

/// One value as text, whatever scalar it was written as.
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TextVisitor).map(Text)
    }
}

struct TextVisitor;

impl Visitor<'_> for TextVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<String, E> {
        Ok(value.to_owned())
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<String, E> {
        Ok(value)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<String, E> {
        Ok(value.to_string())
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<String, E> {
        Ok(value.to_string())
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<String, E> {
        Ok(value.to_string())
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<String, E> {
        Ok(value.to_string())
    }
}

/// A room version id written as `"10"` or `10`.
pub(crate) fn room_version<'de, D: Deserializer<'de>>(deserializer: D) -> Result<ruma::RoomVersionId, D::Error> {
    let Text(text) = Text::deserialize(deserializer)?;
    ruma::RoomVersionId::try_from(text.as_str()).map_err(de::Error::custom)
}

/// An optional string written as any scalar.
pub(crate) fn optional<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<Text>::deserialize(deserializer)?.map(|Text(text)| text))
}

/// A list of strings, each written as any scalar.
pub(crate) fn list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    Ok(Vec::<Text>::deserialize(deserializer)?
        .into_iter()
        .map(|Text(text)| text)
        .collect())
}

//! Which room versions Accord creates and joins, and their rules.

use ruma::{RoomVersionId, room_version_rules::RoomVersionRules};

use crate::{Error, Result};

/// Room versions Accord can create and serve: all stable versions, 1 to 12.
pub const SUPPORTED_ROOM_VERSIONS: &[RoomVersionId] = &[
    RoomVersionId::V1,
    RoomVersionId::V2,
    RoomVersionId::V3,
    RoomVersionId::V4,
    RoomVersionId::V5,
    RoomVersionId::V6,
    RoomVersionId::V7,
    RoomVersionId::V8,
    RoomVersionId::V9,
    RoomVersionId::V10,
    RoomVersionId::V11,
    RoomVersionId::V12,
];

/// The rules of a supported version.
pub fn rules_for(version: &RoomVersionId) -> Result<RoomVersionRules> {
    if !SUPPORTED_ROOM_VERSIONS.contains(version) {
        return Err(Error::UnsupportedVersion(version.to_string()));
    }
    version
        .rules()
        .ok_or_else(|| Error::UnsupportedVersion(version.to_string()))
}

//! Room lists: which rooms a user has, filtered per list, ordered by recency (`bump_stamp`,
//! newest first), cut to each list's `ranges`.

use std::collections::{BTreeSet, HashMap};

use accord_db::rooms::MembershipRecord;
use ruma::{
    OwnedRoomId, UserId,
    api::client::sync::sync_events::v5::request::{List, ListFilters},
    directory::RoomTypeFilter,
    events::{StateEventType, room::member::MembershipState},
};
use serde_json::Value;

use super::{
    bump::BumpStamps,
    extra_filters::{ExtraFacts, ExtraFilters},
};
use crate::{Result, rooms::RoomService};

/// One room the user has, with what lists sort and filter on.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub room_id: OwnedRoomId,
    pub record: MembershipRecord,
    /// Sort key: the latest bump the user may see (their invite, knock or departure for rooms
    /// they are not in).
    pub bump: u64,
}

/// The user's rooms as lists see them, with the facts filters ask for computed once each.
pub(crate) struct RoomSet<'a> {
    rooms: &'a RoomService,
    user_id: &'a UserId,
    /// Newest first.
    pub candidates: Vec<Candidate>,
    /// Rooms named in `m.direct`.
    direct: BTreeSet<String>,
    facts: HashMap<OwnedRoomId, Facts>,
}

/// What filters look at, per room.
#[derive(Debug, Clone, Default)]
struct Facts {
    encrypted: bool,
    room_type: Option<String>,
    /// An invite marked `is_direct` by its sender.
    direct_invite: bool,
}

impl RoomService {
    /// Whether the user's leave of the room was someone else's doing (a kick).
    fn was_kicked(&self, user_id: &UserId, room_id: &ruma::RoomId) -> Result<bool> {
        let Ok(state) = self.rooms().current_state(room_id) else {
            return Ok(false);
        };
        Ok(self
            .rooms()
            .state_event(&state, &StateEventType::RoomMember, user_id.as_str())?
            .is_some_and(|member| member.sender != user_id))
    }
}

impl<'a> RoomSet<'a> {
    /// Every room of the user a list may show: joined, invited and knocked rooms, rooms they
    /// were banned or kicked from, and rooms they left since `since` (so the client learns of
    /// the departure). Invites from ignored or blocked users are left out, as in `/sync`.
    pub fn load(
        rooms: &'a RoomService,
        bumps: &BumpStamps,
        user_id: &'a UserId,
        since: Option<u64>,
        until: u64,
    ) -> Result<Self> {
        let db = rooms.rooms().db();
        let mut candidates = Vec::new();
        for (room_id, record) in db.rooms_of_user(user_id)? {
            if record.count > until {
                continue;
            }
            let bump = match record.membership {
                MembershipState::Join => bumps
                    .stamp(rooms, &room_id, until)?
                    .unwrap_or(record.count)
                    .max(record.count.min(until)),
                MembershipState::Invite | MembershipState::Knock => record.count,
                _ if record.forgotten => continue,
                // Bans and kicks stay in the list, so the client can show them; a room the user
                // left themselves shows once, in the response after the departure (Synapse's
                // rules; Complement's TestMSC4186SlidingSyncMembershipListSemantics).
                MembershipState::Ban => record.count,
                MembershipState::Leave
                    if since.is_some_and(|since| record.count > since) || rooms.was_kicked(user_id, &room_id)? =>
                {
                    record.count
                }
                _ => continue,
            };
            if record.membership == MembershipState::Invite && !rooms.invite_visible(user_id, &room_id)? {
                continue;
            }
            candidates.push(Candidate { room_id, record, bump });
        }
        // Newest first; the room id settles ties so every request orders alike.
        candidates.sort_by(|a, b| b.bump.cmp(&a.bump).then_with(|| a.room_id.cmp(&b.room_id)));
        let direct = match db.get_account_data(user_id, None, "m.direct")? {
            Some(Value::Object(map)) => map
                .values()
                .filter_map(Value::as_array)
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => BTreeSet::new(),
        };
        Ok(Self {
            rooms,
            user_id,
            candidates,
            direct,
            facts: HashMap::new(),
        })
    }

    /// Whether the user counts the room as a direct chat: listed in their `m.direct`, or an
    /// invite its sender marked `is_direct`.
    pub fn is_dm(&mut self, candidate: &Candidate) -> Result<bool> {
        if self.direct.contains(candidate.room_id.as_str()) {
            return Ok(true);
        }
        Ok(candidate.record.membership == MembershipState::Invite && self.facts(candidate)?.direct_invite)
    }

    /// The rooms of one list that pass its filters, newest first.
    pub fn list(&mut self, list: &List, extra: Option<&ExtraFilters>) -> Result<Vec<Candidate>> {
        let extra = match extra.filter(|extra| !extra.is_empty()) {
            Some(extra) => Some(ExtraFacts::load(self.rooms, self.user_id, extra)?),
            None => None,
        };
        let mut out = Vec::new();
        let candidates = self.candidates.clone();
        for candidate in candidates {
            if let Some(filters) = &list.filters
                && !self.passes(&candidate, filters)?
            {
                continue;
            }
            if let Some(extra) = &extra
                && !extra.passes(self.rooms, self.user_id, &candidate.room_id)?
            {
                continue;
            }
            out.push(candidate);
        }
        Ok(out)
    }

    fn passes(&mut self, candidate: &Candidate, filters: &ListFilters) -> Result<bool> {
        let invite = candidate.record.membership == MembershipState::Invite;
        if filters.is_invite.is_some_and(|want| want != invite) {
            return Ok(false);
        }
        if let Some(want) = filters.is_dm
            && want != self.is_dm(candidate)?
        {
            return Ok(false);
        }
        // The room's state is read only for a filter that looks at it (Element X sends `{}`).
        if filters.is_encrypted.is_none() && filters.room_types.is_empty() && filters.not_room_types.is_empty() {
            return Ok(true);
        }
        let facts = self.facts(candidate)?;
        if filters.is_encrypted.is_some_and(|want| want != facts.encrypted) {
            return Ok(false);
        }
        let type_matches = |filter: &RoomTypeFilter| filter.as_str() == facts.room_type.as_deref();
        if !filters.room_types.is_empty() && !filters.room_types.iter().any(type_matches) {
            return Ok(false);
        }
        Ok(!filters.not_room_types.iter().any(type_matches))
    }

    /// The room's filter facts, from its current state, or for a room the user is not in from
    /// the state they were shown (stripped state).
    fn facts(&mut self, candidate: &Candidate) -> Result<&Facts> {
        if !self.facts.contains_key(&candidate.room_id) {
            let facts = self.load_facts(candidate)?;
            self.facts.insert(candidate.room_id.clone(), facts);
        }
        Ok(&self.facts[&candidate.room_id])
    }

    fn load_facts(&self, candidate: &Candidate) -> Result<Facts> {
        let room_id = &candidate.room_id;
        if matches!(
            candidate.record.membership,
            MembershipState::Invite | MembershipState::Knock
        ) {
            let stripped = self.rooms.stripped_state(room_id, self.user_id)?;
            let find = |kind: &str| stripped.iter().find(|e| e["type"] == kind);
            let own = stripped
                .iter()
                .find(|e| e["type"] == "m.room.member" && e["state_key"] == self.user_id.as_str());
            return Ok(Facts {
                encrypted: find("m.room.encryption").is_some(),
                room_type: find("m.room.create").and_then(|e| e["content"]["type"].as_str().map(str::to_owned)),
                direct_invite: own.is_some_and(|e| e["content"]["is_direct"] == true),
            });
        }
        let Ok(state) = self.rooms.rooms().current_state(room_id) else {
            return Ok(Facts::default());
        };
        let encrypted = self
            .rooms
            .rooms()
            .state_event_id(&state, "m.room.encryption", "")?
            .is_some();
        let room_type = self
            .rooms
            .rooms()
            .state_event(&state, &StateEventType::RoomCreate, "")?
            .and_then(|create| {
                serde_json::from_str::<Value>(create.content.get())
                    .ok()
                    .and_then(|content| content["type"].as_str().map(str::to_owned))
            });
        Ok(Facts {
            encrypted,
            room_type,
            direct_invite: false,
        })
    }
}

/// The positions of `len` rooms that `ranges` cover (inclusive pairs), in order, each once.
pub(crate) fn in_ranges(ranges: &[(ruma::UInt, ruma::UInt)], len: usize) -> BTreeSet<usize> {
    let mut covered = BTreeSet::new();
    for (start, end) in ranges {
        let start = usize::try_from(u64::from(*start)).unwrap_or(usize::MAX);
        let end = usize::try_from(u64::from(*end)).unwrap_or(usize::MAX);
        if len == 0 || start >= len {
            continue;
        }
        covered.extend(start..=end.min(len - 1));
    }
    covered
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_inclusive_and_cut_to_the_list() {
        let r = |a: u32, b: u32| (ruma::UInt::from(a), ruma::UInt::from(b));
        assert_eq!(in_ranges(&[r(0, 2)], 10), BTreeSet::from([0, 1, 2]));
        assert_eq!(in_ranges(&[r(0, 0), r(8, 20)], 10), BTreeSet::from([0, 8, 9]));
        assert!(in_ranges(&[r(5, 9)], 3).is_empty());
        assert!(in_ranges(&[r(0, 9)], 0).is_empty());
    }
}

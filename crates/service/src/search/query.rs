//! `POST /search`, room events (spec: "Server Side Search"): the user's words over the rooms
//! they are joined to (Synapse's rule; narrowed by the filter), each hit checked against
//! history visibility, with context, profiles, room state and groupings when asked.

use std::collections::{BTreeMap, HashSet};

use accord_search::{Order, SearchKey, SearchQuery};
use ruma::{
    OwnedRoomId, OwnedUserId, UInt,
    api::client::search::search_events::v3::{
        Criteria, EventContextResult, GroupingKey, OrderBy, ResultGroup, ResultGroupMap, ResultRoomEvents, SearchKeys,
        SearchResult, UserProfile,
    },
    serde::Raw,
};
use serde_json::Value;

use super::search_error;
use crate::{
    AuthedUser, Error, Result, Services,
    rooms::{EventFilter, Pagination},
};

/// Hits per page without a filter `limit` (Synapse's default).
const DEFAULT_LIMIT: usize = 10;

/// Most hits per page.
const MAX_LIMIT: usize = 100;

/// Index pages read to fill one page of hits the user may see.
const MAX_ROUNDS: usize = 10;

/// One `POST /search` for room events.
#[derive(Debug, Clone)]
pub struct SearchRequest<'a> {
    /// The `room_events` criteria.
    pub criteria: &'a Criteria,
    /// `next_batch` from the previous page.
    pub next_batch: Option<&'a str>,
    /// Whether the request had an `event_context` (ruma fills in defaults, so its presence is
    /// read from the body): context is only given when asked for.
    pub wants_context: bool,
}

/// The answer: ruma's type, plus whether it holds results (an empty page still lists
/// `results`, which ruma leaves out when empty).
pub type SearchResults = ResultRoomEvents;

impl Services {
    /// Searches the rooms the user is joined to.
    pub async fn search(&self, user: &AuthedUser, request: &SearchRequest<'_>) -> Result<SearchResults> {
        let search = self.search.clone();
        tokio::task::spawn_blocking(move || search.catch_up_for_search()).await??;
        self.search_caught_up(user, request)
    }

    fn search_caught_up(&self, user: &AuthedUser, request: &SearchRequest<'_>) -> Result<SearchResults> {
        let criteria = request.criteria;
        let order = match criteria.order_by {
            None | Some(OrderBy::Rank) => Order::Rank,
            Some(OrderBy::Recent) => Order::Recent,
            Some(ref other) => return Err(Error::invalid_param(format!("Unknown order_by {}", other.as_str()))),
        };
        let keys = search_keys(criteria.keys.as_deref())?;
        let filter = &criteria.filter;
        let event_filter: EventFilter = serde_json::to_value(filter)
            .and_then(serde_json::from_value)
            .map_err(|err| Error::bad_json(format!("Invalid filter: {err}")))?;
        let limit = filter
            .limit
            .map_or(DEFAULT_LIMIT, |limit| {
                usize::try_from(u64::from(limit)).unwrap_or(MAX_LIMIT)
            })
            .clamp(1, MAX_LIMIT);
        let rooms = self.searchable_rooms(user, filter.rooms.as_deref(), &filter.not_rooms)?;
        let mut position = parse_batch(request.next_batch, order)?;

        let senders: Option<Vec<String>> = filter
            .senders
            .as_ref()
            .map(|senders| senders.iter().map(ToString::to_string).collect());
        let not_senders: Vec<String> = filter.not_senders.iter().map(ToString::to_string).collect();
        let room_ids: Vec<String> = rooms.iter().map(ToString::to_string).collect();
        let mut page: Vec<(f32, Value)> = Vec::new();
        let mut total = 0;
        let mut more = false;
        for _ in 0..MAX_ROUNDS {
            let query = SearchQuery {
                term: &criteria.search_term,
                keys: &keys,
                rooms: &room_ids,
                senders: senders.as_deref(),
                not_senders: &not_senders,
                order,
                after: position,
                limit,
            };
            let hits = self.search.index.search(&query).map_err(search_error)?;
            total = hits.total;
            more = hits.hits.len() == limit;
            for (seen, hit) in hits.hits.iter().enumerate() {
                position = Some(match order {
                    Order::Recent => hit.count,
                    Order::Rank => position.unwrap_or(0) + 1,
                });
                let Ok(room_id) = OwnedRoomId::try_from(hit.room_id.as_str()) else {
                    continue;
                };
                let Ok(event_id) = ruma::OwnedEventId::try_from(hit.event_id.as_str()) else {
                    continue;
                };
                // Not visible (before the user joined, say): skipped, as if not found.
                let Ok(event) = self.rooms.event(user, &room_id, &event_id) else {
                    continue;
                };
                if event_filter.allows(&event) {
                    page.push((hit.rank, event));
                }
                if page.len() == limit {
                    more = more || seen + 1 < hits.hits.len();
                    break;
                }
            }
            if page.len() == limit || !more {
                break;
            }
        }
        let next_batch = more.then(|| position.map(|p| batch_token(order, p))).flatten();
        self.search_response(user, request, order, page, total, next_batch)
    }

    /// The rooms searched: those the user is joined to, narrowed by the filter.
    fn searchable_rooms(
        &self,
        user: &AuthedUser,
        only: Option<&[OwnedRoomId]>,
        not: &[OwnedRoomId],
    ) -> Result<Vec<OwnedRoomId>> {
        let joined = self.rooms.joined_rooms(&user.user_id)?;
        Ok(joined
            .into_iter()
            .filter(|room| only.is_none_or(|only| only.contains(room)) && !not.contains(room))
            .collect())
    }

    fn search_response(
        &self,
        user: &AuthedUser,
        request: &SearchRequest<'_>,
        order: Order,
        page: Vec<(f32, Value)>,
        total: usize,
        next_batch: Option<String>,
    ) -> Result<SearchResults> {
        let criteria = request.criteria;
        let mut answer = ResultRoomEvents::new();
        answer.count = Some(UInt::new_saturating(u64::try_from(total).unwrap_or(u64::MAX)));
        answer.highlights = self.search.index.words(&criteria.search_term);
        answer.next_batch = next_batch.clone();
        let mut by_room: BTreeMap<OwnedRoomId, Vec<ruma::OwnedEventId>> = BTreeMap::new();
        let mut by_sender: BTreeMap<OwnedUserId, Vec<ruma::OwnedEventId>> = BTreeMap::new();
        let mut rooms_seen = HashSet::new();
        for (rank, event) in page {
            let ids = (
                event["room_id"].as_str().and_then(|r| OwnedRoomId::try_from(r).ok()),
                event["event_id"]
                    .as_str()
                    .and_then(|e| ruma::OwnedEventId::try_from(e).ok()),
                event["sender"].as_str().and_then(|s| OwnedUserId::try_from(s).ok()),
            );
            let (Some(room_id), Some(event_id), Some(sender)) = ids else {
                continue;
            };
            let mut result = SearchResult::new();
            if request.wants_context {
                result.context = self.search_context(user, &room_id, &event, criteria)?;
            }
            if order == Order::Rank {
                result.rank = Some(f64::from(rank));
            }
            result.result = Some(raw(&event)?);
            answer.results.push(result);
            by_room.entry(room_id.clone()).or_default().push(event_id.clone());
            by_sender.entry(sender).or_default().push(event_id);
            rooms_seen.insert(room_id);
        }
        for grouping in &criteria.groupings.group_by {
            match grouping.key {
                Some(GroupingKey::RoomId) => {
                    let groups = grouped(by_room.clone(), next_batch.as_deref());
                    answer.groups.insert(ResultGroupMap::RoomId(groups));
                }
                Some(GroupingKey::Sender) => {
                    let groups = grouped(by_sender.clone(), next_batch.as_deref());
                    answer.groups.insert(ResultGroupMap::Sender(groups));
                }
                _ => return Err(Error::invalid_param("groupings may be by room_id or sender")),
            }
        }
        if criteria.include_state == Some(true) {
            for room_id in rooms_seen {
                let state = self.rooms.rooms().current_state(&room_id)?;
                let events = self.rooms.render_state(&state, user)?;
                answer
                    .state
                    .insert(room_id, events.iter().map(raw).collect::<Result<_>>()?);
            }
        }
        Ok(answer)
    }

    /// Events around a hit, and the profiles of their senders when asked.
    fn search_context(
        &self,
        user: &AuthedUser,
        room_id: &OwnedRoomId,
        event: &Value,
        criteria: &Criteria,
    ) -> Result<EventContextResult> {
        let mut context = EventContextResult::new();
        let Some(count) = event["event_id"]
            .as_str()
            .and_then(|id| ruma::EventId::parse(id).ok())
            .and_then(|id| self.db().get_short_event_id(&id).ok().flatten())
            .and_then(|short| self.db().event_meta(short).ok())
            .and_then(|meta| meta.count)
        else {
            return Ok(context);
        };
        let limit = |n: UInt| usize::try_from(u64::from(n)).unwrap_or(MAX_LIMIT).min(MAX_LIMIT);
        let (before_from, after_from) = (count.saturating_sub(1).to_string(), count.to_string());
        let no_filter = EventFilter::default();
        let mut senders = vec![event["sender"].clone()];
        let before_limit = limit(criteria.event_context.before_limit);
        if before_limit > 0 {
            let page = Pagination {
                from: Some(&before_from),
                to: None,
                backward: true,
                limit: before_limit,
            };
            let before = self.rooms.messages(user, room_id, page, &no_filter)?;
            senders.extend(before.chunk.iter().map(|e| e["sender"].clone()));
            context.events_before = before.chunk.iter().map(raw).collect::<Result<_>>()?;
            context.start = before.end.or(Some(before.start));
        }
        let after_limit = limit(criteria.event_context.after_limit);
        if after_limit > 0 {
            let page = Pagination {
                from: Some(&after_from),
                to: None,
                backward: false,
                limit: after_limit,
            };
            let after = self.rooms.messages(user, room_id, page, &no_filter)?;
            senders.extend(after.chunk.iter().map(|e| e["sender"].clone()));
            context.events_after = after.chunk.iter().map(raw).collect::<Result<_>>()?;
            context.end = after.end.or(Some(after.start));
        }
        if criteria.event_context.include_profile {
            let state = self.rooms.rooms().current_state(room_id)?;
            for sender in senders.iter().filter_map(Value::as_str) {
                let Ok(user_id) = OwnedUserId::try_from(sender) else {
                    continue;
                };
                let member =
                    self.rooms
                        .rooms()
                        .state_event(&state, &ruma::events::StateEventType::RoomMember, sender)?;
                let content = member.map(|pdu| pdu.content_value()).unwrap_or_default();
                let mut profile = UserProfile::new();
                profile.displayname = content["displayname"].as_str().map(str::to_owned);
                profile.avatar_url = content["avatar_url"].as_str().map(Into::into);
                context.profile_info.insert(user_id, profile);
            }
        }
        Ok(context)
    }
}

/// `keys`, by default all three.
fn search_keys(keys: Option<&[SearchKeys]>) -> Result<Vec<SearchKey>> {
    let Some(keys) = keys.filter(|keys| !keys.is_empty()) else {
        return Ok(vec![SearchKey::Body, SearchKey::Name, SearchKey::Topic]);
    };
    keys.iter()
        .map(|key| match key {
            SearchKeys::ContentBody => Ok(SearchKey::Body),
            SearchKeys::ContentName => Ok(SearchKey::Name),
            SearchKeys::ContentTopic => Ok(SearchKey::Topic),
            other => Err(Error::invalid_param(format!("Unknown search key {}", other.as_str()))),
        })
        .collect()
}

/// `next_batch`: the order it belongs to, and where to go on from.
fn batch_token(order: Order, position: u64) -> String {
    match order {
        Order::Rank => format!("rank_{position}"),
        Order::Recent => format!("recent_{position}"),
    }
}

fn parse_batch(token: Option<&str>, order: Order) -> Result<Option<u64>> {
    let Some(token) = token else { return Ok(None) };
    let prefix = match order {
        Order::Rank => "rank_",
        Order::Recent => "recent_",
    };
    token
        .strip_prefix(prefix)
        .and_then(|position| position.parse().ok())
        .map(Some)
        .ok_or_else(|| Error::invalid_param(format!("Invalid next_batch {token:?} for this order_by")))
}

fn grouped<K: Ord>(by_key: BTreeMap<K, Vec<ruma::OwnedEventId>>, next_batch: Option<&str>) -> BTreeMap<K, ResultGroup> {
    by_key
        .into_iter()
        .enumerate()
        .map(|(order, (key, results))| {
            let mut group = ResultGroup::new();
            group.results = results;
            group.order = Some(UInt::new_saturating(u64::try_from(order).unwrap_or(u64::MAX)));
            group.next_batch = next_batch.map(str::to_owned);
            (key, group)
        })
        .collect()
}

fn raw<T>(value: &Value) -> Result<Raw<T>> {
    serde_json::value::to_raw_value(value)
        .map(Raw::from_json)
        .map_err(|err| Error::Internal(format!("an event failed to serialize: {err}")))
}

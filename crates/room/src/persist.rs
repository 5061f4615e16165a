//! Persisting an event: everything it changes (PDU, short id, meta, state snapshot, timeline
//! position, extremities, membership, redaction mark, transaction id, room meta) goes into one
//! batch committed while holding the room lock.

use accord_core::Pdu;
use accord_db::rooms::{EventMeta, RoomBatch, RoomMeta, ShortEventId, ShortStateHash};
use ruma::events::room::member::MembershipState;
use ruma::{CanonicalJsonObject, RoomVersionId};

use accord_db::rooms::StreamTicket;

use crate::{Error, Result, RoomGuard, Rooms, TxnInfo, resolve::IdStateMap, state::RoomState};

/// When an event's batch must be durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// Synced before `commit` returns.
    Synced,
    /// In the WAL and visible to readers at once; the caller syncs after releasing the room
    /// lock and only then releases the returned stream ticket (so `/sync` shows it once durable).
    Deferred,
}

/// A batch already holding what an event builds on, for [`Rooms::commit_in`].
pub(crate) struct JoinedBatch<'g> {
    /// The writes so far; the event's own are added, and all are committed together.
    pub(crate) batch: RoomBatch<'g>,
    /// The event's short id, when `state_after` names it.
    pub(crate) short: Option<ShortEventId>,
    /// The event's state after, already queued in `batch`.
    pub(crate) state_after: Option<ShortStateHash>,
    /// The other servers to queue the event for.
    pub(crate) destinations: Option<Vec<ruma::OwnedServerName>>,
    /// The timeline has a hole just before the event ([`EventMeta::gap_before`]).
    pub(crate) gap_before: bool,
}

impl<'g> JoinedBatch<'g> {
    /// A batch whose event builds only on what is already stored.
    pub(crate) fn plain(batch: RoomBatch<'g>) -> Self {
        Self {
            batch,
            short: None,
            state_after: None,
            destinations: None,
            gap_before: false,
        }
    }

    /// Marks the event as following a hole in the timeline.
    pub(crate) fn after_gap(mut self, gap_before: bool) -> Self {
        self.gap_before = gap_before;
        self
    }
}

impl Rooms {
    /// Persists the first event of a new room.
    pub(crate) fn append_create(
        &self,
        guard: &RoomGuard,
        pdu: &Pdu,
        object: CanonicalJsonObject,
        version: &RoomVersionId,
    ) -> Result<()> {
        let mut batch = guard.batch();
        // Room meta must exist before `append` reads the version; the state hash is set below.
        self.db.put_room_meta(
            &mut batch,
            &RoomMeta {
                version: version.clone(),
                current_state: 0,
            },
        );
        self.commit_in(
            pdu,
            object,
            None,
            None,
            JoinedBatch::plain(batch),
            version,
            Durability::Synced,
            None,
        )
        .map(drop)
    }

    /// Persists a local or accepted event on top of `before`, with whatever `batch` holds.
    pub(crate) fn append(
        &self,
        joined: JoinedBatch<'_>,
        pdu: &Pdu,
        object: CanonicalJsonObject,
        before: Option<&RoomState>,
        txn: Option<TxnInfo>,
        durability: Durability,
    ) -> Result<Option<StreamTicket>> {
        let version = self.room_version(joined.batch.room_id())?;
        self.commit_in(pdu, object, before, txn, joined, &version, durability, None)
    }

    /// Persists an accepted remote event on top of `before` when the room has other forward
    /// extremities: the room's current state becomes `current`, the resolution of the forks
    /// (which may name the event itself). `batch` may hold what the event builds on.
    pub(crate) fn append_with_current(
        &self,
        joined: JoinedBatch<'_>,
        pdu: &Pdu,
        object: CanonicalJsonObject,
        before: &RoomState,
        current: &IdStateMap,
        durability: Durability,
    ) -> Result<Option<StreamTicket>> {
        let version = self.room_version(joined.batch.room_id())?;
        self.commit_in(
            pdu,
            object,
            Some(before),
            None,
            joined,
            &version,
            durability,
            Some(current),
        )
    }

    /// Persists `pdu` into `joined.batch`, which may already hold what the event builds on
    /// (a remote join's state): then the caller gives the event's state after and the servers
    /// to send it to, since neither can be read back before the batch is written. The batch
    /// holds the room's lock until it is committed.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn commit_in(
        &self,
        pdu: &Pdu,
        object: CanonicalJsonObject,
        before: Option<&RoomState>,
        txn: Option<TxnInfo>,
        joined: JoinedBatch<'_>,
        version: &RoomVersionId,
        durability: Durability,
        resolved_current: Option<&IdStateMap>,
    ) -> Result<Option<StreamTicket>> {
        let JoinedBatch {
            mut batch,
            short: given_short,
            state_after: given_state_after,
            destinations: given_destinations,
            gap_before,
        } = joined;
        let room_id = &batch.room_id().to_owned();
        let db = &self.db;
        let short = given_short.unwrap_or_else(|| ShortEventId(db.next_short_id()));
        let canonical = serde_json::to_vec(&object).map_err(|err| Error::InvalidEvent(err.to_string()))?;
        db.put_short_event_id(&mut batch, &pdu.event_id, short);
        db.put_pdu_json(&mut batch, short, canonical);

        let state_after = match (&pdu.state_key, before, given_state_after) {
            (_, _, Some(given)) => given,
            (Some(state_key), before, None) => {
                let key = db.intern_state_key(&pdu.kind.to_string(), state_key)?;
                db.put_state_diff(&mut batch, before.map(|b| b.hash), vec![(key, short)], Vec::new())?
            }
            (None, Some(before), None) => before.hash,
            (None, None, None) => {
                return Err(Error::InvalidEvent(
                    "the first event of a room must be a state event".to_owned(),
                ));
            }
        };

        let ticket = db.reserve_count();
        let count = ticket.0;
        db.put_event_meta(
            &mut batch,
            short,
            &EventMeta {
                event_id: pdu.event_id.clone(),
                room_id: room_id.to_owned(),
                count: Some(count),
                state_after: Some(state_after.0),
                rejected: false,
                soft_failed: false,
                redacted_by: None,
                txn: txn.as_ref().map(|t| (t.device_id.clone(), t.txn_id.clone())),
                gap_before,
            },
        );
        db.put_timeline(&mut batch, count, short);
        self.index_placed(&mut batch, pdu, count, short)?;
        db.replace_extremities(&mut batch, &pdu.prev_events, &pdu.event_id)?;
        let current_state = match resolved_current {
            None => state_after,
            Some(resolved) => {
                let resolved = self.short_state_map(resolved, Some((&pdu.event_id, short)))?;
                self.resolved_memberships(&mut batch, &resolved, pdu, short, count)?;
                // A diff against `before`: the event's own snapshot is only in this batch.
                let base = before.map(|b| b.map.clone()).unwrap_or_default();
                let (added, removed) = crate::resolve::diff(&base, &resolved);
                db.put_state_diff(&mut batch, before.map(|b| b.hash), added, removed)?
            }
        };
        db.put_room_meta(
            &mut batch,
            &RoomMeta {
                version: version.clone(),
                current_state: current_state.0,
            },
        );

        if resolved_current.is_none()
            && let Some((user, membership)) = pdu.member_change()
        {
            db.put_membership_change(&mut batch, &user, membership, count)?;
        }
        if let Some(redacts) = &pdu.redacts
            && let Some(target) = db.get_short_event_id(redacts)?
        {
            let mut meta = db.event_meta(target)?;
            if meta.room_id == *room_id && meta.redacted_by.is_none() {
                meta.redacted_by = Some(pdu.event_id.clone());
                db.put_event_meta(&mut batch, target, &meta);
                if let Some(target_count) = meta.count {
                    self.unindex_relation(&mut batch, target, target_count)?;
                }
            }
        }
        if let Some(txn) = txn {
            db.put_txn_event(
                &mut batch,
                &pdu.sender,
                &txn.device_id,
                &txn.endpoint,
                &txn.txn_id,
                &pdu.event_id,
            );
        }
        // Our own events go to every other server with a member in the room, durably queued
        // in this same batch.
        if pdu.sender.server_name() == self.identity.server_name {
            let destinations = match given_destinations {
                Some(destinations) => destinations,
                None => self.remote_servers(room_id, &[MembershipState::Join, MembershipState::Invite])?,
            };
            for destination in &destinations {
                db.queue_for_destination(&mut batch, destination, count, &pdu.event_id);
            }
            if !destinations.is_empty() {
                self.outbound_wake.send_replace(count);
            }
        }

        // A failed write keeps its stream position unreleased: the engine may hold the event
        // without having made it durable, and /sync and /messages never read past a held
        // position. Storage refuses every later write (`Db::storage_failed`) until a restart.
        match durability {
            Durability::Synced => {
                db.write_room(batch)?;
                db.release_count(ticket);
                Ok(None)
            }
            Durability::Deferred => {
                db.write_room_deferred(batch)?;
                Ok(Some(ticket))
            }
        }
    }

    /// Membership records for every member whose event in the resolved current state differs
    /// from the room's current state so far (the event itself is `short`, not stored yet).
    fn resolved_memberships(
        &self,
        batch: &mut RoomBatch<'_>,
        resolved: &accord_db::rooms::StateMap,
        pdu: &Pdu,
        short: ShortEventId,
        count: u64,
    ) -> Result<()> {
        let old = self.current_state(batch.room_id())?;
        for (key, event) in resolved {
            if old.map.get(key) == Some(event) {
                continue;
            }
            let (kind, _) = self.db.state_key_of(*key)?;
            if kind != "m.room.member" {
                continue;
            }
            let member = if *event == short {
                Some(pdu.clone())
            } else {
                self.pdu(*event)?
            };
            let Some((user, membership)) = member.as_ref().and_then(Pdu::member_change) else {
                continue;
            };
            self.db.put_membership_change(batch, &user, membership, count)?;
        }
        Ok(())
    }
}

//! Relaying membership events that arrive through the resident server's own endpoints
//! (`send_join`, `send_leave`, `send_knock`): their origin gave them only to us, so we pass them
//! on to the room's other servers (spec: "The resident server must also send the event to other
//! servers participating in the room"). Events from transactions are not relayed: their origin
//! sends them to everyone itself.

use ruma::events::room::member::MembershipState;
use ruma::{EventId, RoomId, ServerName};

use crate::{Error, Result, Rooms};

impl Rooms {
    /// Queues a stored event of `room_id` for every server with a member in the room but
    /// `origin` (and us), at the event's own stream position, so the queue keeps room order.
    /// Takes the room's lock: queue rows are room rows.
    pub async fn relay_to_other_servers(
        &self,
        room_id: &RoomId,
        event_id: &EventId,
        origin: &ServerName,
    ) -> Result<()> {
        let db = &self.db;
        let short = db
            .get_short_event_id(event_id)?
            .ok_or_else(|| Error::Internal(format!("relaying {event_id}, which is not stored")))?;
        let Some(count) = db.event_meta(short)?.count else {
            return Ok(()); // An outlier is not part of the room's timeline to relay.
        };
        let destinations: Vec<_> = self
            .remote_servers(room_id, &[MembershipState::Join, MembershipState::Invite])?
            .into_iter()
            .filter(|server| server != origin)
            .collect();
        if destinations.is_empty() {
            return Ok(());
        }
        let guard = self.lock(room_id).await;
        let mut batch = guard.batch();
        for destination in &destinations {
            db.queue_for_destination(&mut batch, destination, count, event_id);
        }
        db.write_room(batch)?;
        self.outbound_wake.send_replace(count);
        tracing::debug!(room = %room_id, %event_id, %origin, servers = destinations.len(), "relayed to the room's other servers");
        Ok(())
    }
}

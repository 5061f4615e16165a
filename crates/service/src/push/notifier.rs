//! The notifier: follows the live timeline of every room and records, for each local member
//! whose push rules say so, a notification of the event. Backfilled history never notifies.

use std::collections::HashMap;

use accord_db::{NotificationRecord, WriteBatch, rooms::ShortEventId};
use ruma::{
    OwnedUserId, RoomId,
    events::{TimelineEventType, room::member::MembershipState},
    push::{Action, Ruleset},
};

use crate::{Result, Services, rooms::unread::push_actions};

/// Stream positions handled per batch.
const PAGE: usize = 500;

impl Services {
    /// Records the notifications of every event since the last pass.
    pub(crate) async fn notify_new_events(&self) -> Result<()> {
        let _pass = self.push.notifying.lock().await;
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.notify_blocking()).await?
    }

    fn notify_blocking(&self) -> Result<()> {
        let db = self.db();
        let visible = db.visible_count();
        let Some(mut position) = db.notifier_position()? else {
            // A new database (or one from before push): notifications start now.
            let mut batch = WriteBatch::new();
            db.put_notifier_position(&mut batch, visible);
            return Ok(db.write(batch)?);
        };
        let mut rulesets: HashMap<OwnedUserId, Ruleset> = HashMap::new();
        while position < visible {
            let positions = db.stream_positions(position, visible, PAGE)?;
            let last = positions.last().map_or(visible, |(count, _)| *count);
            let mut batch = WriteBatch::new();
            for (count, room_id) in positions {
                if let Some(short) = db.timeline_entry(&room_id, count)? {
                    self.notifications_of(&mut batch, &room_id, count, short, &mut rulesets)?;
                }
            }
            db.put_notifier_position(&mut batch, last);
            db.write(batch)?;
            position = last;
        }
        Ok(())
    }

    /// Queues the notifications one event makes.
    fn notifications_of(
        &self,
        batch: &mut WriteBatch,
        room_id: &RoomId,
        count: u64,
        short: ShortEventId,
        rulesets: &mut HashMap<OwnedUserId, Ruleset>,
    ) -> Result<()> {
        let db = self.db();
        let meta = db.event_meta(short)?;
        if meta.rejected || meta.soft_failed {
            return Ok(());
        }
        let Some(pdu) = self.rooms.rooms().pdu(short)? else {
            return Ok(());
        };
        let local = |user: &ruma::UserId| user.server_name() == self.config.server_name;
        let mut candidates: Vec<OwnedUserId> = db
            .members_of_room(room_id)?
            .into_iter()
            .filter(|(user, membership)| *membership == MembershipState::Join && local(user))
            .map(|(user, _)| user)
            .collect();
        // An invite notifies its (local) invitee, who is not joined yet.
        if pdu.kind == TimelineEventType::RoomMember
            && pdu.content_value()["membership"] == "invite"
            && let Some(target) = pdu.state_key.as_deref().and_then(|key| ruma::UserId::parse(key).ok())
            && local(&target)
            && !candidates.contains(&target)
        {
            candidates.push(target);
        }
        candidates.retain(|user| *user != pdu.sender);
        if candidates.is_empty() {
            return Ok(());
        }
        let mut context = self.rooms.room_push_context(room_id)?;
        for user_id in candidates {
            if crate::ignored_users::ignores(db, &user_id, &pdu.sender)? {
                continue;
            }
            let ruleset = match rulesets.get(&user_id) {
                Some(ruleset) => ruleset,
                None => {
                    let ruleset = self.push_rules.ruleset(&user_id)?;
                    rulesets.entry(user_id.clone()).or_insert(ruleset)
                }
            };
            self.rooms.push_context_for(&mut context, &user_id)?;
            let actions = push_actions(&pdu, ruleset, &context);
            if !actions.iter().any(Action::should_notify) || !self.rooms.can_see(&user_id, short)? {
                continue;
            }
            let record = NotificationRecord {
                room_id: room_id.to_owned(),
                event_id: pdu.event_id.clone(),
                highlight: actions.iter().any(Action::is_highlight),
                actions: serde_json::to_value(&actions).unwrap_or_default(),
                ts: accord_core::time::now_millis(),
            };
            db.put_notification(batch, &user_id, count, &record);
        }
        Ok(())
    }
}

//! Fixtures for the checks on receipt of a PDU (server-server API), on the room writer alone:
//! no HTTP, a real RocksDB in a temp dir, events from "another server" signed with its own key.
//!
//! - The spec's soft-failure example: a banned user's event that names the state before the ban
//!   passes at its place in the DAG but not against the current state; it is stored, never in
//!   the timeline, never a forward extremity, and it changes no current state.
//! - The rejected-auth-event case: an event citing a rejected event among its auth events is
//!   rejected too; both are stored as rejected, and the DAG goes on past them.
//! - State resolution of a fork: two topics set concurrently on two servers; the room keeps both
//!   as forward extremities and its state is the resolution's winner (v2: same mainline, so the
//!   later `origin_server_ts`), not simply the local or the last-arrived event.

use std::sync::Arc;

use accord_core::ServerIdentity;
use accord_db::{Db, Direction, rooms::ShortEventId, tables};
use accord_room::{Error, PduTemplate, RoomGuard, Rooms, event_id_of, rules_for};
use accord_storage_rocksdb::RocksEngine;
use ruma::{
    CanonicalJsonObject, OwnedEventId, OwnedRoomId, OwnedServerName, RoomVersionId, UserId,
    events::StateEventType,
    serde::Base64,
    signatures::{Ed25519KeyPair, PublicKeyMap, PublicKeySet, hash_and_sign_event},
};
use serde_json::{Value, json};

const HERE: &str = "here.test";
const THERE: &str = "there.test";
const ALICE: &str = "@alice:here.test";
const BOB: &str = "@bob:there.test";

fn user(id: &str) -> &UserId {
    <&UserId>::try_from(id).expect("user id")
}

fn key(version: &str) -> Ed25519KeyPair {
    Ed25519KeyPair::from_der(&Ed25519KeyPair::generate(), version.to_owned()).expect("key pair")
}

/// The room writer of `here.test`, the key of `there.test`, and the keys both publish.
struct Fixture {
    rooms: Rooms,
    there: Ed25519KeyPair,
    keys: PublicKeyMap,
    /// `origin_server_ts` of the other server's events, less their depth.
    ts_base: std::cell::Cell<u64>,
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let engine = RocksEngine::open(dir.path(), tables::ALL, tables::DROPPED).expect("rocksdb");
        let db = Db::open(Arc::new(engine)).expect("db");
        let here = key("here1");
        let there = key("there1");
        let mut keys = PublicKeyMap::new();
        for (server, pair) in [(HERE, &here), (THERE, &there)] {
            let mut set = PublicKeySet::new();
            set.insert(
                format!("ed25519:{}", pair.version()),
                Base64::new(pair.public_key().to_vec()),
            );
            keys.insert(server.to_owned(), set);
        }
        let identity = ServerIdentity {
            server_name: OwnedServerName::try_from(HERE).expect("name"),
            key: Arc::new(here),
            old_keys: Arc::default(),
        };
        Self {
            rooms: Rooms::new(db, identity),
            there,
            keys,
            ts_base: std::cell::Cell::new(1_700_000_000_000),
            _dir: dir,
        }
    }

    /// A v11 room of Alice's where Bob (of the other server) may set the topic (power 50).
    async fn room(&self) -> (OwnedRoomId, RoomGuard) {
        let version = RoomVersionId::V11;
        let (room, guard) = self
            .rooms
            .create(user(ALICE), &version, json!({ "room_version": "11" }))
            .await
            .expect("create");
        for template in [
            PduTemplate::state(StateEventType::RoomMember, ALICE, json!({ "membership": "join" })),
            PduTemplate::state(
                StateEventType::RoomPowerLevels,
                "",
                json!({ "users": { ALICE: 100, BOB: 50 }, "state_default": 50, "events_default": 0 }),
            ),
            PduTemplate::state(StateEventType::RoomJoinRules, "", json!({ "join_rule": "public" })),
        ] {
            self.rooms
                .send(&guard, user(ALICE), template, None)
                .expect("setup event");
        }
        (room, guard)
    }

    /// The id of the current state event `(kind, key)`.
    fn state_id(&self, room: &OwnedRoomId, kind: &str, key: &str) -> OwnedEventId {
        let state = self.rooms.current_state(room).expect("state");
        let short = self
            .rooms
            .state_event_id(&state, kind, key)
            .expect("read")
            .expect("present");
        self.rooms.db().event_id_of(short).expect("event id")
    }

    fn extremities(&self, room: &OwnedRoomId) -> Vec<OwnedEventId> {
        self.rooms.db().extremities(room).expect("extremities")
    }

    /// An event Bob's server signed, following `prev` and citing `auth`: every field of the
    /// PDU a fixture varies, in the order they appear in the spec's PDU table.
    #[allow(clippy::too_many_arguments)]
    fn signed_there(
        &self,
        room: &OwnedRoomId,
        kind: &str,
        state_key: Option<&str>,
        content: Value,
        prev: &[OwnedEventId],
        auth: &[OwnedEventId],
        depth: u64,
    ) -> (OwnedEventId, CanonicalJsonObject) {
        let mut event = json!({
            "room_id": room,
            "sender": BOB,
            "type": kind,
            "content": content,
            "prev_events": prev,
            "auth_events": auth,
            "depth": depth,
            "origin_server_ts": self.ts_base.get() + depth,
        });
        if let Some(key) = state_key {
            event["state_key"] = json!(key);
        }
        let mut object: CanonicalJsonObject = serde_json::from_value(event).expect("canonical");
        let rules = rules_for(&RoomVersionId::V11).expect("rules");
        hash_and_sign_event(THERE, &self.there, &mut object, &rules.redaction).expect("sign");
        (event_id_of(&object, &rules).expect("id"), object)
    }

    async fn receive(&self, room: &OwnedRoomId, object: CanonicalJsonObject) -> Result<OwnedEventId, Error> {
        let origin = <&ruma::ServerName>::try_from(THERE).expect("name");
        self.rooms.accept_remote_event(origin, room, object, &self.keys).await
    }

    fn meta(&self, event_id: &OwnedEventId) -> accord_db::rooms::EventMeta {
        let short = self
            .rooms
            .db()
            .get_short_event_id(event_id)
            .expect("read")
            .expect("stored");
        self.rooms.db().event_meta(short).expect("meta")
    }

    fn in_timeline(&self, room: &OwnedRoomId, event_id: &OwnedEventId) -> bool {
        let short = self.rooms.db().get_short_event_id(event_id).expect("read");
        let timeline: Vec<ShortEventId> = self
            .rooms
            .db()
            .timeline(room, u64::MAX, None, Direction::Backward, 1000)
            .expect("timeline")
            .into_iter()
            .map(|(_, short)| short)
            .collect();
        short.is_some_and(|short| timeline.contains(&short))
    }

    /// Bob joins from his server; returns his join.
    async fn bob_joins(&self, room: &OwnedRoomId) -> OwnedEventId {
        let auth = [
            self.state_id(room, "m.room.create", ""),
            self.state_id(room, "m.room.power_levels", ""),
            self.state_id(room, "m.room.join_rules", ""),
        ];
        let (id, join) = self.signed_there(
            room,
            "m.room.member",
            Some(BOB),
            json!({ "membership": "join" }),
            &self.extremities(room),
            &auth,
            10,
        );
        assert_eq!(self.receive(room, join).await.expect("Bob's join is accepted"), id);
        id
    }
}

#[tokio::test]
async fn a_soft_failed_event_is_stored_but_never_shown_nor_built_on() {
    let fx = Fixture::new();
    let (room, guard) = fx.room().await;
    drop(guard);
    let bob_join = fx.bob_joins(&room).await;
    let power = fx.state_id(&room, "m.room.power_levels", "");

    // Alice bans Bob; Bob's server, not having seen the ban, sets the topic after his join.
    let guard = fx.rooms.lock(&room).await;
    fx.rooms
        .send(
            &guard,
            user(ALICE),
            PduTemplate::state(StateEventType::RoomMember, BOB, json!({ "membership": "ban" })),
            None,
        )
        .expect("ban");
    drop(guard);
    let auth = [fx.state_id(&room, "m.room.create", ""), power, bob_join.clone()];
    let (topic_id, topic) = fx.signed_there(
        &room,
        "m.room.topic",
        Some(""),
        json!({ "topic": "evading the ban" }),
        std::slice::from_ref(&bob_join),
        &auth,
        11,
    );
    let accepted = fx.receive(&room, topic).await.expect("a soft-failed event is accepted");
    assert_eq!(accepted, topic_id);

    let meta = fx.meta(&topic_id);
    assert!(meta.soft_failed && !meta.rejected, "{meta:?}");
    assert_eq!(meta.count, None, "no stream position: /sync and /messages never see it");
    assert!(!fx.in_timeline(&room, &topic_id));
    assert!(!fx.extremities(&room).contains(&topic_id), "not built on");
    let state = fx.rooms.current_state(&room).expect("state");
    assert!(
        fx.rooms
            .state_event_id(&state, "m.room.topic", "")
            .expect("read")
            .is_none(),
        "the current state has no topic"
    );
    // Sent again, it is the same event, still soft-failed.
    let (_, again) = fx.signed_there(
        &room,
        "m.room.topic",
        Some(""),
        json!({ "topic": "evading the ban" }),
        std::slice::from_ref(&bob_join),
        &auth,
        11,
    );
    assert_eq!(fx.receive(&room, again).await.expect("idempotent"), topic_id);
    assert!(fx.meta(&topic_id).soft_failed);
}

#[tokio::test]
async fn an_event_citing_a_rejected_auth_event_is_rejected_and_the_dag_goes_on() {
    let fx = Fixture::new();
    let (room, guard) = fx.room().await;
    drop(guard);
    let bob_join = fx.bob_joins(&room).await;
    let create = fx.state_id(&room, "m.room.create", "");
    let power = fx.state_id(&room, "m.room.power_levels", "");

    // Bob (power 50) raises himself to 100: not allowed, so rejected.
    let (raise_id, raise) = fx.signed_there(
        &room,
        "m.room.power_levels",
        Some(""),
        json!({ "users": { ALICE: 100, BOB: 100 }, "state_default": 50, "events_default": 0 }),
        std::slice::from_ref(&bob_join),
        &[create.clone(), power.clone(), bob_join.clone()],
        11,
    );
    let err = fx.receive(&room, raise).await.expect_err("raising oneself is rejected");
    assert!(matches!(err, Error::Unauthorized(_)), "{err:?}");
    let meta = fx.meta(&raise_id);
    assert!(meta.rejected && meta.count.is_none(), "stored as rejected: {meta:?}");
    assert!(!fx.extremities(&room).contains(&raise_id));

    // A message citing the rejected event as its power levels is rejected too.
    let (cites_id, cites) = fx.signed_there(
        &room,
        "m.room.message",
        None,
        json!({ "msgtype": "m.text", "body": "on rejected power" }),
        std::slice::from_ref(&raise_id),
        &[create.clone(), raise_id.clone(), bob_join.clone()],
        12,
    );
    let err = fx
        .receive(&room, cites)
        .await
        .expect_err("a rejected auth event rejects");
    assert!(
        matches!(&err, Error::Unauthorized(reason) if reason.contains("rejected auth event")),
        "rejected for its rejected auth event: {err:?}"
    );
    assert!(fx.meta(&cites_id).rejected);
    assert!(!fx.in_timeline(&room, &cites_id));

    // A later message with good auth events after it is accepted: the state after a rejected
    // event is the state before it.
    let (good_id, good) = fx.signed_there(
        &room,
        "m.room.message",
        None,
        json!({ "msgtype": "m.text", "body": "on real power" }),
        std::slice::from_ref(&cites_id),
        &[create, power, bob_join],
        13,
    );
    assert_eq!(fx.receive(&room, good).await.expect("accepted"), good_id);
    assert!(fx.in_timeline(&room, &good_id));
    assert!(!fx.meta(&good_id).rejected);
}

/// Two topics set at once: Alice's here, Bob's on his server from before Alice's. Returns the
/// two topic events (Alice's, Bob's) and the room.
async fn concurrent_topics(fx: &Fixture) -> (OwnedRoomId, OwnedEventId, OwnedEventId) {
    let (room, guard) = fx.room().await;
    drop(guard);
    let bob_join = fx.bob_joins(&room).await;
    let guard = fx.rooms.lock(&room).await;
    let alices = fx
        .rooms
        .send(
            &guard,
            user(ALICE),
            PduTemplate::state(StateEventType::RoomTopic, "", json!({ "topic": "Alice's" })),
            None,
        )
        .expect("Alice's topic");
    drop(guard);
    let auth = [
        fx.state_id(&room, "m.room.create", ""),
        fx.state_id(&room, "m.room.power_levels", ""),
        bob_join.clone(),
    ];
    let (bobs, topic) = fx.signed_there(
        &room,
        "m.room.topic",
        Some(""),
        json!({ "topic": "Bob's" }),
        std::slice::from_ref(&bob_join),
        &auth,
        11,
    );
    assert_eq!(fx.receive(&room, topic).await.expect("Bob's topic is accepted"), bobs);
    let mut extremities = fx.extremities(&room);
    extremities.sort();
    let mut both = vec![alices.clone(), bobs.clone()];
    both.sort();
    assert_eq!(extremities, both, "the fork stays open until an event merges it");
    (room, alices, bobs)
}

#[tokio::test]
async fn a_fork_of_topics_resolves_to_the_later_one_on_the_same_mainline() {
    let now = accord_core::time::now_millis();

    // Bob's topic dated a day after Alice's: it wins, though it arrived last and is remote.
    let fx = Fixture::new();
    fx.ts_base.set(now + 24 * 3600 * 1000);
    let (room, _, bobs) = concurrent_topics(&fx).await;
    assert_eq!(fx.state_id(&room, "m.room.topic", ""), bobs);
    assert!(fx.in_timeline(&room, &bobs));

    // Dated in 2023, before Alice's: hers stays, though Bob's arrived last.
    let fx = Fixture::new();
    let (room, alices, bobs) = concurrent_topics(&fx).await;
    assert_eq!(fx.state_id(&room, "m.room.topic", ""), alices);
    assert!(
        fx.in_timeline(&room, &bobs),
        "the losing event is still in the timeline"
    );
}

/// The state at a missing event as another server gives it, with holes (Complement's
/// TestCorruptedAuthChain and TestJoinFederatedRoomWithUnverifiableEvents): an event of the
/// auth chain it can't give, and a state event whose signature doesn't verify. Both are left
/// out, with everything built on them; the rest of the state is used, and the missing event
/// is stored on it.
#[tokio::test]
async fn the_state_at_a_missing_event_is_used_without_what_cannot_be_had_or_verified() {
    let fx = Fixture::new();
    let (room, guard) = fx.room().await;
    drop(guard);
    let bob_join = fx.bob_joins(&room).await;
    let create = fx.state_id(&room, "m.room.create", "");
    let power = fx.state_id(&room, "m.room.power_levels", "");
    let rules = fx.state_id(&room, "m.room.join_rules", "");
    let alice = fx.state_id(&room, "m.room.member", ALICE);

    // Bob's server: a profile change of Bob's that it will never give, a topic citing it as
    // Bob's membership, a name without signatures, and then Bob's message.
    let (hole, _never_given) = fx.signed_there(
        &room,
        "m.room.member",
        Some(BOB),
        json!({ "membership": "join", "displayname": "Bobby" }),
        std::slice::from_ref(&bob_join),
        &[create.clone(), power.clone(), bob_join.clone()],
        11,
    );
    let (topic_id, topic) = fx.signed_there(
        &room,
        "m.room.topic",
        Some(""),
        json!({ "topic": "built on a hole" }),
        std::slice::from_ref(&hole),
        &[create.clone(), power.clone(), hole.clone()],
        12,
    );
    let (name_id, mut name) = fx.signed_there(
        &room,
        "m.room.name",
        Some(""),
        json!({ "name": "unverifiable" }),
        std::slice::from_ref(&topic_id),
        &[create.clone(), power.clone(), bob_join.clone()],
        13,
    );
    name.remove("signatures");
    let (message_id, message) = fx.signed_there(
        &room,
        "m.room.message",
        None,
        json!({ "msgtype": "m.text", "body": "after the holes" }),
        std::slice::from_ref(&name_id),
        &[create.clone(), power.clone(), bob_join.clone()],
        14,
    );
    let state_ids = [create, alice, power, rules, bob_join, topic_id.clone(), name_id.clone()];
    let stored = fx
        .rooms
        .store_with_state(&room, message, &state_ids, vec![topic, name], &fx.keys)
        .await
        .expect("the rest of the state is used");
    assert_eq!(stored, message_id);
    let short = fx
        .rooms
        .db()
        .get_short_event_id(&message_id)
        .expect("read")
        .expect("stored");
    let state = fx
        .rooms
        .state_after(short)
        .expect("read")
        .expect("stored with its state");
    for kind in ["m.room.topic", "m.room.name"] {
        assert!(
            fx.rooms.state_event_id(&state, kind, "").expect("read").is_none(),
            "{kind} was left out"
        );
    }
    assert!(
        fx.rooms
            .state_event_id(&state, "m.room.member", BOB)
            .expect("read")
            .is_some()
    );
    for left_out in [&topic_id, &name_id] {
        assert!(fx.rooms.db().get_short_event_id(left_out).expect("read").is_none());
    }
}

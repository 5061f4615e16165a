//! The authorization rules per room version, table-driven.
//!
//! Every case names the room versions it applies to, a setup (events that must be accepted),
//! one event under test and the verdict the spec gives for it, with the rule it comes from in
//! `why`. Rule numbers are those of the room version named in the citation; the same rule is
//! renumbered in other versions (v3-v5 have the extra `m.room.aliases` rule 4, so their
//! membership rules are 5.x; v6-v7 number them 4.2 (join) ... ; v8-v11 insert 4.2
//! (`join_authorised_via_users_server` signature), so join is 4.3, invite 4.4, leave 4.5, ban
//! 4.6, knock 4.7; v12 inserts rule 2, so membership is 5.x and power levels 10.x).
//!
//! Each case runs in a fresh room per applicable version, through `Rooms::create` /
//! `Rooms::send` (which authorize the event against the current state). All mismatches are
//! collected and reported together.
//!
//! Cast: `@alice` creates every room (power 100, or a "room creator" with infinite power in
//! v12); `@bob`, `@carol` and `@dave` are other local users; `@mallory:elsewhere.example` is a
//! user of another server.

use std::{fmt::Write as _, sync::Arc};

use accord_core::ServerIdentity;
use accord_db::{Db, tables};
use accord_room::{Error, PduTemplate, RoomGuard, Rooms, SUPPORTED_ROOM_VERSIONS, rules_for};
use accord_storage_rocksdb::RocksEngine;
use ruma::{
    OwnedEventId, OwnedServerName, RoomVersionId, UserId,
    events::{StateEventType, TimelineEventType},
    signatures::Ed25519KeyPair,
};
use serde_json::{Map, Value, json};

const SERVER: &str = "example.org";
const ALICE: &str = "@alice:example.org";
const BOB: &str = "@bob:example.org";
const CAROL: &str = "@carol:example.org";
const DAVE: &str = "@dave:example.org";
const MALLORY: &str = "@mallory:elsewhere.example";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Allow,
    Reject,
}
use Verdict::{Allow, Reject};

/// An inclusive range of room versions (all supported versions are numeric, 3 to 12).
#[derive(Clone, Copy, Debug)]
struct Versions(u8, u8);

const ALL: Versions = Versions(3, 12);

const fn since(v: u8) -> Versions {
    Versions(v, 12)
}

const fn only(from: u8, to: u8) -> Versions {
    Versions(from, to)
}

impl Versions {
    fn contains(self, v: u8) -> bool {
        (self.0..=self.1).contains(&v)
    }
}

fn version_number(version: &RoomVersionId) -> u8 {
    version.as_str().parse().expect("supported room versions are numeric")
}

/// What the room looks like before the case's own setup.
#[derive(Clone, Debug)]
enum Base {
    /// Nothing: the case's event is the `m.room.create` event itself.
    Nothing,
    /// Only the `m.room.create` event (by alice).
    CreateOnly,
    /// `m.room.create`, alice's join, [`base_power_levels`] and `m.room.join_rules` with this
    /// `join_rule` (plus an `allow` list for the restricted kinds).
    Room(&'static str),
}

/// One event: who sends it and what it is.
#[derive(Clone, Debug)]
struct Step {
    sender: &'static str,
    ev: Ev,
}

#[derive(Clone, Debug)]
enum Ev {
    /// `m.room.member` for `target`: `{"membership": ..}` plus the keys of `extra`.
    Member {
        target: &'static str,
        membership: &'static str,
        extra: Value,
    },
    /// Any other state event.
    State {
        kind: &'static str,
        key: &'static str,
        content: Value,
    },
    /// `m.room.power_levels`: [`base_power_levels`] with the top-level keys of the overrides
    /// replaced, except `users`, whose entries are added; in versions before 12 alice gets
    /// `100` unless the overrides name her (in v12 she is a room creator and must not appear).
    PowerLevels(Value),
    /// An `m.room.message`.
    Message,
    /// An `m.room.redaction` of the event sent by setup step `n` (0-based).
    Redact(usize),
    /// The `m.room.create` event: `{"room_version": <the version>}`, plus `"creator": <sender>`
    /// when `with_creator`, plus the keys of `extra` (which may override both).
    Create { with_creator: bool, extra: Value },
}

struct Case {
    name: &'static str,
    versions: Versions,
    /// Extra keys for the `m.room.create` content of the base room.
    create: Value,
    base: Base,
    setup: Vec<Step>,
    test: Step,
    expect: Verdict,
    why: &'static str,
}

fn case(
    name: &'static str,
    versions: Versions,
    base: Base,
    setup: Vec<Step>,
    test: Step,
    expect: Verdict,
    why: &'static str,
) -> Case {
    Case {
        name,
        versions,
        create: json!({}),
        base,
        setup,
        test,
        expect,
        why,
    }
}

impl Case {
    fn with_create(mut self, extra: Value) -> Self {
        self.create = extra;
        self
    }
}

// ---- step helpers -------------------------------------------------------------------------

fn member(sender: &'static str, target: &'static str, membership: &'static str) -> Step {
    Step {
        sender,
        ev: Ev::Member {
            target,
            membership,
            extra: json!({}),
        },
    }
}

fn join(user: &'static str) -> Step {
    member(user, user, "join")
}

/// A join carrying `join_authorised_via_users_server`.
fn join_via(user: &'static str, authoriser: &'static str) -> Step {
    Step {
        sender: user,
        ev: Ev::Member {
            target: user,
            membership: "join",
            extra: json!({ "join_authorised_via_users_server": authoriser }),
        },
    }
}

fn invite(sender: &'static str, target: &'static str) -> Step {
    member(sender, target, "invite")
}

fn leave(user: &'static str) -> Step {
    member(user, user, "leave")
}

/// A `leave` by someone else: a kick, or an unban when the target is banned.
fn kick(sender: &'static str, target: &'static str) -> Step {
    member(sender, target, "leave")
}

fn unban(sender: &'static str, target: &'static str) -> Step {
    member(sender, target, "leave")
}

fn ban(sender: &'static str, target: &'static str) -> Step {
    member(sender, target, "ban")
}

fn knock(user: &'static str) -> Step {
    member(user, user, "knock")
}

fn state(sender: &'static str, kind: &'static str, key: &'static str, content: Value) -> Step {
    Step {
        sender,
        ev: Ev::State { kind, key, content },
    }
}

fn topic(sender: &'static str) -> Step {
    state(sender, "m.room.topic", "", json!({ "topic": "a topic" }))
}

fn pl(sender: &'static str, overrides: Value) -> Step {
    Step {
        sender,
        ev: Ev::PowerLevels(overrides),
    }
}

fn msg(sender: &'static str) -> Step {
    Step {
        sender,
        ev: Ev::Message,
    }
}

fn redact(sender: &'static str, setup_step: usize) -> Step {
    Step {
        sender,
        ev: Ev::Redact(setup_step),
    }
}

fn create(sender: &'static str, with_creator: bool, extra: Value) -> Step {
    Step {
        sender,
        ev: Ev::Create { with_creator, extra },
    }
}

/// The power levels of every `Base::Room` (and the base of every [`Ev::PowerLevels`]).
fn base_power_levels() -> Value {
    json!({
        "users": {},
        "users_default": 0,
        "events_default": 0,
        "state_default": 50,
        "ban": 50,
        "kick": 50,
        "redact": 50,
        "invite": 50,
    })
}

fn power_levels_content(overrides: &Value, creators_privileged: bool) -> Value {
    let mut content = base_power_levels();
    let levels = content.as_object_mut().expect("power levels are an object");
    if let Value::Object(overrides) = overrides {
        for (key, value) in overrides {
            if key == "users" {
                let users = levels
                    .get_mut("users")
                    .and_then(Value::as_object_mut)
                    .expect("base users is an object");
                for (user, level) in value.as_object().expect("users override is an object") {
                    users.insert(user.clone(), level.clone());
                }
            } else {
                levels.insert(key.clone(), value.clone());
            }
        }
    }
    if !creators_privileged {
        let users = levels
            .get_mut("users")
            .and_then(Value::as_object_mut)
            .expect("users is an object");
        users.entry(ALICE.to_owned()).or_insert(json!(100));
    }
    content
}

fn join_rules_content(join_rule: &str) -> Value {
    match join_rule {
        "restricted" | "knock_restricted" => json!({
            "join_rule": join_rule,
            "allow": [{ "type": "m.room_membership", "room_id": "!space:example.org" }],
        }),
        _ => json!({ "join_rule": join_rule }),
    }
}

// ---- the table ----------------------------------------------------------------------------

#[allow(clippy::too_many_lines)]
fn cases() -> Vec<Case> {
    let public = Base::Room("public");
    let invite_only = Base::Room("invite");
    let knock_room = Base::Room("knock");
    let restricted = Base::Room("restricted");
    let knock_restricted = Base::Room("knock_restricted");
    let b50 = json!({ "users": { BOB: 50 } });

    vec![
        // ---- m.room.create ----------------------------------------------------------------
        case(
            "create: room_version and creator present",
            only(3, 10),
            Base::Nothing,
            vec![],
            create(ALICE, true, json!({})),
            Allow,
            "v10 rule 1.5: no prev_events, room_id domain = sender domain, room_version recognised, creator present -> \"Otherwise, allow\"",
        ),
        case(
            "create: room_version present, no creator property",
            since(11),
            Base::Nothing,
            vec![],
            create(ALICE, false, json!({})),
            Allow,
            "v11 rule 1 (changed in v11, the creator check is gone): 1.4 \"Otherwise, allow\"",
        ),
        case(
            "create: no creator property",
            only(3, 10),
            Base::Nothing,
            vec![],
            create(ALICE, false, json!({})),
            Reject,
            "v10 rule 1.4: \"If content has no creator property, reject.\"",
        ),
        case(
            "create: unrecognised content.room_version",
            ALL,
            Base::Nothing,
            vec![],
            create(ALICE, true, json!({ "room_version": "999" })),
            Reject,
            "v11 rule 1.3: \"If content.room_version is present and is not a recognised version, reject.\"",
        ),
        case(
            "create: sender's domain differs from the room_id's",
            only(3, 11),
            Base::Nothing,
            vec![],
            create(MALLORY, true, json!({})),
            Reject,
            "v11 rule 1.2: \"If the domain of the room_id does not match the domain of the sender, reject.\" (the room id is on example.org)",
        ),
        case(
            "create: additional_creators are user ids",
            since(12),
            Base::Nothing,
            vec![],
            create(ALICE, false, json!({ "additional_creators": [BOB, CAROL] })),
            Allow,
            "v12 rule 1.4 passes (an array of valid user IDs) -> 1.5 \"Otherwise, allow\"",
        ),
        case(
            "create: additional_creators holds a non-user-id",
            since(12),
            Base::Nothing,
            vec![],
            create(ALICE, false, json!({ "additional_creators": [BOB, "not-a-user-id"] })),
            Reject,
            "v12 rule 1.4: \"If additional_creators is present in content and is not an array of strings where each string passes the same user ID validation applied to sender, reject.\"",
        ),
        case(
            "create: additional_creators is not an array",
            since(12),
            Base::Nothing,
            vec![],
            create(ALICE, false, json!({ "additional_creators": BOB })),
            Reject,
            "v12 rule 1.4: additional_creators \"is not an array of strings\" -> reject",
        ),
        // ---- join ---------------------------------------------------------------------------
        case(
            "join: creator's first join right after the create event",
            ALL,
            Base::CreateOnly,
            vec![],
            join(ALICE),
            Allow,
            "v11 rule 4.3.1: \"If the only previous event is an m.room.create and the state_key is the sender of the m.room.create, allow.\" (v3 5.2.1: \"... the creator\")",
        ),
        case(
            "join: non-creator's join right after the create event (no join rules)",
            ALL,
            Base::CreateOnly,
            vec![],
            join(BOB),
            Reject,
            "v11 rule 4.3.1 does not apply (bob is not the creator); no join_rule is invite/knock/restricted/public -> 4.3.7 \"Otherwise, reject.\"",
        ),
        case(
            "join: invite-only room without an invite",
            ALL,
            invite_only.clone(),
            vec![],
            join(BOB),
            Reject,
            "v11 rule 4.3.4: join_rule invite \"then allow if membership state is invite or join\" (bob has none) -> 4.3.7 \"Otherwise, reject.\"",
        ),
        case(
            "join: invite-only room with an invite",
            ALL,
            invite_only.clone(),
            vec![invite(ALICE, BOB)],
            join(BOB),
            Allow,
            "v11 rule 4.3.4: \"If the join_rule is invite or knock then allow if membership state is invite or join.\"",
        ),
        case(
            "join: invite-only room when already joined (profile change)",
            ALL,
            invite_only.clone(),
            vec![invite(ALICE, BOB), join(BOB)],
            join(BOB),
            Allow,
            "v11 rule 4.3.4: join_rule invite, \"allow if membership state is invite or join\"",
        ),
        case(
            "join: invite-only room after leaving it",
            ALL,
            invite_only.clone(),
            vec![invite(ALICE, BOB), join(BOB), leave(BOB)],
            join(BOB),
            Reject,
            "v11 rule 4.3.4 needs membership invite or join (bob's is leave) -> 4.3.7 \"Otherwise, reject.\"",
        ),
        case(
            "join: public room",
            ALL,
            public.clone(),
            vec![],
            join(BOB),
            Allow,
            "v11 rule 4.3.6: \"If the join_rule is public, allow.\"",
        ),
        case(
            "join: public room while banned",
            ALL,
            public.clone(),
            vec![ban(ALICE, BOB)],
            join(BOB),
            Reject,
            "v11 rule 4.3.3: \"If the sender is banned, reject.\"",
        ),
        case(
            "join: on behalf of another user",
            ALL,
            public.clone(),
            vec![],
            member(ALICE, BOB, "join"),
            Reject,
            "v11 rule 4.3.2: \"If the sender does not match state_key, reject.\"",
        ),
        case(
            "join: join_rule private",
            ALL,
            Base::Room("private"),
            vec![],
            join(BOB),
            Reject,
            "v11 rule 4.3: private is none of invite/knock/restricted/knock_restricted/public -> 4.3.7 \"Otherwise, reject.\"",
        ),
        case(
            "join: knock room without an invite",
            since(7),
            knock_room.clone(),
            vec![],
            join(BOB),
            Reject,
            "v7 rule 4.2.4: join_rule knock \"then allow if membership state is invite or join\" (bob has none) -> 4.2.6 \"Otherwise, reject.\"",
        ),
        case(
            "join: knock room after knocking, not invited",
            since(7),
            knock_room.clone(),
            vec![knock(BOB)],
            join(BOB),
            Reject,
            "v7 rule 4.2.4: membership knock is not invite or join -> 4.2.6 \"Otherwise, reject.\"",
        ),
        case(
            "join: knock room with an invite",
            since(7),
            knock_room.clone(),
            vec![knock(BOB), invite(ALICE, BOB)],
            join(BOB),
            Allow,
            "v7 rule 4.2.4 (changed in v7): \"If the join_rule is invite or knock then allow if membership state is invite or join.\"",
        ),
        case(
            "join: join_rule knock before v7, even with an invite",
            only(3, 6),
            knock_room.clone(),
            vec![invite(ALICE, BOB)],
            join(BOB),
            Reject,
            "v6 rule 4.2.4 only lets invite rooms admit invitees, knock is not public -> 4.2.6 \"Otherwise, reject.\"",
        ),
        // ---- invite -------------------------------------------------------------------------
        case(
            "invite: by a member at or above the invite level",
            ALL,
            invite_only.clone(),
            vec![],
            invite(ALICE, BOB),
            Allow,
            "v11 rule 4.4.4: \"If the sender's power level is greater than or equal to the invite level, allow.\" (100 >= 50)",
        ),
        case(
            "invite: by a member below the invite level",
            ALL,
            public.clone(),
            vec![join(BOB)],
            invite(BOB, CAROL),
            Reject,
            "v11 rule 4.4.5: power 0 < invite level 50 -> \"Otherwise, reject.\"",
        ),
        case(
            "invite: by a member when the invite level is 0",
            ALL,
            public.clone(),
            vec![pl(ALICE, json!({ "invite": 0 })), join(BOB)],
            invite(BOB, CAROL),
            Allow,
            "v11 rule 4.4.4: 0 >= invite level 0 -> allow",
        ),
        case(
            "invite: of a banned user",
            ALL,
            invite_only.clone(),
            vec![ban(ALICE, CAROL)],
            invite(ALICE, CAROL),
            Reject,
            "v11 rule 4.4.3: \"If target user's current membership state is join or ban, reject.\"",
        ),
        case(
            "invite: of a joined user",
            ALL,
            public.clone(),
            vec![join(BOB)],
            invite(ALICE, BOB),
            Reject,
            "v11 rule 4.4.3: \"If target user's current membership state is join or ban, reject.\"",
        ),
        case(
            "invite: of an already invited user",
            ALL,
            invite_only.clone(),
            vec![invite(ALICE, BOB)],
            invite(ALICE, BOB),
            Allow,
            "v11 rule 4.4.3 only blocks join/ban targets -> 4.4.4 power 100 >= 50, allow",
        ),
        case(
            "invite: by a non-member with power",
            ALL,
            public.clone(),
            vec![pl(ALICE, json!({ "users": { CAROL: 100 } }))],
            invite(CAROL, DAVE),
            Reject,
            "v11 rule 4.4.2: \"If the sender's current membership state is not join, reject.\"",
        ),
        case(
            "invite: by an invited (not joined) user",
            ALL,
            invite_only.clone(),
            vec![pl(ALICE, json!({ "invite": 0 })), invite(ALICE, BOB)],
            invite(BOB, CAROL),
            Reject,
            "v11 rule 4.4.2: \"If the sender's current membership state is not join, reject.\"",
        ),
        // ---- leave (own) --------------------------------------------------------------------
        case(
            "leave: own membership when joined",
            ALL,
            public.clone(),
            vec![join(BOB)],
            leave(BOB),
            Allow,
            "v11 rule 4.5.1: \"If the sender matches state_key, allow if and only if that user's current membership state is invite, join, or knock.\"",
        ),
        case(
            "leave: own membership when invited (declining)",
            ALL,
            invite_only.clone(),
            vec![invite(ALICE, BOB)],
            leave(BOB),
            Allow,
            "v11 rule 4.5.1: own leave allowed when membership is invite",
        ),
        case(
            "leave: own membership when never in the room",
            ALL,
            public.clone(),
            vec![],
            leave(BOB),
            Reject,
            "v11 rule 4.5.1: own leave \"allow if and only if\" membership is invite, join or knock (bob has none)",
        ),
        case(
            "leave: own membership when already left",
            ALL,
            public.clone(),
            vec![join(BOB), leave(BOB)],
            leave(BOB),
            Reject,
            "v11 rule 4.5.1: own leave \"allow if and only if\" membership is invite, join or knock (bob's is leave)",
        ),
        case(
            "leave: own membership while banned (self-unban)",
            ALL,
            public.clone(),
            vec![join(BOB), ban(ALICE, BOB)],
            leave(BOB),
            Reject,
            "v11 rule 4.5.1: own leave \"allow if and only if\" membership is invite, join or knock (bob's is ban)",
        ),
        case(
            "leave: rescinding a knock",
            since(7),
            knock_room.clone(),
            vec![knock(BOB)],
            leave(BOB),
            Allow,
            "v7 rule 4.4.1 (changed in v7): own leave allowed when membership is \"invite, join, or knock\"",
        ),
        // ---- kick ---------------------------------------------------------------------------
        case(
            "kick: sender at kick level, target below sender",
            ALL,
            public.clone(),
            vec![join(BOB)],
            kick(ALICE, BOB),
            Allow,
            "v11 rule 4.5.4: \"If the sender's power level is greater than or equal to the kick level, and the target user's power level is less than the sender's power level, allow.\"",
        ),
        case(
            "kick: sender below kick level",
            ALL,
            public.clone(),
            vec![join(BOB), join(CAROL)],
            kick(BOB, CAROL),
            Reject,
            "v11 rule 4.5.4 fails (0 < kick 50) -> 4.5.5 \"Otherwise, reject.\"",
        ),
        case(
            "kick: of a higher-power user",
            ALL,
            public.clone(),
            vec![pl(ALICE, b50.clone()), join(BOB)],
            kick(BOB, ALICE),
            Reject,
            "v11 rule 4.5.4: target (alice) is not below the sender (50) -> 4.5.5 \"Otherwise, reject.\"",
        ),
        case(
            "kick: of an equal-power user",
            ALL,
            public.clone(),
            vec![pl(ALICE, json!({ "users": { BOB: 50, CAROL: 50 } })), join(BOB), join(CAROL)],
            kick(BOB, CAROL),
            Reject,
            "v11 rule 4.5.4 needs \"the target user's power level is less than the sender's\" (50 vs 50) -> reject",
        ),
        case(
            "kick: by a non-member with power",
            ALL,
            public.clone(),
            vec![pl(ALICE, json!({ "users": { CAROL: 100 } })), join(BOB)],
            kick(CAROL, BOB),
            Reject,
            "v11 rule 4.5.2: \"If the sender's current membership state is not join, reject.\"",
        ),
        case(
            "kick: revoking an invite",
            ALL,
            invite_only.clone(),
            vec![invite(ALICE, BOB)],
            kick(ALICE, BOB),
            Allow,
            "v11 rule 4.5.4: 100 >= kick 50 and target 0 < 100 -> allow",
        ),
        case(
            "kick: creator kicks a user with power 100",
            only(3, 11),
            public.clone(),
            vec![pl(ALICE, json!({ "users": { DAVE: 100 } })), join(DAVE)],
            kick(ALICE, DAVE),
            Reject,
            "v11 rule 4.5.4: target 100 is not less than sender 100 -> 4.5.5 \"Otherwise, reject.\"",
        ),
        case(
            "kick: creator kicks a user with power 100 (creators infinitely powerful)",
            since(12),
            public.clone(),
            vec![pl(ALICE, json!({ "users": { DAVE: 100 } })), join(DAVE)],
            kick(ALICE, DAVE),
            Allow,
            "v12: \"The power level of room creators is infinitely high\" -> 5.5.4 target 100 < sender, allow",
        ),
        // ---- unban --------------------------------------------------------------------------
        case(
            "unban: with ban and kick power",
            ALL,
            public.clone(),
            vec![join(BOB), ban(ALICE, BOB)],
            unban(ALICE, BOB),
            Allow,
            "v11 rule 4.5.3 passes (100 >= ban 50) -> 4.5.4 100 >= kick 50 and target 0 < 100, allow",
        ),
        case(
            "unban: below the ban level",
            ALL,
            public.clone(),
            vec![pl(ALICE, json!({ "users": { BOB: 50 }, "ban": 75 })), join(BOB), ban(ALICE, CAROL)],
            unban(BOB, CAROL),
            Reject,
            "v11 rule 4.5.3: \"If the target user's current membership state is ban, and the sender's power level is less than the ban level, reject.\" (50 < 75)",
        ),
        case(
            "unban: at the ban level but below the kick level",
            ALL,
            public.clone(),
            vec![pl(ALICE, json!({ "users": { BOB: 50 }, "kick": 75 })), join(BOB), ban(ALICE, CAROL)],
            unban(BOB, CAROL),
            Reject,
            "v11 rule 4.5.4 fails (50 < kick 75) -> 4.5.5 reject; note: \"To unban somebody, you must have power level greater than or equal to both the kick and ban levels\"",
        ),
        // ---- ban ----------------------------------------------------------------------------
        case(
            "ban: sender at ban level, target below sender",
            ALL,
            public.clone(),
            vec![join(BOB)],
            ban(ALICE, BOB),
            Allow,
            "v11 rule 4.6.2: \"If the sender's power level is greater than or equal to the ban level, and the target user's power level is less than the sender's power level, allow.\"",
        ),
        case(
            "ban: sender exactly at ban level",
            ALL,
            public.clone(),
            vec![pl(ALICE, b50.clone()), join(BOB), join(CAROL)],
            ban(BOB, CAROL),
            Allow,
            "v11 rule 4.6.2: 50 >= ban 50 and target 0 < 50 -> allow",
        ),
        case(
            "ban: sender below ban level",
            ALL,
            public.clone(),
            vec![join(BOB), join(CAROL)],
            ban(BOB, CAROL),
            Reject,
            "v11 rule 4.6.2 fails (0 < ban 50) -> 4.6.3 \"Otherwise, reject.\"",
        ),
        case(
            "ban: of a higher-power user",
            ALL,
            public.clone(),
            vec![pl(ALICE, b50.clone()), join(BOB)],
            ban(BOB, ALICE),
            Reject,
            "v11 rule 4.6.2: target (alice) is not below the sender (50) -> 4.6.3 \"Otherwise, reject.\"",
        ),
        case(
            "ban: of a user who never joined",
            ALL,
            public.clone(),
            vec![],
            ban(ALICE, CAROL),
            Allow,
            "v11 rule 4.6.2: 100 >= ban 50 and target 0 < 100 -> allow (no rule on the target's membership)",
        ),
        case(
            "ban: by a non-member with power",
            ALL,
            public.clone(),
            vec![pl(ALICE, json!({ "users": { CAROL: 100 } })), join(BOB)],
            ban(CAROL, BOB),
            Reject,
            "v11 rule 4.6.1: \"If the sender's current membership state is not join, reject.\"",
        ),
        // ---- knock --------------------------------------------------------------------------
        case(
            "knock: knock room",
            since(7),
            knock_room.clone(),
            vec![],
            knock(BOB),
            Allow,
            "v7 rule 4.6.3: \"If the sender's current membership is not ban, invite, or join, allow.\"",
        ),
        case(
            "knock: again after knocking",
            since(7),
            knock_room.clone(),
            vec![knock(BOB)],
            knock(BOB),
            Allow,
            "v7 rule 4.6.3: membership knock is not ban, invite or join -> allow",
        ),
        case(
            "knock: invite-only room",
            since(7),
            invite_only.clone(),
            vec![],
            knock(BOB),
            Reject,
            "v7 rule 4.6.1: \"If the join_rule is anything other than knock, reject.\"",
        ),
        case(
            "knock: public room",
            since(7),
            public.clone(),
            vec![],
            knock(BOB),
            Reject,
            "v7 rule 4.6.1: \"If the join_rule is anything other than knock, reject.\"",
        ),
        case(
            "knock: when already joined",
            since(7),
            knock_room.clone(),
            vec![invite(ALICE, BOB), join(BOB)],
            knock(BOB),
            Reject,
            "v7 rule 4.6.3 fails (membership join) -> 4.6.4 \"Otherwise, reject.\"",
        ),
        case(
            "knock: when invited",
            since(7),
            knock_room.clone(),
            vec![invite(ALICE, BOB)],
            knock(BOB),
            Reject,
            "v7 rule 4.6.3 fails (membership invite) -> 4.6.4 \"Otherwise, reject.\"",
        ),
        case(
            "knock: while banned",
            since(7),
            knock_room.clone(),
            vec![ban(ALICE, BOB)],
            knock(BOB),
            Reject,
            "v7 rule 4.6.3 fails (membership ban) -> 4.6.4 \"Otherwise, reject.\"",
        ),
        case(
            "knock: on behalf of another user",
            since(7),
            knock_room.clone(),
            vec![],
            member(ALICE, BOB, "knock"),
            Reject,
            "v7 rule 4.6.2: \"If sender does not match state_key, reject.\"",
        ),
        case(
            "knock: membership knock before v7",
            only(3, 6),
            knock_room.clone(),
            vec![],
            knock(BOB),
            Reject,
            "v6 rule 4.6 (v3 5.6): \"Otherwise, the membership is unknown. Reject.\"",
        ),
        case(
            "knock: knock_restricted room",
            since(10),
            knock_restricted.clone(),
            vec![],
            knock(BOB),
            Allow,
            "v10 rule 4.7.1 (changed in v10): only join rules other than \"knock or knock_restricted\" reject -> 4.7.3 allow",
        ),
        case(
            "knock: knock_restricted room before v10",
            only(7, 9),
            knock_restricted.clone(),
            vec![],
            knock(BOB),
            Reject,
            "v9 rule 4.7.1: \"If the join_rule is anything other than knock, reject.\"",
        ),
        // ---- restricted joins ---------------------------------------------------------------
        case(
            "restricted: join without join_authorised_via_users_server or invite",
            since(8),
            restricted.clone(),
            vec![],
            join(BOB),
            Reject,
            "v8 rule 4.3.5.2: \"If the join_authorised_via_users_server key in content is not a user with sufficient permission to invite other users or is not a joined member of the room, reject.\"",
        ),
        case(
            "restricted: join authorised by a joined user with invite power",
            since(8),
            restricted.clone(),
            vec![],
            join_via(BOB, ALICE),
            Allow,
            "v8 rule 4.3.5.3: authoriser alice is joined and 100 >= invite 50 -> \"Otherwise, allow.\"",
        ),
        case(
            "restricted: join authorised by a joined user below the invite level",
            since(8),
            restricted.clone(),
            vec![invite(ALICE, CAROL), join(CAROL)],
            join_via(BOB, CAROL),
            Reject,
            "v8 rule 4.3.5.2: authoriser \"is not a user with sufficient permission to invite other users\" (0 < 50) -> reject",
        ),
        case(
            "restricted: join authorised by a user who is not joined",
            since(8),
            restricted.clone(),
            vec![pl(ALICE, json!({ "users": { CAROL: 100 } }))],
            join_via(BOB, CAROL),
            Reject,
            "v8 rule 4.3.5.2: authoriser \"is not a joined member of the room\" -> reject",
        ),
        case(
            "restricted: join with an invite and no authoriser",
            since(8),
            restricted.clone(),
            vec![invite(ALICE, BOB)],
            join(BOB),
            Allow,
            "v8 rule 4.3.5.1: \"If membership state is join or invite, allow.\"",
        ),
        case(
            "restricted: authorised join while banned",
            since(8),
            restricted.clone(),
            vec![ban(ALICE, BOB)],
            join_via(BOB, ALICE),
            Reject,
            "v8 rule 4.3.3: \"If the sender is banned, reject.\"",
        ),
        case(
            "restricted: authorised join before v8",
            only(3, 7),
            restricted.clone(),
            vec![],
            join_via(BOB, ALICE),
            Reject,
            "v7 rule 4.2: join_rule restricted is neither invite/knock nor public -> 4.2.6 \"Otherwise, reject.\"",
        ),
        case(
            "knock_restricted: join authorised by a joined user with invite power",
            since(10),
            knock_restricted.clone(),
            vec![],
            join_via(BOB, ALICE),
            Allow,
            "v10 rule 4.3.5 (changed in v10): \"If the join_rule is restricted or knock_restricted\" -> 4.3.5.3 allow",
        ),
        case(
            "knock_restricted: join without authoriser or invite",
            since(10),
            knock_restricted.clone(),
            vec![],
            join(BOB),
            Reject,
            "v10 rule 4.3.5.2: no user with invite power authorised the join -> reject",
        ),
        case(
            "knock_restricted: join after knocking and being invited",
            since(10),
            knock_restricted.clone(),
            vec![knock(BOB), invite(ALICE, BOB)],
            join(BOB),
            Allow,
            "v10 rule 4.3.5.1: \"If membership state is join or invite, allow.\"",
        ),
        case(
            "knock_restricted: authorised join before v10",
            only(8, 9),
            knock_restricted.clone(),
            vec![],
            join_via(BOB, ALICE),
            Reject,
            "v9 rule 4.3: knock_restricted is none of invite/knock/restricted/public -> 4.3.7 \"Otherwise, reject.\"",
        ),
        // ---- messages and other events ------------------------------------------------------
        case(
            "message: from a joined member",
            ALL,
            public.clone(),
            vec![join(BOB)],
            msg(BOB),
            Allow,
            "v11: joined, 0 >= events_default 0 -> rule 10 \"Otherwise, allow.\"",
        ),
        case(
            "message: from a non-member",
            ALL,
            public.clone(),
            vec![],
            msg(BOB),
            Reject,
            "v11 rule 5: \"If the sender's current membership state is not join, reject.\"",
        ),
        case(
            "message: from an invited user",
            ALL,
            invite_only.clone(),
            vec![invite(ALICE, BOB)],
            msg(BOB),
            Reject,
            "v11 rule 5: \"If the sender's current membership state is not join, reject.\"",
        ),
        case(
            "message: from a user who left",
            ALL,
            public.clone(),
            vec![join(BOB), leave(BOB)],
            msg(BOB),
            Reject,
            "v11 rule 5: \"If the sender's current membership state is not join, reject.\"",
        ),
        case(
            "message: below events_default",
            ALL,
            public.clone(),
            vec![pl(ALICE, json!({ "events_default": 10 })), join(BOB)],
            msg(BOB),
            Reject,
            "v11 rule 7: \"If the event type's required power level is greater than the sender's power level, reject.\" (10 > 0)",
        ),
        case(
            "message: type raised in events above the sender",
            ALL,
            public.clone(),
            vec![pl(ALICE, json!({ "events": { "m.room.message": 20 } })), join(BOB)],
            msg(BOB),
            Reject,
            "v11 rule 7: required power level (events[m.room.message] = 20) > 0 -> reject",
        ),
        case(
            "state: below state_default",
            ALL,
            public.clone(),
            vec![join(BOB)],
            topic(BOB),
            Reject,
            "v11 rule 7: required power level (state_default 50) > 0 -> reject",
        ),
        case(
            "state: at state_default",
            ALL,
            public.clone(),
            vec![pl(ALICE, b50.clone()), join(BOB)],
            topic(BOB),
            Allow,
            "v11 rule 7 passes (50 >= 50) -> rule 10 \"Otherwise, allow.\"",
        ),
        case(
            "state: type raised in events above the sender",
            ALL,
            public.clone(),
            vec![pl(ALICE, json!({ "users": { BOB: 50 }, "events": { "m.room.name": 100 } })), join(BOB)],
            state(BOB, "m.room.name", "", json!({ "name": "a name" })),
            Reject,
            "v11 rule 7: required power level (events[m.room.name] = 100) > 50 -> reject",
        ),
        case(
            "state: type lowered in events below state_default",
            ALL,
            public.clone(),
            vec![pl(ALICE, json!({ "events": { "m.room.topic": 0 } })), join(BOB)],
            topic(BOB),
            Allow,
            "v11 rule 7 passes (events[m.room.topic] = 0) -> rule 10 \"Otherwise, allow.\"",
        ),
        case(
            "state: state_key is another user's id",
            ALL,
            public.clone(),
            vec![pl(ALICE, json!({ "state_default": 0 })), join(BOB)],
            state(BOB, "org.example.custom", CAROL, json!({})),
            Reject,
            "v11 rule 8: \"If the event has a state_key that starts with an @ and does not match the sender, reject.\"",
        ),
        case(
            "state: state_key is the sender's own id",
            ALL,
            public.clone(),
            vec![pl(ALICE, json!({ "state_default": 0 })), join(BOB)],
            state(BOB, "org.example.custom", BOB, json!({})),
            Allow,
            "v11 rule 8 passes (state_key matches the sender) -> rule 10 \"Otherwise, allow.\"",
        ),
        case(
            "third_party_invite: below the invite level",
            ALL,
            public.clone(),
            vec![pl(ALICE, json!({ "events": { "m.room.third_party_invite": 0 } })), join(BOB)],
            state(BOB, "m.room.third_party_invite", "a-token", third_party_invite_content()),
            Reject,
            "v11 rule 6.1: \"Allow if and only if sender's current power level is greater than or equal to the invite level.\" (0 < 50)",
        ),
        case(
            "third_party_invite: at the invite level, below its events level",
            ALL,
            public.clone(),
            vec![
                pl(ALICE, json!({ "users": { BOB: 50 }, "events": { "m.room.third_party_invite": 100 } })),
                join(BOB),
            ],
            state(BOB, "m.room.third_party_invite", "a-token", third_party_invite_content()),
            Allow,
            "v11 rule 6.1 decides before rule 7: \"Allow if and only if sender's current power level is greater than or equal to the invite level.\" (50 >= 50)",
        ),
        case(
            "m.federate false: join by another server's user",
            ALL,
            public.clone(),
            vec![],
            join(MALLORY),
            Reject,
            "v11 rule 3: \"If the content of the m.room.create event in the room state has the property m.federate set to false, and the sender domain of the event does not match the sender domain of the create event, reject.\"",
        )
        .with_create(json!({ "m.federate": false })),
        // ---- power levels -------------------------------------------------------------------
        case(
            "power_levels: first one may grant more than the sender has",
            ALL,
            Base::CreateOnly,
            vec![join(ALICE)],
            pl(ALICE, json!({ "users": { CAROL: 1000 } })),
            Allow,
            "v11 rule 9.4: \"If there is no previous m.room.power_levels event in the room, allow.\"",
        ),
        case(
            "power_levels: from a member below the power_levels event level",
            ALL,
            public.clone(),
            vec![pl(ALICE, json!({ "events": { "m.room.power_levels": 100 } })), join(BOB)],
            pl(BOB, json!({ "events": { "m.room.power_levels": 100 } })),
            Reject,
            "v11 rule 7: required power level (events[m.room.power_levels] = 100) > 0 -> reject",
        ),
        case(
            "power_levels: raise another user above own level",
            ALL,
            public.clone(),
            vec![pl(ALICE, b50.clone()), join(BOB)],
            pl(BOB, json!({ "users": { BOB: 50, CAROL: 60 } })),
            Reject,
            "v11 rule 9.9.1: for an entry added to users, \"If the new value is greater than the sender's current power level, reject.\" (60 > 50)",
        ),
        case(
            "power_levels: raise another user to own level",
            ALL,
            public.clone(),
            vec![pl(ALICE, b50.clone()), join(BOB)],
            pl(BOB, json!({ "users": { BOB: 50, CAROL: 50 } })),
            Allow,
            "v11 rule 9.9.1: new value 50 is not greater than 50 -> 9.10 \"Otherwise, allow.\"",
        ),
        case(
            "power_levels: change a user at own level",
            ALL,
            public.clone(),
            vec![pl(ALICE, json!({ "users": { BOB: 50, CAROL: 50 } })), join(BOB)],
            pl(BOB, json!({ "users": { BOB: 50, CAROL: 40 } })),
            Reject,
            "v11 rule 9.8.1: for an entry changed in users, other than the sender's own, \"If the current value is greater than or equal to the sender's current power level, reject.\" (50 >= 50)",
        ),
        case(
            "power_levels: remove a user at own level",
            ALL,
            public.clone(),
            vec![pl(ALICE, json!({ "users": { BOB: 50, CAROL: 50 } })), join(BOB)],
            pl(BOB, json!({ "users": { BOB: 50 } })),
            Reject,
            "v11 rule 9.8.1: for an entry removed from users, \"If the current value is greater than or equal to the sender's current power level, reject.\"",
        ),
        case(
            "power_levels: change a user below own level",
            ALL,
            public.clone(),
            vec![pl(ALICE, json!({ "users": { BOB: 50, CAROL: 10 } })), join(BOB)],
            pl(BOB, json!({ "users": { BOB: 50, CAROL: 40 } })),
            Allow,
            "v11 rules 9.8.1 (current 10 < 50) and 9.9.1 (new 40 <= 50) pass -> 9.10 \"Otherwise, allow.\"",
        ),
        case(
            "power_levels: lower own level",
            ALL,
            public.clone(),
            vec![pl(ALICE, b50.clone()), join(BOB)],
            pl(BOB, json!({ "users": { BOB: 10 } })),
            Allow,
            "v11 rule 9.8 skips \"the sender's own entry\"; 9.9.1 new 10 <= 50 -> allow",
        ),
        case(
            "power_levels: raise own level",
            ALL,
            public.clone(),
            vec![pl(ALICE, b50.clone()), join(BOB)],
            pl(BOB, json!({ "users": { BOB: 60 } })),
            Reject,
            "v11 rule 9.9.1: \"If the new value is greater than the sender's current power level, reject.\" (60 > 50)",
        ),
        case(
            "power_levels: raise a default level above own",
            ALL,
            public.clone(),
            vec![pl(ALICE, b50.clone()), join(BOB)],
            pl(BOB, json!({ "users": { BOB: 50 }, "ban": 60 })),
            Reject,
            "v11 rule 9.5.2: \"If the new value is higher than the sender's current power level, reject.\" (ban 60 > 50)",
        ),
        case(
            "power_levels: change a default level currently above own",
            ALL,
            public.clone(),
            vec![pl(ALICE, json!({ "users": { BOB: 50 }, "kick": 75 })), join(BOB)],
            pl(BOB, json!({ "users": { BOB: 50 }, "kick": 40 })),
            Reject,
            "v11 rule 9.5.1: \"If the current value is higher than the sender's current power level, reject.\" (kick 75 > 50)",
        ),
        case(
            "power_levels: lower a default level within own",
            ALL,
            public.clone(),
            vec![pl(ALICE, b50.clone()), join(BOB)],
            pl(BOB, json!({ "users": { BOB: 50 }, "kick": 40 })),
            Allow,
            "v11 rule 9.5: current 50 and new 40 are not higher than 50 -> 9.10 allow",
        ),
        case(
            "power_levels: add an events entry above own level",
            ALL,
            public.clone(),
            vec![pl(ALICE, b50.clone()), join(BOB)],
            pl(BOB, json!({ "users": { BOB: 50 }, "events": { "m.room.topic": 60 } })),
            Reject,
            "v11 rule 9.7.1: for an entry added to events, \"If the new value is greater than the sender's current power level, reject.\"",
        ),
        case(
            "power_levels: change an events entry currently above own level",
            ALL,
            public.clone(),
            vec![pl(ALICE, json!({ "users": { BOB: 50 }, "events": { "m.room.name": 100 } })), join(BOB)],
            pl(BOB, json!({ "users": { BOB: 50 }, "events": { "m.room.name": 50 } })),
            Reject,
            "v11 rule 9.6.1: for an entry changed in events, \"If the current value is greater than the sender's current power level, reject.\"",
        ),
        case(
            "power_levels: change notifications currently above own level",
            since(6),
            public.clone(),
            vec![pl(ALICE, json!({ "users": { BOB: 50 }, "notifications": { "room": 100 } })), join(BOB)],
            pl(BOB, json!({ "users": { BOB: 50 }, "notifications": { "room": 50 } })),
            Reject,
            "v6 rule 9.4.1 (changed in v6): for an entry changed in \"the events or notifications properties\", \"If the current value is greater than the sender's current power level, reject.\"",
        ),
        case(
            "power_levels: change notifications before v6",
            only(3, 5),
            public.clone(),
            vec![pl(ALICE, json!({ "users": { BOB: 50 }, "notifications": { "room": 100 } })), join(BOB)],
            pl(BOB, json!({ "users": { BOB: 50 }, "notifications": { "room": 50 } })),
            Allow,
            "v3 rules 10.3-10.7 check the listed fields, events and users only (notifications were added in v6) -> 10.8 \"Otherwise, allow.\"",
        ),
        case(
            "power_levels: user level as a string",
            only(3, 9),
            public.clone(),
            vec![],
            pl(ALICE, json!({ "users": { CAROL: "30" } })),
            Allow,
            "v9 rule 9.1: users values must be \"integers (or a string that is an integer)\"",
        ),
        case(
            "power_levels: user level as a string takes effect",
            only(3, 9),
            public.clone(),
            vec![pl(ALICE, json!({ "users": { BOB: "50" } })), join(BOB), join(CAROL)],
            kick(BOB, CAROL),
            Allow,
            "v9 \"m.room.power_levels events accept values as strings\"; rule 4.5.4: \"50\" >= kick 50 and 0 < 50 -> allow",
        ),
        case(
            "power_levels: default level as a string",
            only(3, 9),
            public.clone(),
            vec![],
            pl(ALICE, json!({ "ban": "60" })),
            Allow,
            "v9 \"each of the integer-valued properties ... can be encoded as strings\"; 60 <= 100 -> allow",
        ),
        case(
            "power_levels: user level a non-integer string",
            only(3, 9),
            public.clone(),
            vec![],
            pl(ALICE, json!({ "users": { CAROL: "thirty" } })),
            Reject,
            "v9 rule 9.1: \"If the users property in content is not an object with keys that are valid user IDs with values that are integers (or a string that is an integer), reject.\"",
        ),
        case(
            "power_levels: user level as a string (integers only)",
            since(10),
            public.clone(),
            vec![],
            pl(ALICE, json!({ "users": { CAROL: "30" } })),
            Reject,
            "v10 rule 9.3: \"If the users property in content is not an object with keys that are valid user IDs with values that are integers, reject.\"",
        ),
        case(
            "power_levels: default level as a string (integers only)",
            since(10),
            public.clone(),
            vec![],
            pl(ALICE, json!({ "ban": "60" })),
            Reject,
            "v10 rule 9.1: \"If any of the properties users_default, events_default, state_default, ban, redact, kick, or invite in content are present and not an integer, reject.\"",
        ),
        case(
            "power_levels: events level as a string (integers only)",
            since(10),
            public.clone(),
            vec![],
            pl(ALICE, json!({ "events": { "m.room.topic": "60" } })),
            Reject,
            "v10 rule 9.2: \"If either of the properties events or notifications in content are present and not an object with values that are integers, reject.\"",
        ),
        case(
            "power_levels: users key that is not a user id",
            ALL,
            public.clone(),
            vec![],
            pl(ALICE, json!({ "users": { "not-a-user-id": 10 } })),
            Reject,
            "v11 rule 9.3: users must be \"an object with keys that are valid user IDs\" -> reject",
        ),
        case(
            "power_levels: creator raises a user above 100",
            only(3, 11),
            public.clone(),
            vec![join(CAROL)],
            pl(ALICE, json!({ "users": { CAROL: 1000 } })),
            Reject,
            "v11 rule 9.9.1: new value 1000 > sender's 100 -> reject",
        ),
        case(
            "power_levels: creator raises a user above 100 (creators infinitely powerful)",
            since(12),
            public.clone(),
            vec![join(CAROL)],
            pl(ALICE, json!({ "users": { CAROL: 1000 } })),
            Allow,
            "v12: \"The power level of room creators is infinitely high\" -> 10.10.1 passes, allow",
        ),
        case(
            "power_levels: users names the room creator",
            only(3, 11),
            public.clone(),
            vec![],
            pl(ALICE, json!({ "users": { ALICE: 100, BOB: 10 } })),
            Allow,
            "v11 rule 9 has no creator restriction; own entry unchanged, bob 10 <= 100 -> 9.10 allow",
        ),
        case(
            "power_levels: users names the room creator (v12)",
            since(12),
            public.clone(),
            vec![],
            pl(ALICE, json!({ "users": { ALICE: 100, BOB: 10 } })),
            Reject,
            "v12 rule 10.4: \"If the users property in content contains the sender of the m.room.create event ... reject.\"",
        ),
        case(
            "power_levels: users names an additional creator",
            since(12),
            public.clone(),
            vec![join(BOB)],
            pl(ALICE, json!({ "users": { BOB: 50 } })),
            Reject,
            "v12 rule 10.4: users contains \"any of the additional_creators array\" -> reject",
        )
        .with_create(json!({ "additional_creators": [BOB] })),
        case(
            "power_levels: additional creator has infinite power",
            since(12),
            public.clone(),
            vec![join(BOB)],
            pl(BOB, json!({ "users": { CAROL: 1000 }, "state_default": 1000 })),
            Allow,
            "v12: room creators include \"Any user IDs contained in the additional_creators array\" and have infinite power -> 10.6/10.10 pass, allow",
        )
        .with_create(json!({ "additional_creators": [BOB] })),
        case(
            "kick: additional creator kicks a user with power 100",
            since(12),
            public.clone(),
            vec![pl(ALICE, json!({ "users": { DAVE: 100 } })), join(BOB), join(DAVE)],
            kick(BOB, DAVE),
            Allow,
            "v12: additional creators have infinite power -> 5.5.4 (>= kick 50, target 100 < sender) allow",
        )
        .with_create(json!({ "additional_creators": [BOB] })),
        // ---- redactions ---------------------------------------------------------------------
        case(
            "redaction: of own message",
            ALL,
            public.clone(),
            vec![join(BOB), msg(BOB)],
            redact(BOB, 1),
            Allow,
            "v11 note: redactions \"are subject to auth rules in the same way as any other event\"; joined, 0 >= events_default 0 -> rule 10 allow",
        ),
        case(
            "redaction: of another user's message below the redact level",
            ALL,
            public.clone(),
            vec![join(BOB), join(CAROL), msg(CAROL)],
            redact(BOB, 2),
            Allow,
            "v3+ note: \"the redact level is not considered by the auth rules\" (it only decides whether the redaction is applied) -> allow",
        ),
        case(
            "redaction: below the events level of m.room.redaction",
            ALL,
            public.clone(),
            vec![pl(ALICE, json!({ "events": { "m.room.redaction": 50 } })), join(BOB), msg(BOB)],
            redact(BOB, 2),
            Reject,
            "v11 note: redactions are allowed \"unless the m.room.power_levels event sets a power level requirement for m.room.redaction events via the events or events_default properties\"; rule 7: 50 > 0 -> reject",
        ),
        case(
            "redaction: by a non-member",
            ALL,
            public.clone(),
            vec![join(BOB), msg(BOB)],
            redact(CAROL, 1),
            Reject,
            "v11 rule 5: \"If the sender's current membership state is not join, reject.\"",
        ),
    ]
}

fn third_party_invite_content() -> Value {
    json!({
        "display_name": "c...@example.com",
        "key_validity_url": "https://id.example.org/_matrix/identity/v2/pubkey/isvalid",
        "public_key": "dGhpc2lzbm90YXJlYWxrZXk",
    })
}

// ---- the runner ---------------------------------------------------------------------------

fn user(id: &str) -> &UserId {
    <&UserId>::try_from(id).expect("valid user id")
}

/// What Accord did with an event.
enum Outcome {
    Allowed,
    Rejected(String),
    Failed(String),
}

impl Outcome {
    fn of<T>(result: Result<T, Error>) -> Self {
        match result {
            Ok(_) => Self::Allowed,
            Err(Error::Unauthorized(reason)) => Self::Rejected(reason),
            Err(other) => Self::Failed(format!("{other:?}")),
        }
    }

    fn matches(&self, expect: Verdict) -> bool {
        matches!((self, expect), (Self::Allowed, Allow) | (Self::Rejected(_), Reject))
    }

    fn describe(&self) -> String {
        match self {
            Self::Allowed => "allowed".to_owned(),
            Self::Rejected(reason) => format!("rejected as unauthorized: {reason}"),
            Self::Failed(error) => format!("failed with a non-authorization error: {error}"),
        }
    }
}

struct Context<'a> {
    version: &'a RoomVersionId,
    creators_privileged: bool,
    use_create_sender: bool,
}

impl Context<'_> {
    fn create_content(&self, sender: &str, with_creator: bool, extra: &Value) -> Value {
        let mut content = Map::new();
        content.insert("room_version".to_owned(), json!(self.version.as_str()));
        if with_creator {
            content.insert("creator".to_owned(), json!(sender));
        }
        if let Value::Object(extra) = extra {
            for (key, value) in extra {
                content.insert(key.clone(), value.clone());
            }
        }
        Value::Object(content)
    }

    fn template(&self, ev: &Ev, sent: &[OwnedEventId]) -> Result<PduTemplate, String> {
        Ok(match ev {
            Ev::Member {
                target,
                membership,
                extra,
            } => {
                let mut content = json!({ "membership": membership });
                if let (Value::Object(content), Value::Object(extra)) = (&mut content, extra) {
                    for (key, value) in extra {
                        content.insert(key.clone(), value.clone());
                    }
                }
                PduTemplate::state(StateEventType::RoomMember, *target, content)
            }
            Ev::State { kind, key, content } => PduTemplate::state(StateEventType::from(*kind), *key, content.clone()),
            Ev::PowerLevels(overrides) => PduTemplate::state(
                StateEventType::RoomPowerLevels,
                "",
                power_levels_content(overrides, self.creators_privileged),
            ),
            Ev::Message => PduTemplate::message(
                TimelineEventType::RoomMessage,
                json!({ "msgtype": "m.text", "body": "hello" }),
            ),
            Ev::Redact(step) => PduTemplate {
                kind: TimelineEventType::RoomRedaction,
                content: json!({}),
                state_key: None,
                origin_server_ts: None,
                redacts: Some(
                    sent.get(*step)
                        .cloned()
                        .ok_or_else(|| format!("Redact({step}) names no earlier setup step"))?,
                ),
            },
            Ev::Create { .. } => return Err("a create event can only be the case's test event".to_owned()),
        })
    }
}

/// Runs one case in one version: `Ok(outcome of the test event)`, or `Err` when the room could
/// not be set up.
async fn run(rooms: &Rooms, case: &Case, version: &RoomVersionId) -> Result<Outcome, String> {
    let rules = rules_for(version).map_err(|err| format!("no rules: {err}"))?;
    let cx = Context {
        version,
        creators_privileged: rules.authorization.explicitly_privilege_room_creators,
        use_create_sender: rules.authorization.use_room_create_sender,
    };

    if let Ev::Create { with_creator, extra } = &case.test.ev {
        if !matches!(case.base, Base::Nothing) || !case.setup.is_empty() {
            return Err("a create test must have Base::Nothing and no setup".to_owned());
        }
        let content = cx.create_content(case.test.sender, *with_creator, extra);
        let result = rooms.create(user(case.test.sender), version, content).await;
        return Ok(Outcome::of(result.map(|(_, guard)| drop(guard))));
    }

    let content = cx.create_content(ALICE, !cx.use_create_sender, &case.create);
    let (_, guard): (_, RoomGuard) = rooms
        .create(user(ALICE), version, content)
        .await
        .map_err(|err| format!("base: create failed: {err}"))?;

    let mut base_steps = Vec::new();
    if let Base::Room(join_rule) = case.base {
        base_steps.push(join(ALICE));
        base_steps.push(pl(ALICE, json!({})));
        base_steps.push(state(ALICE, "m.room.join_rules", "", join_rules_content(join_rule)));
    }
    for (i, step) in base_steps.iter().enumerate() {
        let template = cx.template(&step.ev, &[])?;
        rooms
            .send(&guard, user(step.sender), template, None)
            .map_err(|err| format!("base step {i} ({step:?}) failed: {err}"))?;
    }

    let mut sent = Vec::new();
    for (i, step) in case.setup.iter().enumerate() {
        let template = cx.template(&step.ev, &sent)?;
        let event_id = rooms
            .send(&guard, user(step.sender), template, None)
            .map_err(|err| format!("setup step {i} ({step:?}) failed: {err}"))?;
        sent.push(event_id);
    }

    let template = cx.template(&case.test.ev, &sent)?;
    Ok(Outcome::of(rooms.send(&guard, user(case.test.sender), template, None)))
}

fn open_rooms(dir: &std::path::Path) -> Rooms {
    let engine = RocksEngine::open(dir, tables::ALL, tables::DROPPED).expect("open rocksdb");
    let db = Db::open(Arc::new(engine)).expect("open db");
    let key = Ed25519KeyPair::from_der(&Ed25519KeyPair::generate(), "a_1".to_owned()).expect("signing key");
    let identity = ServerIdentity {
        server_name: OwnedServerName::try_from(SERVER).expect("server name"),
        key: Arc::new(key),
        old_keys: Arc::default(),
    };
    Rooms::new(db, identity)
}

#[tokio::test]
async fn authorization_rules_per_room_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rooms = open_rooms(dir.path());
    let cases = cases();

    let mut names = std::collections::HashSet::new();
    for case in &cases {
        assert!(names.insert(case.name), "duplicate case name: {}", case.name);
    }

    // AUTH_RULES_TRACE=1 prints every outcome with Accord's reason (`--nocapture` to see it).
    let trace = std::env::var_os("AUTH_RULES_TRACE").is_some();
    let mut runs = 0usize;
    let mut failures = Vec::new();
    for case in &cases {
        let mut ran = false;
        for version in SUPPORTED_ROOM_VERSIONS {
            if !case.versions.contains(version_number(version)) {
                continue;
            }
            ran = true;
            runs += 1;
            let result = run(&rooms, case, version).await;
            if trace {
                match &result {
                    Ok(outcome) => println!("[v{version}] {}: {}", case.name, outcome.describe()),
                    Err(setup) => println!("[v{version}] {}: setup failed: {setup}", case.name),
                }
            }
            match result {
                Ok(outcome) if outcome.matches(case.expect) => {}
                Ok(outcome) => failures.push(format!(
                    "[v{version}] {}: expected {:?}, Accord {}\n    spec: {}",
                    case.name,
                    case.expect,
                    outcome.describe(),
                    case.why,
                )),
                Err(setup) => failures.push(format!("[v{version}] {}: SETUP FAILED: {setup}", case.name)),
            }
        }
        if !ran {
            failures.push(format!(
                "{}: applies to no supported room version ({:?})",
                case.name, case.versions
            ));
        }
    }

    let mut report = String::new();
    let _ = writeln!(
        report,
        "{} cases, {runs} (case, version) runs, {} failed",
        cases.len(),
        failures.len()
    );
    for failure in &failures {
        let _ = writeln!(report, "  {failure}");
    }
    println!("{report}");
    assert!(failures.is_empty(), "{report}");
}

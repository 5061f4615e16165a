#!/usr/bin/env python3
"""Conversations as a real third-party client sees them: matrix-nio against Accord.

alice and bob share a room. alice sends a message and edits it; both react to it; bob
replies twice in a thread on another message of alice's. Through nio's own calls bob finds
the edit bundled into the original (`unsigned.m.relations.m.replace`), both reactions in
`/relations` (the client's reaction aggregation), the thread's summary (count, latest reply,
bob's participation) on its root and the root in `/threads`; a full-text search finds the
message; alice's space shows the room in nio's `space_get_hierarchy`. Every step checks the
actual result and prints one `ok` line; the first mismatch prints what differed plus the last
request the client sent with the server's answer, and exits 1.

    python nio_conversations_test.py --homeserver http://127.0.0.1:8008

`tests/clients/run.sh` runs this after nio_media_test.py, with nio_rooms_test.py's helpers.
"""

from __future__ import annotations

import json
import secrets
import shutil
import sys
import tempfile
from typing import Any

from nio import (
    JoinResponse,
    ReactionEvent,
    RoomCreateResponse,
    RoomGetEventResponse,
    RoomPutStateResponse,
    RoomSendResponse,
    SpaceGetHierarchyResponse,
)
from nio.api import RelationshipType

from nio_rooms_test import TracingClient, expect, expect_nio, register_and_login, run_main


async def send(client: TracingClient, room_id: str, content: dict[str, Any], what: str,
               kind: str = "m.room.message") -> str:
    resp = await client.room_send(room_id, kind, content)
    return expect_nio(client, resp, RoomSendResponse, what).event_id


def text(body: str, **extra: Any) -> dict[str, Any]:
    return {"msgtype": "m.text", "body": body, **extra}


async def raw_json(client: TracingClient, method: str, path: str, body: Any, what: str) -> dict[str, Any]:
    """A request through nio's HTTP session for endpoints nio has no call for (search)."""
    headers = {"Authorization": f"Bearer {client.access_token}", "Content-Type": "application/json"}
    resp = await client.send(method, path, json.dumps(body) if body is not None else None, headers)
    answer = await resp.json()
    expect(resp.status == 200, f"{what}: HTTP {resp.status}: {answer}")
    return answer


async def run(homeserver: str, server_name: str, passed: list[str], clients: list[TracingClient]) -> None:
    store = tempfile.mkdtemp(prefix="nio-conversations-")
    try:
        tag = secrets.token_hex(3)
        alice = await register_and_login(homeserver, f"conv_alice_{tag}", "pw-alice-1", store, "alice",
                                         clients, server_name)
        bob = await register_and_login(homeserver, f"conv_bob_{tag}", "pw-bob-1", store, "bob",
                                       clients, server_name)

        resp = await alice.room_create(name="Conversations", preset=None, invite=[])
        room_id = expect_nio(alice, resp, RoomCreateResponse, "alice creates the room").room_id
        resp = await alice.room_put_state(room_id, "m.room.join_rules", {"join_rule": "public"})
        expect_nio(alice, resp, RoomPutStateResponse, "alice opens the room")
        resp = await bob.join(room_id)
        expect_nio(bob, resp, JoinResponse, "bob joins")
        passed.append("room")
        print("ok 1 - alice's room, bob joined", flush=True)

        original = await send(alice, room_id, text("draft plan for the quarterly review"), "alice sends")
        edit = await send(alice, room_id, text(
            "* revised plan for the quarterly review",
            **{"m.new_content": text("revised plan for the quarterly review"),
               "m.relates_to": {"rel_type": "m.replace", "event_id": original}},
        ), "alice edits")
        resp = await bob.room_get_event(room_id, original)
        fetched = expect_nio(bob, resp, RoomGetEventResponse, "bob fetches the original").event
        replace = fetched.source.get("unsigned", {}).get("m.relations", {}).get("m.replace", {})
        expect(replace.get("event_id") == edit, f"the edit bundled into the original: {fetched.source}")
        expect(replace.get("content", {}).get("m.new_content", {}).get("body")
               == "revised plan for the quarterly review", f"the bundled edit's new content: {replace}")
        passed.append("edit")
        print("ok 2 - the edit is bundled into the original event", flush=True)

        for client, who in ((alice, "alice"), (bob, "bob")):
            await send(client, room_id, {"m.relates_to": {
                "rel_type": "m.annotation", "event_id": original, "key": "👍"}}, f"{who} reacts", "m.reaction")
        reactions = [event async for event in bob.room_get_event_relations(
            room_id, original, RelationshipType.annotation, "m.reaction")]
        expect(all(isinstance(r, ReactionEvent) for r in reactions), f"nio parses reactions: {reactions}")
        senders = sorted(r.sender for r in reactions if r.key == "👍")
        expect(senders == sorted([alice.user_id, bob.user_id]), f"👍 aggregated from both: {senders}")
        passed.append("reactions")
        print("ok 3 - both reactions aggregate under 👍 through /relations", flush=True)

        root = await send(alice, room_id, text("agenda: who brings the numbers?"), "alice starts a thread")
        for body in ("I will", "and the charts"):
            await send(bob, room_id, text(body, **{"m.relates_to": {"rel_type": "m.thread", "event_id": root}}),
                       "bob replies in the thread")
        resp = await bob.room_get_event(room_id, root)
        root_event = expect_nio(bob, resp, RoomGetEventResponse, "bob fetches the thread root").event
        summary = root_event.source.get("unsigned", {}).get("m.relations", {}).get("m.thread", {})
        expect(summary.get("count") == 2, f"the thread counts 2 replies: {summary}")
        expect(summary.get("latest_event", {}).get("content", {}).get("body") == "and the charts",
               f"the latest reply: {summary}")
        expect(summary.get("current_user_participated") is True, f"bob took part: {summary}")
        roots = [event.event_id async for event in bob.room_get_threads(room_id)]
        expect(roots == [root], f"/threads lists the root: {roots}")
        passed.append("thread")
        print("ok 4 - the thread's summary on its root, and the root in /threads", flush=True)

        search = await raw_json(bob, "POST", "/_matrix/client/v3/search", {"search_categories": {
            "room_events": {"search_term": "draft plan", "filter": {"rooms": [room_id]}}}}, "bob searches")
        results = search["search_categories"]["room_events"]["results"]
        hits = [r["result"]["event_id"] for r in results]
        expect(hits == [original], f"the search finds the message: {search}")
        passed.append("search")
        print("ok 5 - full-text search finds the message", flush=True)

        resp = await alice.room_create(name="Partners", space=True)
        space_id = expect_nio(alice, resp, RoomCreateResponse, "alice creates a space").room_id
        resp = await alice.room_put_state(space_id, "m.space.child", {"via": [server_name]}, state_key=room_id)
        expect_nio(alice, resp, RoomPutStateResponse, "alice adds the room to the space")
        resp = await alice.space_get_hierarchy(space_id)
        hierarchy = expect_nio(alice, resp, SpaceGetHierarchyResponse, "alice reads the space")
        names = {room["room_id"]: room.get("name") for room in hierarchy.rooms}
        expect(names == {space_id: "Partners", room_id: "Conversations"}, f"the hierarchy: {hierarchy.rooms}")
        passed.append("hierarchy")
        print("ok 6 - the space's hierarchy shows the room", flush=True)
    finally:
        for client in clients:
            await client.close()
        shutil.rmtree(store, ignore_errors=True)


def main() -> int:
    return run_main(run, __doc__, "nio conversations")

if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Accord with a real bridge: bridge.py (mautrix-python) runs as its own process; this script is
a person using matrix-nio, plus a few raw requests with the bridge's token.

Checks, in order:
  1. the bridge started as a mautrix bridge does (versions, whoami, a ping of itself through
     Accord, which called it back) and its bot created a room and invited alice;
  2. alice joins; her message reaches the bridge exactly once;
  3. the bridge answers as its user @bridge_echo with a massaged timestamp, and alice sees it
     with that timestamp;
  4. an alias in the bridge's namespace resolves through it (it creates the room on demand);
  5. inviting a bridge user nobody registered makes Accord ask the bridge, which creates it;
  6. alice's read receipt reaches the bridge with its room;
  7. bad input: a wrong as_token gets 401 M_UNKNOWN_TOKEN, acting as a user outside the
     namespace 403 M_FORBIDDEN, and Accord pings the bridge on request (200, duration_ms).

Usage: appservice_test.py --homeserver URL --server-name NAME --bridge-log FILE --as-token T
       --appservice-id ID --echo-ts MS
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import urllib.parse
from typing import Any, Callable

import aiohttp
from nio import AsyncClient, JoinResponse, RoomMessageText, SyncResponse


def fail(message: str) -> None:
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def bridge_lines(path: str) -> list[dict[str, Any]]:
    lines = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                lines.append(json.loads(line))
    return lines


async def wait_for_line(path: str, what: str, match: Callable[[dict[str, Any]], bool], timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in bridge_lines(path):
            if line.get("kind") == "error":
                fail(f"the bridge reported an error: {line}")
            if match(line):
                return line
        await asyncio.sleep(0.2)
    fail(f"the bridge never reported {what}; it said: {bridge_lines(path)}")
    raise AssertionError  # unreachable


def q(text: str) -> str:
    return urllib.parse.quote(text, safe="")


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--homeserver", required=True)
    p.add_argument("--server-name", required=True)
    p.add_argument("--bridge-log", required=True)
    p.add_argument("--as-token", required=True)
    p.add_argument("--appservice-id", required=True)
    p.add_argument("--echo-ts", type=int, required=True)
    args = p.parse_args()
    hs, name, log = args.homeserver, args.server_name, args.bridge_log
    as_headers = {"Authorization": f"Bearer {args.as_token}"}

    alice = AsyncClient(hs, f"@alice:{name}")
    reg = await alice.register("alice", "alice-password-1")
    if not getattr(reg, "access_token", None):
        fail(f"alice could not register: {reg}")

    # 1. The bridge's start-up.
    started = await wait_for_line(log, "its start-up", lambda l: l.get("kind") == "scenario")
    if started["whoami"] != f"@bridgebot:{name}":
        fail(f"whoami of the bridge's bot: {started}")
    if not isinstance(started["ping_ms"], int):
        fail(f"the bridge's ping failed: {started}")
    room_id = started["room_id"]
    print(f"1. bridge started (ping {started['ping_ms']} ms), its bot created {room_id}")

    # 2. Alice joins and writes; the bridge hears it once.
    joined = await alice.join(room_id)
    if not isinstance(joined, JoinResponse):
        fail(f"alice could not join the bridge's room: {joined}")
    sent = await alice.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "!echo hi"})
    event_id = getattr(sent, "event_id", None)
    if not event_id:
        fail(f"alice could not send: {sent}")
    await wait_for_line(log, "alice's message", lambda l: l.get("kind") == "event" and l.get("event_id") == event_id)
    print("2. alice's message reached the bridge")

    # 3. The echo, as @bridge_echo with the massaged timestamp.
    echoed = await wait_for_line(log, "its echo", lambda l: l.get("kind") == "echoed")
    seen = None
    since = None
    deadline = time.monotonic() + 30
    while seen is None and time.monotonic() < deadline:
        response = await alice.sync(timeout=2000, since=since, full_state=since is None)
        if not isinstance(response, SyncResponse):
            fail(f"alice's sync failed: {response}")
        since = response.next_batch
        room = response.rooms.join.get(room_id)
        for event in room.timeline.events if room else []:
            if isinstance(event, RoomMessageText) and event.event_id == echoed["event_id"]:
                seen = event
    if seen is None:
        fail("alice never saw the bridge's echo")
    if seen.sender != f"@bridge_echo:{name}" or seen.body != "echo: hi":
        fail(f"the echo came wrong: {seen.sender} {seen.body!r}")
    if seen.server_timestamp != args.echo_ts:
        fail(f"the echo's origin_server_ts is {seen.server_timestamp}, not the massaged {args.echo_ts}")
    print(f"3. the bridge answered as {seen.sender} at the massaged time {seen.server_timestamp}")

    # Exactly once: every event the bridge heard of, once.
    await asyncio.sleep(2)
    heard = [l["event_id"] for l in bridge_lines(log) if l.get("kind") == "event"]
    if heard.count(event_id) != 1 or len(heard) != len(set(heard)):
        fail(f"events reached the bridge more than once: {heard}")

    async with aiohttp.ClientSession() as http:
        # 4. An alias in the namespace resolves through the bridge.
        alias = f"#bridge_lobby2:{name}"
        async with http.get(f"{hs}/_matrix/client/v3/directory/room/{q(alias)}") as r:
            body = await r.json()
            if r.status != 200:
                fail(f"the alias did not resolve: {r.status} {body}")
        created = await wait_for_line(log, "the alias room", lambda l: l.get("kind") == "alias_room_created")
        if created["room_id"] != body["room_id"]:
            fail(f"the alias points to {body['room_id']}, the bridge created {created['room_id']}")
        joined = await alice.join(alias)
        if not isinstance(joined, JoinResponse):
            fail(f"alice could not join through the bridged alias: {joined}")
        print(f"4. {alias} resolved through the bridge to {body['room_id']}")

        # 5. Inviting a bridge user nobody registered: Accord asks, the bridge creates it.
        lazy = f"@bridge_lazy:{name}"
        invited = await alice.room_invite(room_id, lazy)
        if type(invited).__name__ != "RoomInviteResponse":
            fail(f"inviting {lazy} failed: {invited}")
        await wait_for_line(log, f"the query for {lazy}", lambda l: l.get("kind") == "query_user" and l.get("user_id") == lazy)
        async with http.get(
            f"{hs}/_matrix/client/v3/account/whoami?user_id={q(lazy)}", headers=as_headers
        ) as r:
            if r.status != 200:
                fail(f"{lazy} was not created by the query: {r.status} {await r.text()}")
        await wait_for_line(
            log, "the invite", lambda l: l.get("kind") == "event" and l.get("state_key") == lazy
        )
        order = [
            i for i, l in enumerate(bridge_lines(log))
            if (l.get("kind") == "query_user" and l.get("user_id") == lazy)
            or (l.get("kind") == "event" and l.get("state_key") == lazy)
        ]
        first = bridge_lines(log)[order[0]]
        if first.get("kind") != "query_user":
            fail(f"the bridge heard of the invite of {lazy} before it was asked about the user")
        print(f"5. {lazy} was created when Accord asked the bridge, before the invite reached it")

        # 6. A read receipt reaches the bridge with its room.
        receipt = await alice.room_read_markers(room_id, event_id, event_id)
        if type(receipt).__name__ != "RoomReadMarkersResponse":
            fail(f"alice's read markers failed: {receipt}")
        await wait_for_line(
            log, "alice's receipt",
            lambda l: l.get("kind") == "ephemeral" and l.get("type") == "m.receipt" and l.get("room_id") == room_id,
        )
        print("6. alice's read receipt reached the bridge")

        # 7. Bad input, and a ping on request.
        async with http.get(
            f"{hs}/_matrix/client/v3/account/whoami", headers={"Authorization": "Bearer wrong-token"}
        ) as r:
            body = await r.json()
            if (r.status, body.get("errcode")) != (401, "M_UNKNOWN_TOKEN"):
                fail(f"a wrong as_token: {r.status} {body}")
        async with http.get(
            f"{hs}/_matrix/client/v3/account/whoami?user_id={q(f'@alice:{name}')}", headers=as_headers
        ) as r:
            body = await r.json()
            if (r.status, body.get("errcode")) != (403, "M_FORBIDDEN"):
                fail(f"acting as alice: {r.status} {body}")
        async with http.post(
            f"{hs}/_matrix/client/v1/appservice/{q(args.appservice_id)}/ping",
            headers=as_headers,
            json={"transaction_id": "from-the-test"},
        ) as r:
            body = await r.json()
            if r.status != 200 or not isinstance(body.get("duration_ms"), int):
                fail(f"the ping: {r.status} {body}")
        print("7. bad tokens and outside users refused; Accord pinged the bridge")

    await alice.close()
    print("appservice_test: all checks passed")


if __name__ == "__main__":
    asyncio.run(main())

#!/usr/bin/env python3
"""A small bridge built on mautrix-python (the framework of the mautrix bridges), run as its own
process on loopback by tests/appservice/run.sh against a real Accord.

What it does:
  * at start, as a mautrix bridge does: /versions, whoami as its bot, a ping of itself through
    the homeserver (POST /_matrix/client/v1/appservice/{id}/ping, which makes the homeserver
    call this process's /_matrix/app/v1/ping), then its bot creates a room and invites
    --invitee;
  * answers user queries for @<prefix>*: registers the user (m.login.application_service);
  * answers alias queries for #<prefix>*: creates a public room with that alias;
  * on "!echo TEXT" from a real user, its user @<prefix>echo answers "echo: TEXT" with the
    massaged timestamp --echo-ts.

It reports on stdout, one JSON object per line ({"kind": "ready" | "scenario" | "event" |
"ephemeral" | "to_device" | "query_user" | "query_alias" | "alias_room_created" | "echoed" |
"error", ...}); mautrix's own log (every request it makes) goes to stderr.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from typing import Any

from mautrix.appservice import AppService, ASStateStore, IntentAPI
from mautrix.client.state_store import MemoryStateStore
from mautrix.errors import MatrixRequestError
from mautrix.types import (
    ASToDeviceEvent,
    Event,
    MessageEvent,
    ReceiptEvent,
    RoomAlias,
    RoomCreatePreset,
    RoomID,
    TypingEvent,
    UserID,
)


class MemoryASStateStore(ASStateStore, MemoryStateStore):
    """mautrix's appservice bookkeeping over its in-memory room state (no file, no database)."""

    def __init__(self) -> None:
        ASStateStore.__init__(self)
        MemoryStateStore.__init__(self)


def emit(kind: str, **fields: Any) -> None:
    print(json.dumps({"kind": kind, **fields}, default=str), flush=True)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--hs-url", required=True)
    p.add_argument("--domain", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--id", required=True)
    p.add_argument("--as-token", required=True)
    p.add_argument("--hs-token", required=True)
    p.add_argument("--bot-localpart", required=True)
    p.add_argument("--prefix", default="bridge_")
    p.add_argument("--invitee", required=True)
    p.add_argument("--echo-ts", type=int, required=True)
    return p.parse_args()


async def run(args: argparse.Namespace) -> None:
    domain = args.domain

    def is_bridged(user_id: str) -> bool:
        return user_id.startswith(f"@{args.prefix}") and user_id.endswith(f":{domain}")

    async def query_user(user_id: UserID) -> dict | None:
        emit("query_user", user_id=user_id)
        if not is_bridged(user_id):
            return None
        await appservice.intent.user(user_id).ensure_registered()
        # mautrix answers 404 for an empty dict, so the answer says something.
        return {"registered": True}

    async def query_alias(alias: RoomAlias) -> dict | None:
        emit("query_alias", alias=alias)
        localpart, _, server = alias[1:].partition(":")
        if not localpart.startswith(args.prefix) or server != domain:
            return None
        room_id = await appservice.intent.create_room(
            alias_localpart=localpart, name=f"Bridged {localpart}", preset=RoomCreatePreset.PUBLIC
        )
        emit("alias_room_created", alias=alias, room_id=room_id)
        return {"room_id": room_id}

    appservice = AppService(
        server=args.hs_url,
        domain=domain,
        as_token=args.as_token,
        hs_token=args.hs_token,
        bot_localpart=args.bot_localpart,
        id=args.id,
        log=logging.getLogger("bridge"),
        query_user=query_user,
        query_alias=query_alias,
        state_store=MemoryASStateStore(),
        ephemeral_events=True,
        encryption_events=True,
    )
    # Handlers run before the transaction is answered, so a line is printed before the 200.
    appservice.synchronous_handlers = True

    @appservice.matrix_event_handler
    async def on_event(evt: Event) -> None:
        if evt.type.is_ephemeral:
            if isinstance(evt, ReceiptEvent):
                emit("ephemeral", type=str(evt.type), room_id=evt.room_id,
                     content=json.loads(json.dumps(evt.serialize()["content"], default=str)))
            elif isinstance(evt, TypingEvent):
                emit("ephemeral", type=str(evt.type), room_id=evt.room_id, user_ids=evt.content.user_ids)
            return
        emit(
            "event",
            type=str(evt.type),
            event_id=getattr(evt, "event_id", None),
            room_id=getattr(evt, "room_id", None),
            sender=getattr(evt, "sender", None),
            state_key=getattr(evt, "state_key", None),
            origin_server_ts=getattr(evt, "timestamp", None),
            body=getattr(getattr(evt, "content", None), "body", None),
        )
        if (
            isinstance(evt, MessageEvent)
            and not is_bridged(evt.sender)
            and evt.sender != appservice.bot_mxid
            and (evt.content.body or "").startswith("!echo ")
        ):
            ghost = appservice.intent.user(UserID(f"@{args.prefix}echo:{domain}"))
            # Not awaited here: the transaction must not wait on calls back to the homeserver.
            asyncio.create_task(echo(ghost, evt.room_id, evt.content.body[len("!echo "):]))

    async def echo(ghost: IntentAPI, room_id: RoomID, text: str) -> None:
        try:
            event_id = await ghost.send_text(room_id, f"echo: {text}", timestamp=args.echo_ts)
            emit("echoed", room_id=room_id, event_id=event_id)
        except Exception as err:  # noqa: BLE001 - the test reads every failure
            emit("error", where="echo", error=repr(err))

    async def on_to_device(evt: ASToDeviceEvent) -> None:
        emit("to_device", type=str(evt.type), sender=evt.sender, to_user_id=evt.to_user_id,
             to_device_id=evt.to_device_id, content=evt.serialize().get("content"))

    appservice.to_device_handler = on_to_device

    await appservice.start(host="127.0.0.1", port=args.port)
    appservice.ready = True
    emit("ready", port=args.port, bot=appservice.bot_mxid)

    try:
        await start_up(appservice, args)
    except MatrixRequestError as err:
        emit("error", where="start-up", http_status=err.http_status, errcode=err.errcode, message=err.message)
    except Exception as err:  # noqa: BLE001
        emit("error", where="start-up", error=repr(err))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await appservice.stop()


async def start_up(appservice: AppService, args: argparse.Namespace) -> None:
    bot: IntentAPI = appservice.intent
    versions = await bot.versions()
    whoami = await bot.whoami()
    # mautrix reports 0 ms as -1; anything but an exception means both legs answered.
    ping_ms = await appservice.ping_self(bot.api.get_txn_id())
    await bot.ensure_registered()
    room_id = await bot.create_room(name="Bridge lobby", preset=RoomCreatePreset.PRIVATE)
    await bot.invite_user(room_id, UserID(args.invitee))
    emit("scenario", versions=[str(v) for v in versions.versions], whoami=whoami.user_id,
         ping_ms=ping_ms, room_id=room_id)


def main() -> None:
    args = parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()

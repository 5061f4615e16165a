#!/usr/bin/env python3
"""Media with a real third-party client: matrix-nio (authenticated media, `/_matrix/client/v1`).

alice uploads an avatar and sets it, creates a room with bob, uploads an image and sends it as an
`m.image` message; bob finds the message in /sync and alice's avatar in her profile, downloads
both (same bytes, type and file name) and a thumbnail of the image (a real PNG). Every step checks
the actual result and prints one `ok` line; the first mismatch prints what differed plus the last
request the client sent with the server's answer, and exits 1.

    python nio_media_test.py --homeserver http://127.0.0.1:8008

`tests/clients/run.sh` runs this after nio_rooms_test.py, whose helpers it shares.
"""

from __future__ import annotations

import io
import secrets
import shutil
import struct
import sys
import tempfile
import zlib

from nio import (
    DownloadResponse,
    JoinResponse,
    ProfileGetAvatarResponse,
    ProfileSetAvatarResponse,
    ResizingMethod,
    RoomCreateResponse,
    RoomMessageImage,
    RoomSendResponse,
    SyncResponse,
    ThumbnailResponse,
    UploadResponse,
)

from nio_rooms_test import TracingClient, expect, expect_nio, register_and_login, run_main


def png(width: int, height: int) -> bytes:
    """An RGB gradient PNG, made with the standard library."""
    raw = b"".join(
        b"\x00" + b"".join(bytes((x * 255 // width, y * 255 // height, 90)) for x in range(width))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def png_size(data: bytes) -> tuple[int, int]:
    expect(data[:8] == b"\x89PNG\r\n\x1a\n", f"not a PNG: {data[:16]!r}")
    return struct.unpack(">II", data[16:24])


async def upload(client: TracingClient, data: bytes, name: str) -> str:
    resp, _keys = await client.upload(io.BytesIO(data), content_type="image/png", filename=name, filesize=len(data))
    return expect_nio(client, resp, UploadResponse, f"{client.label} uploads {name}").content_uri


async def download(client: TracingClient, mxc: str, what: str) -> DownloadResponse:
    resp = await client.download(mxc=mxc)
    return expect_nio(client, resp, DownloadResponse, f"{client.label} downloads {what}")


async def run(homeserver: str, server_name: str, passed: list[str], clients: list[TracingClient]) -> None:
    def ok(step: str) -> None:
        passed.append(step)
        print(f"ok   {step}", flush=True)

    suffix = secrets.token_hex(4)
    store = tempfile.mkdtemp(prefix="nio-media-")
    try:
        alice = await register_and_login(homeserver, f"nio-media-alice-{suffix}", "pw " + suffix, store,
                                         "alice", clients, server_name)
        bob = await register_and_login(homeserver, f"nio-media-bob-{suffix}", "pw " + suffix, store,
                                       "bob", clients, server_name)

        # 1. alice's avatar: uploaded with nio, set in her profile.
        avatar = png(96, 96)
        avatar_mxc = await upload(alice, avatar, "avatar.png")
        expect(avatar_mxc.startswith(f"mxc://{server_name}/"), f"avatar content_uri {avatar_mxc!r}")
        resp = await alice.set_avatar(avatar_mxc)
        expect_nio(alice, resp, ProfileSetAvatarResponse, "alice sets her avatar")
        ok(f"alice uploaded an avatar ({len(avatar)} bytes) and set it: {avatar_mxc}")

        # 2. A room with bob, and an image message in it.
        resp = await alice.room_create(name="media", invite=[bob.user_id])
        room_id = expect_nio(alice, resp, RoomCreateResponse, "alice creates a room").room_id
        resp = await bob.join(room_id)
        expect_nio(bob, resp, JoinResponse, "bob joins")
        picture = png(200, 100)
        picture_mxc = await upload(alice, picture, "picture.png")
        content = {
            "msgtype": "m.image", "body": "picture.png", "url": picture_mxc,
            "info": {"mimetype": "image/png", "w": 200, "h": 100, "size": len(picture)},
        }
        resp = await alice.room_send(room_id, "m.room.message", content, tx_id=f"nio-media-{suffix}")
        event_id = expect_nio(alice, resp, RoomSendResponse, "alice sends the image").event_id
        ok(f"alice sent {picture_mxc} as an m.image message {event_id}")

        # 3. bob sees the image message in /sync, as nio's RoomMessageImage.
        seen = None
        for _ in range(20):
            resp = await bob.sync(timeout=1000, full_state=True)
            sync = expect_nio(bob, resp, SyncResponse, "bob syncs")
            room = sync.rooms.join.get(room_id)
            for event in room.timeline.events if room else []:
                if isinstance(event, RoomMessageImage) and event.event_id == event_id:
                    seen = event
            if seen:
                break
        expect(seen is not None, f"bob's /sync never showed {event_id} as an image\n" + bob.describe_exchange())
        expect(seen.url == picture_mxc, f"bob's image event has url {seen.url!r}, expected {picture_mxc!r}")
        ok("bob's /sync carried the image message with its mxc url")

        # 4. bob downloads the image and alice's avatar, found through her profile.
        got = await download(bob, seen.url, "the image")
        expect(got.body == picture, f"image: {len(got.body)} bytes differ from the {len(picture)} uploaded")
        expect(got.content_type == "image/png", f"image content type {got.content_type!r}")
        expect(got.filename == "picture.png", f"image file name {got.filename!r}")
        resp = await bob.get_avatar(alice.user_id)
        found = expect_nio(bob, resp, ProfileGetAvatarResponse, "bob reads alice's avatar url").avatar_url
        expect(found == avatar_mxc, f"alice's avatar_url as bob sees it: {found!r}, expected {avatar_mxc!r}")
        got = await download(bob, found, "alice's avatar")
        expect(got.body == avatar, f"avatar: {len(got.body)} bytes differ from the {len(avatar)} uploaded")
        expect(got.filename == "avatar.png", f"avatar file name {got.filename!r}")
        ok("bob downloaded the image and alice's avatar: same bytes, type and names")

        # 5. A thumbnail of the image: a real PNG, never upscaled past the 200x100 original.
        server, media_id = picture_mxc[len("mxc://"):].split("/", 1)
        resp = await bob.thumbnail(server, media_id, 32, 32)
        thumb = expect_nio(bob, resp, ThumbnailResponse, "bob asks for a 32x32 thumbnail")
        width, height = png_size(thumb.body)
        expect((width, height) == (200, 100), f"thumbnail is {width}x{height}; the scale box 320x240 fits 200x100 as is")
        resp = await bob.thumbnail(server, media_id, 32, 32, method=ResizingMethod.crop)
        thumb = expect_nio(bob, resp, ThumbnailResponse, "bob asks for a 32x32 cropped thumbnail")
        expect(png_size(thumb.body) == (32, 32), f"cropped thumbnail is {png_size(thumb.body)}")
        ok("bob got thumbnails of the image: scaled 200x100 (no upscaling) and cropped 32x32")
    finally:
        for client in clients:
            await client.close()
        shutil.rmtree(store, ignore_errors=True)


def main() -> int:
    return run_main(run, __doc__, "nio media")

if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Account-level checks of Accord with a real third-party client: matrix-nio.

Drives a running homeserver through nio's AsyncClient (registration, login, profile, devices,
logout) plus a few raw aiohttp requests for what nio has no method for (Synapse shared-secret
registration, global account data, using a dead token). Every step checks the actual result and
prints one `ok` line; the first mismatch prints what differed (and the last request nio sent
with the server's answer) and exits 1.

    python nio_account_test.py --homeserver http://127.0.0.1:8008 --shared-secret SECRET

Options fall back to the environment: NIO_TEST_HOMESERVER, NIO_TEST_SHARED_SECRET,
NIO_TEST_SERVER_NAME (default `localhost`). `tests/clients/run.sh` starts a fresh server and
runs this.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import secrets
import shutil
import sys
import tempfile
import traceback
from typing import Any
from urllib.parse import quote

import aiohttp
from nio import (
    AsyncClient,
    AsyncClientConfig,
    DevicesResponse,
    LoginResponse,
    LogoutResponse,
    ProfileGetDisplayNameResponse,
    ProfileGetResponse,
    ProfileSetDisplayNameResponse,
    RegisterResponse,
    UpdateDeviceResponse,
    WhoamiResponse,
)

CLIENT_V3 = "/_matrix/client/v3"
SHARED_SECRET_PATH = "/_synapse/admin/v1/register"


class StepFailed(Exception):
    """A check did not hold; the message says what differed."""


class RecordingClient(AsyncClient):
    """AsyncClient that remembers the last request it sent, for failure reports."""

    last_request: tuple[str, str, Any] | None = None

    async def send(self, method, path, data=None, headers=None, trace_context=None, timeout=None):  # noqa: ASYNC109
        self.last_request = (method, path, data)
        return await super().send(method, path, data, headers, trace_context, timeout)


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise StepFailed(what)


async def describe_nio_response(client: RecordingClient, resp: Any) -> str:
    """The nio response, the request that produced it and the raw HTTP answer, for a report."""
    lines = [f"nio returned {type(resp).__name__}: {resp!r}"]
    if client.last_request is not None:
        method, path, data = client.last_request
        lines.append(f"nio sent: {method} {path}")
        if isinstance(data, str) and data:
            lines.append(f"  body: {data}")
    transport = getattr(resp, "transport_response", None)
    if transport is not None:
        try:
            body = await transport.text()
        except Exception as err:  # the body may be gone; the status is still useful
            body = f"<unreadable: {err}>"
        lines.append(f"server answered: HTTP {transport.status} {transport.content_type}")
        lines.append(f"  body: {body}")
    return "\n".join(lines)


async def expect_nio(client: RecordingClient, resp: Any, kind: type, what: str) -> Any:
    """Checks that nio parsed the answer as `kind` (nio validates the JSON against its schema)."""
    if not isinstance(resp, kind):
        raise StepFailed(f"{what}: expected {kind.__name__}\n" + await describe_nio_response(client, resp))
    return resp


async def raw(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    token: str | None = None,
    body: Any = None,
) -> tuple[int, Any]:
    """One plain HTTP request; returns the status and the JSON body (or the text if not JSON)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.request(method, url, json=body, headers=headers) as resp:
        text = await resp.text()
        try:
            return resp.status, json.loads(text)
        except ValueError:
            return resp.status, text


def shared_secret_mac(secret: str, nonce: str, username: str, password: str, admin: bool) -> str:
    mac = hmac.new(secret.encode(), digestmod=hashlib.sha1)
    mac.update(nonce.encode())
    mac.update(b"\x00")
    mac.update(username.encode())
    mac.update(b"\x00")
    mac.update(password.encode())
    mac.update(b"\x00")
    mac.update(b"admin" if admin else b"notadmin")
    return mac.hexdigest()


def new_client(homeserver: str, user: str, store: str) -> RecordingClient:
    config = AsyncClientConfig(
        encryption_enabled=False,
        store_sync_tokens=False,
        # Fail fast instead of nio's default endless retries on 429 and timeouts.
        max_limit_exceeded=0,
        max_timeouts=0,
        request_timeout=20,
    )
    return RecordingClient(homeserver, user, store_path=store, config=config)


async def run(homeserver: str, shared_secret: str, server_name: str, passed: list[str]) -> None:
    homeserver = homeserver.rstrip("/")
    suffix = secrets.token_hex(4)
    alice_local = f"nio-alice-{suffix}"
    alice_id = f"@{alice_local}:{server_name}"
    alice_password = "correct horse battery staple " + secrets.token_hex(8)
    bob_local = f"nio-bob-{suffix}"
    bob_id = f"@{bob_local}:{server_name}"
    bob_password = "bob's password " + secrets.token_hex(8)

    def ok(step: str) -> None:
        passed.append(step)
        print(f"ok   {step}", flush=True)

    store = tempfile.mkdtemp(prefix="nio-store-")
    clients: list[RecordingClient] = []
    async with aiohttp.ClientSession() as http:
        try:
            # 1. Open registration through nio (it sends auth {type: m.login.dummy} at once).
            reg_client = new_client(homeserver, alice_local, store)
            clients.append(reg_client)
            resp = await reg_client.register(alice_local, alice_password, device_name="nio-register")
            reg = await expect_nio(reg_client, resp, RegisterResponse, "register (m.login.dummy)")
            expect(reg.user_id == alice_id, f"register: user_id {reg.user_id!r}, expected {alice_id!r}")
            expect(bool(reg.device_id), f"register: empty device_id in {reg!r}")
            expect(bool(reg.access_token), f"register: empty access_token in {reg!r}")
            expect(reg_client.access_token == reg.access_token, "register: nio did not adopt the access token")
            resp = await reg_client.whoami()
            who = await expect_nio(reg_client, resp, WhoamiResponse, "whoami after register")
            expect(
                (who.user_id, who.device_id) == (alice_id, reg.device_id),
                f"whoami after register: got ({who.user_id!r}, {who.device_id!r}), "
                f"expected ({alice_id!r}, {reg.device_id!r})",
            )
            ok(f"register {alice_id} with nio (m.login.dummy), device {reg.device_id}; whoami agrees")

            # 2. Synapse-compatible shared-secret registration (raw), then nio login as that user.
            url = homeserver + SHARED_SECRET_PATH
            status, body = await raw(http, "GET", url)
            expect(
                status == 200 and isinstance(body, dict) and isinstance(body.get("nonce"), str) and body["nonce"],
                f"GET {SHARED_SECRET_PATH}: HTTP {status} {body!r}, expected 200 {{nonce}}",
            )
            nonce = body["nonce"]
            bad = {
                "nonce": nonce,
                "username": bob_local,
                "password": bob_password,
                "admin": False,
                "mac": shared_secret_mac(shared_secret + "-wrong", nonce, bob_local, bob_password, False),
            }
            status, body = await raw(http, "POST", url, body=bad)
            expect(
                status == 403 and isinstance(body, dict) and body.get("errcode") == "M_FORBIDDEN",
                f"POST {SHARED_SECRET_PATH} with a wrong MAC: HTTP {status} {body!r}, expected 403 M_FORBIDDEN",
            )
            status, body = await raw(http, "POST", url, body={**bad, "mac": shared_secret_mac(
                shared_secret, nonce, bob_local, bob_password, False)})
            expect(
                status == 400,
                f"POST {SHARED_SECRET_PATH} reusing a spent nonce: HTTP {status} {body!r}, expected 400",
            )
            status, body = await raw(http, "GET", url)
            expect(status == 200 and isinstance(body, dict) and body.get("nonce"), f"second nonce: HTTP {status} {body!r}")
            nonce = body["nonce"]
            good = {
                "nonce": nonce,
                "username": bob_local,
                "password": bob_password,
                "displayname": "Bob via shared secret",
                "admin": False,
                "mac": shared_secret_mac(shared_secret, nonce, bob_local, bob_password, False),
            }
            status, body = await raw(http, "POST", url, body=good)
            expect(
                status == 200 and isinstance(body, dict) and body.get("user_id") == bob_id,
                f"POST {SHARED_SECRET_PATH}: HTTP {status} {body!r}, expected 200 with user_id {bob_id!r}",
            )
            expect(
                bool(body.get("access_token")) and bool(body.get("device_id")),
                f"POST {SHARED_SECRET_PATH}: no access_token/device_id in {body!r}",
            )
            bob = new_client(homeserver, bob_id, store)
            clients.append(bob)
            resp = await bob.login(bob_password, device_name="nio-bob")
            login = await expect_nio(bob, resp, LoginResponse, "login as the shared-secret user")
            expect(login.user_id == bob_id, f"bob login: user_id {login.user_id!r}, expected {bob_id!r}")
            expect(login.device_id != body["device_id"], "bob login: reused the shared-secret device")
            resp = await bob.get_displayname()
            name = await expect_nio(bob, resp, ProfileGetDisplayNameResponse, "bob get_displayname")
            expect(
                name.displayname == "Bob via shared secret",
                f"bob displayname {name.displayname!r}, expected the one given at shared-secret registration",
            )
            ok(f"shared-secret registration of {bob_id} (wrong MAC 403, spent nonce 400); nio login works")

            # 3. Password login as alice on a new device.
            alice = new_client(homeserver, alice_local, store)
            clients.append(alice)
            resp = await alice.login(alice_password, device_name="nio-laptop")
            login = await expect_nio(alice, resp, LoginResponse, "password login")
            expect(login.user_id == alice_id, f"login: user_id {login.user_id!r}, expected {alice_id!r}")
            expect(bool(login.device_id), f"login: empty device_id in {login!r}")
            expect(login.device_id != reg.device_id, f"login: got the registration device {login.device_id!r} again")
            expect(login.access_token != reg.access_token, "login: same access token as the registration")
            expect(
                (alice.user_id, alice.device_id, alice.access_token)
                == (login.user_id, login.device_id, login.access_token),
                "login: nio did not adopt user_id/device_id/access_token",
            )
            resp = await alice.whoami()
            who = await expect_nio(alice, resp, WhoamiResponse, "whoami after login")
            expect(
                (who.user_id, who.device_id) == (alice_id, login.device_id),
                f"whoami after login: got ({who.user_id!r}, {who.device_id!r}), "
                f"expected ({alice_id!r}, {login.device_id!r})",
            )
            ok(f"password login as {alice_id}, new device {login.device_id}; whoami agrees")

            # 4. Display name and profile.
            display = "Alice Nio ✓ Ünïcode"
            resp = await alice.set_displayname(display)
            await expect_nio(alice, resp, ProfileSetDisplayNameResponse, "set_displayname")
            resp = await alice.get_displayname()
            name = await expect_nio(alice, resp, ProfileGetDisplayNameResponse, "get_displayname")
            expect(name.displayname == display, f"get_displayname: {name.displayname!r}, expected {display!r}")
            resp = await alice.get_profile()
            profile = await expect_nio(alice, resp, ProfileGetResponse, "get_profile")
            expect(profile.displayname == display, f"get_profile displayname: {profile.displayname!r}, expected {display!r}")
            expect(profile.avatar_url is None, f"get_profile avatar_url: {profile.avatar_url!r}, expected none")
            resp = await bob.get_displayname(alice_id)
            name = await expect_nio(bob, resp, ProfileGetDisplayNameResponse, "bob reads alice's displayname")
            expect(name.displayname == display, f"bob sees alice's displayname {name.displayname!r}, expected {display!r}")
            ok("set_displayname / get_displayname / get_profile round-trip (also seen by another user)")

            # 5. Devices: list, find ours with its login name, rename, list again.
            resp = await alice.devices()
            devices = await expect_nio(alice, resp, DevicesResponse, "devices")
            by_id = {d.id: d for d in devices.devices}
            expect(
                set(by_id) == {reg.device_id, login.device_id},
                f"devices: ids {sorted(by_id)}, expected {sorted([reg.device_id, login.device_id])}",
            )
            expect(
                by_id[login.device_id].display_name == "nio-laptop",
                f"devices: current device named {by_id[login.device_id].display_name!r}, expected 'nio-laptop'",
            )
            expect(
                by_id[reg.device_id].display_name == "nio-register",
                f"devices: registration device named {by_id[reg.device_id].display_name!r}, expected 'nio-register'",
            )
            resp = await alice.update_device(login.device_id, {"display_name": "nio-laptop (renamed)"})
            await expect_nio(alice, resp, UpdateDeviceResponse, "update_device")
            resp = await alice.devices()
            devices = await expect_nio(alice, resp, DevicesResponse, "devices after rename")
            by_id = {d.id: d for d in devices.devices}
            expect(
                login.device_id in by_id and by_id[login.device_id].display_name == "nio-laptop (renamed)",
                f"devices after rename: {by_id.get(login.device_id)!r}, expected display_name 'nio-laptop (renamed)'",
            )
            expect(
                by_id.get(reg.device_id) is not None and by_id[reg.device_id].display_name == "nio-register",
                f"devices after rename: the other device changed: {by_id.get(reg.device_id)!r}",
            )
            ok(f"devices lists both of alice's devices with their names; update_device renamed {login.device_id}")

            # 6. Global account data (nio has no generic method): raw PUT then GET with alice's token.
            event_type = "org.accord.test.nio"
            content = {"answer": 42, "nested": {"list": [1, "two", None, True]}, "text": "ünïcode ✓"}
            ad_url = f"{homeserver}{CLIENT_V3}/user/{quote(alice_id, safe='')}/account_data/{event_type}"
            status, body = await raw(http, "GET", ad_url, token=alice.access_token)
            expect(
                status == 404 and isinstance(body, dict) and body.get("errcode") == "M_NOT_FOUND",
                f"GET unset account data: HTTP {status} {body!r}, expected 404 M_NOT_FOUND",
            )
            status, body = await raw(http, "PUT", ad_url, token=alice.access_token, body=content)
            expect(status == 200 and body == {}, f"PUT account data: HTTP {status} {body!r}, expected 200 {{}}")
            status, body = await raw(http, "GET", ad_url, token=alice.access_token)
            expect(status == 200 and body == content, f"GET account data: HTTP {status} {body!r}, expected {content!r}")
            bob_url = f"{homeserver}{CLIENT_V3}/user/{quote(alice_id, safe='')}/account_data/{event_type}"
            status, body = await raw(http, "GET", bob_url, token=bob.access_token)
            expect(
                status == 403,
                f"bob reading alice's account data: HTTP {status} {body!r}, expected 403",
            )
            ok(f"global account data {event_type} PUT/GET round-trip (unset 404, other user 403)")

            # 7. Logout; the old token is dead, the registration device's token is not.
            old_token = alice.access_token
            resp = await alice.logout()
            await expect_nio(alice, resp, LogoutResponse, "logout")
            whoami_url = f"{homeserver}{CLIENT_V3}/account/whoami"
            status, body = await raw(http, "GET", whoami_url, token=old_token)
            expect(
                status == 401 and isinstance(body, dict) and body.get("errcode") == "M_UNKNOWN_TOKEN",
                f"whoami with the logged-out token: HTTP {status} {body!r}, expected 401 M_UNKNOWN_TOKEN",
            )
            status, body = await raw(http, "GET", whoami_url, token=reg.access_token)
            expect(
                status == 200 and isinstance(body, dict) and body.get("device_id") == reg.device_id,
                f"whoami with the other device's token after logout: HTTP {status} {body!r}, expected 200",
            )
            resp = await reg_client.devices()
            devices = await expect_nio(reg_client, resp, DevicesResponse, "devices after logout")
            ids = sorted(d.id for d in devices.devices)
            expect(ids == [reg.device_id], f"devices after logout: {ids}, expected only [{reg.device_id!r}]")
            ok("logout: old token gets 401 M_UNKNOWN_TOKEN, its device is gone, the other device still works")
        finally:
            for client in clients:
                await client.close()
            shutil.rmtree(store, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--homeserver", default=os.environ.get("NIO_TEST_HOMESERVER"))
    parser.add_argument("--shared-secret", default=os.environ.get("NIO_TEST_SHARED_SECRET"))
    parser.add_argument("--server-name", default=os.environ.get("NIO_TEST_SERVER_NAME", "localhost"))
    args = parser.parse_args()
    if not args.homeserver or not args.shared_secret:
        parser.error("--homeserver and --shared-secret (or NIO_TEST_HOMESERVER, NIO_TEST_SHARED_SECRET) are required")
    passed: list[str] = []
    try:
        asyncio.run(run(args.homeserver, args.shared_secret, args.server_name, passed))
    except StepFailed as failure:
        print(f"FAIL {failure}", flush=True)
        print(f"nio: {len(passed)} passed, 1 failed", flush=True)
        return 1
    except Exception:  # a crash (connection refused, nio raising) is a failure of the next step
        traceback.print_exc(file=sys.stdout)
        print(f"FAIL step {len(passed) + 1} raised", flush=True)
        print(f"nio: {len(passed)} passed, 1 failed", flush=True)
        return 1
    print(f"nio: {len(passed)} passed, 0 failed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

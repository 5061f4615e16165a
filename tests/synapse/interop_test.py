#!/usr/bin/env python3
"""Federation interop test between Accord and Synapse (stdlib only).

For each room version (10, 11, 12 by default) two scenarios run:
  a: the room is created on Synapse and joined by Accord users,
  b: the room is created on Accord and joined by Synapse users.
Each covers: joins by room id (with the `server_name` via parameter) and by alias, messages,
edits (m.replace) and redactions both ways, an invite of a user on the other server (seen in
/sync rooms.invite, then joined), a leave, a ban (and a refused rejoin), /messages on both
sides listing the same events in the same order; then, in a second room the other server is not
in yet, an invite that is rejected and one that is accepted; history from before the join
(backfill); messages sent from both sides at once (forks), after which both sides must
still agree; 300 messages of history paged back 200 at a time; and 20 messages missed
between a leave and a re-join, paged back in place; an uploaded image downloaded and
thumbnailed on the other server through authenticated federation media; thread replies from
the other server listed by /relations and summarised in the root on both; and a space on one
server whose /hierarchy shows a room of the other (the federation /hierarchy). Once, outside the
scenarios: an Accord user erased by an Accord admin has their messages redacted on Synapse.

Normally started by tests/synapse/run.sh, which starts both servers; by hand:

  python3 interop_test.py --accord-url http://127.0.0.1:PORT --accord-server 127.0.0.1:FED \
      --synapse-url http://127.0.0.1:PORT --synapse-server 127.0.0.1:FED [--only 12a,10b]

One line per step (PASS / FAIL with the reason / SKIP when a step it needs failed); a scenario
goes on after a failure with the steps that don't depend on the failed one. Exit status 1 if
anything failed.
"""

import argparse
import json
import secrets
import struct
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib

CLIENT = "/_matrix/client/v3"


class StepFail(Exception):
    """A step's assertion failed; the message is the reason."""


def q(value):
    """Percent-encodes one path segment (room ids, aliases, event ids, user ids)."""
    return urllib.parse.quote(value, safe="")


def short(value, limit=300):
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[:limit] + "..."


class Server:
    def __init__(self, label, url, server_name):
        self.label = label
        self.url = url.rstrip("/")
        self.server_name = server_name

    def request(self, method, path, body=None, query=None, token=None, timeout=30):
        """Returns (status, parsed JSON body or {"raw": text}); never raises for HTTP errors."""
        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
            return 0, {"errcode": "NETWORK", "error": f"{method} {path}: {err}"}
        try:
            parsed = json.loads(raw) if raw else {}
        except ValueError:
            parsed = {"raw": raw.decode(errors="replace")}
        return status, parsed

    def register(self, localpart):
        body = {"username": localpart, "password": "interop-" + secrets.token_hex(8),
                "auth": {"type": "m.login.dummy"}, "inhibit_login": False}
        status, resp = self.request("POST", CLIENT + "/register", body)
        if status == 401 and "session" in resp:  # servers that want the UIA session first
            body["auth"]["session"] = resp["session"]
            status, resp = self.request("POST", CLIENT + "/register", body)
        if status != 200 or "access_token" not in resp:
            raise StepFail(f"register {localpart} on {self.label}: HTTP {status} {short(resp)}")
        return User(self, resp["user_id"], resp["access_token"])


class User:
    def __init__(self, server, user_id, token):
        self.server = server
        self.user_id = user_id
        self.token = token
        self.since = None
        self.txn = 0

    def __str__(self):
        return f"{self.user_id} ({self.server.label})"

    def req(self, method, path, body=None, query=None, timeout=30):
        return self.server.request(method, path, body, query, self.token, timeout)

    def ok(self, method, path, body=None, query=None, timeout=30):
        status, resp = self.req(method, path, body, query, timeout)
        if status != 200:
            raise StepFail(f"{self.server.label} {method} {path} as {self.user_id}: "
                           f"HTTP {status} {short(resp)}")
        return resp

    def raw(self, method, path, data=None, content_type=None, query=None, timeout=60):
        """A request with a raw body; returns (status, headers, body bytes)."""
        url = self.server.url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        req = urllib.request.Request(url, data=data, method=method)
        if content_type:
            req.add_header("Content-Type", content_type)
        req.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.headers, err.read()
        except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
            return 0, {}, str(err).encode()

    def next_txn(self):
        self.txn += 1
        return f"interop-{int(time.time() * 1000)}-{self.txn}"

    # --- room operations --------------------------------------------------------------------
    def send(self, room_id, content, event_type="m.room.message"):
        path = f"{CLIENT}/rooms/{q(room_id)}/send/{q(event_type)}/{self.next_txn()}"
        event_id = self.ok("PUT", path, content).get("event_id")
        if not isinstance(event_id, str) or not event_id.startswith("$"):
            raise StepFail(f"{self.server.label} send returned no event id")
        return event_id

    def redact(self, room_id, event_id, reason):
        path = f"{CLIENT}/rooms/{q(room_id)}/redact/{q(event_id)}/{self.next_txn()}"
        redaction_id = self.ok("PUT", path, {"reason": reason}).get("event_id")
        if not isinstance(redaction_id, str):
            raise StepFail(f"{self.server.label} redact returned no event id")
        return redaction_id

    def join(self, room_id_or_alias, via=None):
        query = {"server_name": via} if via else None
        return self.req("POST", f"{CLIENT}/join/{q(room_id_or_alias)}", {}, query, timeout=120)

    def get_event(self, room_id, event_id):
        """The event as this user's server has it, or None when it doesn't (yet)."""
        status, resp = self.req("GET", f"{CLIENT}/rooms/{q(room_id)}/event/{q(event_id)}")
        return resp if status == 200 else None

    def state(self, room_id, event_type, state_key=""):
        path = f"{CLIENT}/rooms/{q(room_id)}/state/{q(event_type)}/{q(state_key)}"
        status, resp = self.req("GET", path)
        return resp if status == 200 else None

    def membership(self, room_id, user_id):
        content = self.state(room_id, "m.room.member", user_id)
        return None if content is None else content.get("membership")

    def messages(self, room_id, limit=500):
        """Event ids (and events) of the room's timeline, oldest first, from /messages dir=b."""
        events, token = [], None
        for _ in range(20):
            query = {"dir": "b", "limit": str(limit)}
            if token:
                query["from"] = token
            resp = self.ok("GET", f"{CLIENT}/rooms/{q(room_id)}/messages", query=query)
            chunk = resp.get("chunk", [])
            events.extend(chunk)
            token = resp.get("end")
            if not chunk or not token:
                break
        events.reverse()
        return events

    def invite_and_wait(self, room_id, invitee, timeout):
        """Invites invitee (a user on the other server) and waits for it in their /sync."""
        invitee.sync()  # the since token before the invite
        self.ok("POST", f"{CLIENT}/rooms/{q(room_id)}/invite", {"user_id": invitee.user_id})

        def probe():
            resp = invitee.sync(timeout_ms=1000)
            invites = resp.get("rooms", {}).get("invite", {})
            return invites.get(room_id), f"/sync rooms.invite {short(list(invites))}"
        invite = wait_for(f"{invitee.user_id}'s /sync on {invitee.server.label} to list the "
                          f"invite in rooms.invite", probe, timeout)
        own = [e for e in invite.get("invite_state", {}).get("events", [])
               if e.get("type") == "m.room.member" and e.get("state_key") == invitee.user_id]
        if not own or own[0].get("content", {}).get("membership") != "invite":
            raise StepFail(f"invite_state lacks {invitee.user_id}'s invite: {short(invite)}")
        if own[0].get("sender") != self.user_id:
            raise StepFail(f"invite_state names {own[0].get('sender')} as the inviter")

    def sync(self, timeout_ms=0):
        query = {"timeout": str(timeout_ms)}
        if self.since:
            query["since"] = self.since
        resp = self.ok("GET", f"{CLIENT}/sync", query=query, timeout=timeout_ms / 1000 + 30)
        self.since = resp.get("next_batch", self.since)
        return resp


def wait_for(what, probe, timeout):
    """Calls probe() until it returns something truthy; fails with its last observation.

    probe returns (value, observation): value truthy ends the wait; observation (a string)
    says what was seen, for the failure message."""
    deadline = time.monotonic() + timeout
    seen = "nothing"
    while True:
        value, seen = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise StepFail(f"timed out after {timeout:.0f} s waiting for {what}; last seen: {seen}")
        time.sleep(0.25)


def test_png(width, height):
    """A small RGB gradient PNG, made with the standard library."""
    raw = b""
    for y in range(height):
        raw += b"\x00" + b"".join(bytes((x * 255 // width, y * 255 // height, 128))
                                    for x in range(width))

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def disposition_filename(value):
    """The file name of a Content-Disposition header (RFC 8187 `filename*` or `filename`)."""
    for part in (value or "").split(";"):
        key, _, val = part.strip().partition("=")
        if key.lower() == "filename*" and val.lower().startswith("utf-8''"):
            return urllib.parse.unquote(val[7:])
    for part in (value or "").split(";"):
        key, _, val = part.strip().partition("=")
        if key.lower() == "filename":
            return val.strip('"')
    return None


def redacts_of(event):
    return event.get("redacts") or event.get("content", {}).get("redacts")


class Scenario:
    """One room, created on `home`, with users of `remote` joining it."""

    def __init__(self, version, tag, home, remote, timeout, results):
        self.version = version
        self.tag = tag
        self.home = home
        self.remote = remote
        self.timeout = timeout
        self.results = results
        self.name = f"v{version}/{tag} room on {home.label}, joined from {remote.label}"
        self.status = {}
        self.expected = []  # event ids (from passed steps) that must be on both sides
        self.room_id = None

    # --- bookkeeping ------------------------------------------------------------------------
    def run_step(self, name, needs, fn):
        missing = [n for n in needs if self.status.get(n) != "PASS"]
        if missing:
            self.report(name, "SKIP", f"needs {', '.join(missing)}")
            return
        start = time.monotonic()
        try:
            detail = fn()
            self.report(name, "PASS", detail or "", time.monotonic() - start)
        except StepFail as err:
            self.report(name, "FAIL", str(err), time.monotonic() - start)
        except Exception as err:  # a harness bug: report it as a failure of the step
            self.report(name, "FAIL", f"harness error {type(err).__name__}: {err}",
                        time.monotonic() - start)

    def report(self, name, status, detail, secs=None):
        self.status[name] = status
        self.results.append((self.version, self.tag, name, status, detail))
        took = f" ({secs:.1f} s)" if secs is not None else ""
        print(f"{status:4} v{self.version}{self.tag} {name}{took}: {detail}", flush=True)

    # --- checks -----------------------------------------------------------------------------
    def wait_membership(self, viewer, user, membership):
        def probe():
            seen = viewer.membership(self.room_id, user.user_id)
            return seen == membership, f"membership {seen!r}"
        wait_for(f"{viewer.server.label} to show {user.user_id} as {membership!r}", probe,
                 self.timeout)

    def wait_event(self, viewer, event_id, check):
        """Waits until viewer's server has event_id, then checks it (check raises StepFail)."""
        def probe():
            event = viewer.get_event(self.room_id, event_id)
            return event, "404 / not visible" if event is None else "event"
        event = wait_for(f"{viewer.server.label} to have {event_id}", probe, self.timeout)
        check(event)
        return event

    def wait_redacted(self, viewer, event_id):
        def probe():
            event = viewer.get_event(self.room_id, event_id)
            if event is None:
                return False, "404 / not visible"
            return event.get("content") == {}, f"content {short(event.get('content'), 120)}"
        wait_for(f"{viewer.server.label} to show {event_id} redacted (empty content)", probe,
                 self.timeout)

    # --- steps ------------------------------------------------------------------------------
    def setup(self):
        suffix = secrets.token_hex(3)
        v = f"v{self.version}{self.tag}"
        self.h_a = self.home.register(f"{v}-h-alice-{suffix}")
        self.r_b = self.remote.register(f"{v}-r-bob-{suffix}")      # joins by id; stays
        self.r_c = self.remote.register(f"{v}-r-carol-{suffix}")    # joins by alias; leaves
        self.r_d = self.remote.register(f"{v}-r-dave-{suffix}")     # invited; joins
        self.r_e = self.remote.register(f"{v}-r-eve-{suffix}")      # joins; banned
        self.r_f = self.remote.register(f"{v}-r-frank-{suffix}")    # room 2: invited, joins
        self.r_g = self.remote.register(f"{v}-r-grace-{suffix}")    # room 2: invited, rejects
        self.alias_local = f"interop-{v}-{suffix}"
        self.alias = f"#{self.alias_local}:{self.home.server_name}"
        return "users registered"

    def create_room(self):
        resp = self.h_a.ok("POST", f"{CLIENT}/createRoom", {
            "room_version": self.version, "preset": "public_chat",
            "room_alias_name": self.alias_local, "name": f"interop {self.name}"})
        self.room_id = resp.get("room_id")
        if not isinstance(self.room_id, str) or not self.room_id.startswith("!"):
            raise StepFail(f"createRoom returned {short(resp)}")
        create = self.h_a.state(self.room_id, "m.room.create")
        if create is None or create.get("room_version") != self.version:
            raise StepFail(f"m.room.create on {self.home.label}: {short(create)}")
        if self.version == "12" and ":" in self.room_id:
            raise StepFail(f"v12 room id {self.room_id} carries a server name")
        resolved = self.h_a.ok("GET", f"{CLIENT}/directory/room/{q(self.alias)}")
        if resolved.get("room_id") != self.room_id:
            raise StepFail(f"alias {self.alias} resolves to {short(resolved)}")
        self.pre_body = f"before anyone joined v{self.version}{self.tag} {secrets.token_hex(4)}"
        self.msg_pre = self.h_a.send(self.room_id, {"msgtype": "m.text", "body": self.pre_body})
        return self.room_id

    def joined_check(self, user):
        """user (on remote) has joined: both servers agree, and remote has the room's state."""
        self.wait_membership(self.h_a, user, "join")
        self.wait_membership(user, user, "join")
        create = user.state(self.room_id, "m.room.create")
        if create is None or create.get("room_version") != self.version:
            raise StepFail(f"{self.remote.label} has m.room.create {short(create)} after the join")
        creator_membership = user.membership(self.room_id, self.h_a.user_id)
        if creator_membership != "join":
            raise StepFail(f"{self.remote.label} shows the creator as {creator_membership!r}")
        name = user.state(self.room_id, "m.room.name")
        if name is None or name.get("name") != f"interop {self.name}":
            raise StepFail(f"{self.remote.label} has m.room.name {short(name)} after the join")

    def join_by_id(self):
        status, resp = self.r_b.join(self.room_id, via=self.home.server_name)
        if status != 200 or resp.get("room_id") != self.room_id:
            raise StepFail(f"{self.remote.label} POST /join/{self.room_id}?server_name="
                           f"{self.home.server_name}: HTTP {status} {short(resp)}")
        self.joined_check(self.r_b)
        return f"{self.r_b.user_id} joined"

    def join_by_alias(self):
        resolved = self.r_c.ok("GET", f"{CLIENT}/directory/room/{q(self.alias)}")
        if resolved.get("room_id") != self.room_id or self.home.server_name not in resolved.get(
                "servers", []):
            raise StepFail(f"{self.remote.label} resolves {self.alias} to {short(resolved)}")
        status, resp = self.r_c.join(self.alias)
        if status != 200 or resp.get("room_id") != self.room_id:
            raise StepFail(f"{self.remote.label} POST /join/{self.alias}: HTTP {status} "
                           f"{short(resp)}")
        self.joined_check(self.r_c)
        return f"{self.r_c.user_id} joined via {self.alias}"

    def send_message(self, sender, receiver, label):
        body = f"{label} v{self.version}{self.tag} {secrets.token_hex(4)}"
        event_id = sender.send(self.room_id, {"msgtype": "m.text", "body": body})

        def check(event):
            if (event.get("type") != "m.room.message" or event.get("sender") != sender.user_id
                    or event.get("content", {}).get("body") != body):
                raise StepFail(f"{receiver.server.label} has {event_id} as {short(event)}")
        self.wait_event(receiver, event_id, check)
        self.expected.append(event_id)
        return event_id

    def message_home_to_remote(self):
        self.msg_h = self.send_message(self.h_a, self.r_b, f"hello from {self.home.label}")
        return self.msg_h

    def message_remote_to_home(self):
        self.msg_r = self.send_message(self.r_b, self.h_a, f"hello from {self.remote.label}")
        return self.msg_r

    def edit(self, sender, receiver, original):
        new_body = f"edited by {sender.server.label} {secrets.token_hex(4)}"
        event_id = sender.send(self.room_id, {
            "msgtype": "m.text", "body": "* " + new_body,
            "m.new_content": {"msgtype": "m.text", "body": new_body},
            "m.relates_to": {"rel_type": "m.replace", "event_id": original}})

        def check(event):
            content = event.get("content", {})
            relation = content.get("m.relates_to", {})
            if (relation.get("rel_type") != "m.replace" or relation.get("event_id") != original
                    or content.get("m.new_content", {}).get("body") != new_body
                    or event.get("sender") != sender.user_id):
                raise StepFail(f"{receiver.server.label} has edit {event_id} as {short(event)}")
        self.wait_event(receiver, event_id, check)
        self.expected.append(event_id)
        return event_id

    def edit_home_to_remote(self):
        return self.edit(self.h_a, self.r_b, self.msg_h)

    def edit_remote_to_home(self):
        return self.edit(self.r_b, self.h_a, self.msg_r)

    def redact(self, sender, receiver, target):
        redaction_id = sender.redact(self.room_id, target, "interop test")

        def check(event):
            if event.get("type") != "m.room.redaction" or redacts_of(event) != target:
                raise StepFail(f"{receiver.server.label} has redaction {redaction_id} as "
                               f"{short(event)}")
        self.wait_event(receiver, redaction_id, check)
        self.wait_redacted(receiver, target)
        self.wait_redacted(sender, target)
        self.expected.append(redaction_id)
        return f"{target} redacted by {redaction_id}"

    def redact_home_to_remote(self):
        return self.redact(self.h_a, self.r_b, self.msg_h)

    def redact_remote_to_home(self):
        return self.redact(self.r_b, self.h_a, self.msg_r)

    def invite(self):
        """An invite to a user whose server is already in the room."""
        self.h_a.invite_and_wait(self.room_id, self.r_d, self.timeout)
        self.wait_membership(self.h_a, self.r_d, "invite")
        self.wait_membership(self.r_b, self.r_d, "invite")
        status, resp = self.r_d.join(self.room_id, via=self.home.server_name)
        if status != 200 or resp.get("room_id") != self.room_id:
            raise StepFail(f"{self.remote.label} join of the invited room: HTTP {status} "
                           f"{short(resp)}")
        self.joined_check(self.r_d)
        return f"{self.r_d.user_id} invited, saw the invite in /sync and joined"

    def leave(self):
        self.r_c.ok("POST", f"{CLIENT}/rooms/{q(self.room_id)}/leave", {})
        self.wait_membership(self.h_a, self.r_c, "leave")
        self.wait_membership(self.r_b, self.r_c, "leave")
        return f"{self.r_c.user_id} left"

    def ban(self):
        status, resp = self.r_e.join(self.room_id, via=self.home.server_name)
        if status != 200:
            raise StepFail(f"{self.r_e.user_id} could not join before the ban: HTTP {status} "
                           f"{short(resp)}")
        self.joined_check(self.r_e)
        self.h_a.ok("POST", f"{CLIENT}/rooms/{q(self.room_id)}/ban",
                    {"user_id": self.r_e.user_id, "reason": "interop test"})
        self.wait_membership(self.h_a, self.r_e, "ban")
        self.wait_membership(self.r_b, self.r_e, "ban")
        status, resp = self.r_e.join(self.room_id, via=self.home.server_name)
        if status != 403:
            raise StepFail(f"banned {self.r_e.user_id} rejoining got HTTP {status} {short(resp)}, "
                           f"not 403")
        time.sleep(1)  # a wrongly accepted rejoin would show up by now
        for viewer in (self.h_a, self.r_b):
            seen = viewer.membership(self.room_id, self.r_e.user_id)
            if seen != "ban":
                raise StepFail(f"after the refused rejoin {viewer.server.label} shows "
                               f"{self.r_e.user_id} as {seen!r}")
        return f"{self.r_e.user_id} banned; rejoin refused with 403 {resp.get('errcode')}"

    def history(self, concurrent=(), before=frozenset()):
        """Both servers' /messages list the same events in the same order.

        concurrent: lists of event ids, each list sent in that order by one user while the
        others sent theirs at the same time; before: ids of events that existed before (their
        ancestors). The concurrent events must come after those and in each list's order, but
        events from different lists have no order both servers must agree on (each server
        orders a fork its own way), so the same-order check leaves them out."""
        last = {}
        loose = {event_id for group in concurrent for event_id in group}

        def causal_problems(label, ids):
            first_loose = min(n for n, i in enumerate(ids) if i in loose)
            if any(i in before for i in ids[first_loose:]):
                return [f"{label}: a concurrent event is listed before an older event"]
            for group in concurrent:
                if [i for i in ids if i in set(group)] != list(group):
                    return [f"{label}: one sender's concurrent events out of their send order"]
            return []

        def probe():
            home_events = self.h_a.messages(self.room_id)
            remote_events = self.r_b.messages(self.room_id)
            home_ids = [e["event_id"] for e in home_events]
            remote_ids = [e["event_id"] for e in remote_events]
            home_set, remote_set = set(home_ids), set(remote_ids)
            problems = []
            missing = [e for e in self.expected if e not in home_set or e not in remote_set]
            if missing:
                problems.append(f"{len(missing)} of the test's events missing "
                                f"(home has {sum(e in home_set for e in missing)}, remote has "
                                f"{sum(e in remote_set for e in missing)}): {missing[:3]}")
            # From the first remote join on, the home server's timeline must all be on the
            # remote, and everything the remote has must be on the home server.
            join_at = next((i for i, e in enumerate(home_events)
                            if e.get("type") == "m.room.member"
                            and e.get("state_key") == self.r_b.user_id), None)
            if join_at is None:
                problems.append(f"{self.home.label} /messages lacks {self.r_b.user_id}'s join")
            else:
                only_home = [i for i in home_ids[join_at:] if i not in remote_set]
                if only_home:
                    problems.append(f"{len(only_home)} events after the join only on "
                                    f"{self.home.label}: {only_home[:3]}")
            only_remote = [i for i in remote_ids if i not in home_set]
            if only_remote:
                problems.append(f"{len(only_remote)} events only on {self.remote.label}: "
                                f"{only_remote[:3]}")
            common_home = [i for i in home_ids if i in remote_set]
            common_remote = [i for i in remote_ids if i in home_set]
            if loose and not missing:
                problems += causal_problems(self.home.label, common_home)
                problems += causal_problems(self.remote.label, common_remote)
            strict_home = [i for i in common_home if i not in loose]
            strict_remote = [i for i in common_remote if i not in loose]
            if strict_home != strict_remote:
                at = next(i for i, (x, y) in enumerate(zip(strict_home + [None],
                                                          strict_remote + [None])) if x != y)
                problems.append(f"order differs at common event #{at}: {self.home.label} "
                                f"{strict_home[at:at + 2]} vs {self.remote.label} "
                                f"{strict_remote[at:at + 2]}")
            last["common"] = len(common_home)
            return not problems, "; ".join(problems)
        wait_for("both /messages to agree", probe, self.timeout)
        return f"{last['common']} events in the same order on both sides" + (
            f" ({len(loose)} concurrent ones in causal order)" if loose else "")

    def room2(self):
        """A private room on home with no remote member yet (created on first use)."""
        if getattr(self, "room2_id", None) is None:
            resp = self.h_a.ok("POST", f"{CLIENT}/createRoom", {
                "room_version": self.version, "preset": "private_chat",
                "name": f"interop invites {self.name}"})
            self.room2_id = resp["room_id"]
        return self.room2_id

    def invite_reject_new_server(self):
        """An invite to a server not in the room (/invite), rejected (make_leave/send_leave)."""
        room = self.room2()
        self.h_a.invite_and_wait(room, self.r_g, self.timeout)
        if self.h_a.membership(room, self.r_g.user_id) != "invite":
            raise StepFail(f"{self.home.label} does not show {self.r_g.user_id} as invited")
        self.r_g.ok("POST", f"{CLIENT}/rooms/{q(room)}/leave", {}, timeout=120)

        def probe():
            seen = self.h_a.membership(room, self.r_g.user_id)
            return seen == "leave", f"membership {seen!r}"
        wait_for(f"{self.home.label} to show {self.r_g.user_id}'s rejection as 'leave'", probe,
                 self.timeout)

        def probe_sync():
            resp = self.r_g.sync(timeout_ms=1000)
            rooms = resp.get("rooms", {})
            return (room in rooms.get("leave", {}) and room not in rooms.get("invite", {}),
                    f"/sync rooms.leave {short(list(rooms.get('leave', {})))}")
        wait_for(f"{self.r_g.user_id}'s /sync to move the room to rooms.leave", probe_sync,
                 self.timeout)
        return f"{self.r_g.user_id} rejected the invite"

    def invite_join_new_server(self):
        """An invite to a server not in the room (/invite), accepted (make_join/send_join)."""
        room = self.room2()
        self.h_a.invite_and_wait(room, self.r_f, self.timeout)
        status, resp = self.r_f.join(room, via=self.home.server_name)
        if status != 200 or resp.get("room_id") != room:
            raise StepFail(f"{self.remote.label} join of the invited room: HTTP {status} "
                           f"{short(resp)}")
        for viewer in (self.h_a, self.r_f):
            def probe(viewer=viewer):
                seen = viewer.membership(room, self.r_f.user_id)
                return seen == "join", f"membership {seen!r}"
            wait_for(f"{viewer.server.label} to show {self.r_f.user_id} joined", probe,
                     self.timeout)
        body = f"invited and joined {secrets.token_hex(4)}"
        event_id = self.r_f.send(room, {"msgtype": "m.text", "body": body})

        def probe_event():
            event = self.h_a.get_event(room, event_id)
            return event, "404 / not visible"
        event = wait_for(f"{self.home.label} to have {event_id}", probe_event, self.timeout)
        if event.get("content", {}).get("body") != body:
            raise StepFail(f"{self.home.label} has {event_id} as {short(event)}")
        return f"{self.r_f.user_id} joined the invite-only room and posted"

    def pre_join_history(self):
        """History visibility "shared": the remote can page back to messages from before it
        joined (which it has to fetch from the home server)."""
        def probe():
            events = self.r_b.messages(self.room_id)
            pre = [e for e in events if e.get("event_id") == self.msg_pre]
            if not pre:
                return None, f"{len(events)} events, oldest {short(events[:1], 160)}"
            return pre[0], "found"
        event = wait_for(f"{self.remote.label} /messages to reach {self.msg_pre} from before "
                         f"the join", probe, self.timeout)
        if event.get("content", {}).get("body") != self.pre_body:
            raise StepFail(f"{self.remote.label} has {self.msg_pre} as {short(event)}")
        return f"{self.msg_pre} visible on {self.remote.label}"

    def long_history(self):
        """300 messages on home in a room remote joins afterwards: remote pages /messages back
        200 at a time (as Complement's TestMessagesOverFederation does) and gets all 300, in
        order, fetched from home with /backfill across several rounds and pages."""
        count = 300
        resp = self.h_a.ok("POST", f"{CLIENT}/createRoom", {
            "room_version": self.version, "preset": "public_chat",
            "name": f"interop long history {self.name}"})
        room_id = resp["room_id"]
        tag = secrets.token_hex(3)
        bodies = [f"long history {tag} {i}" for i in range(count)]
        for body in bodies:
            self.h_a.send(room_id, {"msgtype": "m.text", "body": body})
        status, resp = self.r_b.join(room_id, via=self.home.server_name)
        if status != 200:
            raise StepFail(f"{self.remote.label} join: HTTP {status} {short(resp)}")
        events = self.r_b.messages(room_id, limit=200)
        got = [e.get("content", {}).get("body") for e in events
               if e.get("type") == "m.room.message"
               and str(e.get("content", {}).get("body", "")).startswith(f"long history {tag}")]
        if got != bodies:
            missing = count - len(set(got) & set(bodies))
            raise StepFail(f"{self.remote.label} paged back {len(got)} of {count} messages "
                           f"({missing} missing; in order: {got == sorted(got, key=bodies.index)})")
        return f"{count} messages paged back on {self.remote.label}, in order"

    def rejoin_history(self):
        """Remote joins, leaves, misses 20 messages and joins again (as Complement's
        TestMessagesOverFederation "after re-joining room" does): paging /messages back 10 at
        a time on remote shows all 20, in order, between the leave and the re-join; remote
        fetches them from home with /backfill to fill the hole in its timeline."""
        resp = self.h_a.ok("POST", f"{CLIENT}/createRoom", {
            "room_version": self.version, "preset": "public_chat",
            "name": f"interop rejoin {self.name}"})
        room_id = resp["room_id"]
        tag = secrets.token_hex(3)
        bodies = [f"while away {tag} {i}" for i in range(20)]

        def wait_seen_by_home(membership):
            def probe():
                seen = self.h_a.membership(room_id, self.r_b.user_id)
                return seen == membership, f"membership {seen!r}"
            wait_for(f"{self.home.label} to show {self.r_b.user_id} as {membership!r}", probe,
                     self.timeout)

        for attempt in ("join", "rejoin"):
            status, resp = self.r_b.join(room_id, via=self.home.server_name)
            if status != 200:
                raise StepFail(f"{self.remote.label} {attempt}: HTTP {status} {short(resp)}")
            wait_seen_by_home("join")
            if attempt == "rejoin":
                break
            self.r_b.ok("POST", f"{CLIENT}/rooms/{q(room_id)}/leave", {})
            wait_seen_by_home("leave")
            for body in bodies:
                self.h_a.send(room_id, {"msgtype": "m.text", "body": body})
        events = self.r_b.messages(room_id, limit=10)
        got = [e.get("content", {}).get("body") for e in events if e.get("type") == "m.room.message"]
        if got != bodies:
            raise StepFail(f"{self.remote.label} paged back {len(got)} of 20 missed messages: "
                           f"{short(got, 200)}")
        me = self.r_b.user_id

        def positions(wanted):
            return [i for i, e in enumerate(events) if wanted(e)]
        missed = positions(lambda e: e.get("content", {}).get("body") in bodies)
        leaves = positions(lambda e: e.get("type") == "m.room.member" and e.get("state_key") == me
                           and e["content"].get("membership") == "leave")
        joins = positions(lambda e: e.get("type") == "m.room.member" and e.get("state_key") == me
                          and e["content"].get("membership") == "join")
        if not (leaves and len(joins) == 2 and leaves[0] < missed[0] and missed[-1] < joins[1]):
            raise StepFail(f"{self.remote.label} shows the missed messages out of place: "
                           f"joins {joins}, leaves {leaves}, missed {missed[0]}..{missed[-1]}")
        return f"20 missed messages paged back in place on {self.remote.label}"

    def media(self):
        """A PNG named with an emoji, uploaded on home, downloaded on remote through
        authenticated federation media (same bytes, type and name) and thumbnailed there."""
        png = test_png(64, 48)
        status, _, body = self.h_a.raw("POST", "/_matrix/media/v3/upload", png, "image/png",
                                       {"filename": "\U0001F414"})
        if status != 200:
            raise StepFail(f"{self.home.label} upload: HTTP {status} {short(body.decode(errors='replace'))}")
        mxc = json.loads(body)["content_uri"]
        path = mxc[len("mxc://"):]
        status, headers, got = self.r_b.raw("GET", f"/_matrix/client/v1/media/download/{path}")
        if status != 200 or got != png:
            raise StepFail(f"{self.remote.label} download of {mxc}: HTTP {status}, "
                           f"{len(got)} bytes (want {len(png)})")
        if headers.get("Content-Type") != "image/png":
            raise StepFail(f"{self.remote.label} serves {mxc} as {headers.get('Content-Type')}")
        name = disposition_filename(headers.get("Content-Disposition"))
        if name != "\U0001F414":
            raise StepFail(f"{self.remote.label} names {mxc} {name!r}: "
                           f"{headers.get('Content-Disposition')}")
        status, headers, thumb = self.r_b.raw(
            "GET", f"/_matrix/client/v1/media/thumbnail/{path}",
            query={"width": "32", "height": "32", "method": "crop"})
        if status != 200:
            raise StepFail(f"{self.remote.label} thumbnail of {mxc}: HTTP {status} {short(thumb.decode(errors='replace'))}")
        if thumb[:8] == b"\x89PNG\r\n\x1a\n":
            size = struct.unpack(">II", thumb[16:24])
            if size != (32, 32):
                raise StepFail(f"{self.remote.label} thumbnail is {size}, want (32, 32)")
        elif thumb[:2] != b"\xff\xd8":
            raise StepFail(f"{self.remote.label} thumbnail is neither PNG nor JPEG "
                           f"({headers.get('Content-Type')})")
        return f"{mxc} downloaded and thumbnailed on {self.remote.label}"

    def thread(self):
        """home's root gets two thread replies from remote; both servers list them in
        /relations (newest first) and bundle the thread summary into the root."""
        root = self.h_a.send(self.room_id, {"msgtype": "m.text", "body": "thread root"})
        # Synapse refuses a relation to an event it has not received yet.
        self.wait_event(self.r_b, root, lambda event: None)
        replies = [self.r_b.send(self.room_id, {
            "msgtype": "m.text", "body": f"reply {i}",
            "m.relates_to": {"rel_type": "m.thread", "event_id": root}}) for i in range(2)]
        for viewer in (self.h_a, self.r_b):
            def listed(viewer=viewer):
                status, page = viewer.req(
                    "GET", f"/_matrix/client/v1/rooms/{q(self.room_id)}/relations/{q(root)}/m.thread")
                ids = [e.get("event_id") for e in page.get("chunk", [])] if status == 200 else []
                return ids == replies[::-1], f"HTTP {status} {ids}"
            wait_for(f"{viewer.server.label} to list the thread replies", listed, self.timeout)
            event = viewer.get_event(self.room_id, root) or {}
            summary = event.get("unsigned", {}).get("m.relations", {}).get("m.thread", {})
            if summary.get("count") != 2 or summary.get("latest_event", {}).get("event_id") != replies[1]:
                raise StepFail(f"{viewer.server.label} thread summary of the root: {short(summary)}")
        return f"2 replies from {self.remote.label} listed and summarised on both"

    def hierarchy(self):
        """A space on remote names a public room on home (via home); remote's /hierarchy
        shows that room, fetched from home over the federation /hierarchy."""
        child = self.h_a.ok("POST", f"{CLIENT}/createRoom", {
            "room_version": self.version, "preset": "public_chat",
            "name": f"space child {self.name}"})["room_id"]
        space = self.r_b.ok("POST", f"{CLIENT}/createRoom", {
            "room_version": self.version, "preset": "public_chat", "name": f"space {self.name}",
            "creation_content": {"type": "m.space"}})["room_id"]
        self.r_b.ok("PUT", f"{CLIENT}/rooms/{q(space)}/state/m.space.child/{q(child)}",
                    {"via": [self.home.server_name]})
        page = self.r_b.ok("GET", f"/_matrix/client/v1/rooms/{q(space)}/hierarchy")
        rooms = {r.get("room_id"): r for r in page.get("rooms", [])}
        if space not in rooms or child not in rooms:
            raise StepFail(f"{self.remote.label} hierarchy lists {list(rooms)}, want {space} and {child}")
        if rooms[child].get("name") != f"space child {self.name}":
            raise StepFail(f"{self.remote.label} summary of {self.home.label}'s room: {short(rooms[child])}")
        return f"{self.remote.label}'s space shows {self.home.label}'s room"

    def concurrent_messages(self):
        """Both sides send at once, so the room DAG forks; all messages must arrive on both
        sides and /messages must then agree again."""
        count = 5
        sent = {self.h_a: [], self.r_b: []}
        errors = []
        before = {e["event_id"] for e in self.h_a.messages(self.room_id)}

        def sender(user):
            try:
                for i in range(count):
                    body = f"concurrent {user.server.label} {i} {secrets.token_hex(3)}"
                    sent[user].append((user.send(self.room_id, {"msgtype": "m.text",
                                                                "body": body}), body))
            except StepFail as err:
                errors.append(str(err))
        threads = [threading.Thread(target=sender, args=(u,)) for u in sent]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise StepFail(errors[0])
        for user, other in ((self.h_a, self.r_b), (self.r_b, self.h_a)):
            for event_id, body in sent[user]:
                def check(event, event_id=event_id, body=body):
                    if event.get("content", {}).get("body") != body:
                        raise StepFail(f"{other.server.label} has {event_id} as {short(event)}")
                self.wait_event(other, event_id, check)
                self.expected.append(event_id)
        self.history(concurrent=[[e for e, _ in sent[u]] for u in sent], before=before)
        return f"{2 * count} concurrent messages on both sides, /messages agree"

    def run(self):
        print(f"---- {self.name}", flush=True)
        self.run_step("setup", [], self.setup)
        self.run_step("create_room", ["setup"], self.create_room)
        self.run_step("join_by_id", ["create_room"], self.join_by_id)
        self.run_step("join_by_alias", ["create_room"], self.join_by_alias)
        self.run_step("message_home_to_remote", ["join_by_id"], self.message_home_to_remote)
        self.run_step("message_remote_to_home", ["join_by_id"], self.message_remote_to_home)
        self.run_step("edit_home_to_remote", ["message_home_to_remote"], self.edit_home_to_remote)
        self.run_step("edit_remote_to_home", ["message_remote_to_home"], self.edit_remote_to_home)
        self.run_step("redact_home_to_remote", ["edit_home_to_remote"],
                      self.redact_home_to_remote)
        self.run_step("redact_remote_to_home", ["edit_remote_to_home"],
                      self.redact_remote_to_home)
        self.run_step("invite", ["join_by_id"], self.invite)
        self.run_step("leave", ["join_by_id", "join_by_alias"], self.leave)
        self.run_step("ban", ["join_by_id"], self.ban)
        self.run_step("history", ["join_by_id"], self.history)
        self.run_step("invite_reject_new_server", ["create_room"], self.invite_reject_new_server)
        self.run_step("invite_join_new_server", ["create_room"], self.invite_join_new_server)
        self.run_step("pre_join_history", ["join_by_id"], self.pre_join_history)
        self.run_step("concurrent_messages", ["join_by_id"], self.concurrent_messages)
        self.run_step("long_history", ["setup"], self.long_history)
        self.run_step("rejoin_history", ["setup"], self.rejoin_history)
        self.run_step("media", ["setup"], self.media)
        self.run_step("thread", ["join_by_id"], self.thread)
        self.run_step("hierarchy", ["setup"], self.hierarchy)


def erasure_reaches_partner(accord, synapse, admin_password, timeout):
    """An Accord user erased by an Accord admin (deactivate with erase): the messages they sent
    in a room on Synapse are redacted there too (the redactions federated)."""
    admin_resp = accord.request("POST", CLIENT + "/login", {
        "type": "m.login.password", "identifier": {"type": "m.id.user", "user": "interop-admin"},
        "password": admin_password})[1]
    admin_token = admin_resp.get("access_token")
    if not admin_token:
        raise StepFail(f"interop-admin could not log in on {accord.label}: {short(admin_resp)}")
    leaver = accord.register("erased" + secrets.token_hex(3))
    host = synapse.register("host" + secrets.token_hex(3))
    room_id = host.ok("POST", CLIENT + "/createRoom", {"preset": "public_chat", "room_version": "12"})["room_id"]
    status, resp = leaver.join(room_id, via=synapse.server_name)
    if status != 200:
        raise StepFail(f"join over federation: HTTP {status} {short(resp)}")
    sent = [leaver.send(room_id, {"msgtype": "m.text", "body": f"to be erased {n}"}) for n in range(3)]
    for event_id in sent:
        wait_for(f"{event_id} on {synapse.label}", lambda: (host.get_event(room_id, event_id), "not yet"), timeout)
    status, resp = accord.request("POST", f"/_synapse/admin/v1/deactivate/{q(leaver.user_id)}",
                                  {"erase": True}, token=admin_token, timeout=120)
    if status != 200:
        raise StepFail(f"erase on {accord.label}: HTTP {status} {short(resp)}")
    for event_id in sent:
        def probe(event_id=event_id):
            event = host.get_event(room_id, event_id) or {}
            redacted = event.get("content") == {} and "redacted_because" in event.get("unsigned", {})
            return redacted, short(event)
        wait_for(f"{event_id} redacted on {synapse.label}", probe, timeout)
    status, resp = host.req("GET", f"{CLIENT}/rooms/{q(room_id)}/state/m.room.member/{q(leaver.user_id)}")
    if status != 200 or resp.get("membership") != "leave":
        raise StepFail(f"the erased user is still a member on {synapse.label}: {short(resp)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accord-url", required=True, help="Accord client API base URL")
    parser.add_argument("--accord-server", required=True, help="Accord's server_name")
    parser.add_argument("--synapse-url", required=True, help="Synapse client API base URL")
    parser.add_argument("--synapse-server", required=True, help="Synapse's server_name")
    parser.add_argument("--accord-label", default="accord",
                        help="name of the --accord-* server in the output (run.sh's self-check "
                             "puts a second Synapse there)")
    parser.add_argument("--versions", default="10,11,12", help="room versions (comma list)")
    parser.add_argument("--only", default="",
                        help="comma list of scenarios to run, e.g. 12a,10b, or a, or 11; "
                             "erasure for the erasure step")
    parser.add_argument("--accord-admin-password", default="",
                        help="password of the admin interop-admin on Accord (run.sh makes it); "
                             "without it the erasure step is left out")
    parser.add_argument("--timeout", type=float, default=30,
                        help="seconds to wait for each propagation (default 30)")
    args = parser.parse_args()

    accord = Server(args.accord_label, args.accord_url, args.accord_server)
    synapse = Server("synapse", args.synapse_url, args.synapse_server)
    only = [o.strip() for o in args.only.split(",") if o.strip()]
    results = []
    started = time.monotonic()
    for version in [v.strip() for v in args.versions.split(",") if v.strip()]:
        for tag, home, remote in (("a", synapse, accord), ("b", accord, synapse)):
            key = f"{version}{tag}"
            if only and not any(o in key or o == tag for o in only):
                continue
            Scenario(version, tag, home, remote, args.timeout, results).run()

    if args.accord_admin_password and (not only or "erasure" in only):
        name = "erasure: the partner gets the redactions"
        try:
            erasure_reaches_partner(accord, synapse, args.accord_admin_password, args.timeout)
            results.append(("12", "x", name, "PASS", ""))
            print(f"PASS v12 {name}")
        except StepFail as err:
            results.append(("12", "x", name, "FAIL", str(err)))
            print(f"FAIL v12 {name}: {err}")

    passed = sum(1 for r in results if r[3] == "PASS")
    failed = [r for r in results if r[3] == "FAIL"]
    skipped = sum(1 for r in results if r[3] == "SKIP")
    print(f"---- summary ({time.monotonic() - started:.0f} s)")
    for version, tag, name, _, detail in failed:
        print(f"FAIL v{version}{tag} {name}: {short(detail, 200)}")
    print(f"{passed} passed, {len(failed)} failed, {skipped} skipped")
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())

"""A local fake of the Slack Web API (and Socket Mode), on an ephemeral port.

It records every call, validates every Block Kit payload with slack_sdk.models the way Slack
would refuse it, serves files for download, and can be told to fail (5xx, 429, dropped
connections) so that delivery under an outage can be tested.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from tests.fakes import serve_locally

MESSAGE_BLOCKS_MAX = 50
VIEW_BLOCKS_MAX = 100
BLOCK_METHODS = {
    "chat.postMessage": MESSAGE_BLOCKS_MAX,
    "chat.update": MESSAGE_BLOCKS_MAX,
    "chat.postEphemeral": MESSAGE_BLOCKS_MAX,
}
VIEW_METHODS = {"views.open", "views.update", "views.push", "views.publish"}


class BlockKitError(AssertionError):
    pass


def _normalise(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


def validate_blocks(blocks: Any, limit: int) -> None:
    """Refuse what Slack refuses: each block parsed and validated by slack_sdk.models, the
    round trip losing nothing (an unknown or misspelt key), and the block count."""
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    if not isinstance(blocks, list):
        raise BlockKitError(f"blocks must be a list, not {type(blocks).__name__}")
    if len(blocks) > limit:
        raise BlockKitError(f"{len(blocks)} blocks; at most {limit}")
    for raw in blocks:
        parsed = Block.parse(raw)
        if parsed is None:
            raise BlockKitError(f"unknown block {raw!r}")
        try:
            rendered = parsed.to_dict()
        except Exception as error:
            raise BlockKitError(f"invalid block {raw!r}: {error}") from error
        if _normalise(rendered) != _normalise(raw):
            raise BlockKitError(f"block does not survive validation:\n{raw}\n!=\n{rendered}")


def validate_view(view: Any) -> None:
    if isinstance(view, str):
        view = json.loads(view)
    try:
        View(**view).to_dict()
    except Exception as error:
        raise BlockKitError(f"invalid view: {error}") from error
    validate_blocks(view.get("blocks", []), VIEW_BLOCKS_MAX)


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str | None
    answer: dict[str, Any] = field(default_factory=dict)


@dataclass
class Fault:
    """One failure to answer with, instead of success."""

    status: int = 500
    body: str = '{"ok": false, "error": "internal_error"}'
    headers: dict[str, str] = field(default_factory=dict)
    drop_connection: bool = False
    only_when: dict[str, str] = field(default_factory=dict)  # e.g. {"users": "U0NETDEP"}


@dataclass
class FakeSlack:
    bot_token: str = "xoxb-test-token"
    app_token: str = "xapp-test-token"
    calls: list[Call] = field(default_factory=list)
    failed: list[Call] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    uploads: dict[str, bytes] = field(default_factory=dict)  # file id -> what the bot uploaded
    socket_acks: list[dict[str, Any]] = field(default_factory=list)
    # What the bot posted to interactions' response_url, by the key in the address.
    responses: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    delay: float = 0.0  # seconds before each answer, to make work overlap
    # The workspace the bot token belongs to, as auth.test tells it; on Enterprise Grid also
    # the organisation, and whether the app is installed across all of it.
    team_id: str = "T0SCHOOL"
    team_name: str = "Oakgreen"
    enterprise_id: str | None = None
    enterprise_install: bool = False
    # The workspace's members users.info knows: user id -> (real name, display name).
    members: dict[str, tuple[str, str]] = field(default_factory=dict)
    # The workspace as users.list lists it, each member shaped as Slack's user object (see
    # add_member); deleted members and bots included, as Slack includes them.
    roster: list[dict[str, Any]] = field(default_factory=list)
    # Whether the app was granted users:read.email: without it Slack leaves profile.email out.
    email_scope: bool = True
    # Slack may answer fewer members than `limit` asks for; this many at most, if set.
    users_page_most: int | None = None
    base_url: str = ""
    _runner: web.AppRunner | None = None
    _sockets: list[web.WebSocketResponse] = field(default_factory=list)
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        # slack_sdk sends some methods (users.info among them) as GET; Slack takes both.
        app.router.add_get("/api/{method}", self._api)
        app.router.add_get("/files/{name}", self._file)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/socket", self._socket)
        app.router.add_post("/response/{key}", self._response)
        self._runner, self.root = await serve_locally(app)
        self.base_url = f"{self.root}/api/"
        return self

    async def stop(self) -> None:
        for socket in self._sockets:
            await socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- what tests use -------------------------------------------------------------------

    def fail_next(self, method: str, *faults: Fault) -> None:
        self.faults.setdefault(method, []).extend(faults)

    def add_file(self, name: str, content: bytes, content_type: str = "image/png") -> str:
        self.files[name] = (content, content_type)
        return f"{self.root}/files/{name}"

    def add_member(
        self,
        user_id: str,
        real_name: str,
        display_name: str = "",
        email: str | None = None,
        *,
        is_bot: bool = False,
        deleted: bool = False,
    ) -> None:
        """A member of the workspace, as Slack's user object has it
        (docs.slack.dev/reference/objects/user-object)."""
        profile: dict[str, Any] = {
            "avatar_hash": "g0000000000a",
            "status_text": "",
            "status_emoji": "",
            "real_name": real_name,
            "display_name": display_name,
            "real_name_normalized": real_name,
            "display_name_normalized": display_name,
            "image_24": f"https://secure.gravatar.com/avatar/{user_id}.jpg?s=24",
            "team": self.team_id,
        }
        if email is not None:
            profile["email"] = email
        self.roster.append(
            {
                "id": user_id,
                "team_id": self.team_id,
                "name": (display_name or real_name).lower().replace(" ", "."),
                "deleted": deleted,
                "color": "9f69e7",
                "real_name": real_name,
                "tz": "Europe/London",
                "tz_label": "Greenwich Mean Time",
                "tz_offset": 0,
                "profile": profile,
                "is_admin": False,
                "is_owner": False,
                "is_primary_owner": False,
                "is_restricted": False,
                "is_ultra_restricted": False,
                "is_bot": is_bot,
                "is_app_user": False,
                "updated": 1700000000,
            }
        )

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def messages_to(self, user_id: str) -> list[Call]:
        channel = f"D{user_id}"
        return [c for c in self.calls_to("chat.postMessage") if c.args.get("channel") == channel]

    async def wait_for(
        self, condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition"
    ) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not condition():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {what}; calls: {self.summary()}")
            await asyncio.sleep(0.02)

    def summary(self) -> list[str]:
        return [
            f"{c.method}({c.args.get('channel') or c.args.get('users') or ''})" for c in self.calls
        ]

    def response_url(self, key: str) -> str:
        """An interaction's response_url; what the bot posts there is kept under `key`."""
        return f"{self.root}/response/{key}"

    def responses_to(self, key: str) -> list[dict[str, Any]]:
        return [body for k, body in self.responses if k == key]

    def cards_of(self, user_id: str) -> dict[str, dict[str, Any]]:
        """Each message in this person's DM as it shows now (posted, then any updates),
        by its ts, oldest first."""
        channel = f"D{user_id}"
        shown: dict[str, dict[str, Any]] = {}
        for call in self.calls:
            if call.method in ("chat.postMessage", "chat.update") and (
                call.args.get("channel") == channel
            ):
                ts = str(call.answer.get("ts"))
                blocks = call.args.get("blocks")
                shown[ts] = {
                    "text": call.args.get("text"),
                    "blocks": json.loads(blocks) if isinstance(blocks, str) else blocks,
                    "updates": shown.get(ts, {}).get("updates", -1) + 1,
                }
        return shown

    async def send_envelope(self, envelope: dict[str, Any]) -> None:
        for socket in list(self._sockets):
            if not socket.closed:
                await socket.send_str(json.dumps(envelope))
                return
        raise AssertionError("no Socket Mode connection is open")

    @property
    def socket_connected(self) -> bool:
        return any(not s.closed for s in self._sockets)

    # --- the server -----------------------------------------------------------------------

    async def _args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        body = await request.text()
        if body:
            if request.content_type == "application/json":
                args.update(json.loads(body))
            else:
                args.update(dict(parse_qsl(body, keep_blank_values=True)))
        return args

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        args = await self._args(request)
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth else args.get("token")
        call = Call(method, args, token)

        queued = self.faults.get(method, [])
        fault = next(
            (f for f in queued if all(args.get(k) == v for k, v in f.only_when.items())), None
        )
        if fault is not None:
            queued.remove(fault)
            self.failed.append(call)
            if fault.drop_connection:
                assert request.transport is not None
                request.transport.close()
                return web.Response(status=500)
            return web.Response(
                status=fault.status,
                text=fault.body,
                headers=fault.headers,
                content_type="application/json" if fault.body.startswith("{") else "text/html",
            )

        expected = self.app_token if method == "apps.connections.open" else self.bot_token
        if token != expected:
            self.failed.append(call)
            return web.json_response({"ok": False, "error": "invalid_auth"})

        try:
            if method in BLOCK_METHODS and "blocks" in args:
                validate_blocks(args["blocks"], BLOCK_METHODS[method])
            if method in VIEW_METHODS:
                validate_view(args.get("view"))
        except Exception as error:
            self.invalid.append(f"{method}: {error}")
            self.failed.append(call)
            return web.json_response({"ok": False, "error": "invalid_blocks", "detail": str(error)})

        if self.delay:
            await asyncio.sleep(self.delay)
        call.answer = self._answer(method, args)
        self.calls.append(call)
        return web.json_response(call.answer)

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            # As Slack answers for a bot token; enterprise_id only within an Enterprise Grid
            # organisation (docs.slack.dev/reference/methods/auth.test).
            answer: dict[str, Any] = {
                "ok": True,
                "url": "https://oakgreen.slack.com/",
                "team": self.team_name,
                "user": "socialdesk",
                "team_id": self.team_id,
                "user_id": "U0BOT",
                "bot_id": "B0BOT",
                "is_enterprise_install": self.enterprise_install,
            }
            if self.enterprise_id is not None:
                answer["enterprise_id"] = self.enterprise_id
            return answer
        if method == "users.info":
            # Shaped as Slack's users.info answers (api.slack.com/methods/users.info).
            member = self.members.get(str(args.get("user")))
            if member is None:
                return {"ok": False, "error": "user_not_found"}
            real_name, display_name = member
            return {
                "ok": True,
                "user": {
                    "id": args["user"],
                    "team_id": self.team_id,
                    "name": real_name.lower().replace(" ", "."),
                    "deleted": False,
                    "real_name": real_name,
                    "is_bot": False,
                    "profile": {
                        "real_name": real_name,
                        "display_name": display_name,
                        "real_name_normalized": real_name,
                        "display_name_normalized": display_name,
                    },
                },
            }
        if method == "users.list":
            return self._users_list(args)
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": f"D{args['users']}"}}
        if method in ("chat.postMessage", "chat.update"):
            ts = args.get("ts") or f"1700000000.{next(self._ts):06d}"
            return {"ok": True, "channel": args.get("channel"), "ts": ts}
        if method in VIEW_METHODS:
            return {"ok": True, "view": {"id": f"V{next(self._ts):06d}"}}
        if method == "files.getUploadURLExternal":
            file_id = f"F0UP{next(self._ts):04d}"
            return {"ok": True, "file_id": file_id, "upload_url": f"{self.root}/upload/{file_id}"}
        if method == "files.completeUploadExternal":
            listed = json.loads(args["files"]) if isinstance(args["files"], str) else args["files"]
            missing = [f["id"] for f in listed if f["id"] not in self.uploads]
            if missing:
                return {"ok": False, "error": "file_not_found"}
            return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in listed]}
        if method == "apps.connections.open":
            return {"ok": True, "url": f"ws://{self.root.removeprefix('http://')}/socket"}
        return {"ok": True}

    def _users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        """One page of the workspace, as Slack pages users.list: `limit` members from the
        `cursor` on (no limit: all of them), and the next page's cursor in
        response_metadata.next_cursor, empty on the last page."""
        start = 0
        if args.get("cursor"):
            try:
                after = base64.b64decode(str(args["cursor"]), validate=True).decode()
                start = [f"user:{m['id']}" for m in self.roster].index(after)
            except ValueError:
                return {"ok": False, "error": "invalid_cursor"}
        limit = int(args.get("limit") or 0) or len(self.roster)
        limit = min(limit, self.users_page_most or limit)
        page = [json.loads(json.dumps(m)) for m in self.roster[start : start + limit]]
        if not self.email_scope:
            for member in page:
                member["profile"].pop("email", None)
        following = self.roster[start + limit : start + limit + 1]
        cursor = (
            base64.b64encode(f"user:{following[0]['id']}".encode()).decode() if following else ""
        )
        return {
            "ok": True,
            "members": page,
            "cache_ts": 1700000000,
            "response_metadata": {"next_cursor": cursor},
        }

    async def _file(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {self.bot_token}":
            # Slack answers a file request without the token with its sign-in page.
            return web.Response(text="<html>sign in</html>", content_type="text/html")
        name = request.match_info["name"]
        queued = self.faults.get(f"file:{name}")
        if queued:
            fault = queued.pop(0)
            return web.Response(status=fault.status, text=fault.body, headers=fault.headers)
        if name not in self.files:
            return web.Response(status=404)
        content, content_type = self.files[name]
        return web.Response(body=content, content_type=content_type)

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        file_id = request.match_info["file_id"]
        queued = self.faults.get(f"upload:{file_id}") or self.faults.get("upload")
        if queued:
            fault = queued.pop(0)
            return web.Response(status=fault.status, text=fault.body, headers=fault.headers)
        self.uploads[file_id] = await request.read()
        return web.Response(text=f"OK - {len(self.uploads[file_id])}")

    def shared_files(self, user_id: str) -> list[tuple[str | None, bytes]]:
        """(thread_ts, content) of each file the bot shared into this person's DM."""
        shared = []
        for call in self.calls_to("files.completeUploadExternal"):
            if call.args.get("channel_id") != f"D{user_id}":
                continue
            listed = call.args["files"]
            for entry in json.loads(listed) if isinstance(listed, str) else listed:
                shared.append((call.args.get("thread_ts"), self.uploads[entry["id"]]))
        return shared

    async def _response(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        try:
            if "blocks" in body:
                validate_blocks(body["blocks"], MESSAGE_BLOCKS_MAX)
        except Exception as error:
            self.invalid.append(f"response_url: {error}")
            return web.Response(status=400, text="invalid_blocks")
        self.responses.append((request.match_info["key"], body))
        return web.Response(text="ok")

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._sockets.append(socket)
        await socket.send_str(
            json.dumps({"type": "hello", "num_connections": 1, "debug_info": {"host": "fake"}})
        )
        async for message in socket:
            if message.type == WSMsgType.TEXT:
                self.socket_acks.append(json.loads(message.data))
        return socket

"""Slack: each request is acted on once, and only when it comes from the school's workspace.

A bolt middleware, so it runs after the signature check (in SlackHttpEndpoint and again in
bolt) and before any listener, for HTTP and Socket Mode alike:

- The workspace: a request's team must be the one the bot token belongs to (auth.test at
  start-up). A Slack app with the same signing secret installed in another workspace would
  otherwise be served as if its people were ours.
- Replays and retries: a digest of each request is written to the database with one
  INSERT … ON CONFLICT, before anything is done; a second delivery finds it there and is
  answered 200 with nothing done. In the database, not in memory, so it holds across a
  restart and across instances sharing it. What the digest covers:
    * an event (Events API): its event_id. Slack's retries (X-Slack-Retry-Num) carry the same
      event_id in a new request, with a new timestamp and signature.
    * anything else over HTTP (slash commands, clicks, form submissions): the request body.
      The signature covers timestamp and body, so a captured request can only be replayed
      with its own timestamp and signature; its body holds a trigger_id Slack makes anew for
      every interaction, so no two genuine requests share one.
  Socket Mode needs only the first: its envelopes come over a WebSocket the bot opened to
  Slack with the app-level token, so there is no signed request to capture and replay, and
  Slack resends only events there (retry_attempt, which bolt hands on as X-Slack-Retry-Num);
  with several instances each holding a connection, a resend may reach another instance.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.core.clock import Clock
from bot.core.ui import Message
from bot.handlers.routes import ROUTES
from bot.handlers.workflow import DONE_FAILED, SAVE_FAILED
from bot.slack import blockkit

if TYPE_CHECKING:
    from bot.records import SeenRequests
    from bot.runtime import Runtime
    from bot.slack.edge import InteractionReplies, SlackIdentity

log = logging.getLogger(__name__)

# slack_sdk's SignatureVerifier accepts a timestamp up to five minutes either side of our clock.
SIGNATURE_WINDOW = timedelta(minutes=5)
# Instances (and the database) may disagree about the time by this much: one must not forget a
# request while another would still take its signature.
CLOCK_ALLOWANCE = timedelta(minutes=1)
# Slack retries an event nearly at once, then a minute later, then five minutes after that
# (docs.slack.dev/apis/events-api, "Retries"); each is a new request signed anew.
EVENT_RETRIES = timedelta(minutes=10)
PURGE_EVERY = timedelta(minutes=1)

INTERACTIONS = frozenset(
    {
        "block_actions",
        "view_submission",
        "view_closed",
        "shortcut",
        "message_action",
        "block_suggestion",
    }
)

Json = Mapping[str, Any]


@dataclass(frozen=True)
class Workspace:
    """Where a request says it comes from."""

    team_id: str | None
    enterprise_id: str | None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _get(value: object, key: str) -> object:
    return value.get(key) if isinstance(value, dict) else None


def workspace_of(body: Json) -> Workspace:
    """The workspace a request is for, read as Slack sends each kind."""
    if "command" in body:
        # Slash commands: form fields team_id, and enterprise_id on Enterprise Grid.
        return Workspace(_text(body.get("team_id")), _text(body.get("enterprise_id")))
    if body.get("type") in INTERACTIONS:
        # Interactivity: payload.team is null for an org-wide install, where the user's
        # team_id says it instead. A modal opened from a Slack Connect channel names the
        # workspace the app is installed in as view.app_installed_team_id.
        team = (
            _text(_get(body.get("view"), "app_installed_team_id"))
            or _text(_get(body.get("team"), "id"))
            or _text(_get(body.get("user"), "team_id"))
        )
        enterprise = _text(_get(body.get("enterprise"), "id")) or _text(
            _get(body.get("team"), "enterprise_id")
        )
        return Workspace(team, enterprise)
    # Events API: authorizations[0] is the installation the event was delivered to; team_id
    # is where it happened, which differs in a channel shared with another workspace.
    authorizations = body.get("authorizations")
    first = authorizations[0] if isinstance(authorizations, list) and authorizations else None
    return Workspace(
        _text(_get(first, "team_id")) or _text(body.get("team_id")),
        _text(_get(first, "enterprise_id")) or _text(body.get("enterprise_id")),
    )


def kind_of(body: Json) -> str:
    """What a request is, for the log: never what it says."""
    if "command" in body:
        return f"slash command {str(body.get('command'))[:30]}"
    kind = str(body.get("type") or "request")[:40]
    event_type = _get(body.get("event"), "type")
    return f"{kind} ({str(event_type)[:40]})" if isinstance(event_type, str) else kind


def _header(req: AsyncBoltRequest, name: str) -> str:
    # Bolt gives every header as a list, in HTTP and Socket Mode alike.
    values = req.headers.get(name) or []
    return str(values[0]).strip() if values else ""


def _digest(label: str, content: bytes) -> str:
    return hashlib.sha256(label.encode() + b"\0" + content).hexdigest()


class RequestGate(AsyncMiddleware):
    def __init__(
        self,
        runtime: Runtime,
        seen: SeenRequests,
        clock: Clock,
        identity: SlackIdentity,
        replies: InteractionReplies,
    ) -> None:
        self._runtime = runtime
        self._seen = seen
        self._clock = clock
        self._identity = identity
        self._replies = replies
        self._next_purge = datetime.min.replace(tzinfo=UTC)
        self._warned_unconfirmed = False

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        # Bolt calls it with this keyword, shadowing the builtin.
        next: Callable[[], Awaitable[BoltResponse]],
    ) -> BoltResponse | None:
        refusal = self._refuse_other_workspaces(req)
        if refusal is not None:
            return refusal
        # One database budget for the whole request, this check included, so a slow
        # database still leaves the person an answer inside Slack's 3 seconds.
        with self._runtime.request_deadline():
            return await self._once(req, resp, next)

    async def _once(
        self,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],
    ) -> BoltResponse | None:
        sighting = self._sighting(req)
        if sighting is not None:
            digest, keep_until = sighting
            try:
                first = await self._take(digest, keep_until)
            except Exception as error:
                # Nothing can be recorded, so nothing is done; the person is asked to try
                # again, and Slack resends an event it got no 200 for.
                log.warning("slack: cannot check a request against those seen: %r", error)
                return self._not_now(req)
            if not first:
                retry = _header(req, "x-slack-retry-num")
                reason = _header(req, "x-slack-retry-reason")
                log.info(
                    "slack: a %s seen before%s; answered without acting on it again",
                    kind_of(req.body),
                    f" (Slack's retry {retry[:8]}, {reason[:40]})" if retry else "",
                )
                # 200, so that Slack stops resending it; an empty body, so that a replayed
                # form is simply closed and a replayed command shows nothing.
                return BoltResponse(status=200, body="")
        await next()
        return resp

    # --- the workspace -------------------------------------------------------------------

    def _refuse_other_workspaces(self, req: AsyncBoltRequest) -> BoltResponse | None:
        ours = self._identity
        if ours.team_id is None and ours.enterprise_id is None:
            # auth.test has not answered yet (Slack was unreachable at start-up); refusing
            # everything until it does would lose the school's own requests meanwhile.
            if not self._warned_unconfirmed:
                log.warning(
                    "slack: the workspace is not confirmed yet (auth.test has not answered); "
                    "requests are taken from any workspace until it is"
                )
                self._warned_unconfirmed = True
            return None
        theirs = workspace_of(req.body)
        if theirs.team_id is not None and theirs.team_id == ours.team_id:
            return None
        if (
            ours.enterprise_install
            and theirs.enterprise_id is not None
            and theirs.enterprise_id == ours.enterprise_id
        ):
            return None
        log.warning(
            "slack: refused a %s from workspace %s (enterprise %s): this bot serves %s only",
            kind_of(req.body),
            str(theirs.team_id)[:20],
            str(theirs.enterprise_id)[:20],
            ours.team_id or ours.enterprise_id,
        )
        if req.mode == "socket_mode":
            # Acknowledged, or Slack would send it again; nothing is done with it.
            return BoltResponse(status=200, body="")
        return BoltResponse(
            status=403,
            body={"error": "this app serves another workspace"},
            # Slack does not retry an event refused with this header.
            headers={"X-Slack-No-Retry": "1"},
        )

    # --- replays and retries -------------------------------------------------------------

    def _sighting(self, req: AsyncBoltRequest) -> tuple[str, datetime] | None:
        """The digest that names this request, and until when to remember it."""
        now = self._clock.now()
        body = req.body
        event_id = body.get("event_id")
        if body.get("type") == "event_callback" and isinstance(event_id, str) and event_id:
            return _digest("event", event_id.encode()), now + EVENT_RETRIES + CLOCK_ALLOWANCE
        if req.mode != "http":
            return None
        stamp = _header(req, "x-slack-request-timestamp")
        signed_at = datetime.fromtimestamp(int(stamp), UTC) if stamp.isdigit() else now
        # A replay carries the original timestamp, so it is refused as stale once this has
        # passed on every instance's clock.
        keep_until = max(signed_at, now) + SIGNATURE_WINDOW + CLOCK_ALLOWANCE
        return _digest("request", req.raw_body.encode()), keep_until

    async def _take(self, digest: str, keep_until: datetime) -> bool:
        now = self._clock.now()
        first = await self._seen.first_sighting(digest, keep_until, now)
        if now >= self._next_purge:
            self._next_purge = now + PURGE_EVERY
            await self._purge(now)
        return first

    async def _purge(self, now: datetime) -> None:
        # Its own transaction, after the request's: a purge that fails (or meets another
        # instance's purge) costs nothing but a later try.
        try:
            forgotten = await self._seen.purge(now)
        except Exception as error:
            log.info("slack: could not forget expired requests yet: %r", error)
            return
        if forgotten:
            log.debug("slack: forgot %d requests past their window", forgotten)

    def _not_now(self, req: AsyncBoltRequest) -> BoltResponse:
        """The answer when the database cannot say whether a request was seen: nothing is
        done, and the person is told so where Slack lets us say it."""
        body = req.body
        rendered = blockkit.render_message(Message.saying(DONE_FAILED))
        command = body.get("command")
        if command is not None:
            return BoltResponse(
                status=200,
                body={
                    "response_type": "ephemeral",
                    **blockkit.render_message(Message.saying(_command_apology(command))),
                },
            )
        if body.get("type") == "view_submission":
            values = _get(_get(body.get("view"), "state"), "values")
            first_input = next(iter(values), None) if isinstance(values, dict) else None
            callback_id = _get(body.get("view"), "callback_id")
            if isinstance(first_input, str):
                route = ROUTES.forms.get(callback_id) if isinstance(callback_id, str) else None
                said = route.unsaved if route is not None else SAVE_FAILED
                return BoltResponse(
                    status=200,
                    body={"response_action": "errors", "errors": {first_input: said}},
                )
        if body.get("type") == "block_actions":
            self._replies.later(self._replies.ephemeral(body.get("response_url"), rendered))
            return BoltResponse(status=200, body="")
        # An event: Slack sends it again later (HTTP: after a non-2xx answer; Socket Mode:
        # bolt does not acknowledge a non-200 envelope).
        return BoltResponse(status=503, body="")


def _command_apology(command: object) -> str:
    """A command answered from the database (a policy question) is told as what it was; one
    that only opens a form, as a change not made."""
    route = ROUTES.commands.get(str(command).removeprefix("/"))
    return route.unsaved if route is not None and route.asks is not None else DONE_FAILED

"""Microsoft Teams: POST /api/messages takes Bot Framework activities through botbuilder-core
and turns them into the same typed commands the Slack edge gives the handlers.

The request is authenticated here (auth.py) before botbuilder sees it. botbuilder-core then
runs the turn: an ActivityHandler routes messages, installs and card actions. Its adapter is
ours, because botbuilder-integration-aiohttp's CloudAdapter answers 500 to every invoke that
returns a body (it serialises the body twice), and because every reply leaves through our own
Bot Connector client, on which the outbox's retries rest.
"""

from __future__ import annotations

import ipaddress
import logging
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from botbuilder.core import BotAdapter, TurnContext
from botbuilder.schema import Activity, ActivityTypes, ResourceResponse

from bot.handlers.routes import ROUTES
from bot.handlers.workflow import SAVE_FAILED
from bot.records import TeamsRecords
from bot.runtime import DatabaseUnavailable, Runtime
from bot.settings import TeamsSettings
from bot.teams import cards as adaptive
from bot.teams.auth import KeysUnavailable, TokenVerifier, Unauthorized
from bot.teams.connector import ConnectorClient
from bot.teams.turns import TEAMS_CHANNEL, SocialdeskBot, tenant_of

log = logging.getLogger(__name__)

# The words the bot answers in a personal chat; manifests/teams/manifest.json lists the same.
COMMANDS = tuple(command.word for command in ROUTES.commands.values())


class TurnAdapter(BotAdapter):  # type: ignore[misc]
    """Runs botbuilder's turn pipeline. The only activity a turn sends through it is the
    invoke response, kept for the HTTP answer; messages go out through the edge's connector
    client (or the outbox), never silently from here."""

    async def send_activities(
        self, context: TurnContext, activities: list[Activity]
    ) -> list[ResourceResponse]:
        responses = []
        for activity in activities:
            if activity.type != ActivityTypes.invoke_response:
                raise RuntimeError("socialdesk sends Teams messages through its connector")
            context.turn_state[BotAdapter._INVOKE_RESPONSE_KEY] = activity
            responses.append(ResourceResponse())
        return responses

    async def update_activity(self, context: TurnContext, activity: Activity) -> None:
        raise RuntimeError("socialdesk updates Teams cards through its connector")

    async def delete_activity(self, context: TurnContext, reference: Any) -> None:
        raise RuntimeError("socialdesk never deletes Teams messages")


class TeamsEndpoint:
    """POST /api/messages."""

    def __init__(
        self,
        runtime: Runtime,
        records: TeamsRecords,
        settings: TeamsSettings,
        connector: ConnectorClient,
        renderer: adaptive.CardRenderer,
        verifier: TokenVerifier | None,
    ) -> None:
        self._runtime = runtime
        self._settings = settings
        self._verifier = verifier
        self._adapter = TurnAdapter()
        self._bot = SocialdeskBot(runtime, records, settings, connector, renderer)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        activity = await self._read(request)
        if isinstance(activity, web.Response):
            return activity
        refused = await self._refused(request, activity)
        if refused is not None:
            return refused
        turn = TurnContext(self._adapter, activity)
        failed = await self._run(turn)
        if failed is not None:
            return failed
        return _answer_of(turn)

    async def _read(self, request: web.Request) -> Activity | web.Response:
        """The activity, or the refusal of a request that cannot be one of ours."""
        local = self._settings.local_mode
        if local and (not is_loopback(request.remote) or _forwarded(request)):
            # Unverified requests are only ever taken from this machine (the Emulator, tests):
            # not from another, nor through a proxy on this one, which would pass them on
            # from anywhere.
            return _refusal(403, "local mode answers this machine only; set MICROSOFT_APP_ID")
        if request.content_type != "application/json":
            return _refusal(415, "expected application/json")
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("not an object")
            activity = Activity().deserialize(body)
        except Exception:
            return _refusal(400, "malformed activity")
        problem = _incomplete(activity)
        if problem:
            return _refusal(400, problem)
        if local and not is_loopback(urlsplit(activity.service_url).hostname):
            # Nor does it send anything anywhere else.
            return _refusal(403, "local mode replies to this machine only")
        return activity

    async def _refused(self, request: web.Request, activity: Activity) -> web.Response | None:
        """Whether Microsoft sent it, from Teams, for this school's tenant."""
        if self._verifier is None:
            return None
        try:
            await self._verifier.verify(
                request.headers.get("Authorization"), activity.channel_id, activity.service_url
            )
        except Unauthorized as error:
            log.warning("teams: refused a request: %s", error)
            return _refusal(401, "unauthorized")
        except KeysUnavailable as error:
            log.error("teams: cannot check requests: %s", error)
            return _refusal(503, "cannot verify requests just now", retry_after=30)
        if activity.channel_id != TEAMS_CHANNEL:
            return _refusal(403, "only Microsoft Teams is served")
        tenant = tenant_of(activity)
        if tenant != self._settings.tenant_id:
            # Another organisation's Teams (or none named): not this school's staff.
            log.warning("teams: refused an activity from tenant %s", tenant)
            return _refusal(403, "tenant not served")
        return None

    async def _run(self, turn: TurnContext) -> web.Response | None:
        """Run the turn; the answer when it failed."""
        activity = turn.activity
        try:
            # Every database call the turn makes shares one budget, well inside the time
            # Teams waits for an answer (and Slack's 3 seconds, which the budget is set for).
            with self._runtime.request_deadline():
                await self._adapter.run_pipeline(turn, self._bot.on_turn)
        except DatabaseUnavailable as error:
            log.warning("teams: the database failed during a %s activity: %r", activity.type, error)
            if activity.type == ActivityTypes.invoke:
                return web.json_response(_invoke_failed(activity))
            if activity.type == ActivityTypes.message and await self._bot.apologise(activity):
                return web.Response(status=200)
            return _refusal(503, "the database is unavailable", retry_after=30)
        except Exception:
            log.exception("teams: a %s activity could not be handled", activity.type)
            if activity.type == ActivityTypes.invoke:
                return web.json_response(_invoke_failed(activity))
            return _refusal(500, "internal error")
        return None


def _invoke_failed(activity: Activity) -> dict[str, Any]:
    """The apology in the shape the invoke expects: a dialog's, or a card action's."""
    if str(activity.name or "").startswith("task/"):
        return adaptive.dialog_message(SAVE_FAILED)
    return adaptive.invoke_message(SAVE_FAILED)


def _answer_of(turn: TurnContext) -> web.Response:
    """The HTTP answer to a turn that ran: an invoke's response, or 200."""
    sent = turn.turn_state.get(BotAdapter._INVOKE_RESPONSE_KEY)
    if sent is None:
        if turn.activity.type == ActivityTypes.invoke:
            return web.Response(status=HTTPStatus.NOT_IMPLEMENTED)
        return web.Response(status=200)
    invoke = sent.value
    answer = invoke.body
    # Only a botbuilder model still needs serialising; a dict is already the body.
    if hasattr(answer, "serialize"):
        answer = answer.serialize()
    if answer is None:
        return web.Response(status=invoke.status or 200)
    return web.json_response(answer, status=invoke.status or 200)


def _refusal(status: int, reason: str, retry_after: int | None = None) -> web.Response:
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    return web.json_response({"error": reason}, status=status, headers=headers)


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


_PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Real-IP", "Via")


def _forwarded(request: web.Request) -> bool:
    return any(name in request.headers for name in _PROXY_HEADERS)


# The store's column sizes; longer ids are not Teams ids.
_ID_LIMITS = {"conversation id": 500, "from id": 200, "recipient id": 200, "serviceUrl": 500}


def _incomplete(activity: Activity) -> str | None:
    """What a usable activity lacks, if anything: answered 400, never a failure later on."""
    if not activity.type or not activity.channel_id:
        return "incomplete activity"
    url = activity.service_url or ""
    if not url.startswith(("https://", "http://")):
        return "serviceUrl must be an http(s) address"
    if activity.conversation is None or not activity.conversation.id:
        return "activity without a conversation"
    if activity.from_property is None or not activity.from_property.id:
        return "activity without a sender"
    if activity.recipient is None or not activity.recipient.id:
        return "activity without a recipient"
    aad = getattr(activity.from_property, "aad_object_id", None)
    sizes = {
        "conversation id": activity.conversation.id,
        "from id": activity.from_property.id,
        "recipient id": activity.recipient.id if activity.recipient else "",
        "serviceUrl": url,
    }
    for name, value in sizes.items():
        if len(str(value or "")) > _ID_LIMITS[name]:
            return f"{name} too long"
    if aad is not None and len(str(aad)) > 64:
        return "aadObjectId too long"
    return None

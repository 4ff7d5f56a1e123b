"""Slack: a bolt app whose listeners only translate. Payloads become typed commands for the
handlers; outcomes become Block Kit.

Bolt runs with process_before_response=True, so the answer a listener gives through ack()
(a form error, the updated modal) goes back in the HTTP response itself, and nothing waits in
bolt's 10 ms ack-polling loop. Slow work (opening a modal, sending messages) happens in lazy
listeners or in the delivery worker, never before the ack.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltRequest
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.core.outcome import Outcome
from bot.core.people import Identity, Person, Platform
from bot.core.posts import (
    ACCOUNTS,
    ATTACHMENTS,
    CHECKLIST,
    TEXT,
    WISHED_DATE,
    AttachmentRef,
    DraftSubmission,
)
from bot.core.ui import Message
from bot.handlers import help as help_handler
from bot.handlers import posts
from bot.runtime import Runtime
from bot.settings import SettingsError, SlackSettings
from bot.slack import blockkit
from bot.slack.transport import TOKEN_REFUSED

log = logging.getLogger(__name__)

Json = dict[str, Any]
SAVE_FAILED = "Sorry, your draft could not be saved just now. Nothing was sent; please try again."


def web_client(settings: SlackSettings, session: aiohttp.ClientSession) -> AsyncWebClient:
    # No retry handlers: the outbox is the one place that retries, and it survives restarts.
    # One shared HTTP session keeps connections to Slack open; without it the client opens a
    # new connection (and TLS handshake) for every call.
    return AsyncWebClient(
        token=settings.bot_token, base_url=settings.api_url, retry_handlers=[], session=session
    )


@dataclass
class SlackIdentity:
    """Who the bot is in the school's workspace, from auth.test once Slack has answered."""

    team_id: str | None = None
    bot_id: str | None = None
    bot_user_id: str | None = None


class _EnvironmentTokenNotice(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment by itself and then warns that the
    client's (absent) token wins; the bot's token reaches bolt through `authorize` instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


def build_bolt_app(runtime: Runtime, settings: SlackSettings, identity: SlackIdentity) -> AsyncApp:
    async def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
        # Bolt's own single-workspace authorisation calls auth.test before the first ack, so
        # a Slack hiccup then would lose that request; the bot checks its token at start-up.
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=team_id or identity.team_id,
            bot_token=settings.bot_token,
            bot_id=identity.bot_id,
            bot_user_id=identity.bot_user_id,
        )

    bolt_logger = logging.getLogger("bot.slack.bolt")
    if not any(isinstance(f, _EnvironmentTokenNotice) for f in bolt_logger.filters):
        bolt_logger.addFilter(_EnvironmentTokenNotice())
    app = AsyncApp(
        # A client without a token makes bolt use `authorize`; each request's client gets the
        # token from it. No shared HTTP session here: bolt deep-copies a lazy listener's
        # context, client included, and a session cannot be copied.
        client=AsyncWebClient(base_url=settings.api_url, retry_handlers=[]),
        authorize=authorize,
        signing_secret=settings.signing_secret or "",
        # Without a signing secret only Socket Mode runs, and /slack/events stays closed.
        request_verification_enabled=settings.signing_secret is not None,
        process_before_response=True,
        logger=bolt_logger,
    )
    SlackListeners(runtime).register(app)
    return app


# Start-up asks Slack at most this long before going on without an answer.
STARTUP_CHECK_SECONDS = 5.0


async def _ask_slack(call: Awaitable[Any], setting: str, advice: str) -> AsyncSlackResponse | None:
    """Slack's answer; None when Slack cannot say now; SettingsError when it refuses `setting`."""
    try:
        async with asyncio.timeout(STARTUP_CHECK_SECONDS):
            answer: AsyncSlackResponse = await call
            return answer
    except SlackApiError as error:
        code = error.response.get("error")
        if code in TOKEN_REFUSED:
            raise SettingsError(f"{setting} was refused by Slack ({code}): {advice}") from error
        log.warning("slack: could not check %s yet (%s); will try again", setting, code)
    except (aiohttp.ClientError, TimeoutError, OSError) as error:
        log.warning("slack: cannot reach Slack to check %s (%r); will try again", setting, error)
    return None


async def check_bot_token(client: AsyncWebClient, identity: SlackIdentity) -> bool:
    """True once Slack has confirmed the token; a refused token stops start-up with its name."""
    answer = await _ask_slack(
        client.auth_test(),
        "SLACK_BOT_TOKEN",
        "copy the Bot User OAuth Token from the app's OAuth & Permissions page",
    )
    if answer is None:
        return False
    identity.team_id = answer.get("team_id")
    identity.bot_id = answer.get("bot_id")
    identity.bot_user_id = answer.get("user_id")
    log.info("slack: signed in to %s as %s", answer.get("team"), answer.get("user"))
    return True


async def keep_checking_bot_token(
    client: AsyncWebClient, identity: SlackIdentity, first_delay: float
) -> None:
    delay = first_delay
    while True:
        await asyncio.sleep(delay)
        try:
            if await check_bot_token(client, identity):
                return
        except SettingsError as error:
            # Too late to stop start-up; every message waits until the token is fixed.
            log.error("slack: %s", error)
            return
        delay = min(delay * 2, 300.0)


async def check_app_token(client: AsyncWebClient, app_token: str) -> None:
    """Refuse to start with an app-level token Slack rejects; Socket Mode would retry forever."""
    await _ask_slack(
        client.apps_connections_open(app_token=app_token),
        "SLACK_APP_TOKEN",
        "create an app-level token with the connections:write scope on the app's Basic "
        "Information page",
    )


def actor_of(runtime: Runtime, body: Mapping[str, Any]) -> Person | None:
    user = body.get("user")
    user_id = user.get("id") if isinstance(user, dict) else body.get("user_id")
    if not isinstance(user_id, str) or not user_id:
        return None
    return runtime.context.directory.resolve(Identity(Platform.SLACK, user_id))


# The slash commands this edge answers; manifests/slack/manifest.yaml declares the same.
COMMANDS = ("/post", "/report", "/policy")


class SlackListeners:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def register(self, app: AsyncApp) -> None:
        post, report, policy = COMMANDS
        app.command(post)(ack=self.ack_command, lazy=[self.open_post_form])
        app.view(posts.DRAFT_FORM)(self.submit_draft)
        app.action(re.compile(r"^post\."))(self.post_decision_pending)
        app.command(policy)(self.policy_command)
        app.command(report)(self.report_command)
        app.event("message")(ack=self.ack_event, lazy=[self.direct_message])

    async def ack_command(self, ack: AsyncAck) -> None:
        await ack()

    async def ack_event(self, ack: AsyncAck) -> None:
        await ack()

    async def open_post_form(self, body: Json, client: AsyncWebClient) -> None:
        trigger_id = body.get("trigger_id")
        if actor_of(self.runtime, body) is None or not isinstance(trigger_id, str):
            log.warning("slack: /post without a user or trigger_id; ignored")
            return
        form = posts.draft_form(self.runtime.context)
        try:
            await client.views_open(trigger_id=trigger_id, view=blockkit.render_modal(form))
        except SlackApiError as error:
            # The trigger lasts 3 seconds and cannot be replayed; tell the person instead.
            log.error("slack: views.open failed: %s", error.response.get("error"))
            await self._tell(
                body, "The draft form could not be opened just now. Please try /post again."
            )
        except Exception:
            log.exception("slack: views.open failed")

    async def _tell(self, body: Json, text: str) -> None:
        url = body.get("response_url")
        if not isinstance(url, str):
            return
        try:
            from slack_sdk.webhook.async_client import AsyncWebhookClient

            await AsyncWebhookClient(url).send(text=text, response_type="ephemeral")
        except Exception:
            log.exception("slack: could not send an ephemeral reply")

    async def submit_draft(self, ack: AsyncAck, body: Json) -> None:
        actor = actor_of(self.runtime, body)
        view = body.get("view")
        if actor is None or not isinstance(view, dict):
            await ack(response_action="errors", errors={TEXT: "This form arrived incomplete."})
            return
        submission = draft_from_view(view)
        ctx = self.runtime.context
        try:
            outcome = await self.runtime.perform(
                lambda uow: posts.submit_draft(ctx, uow, actor, submission)
            )
        except Exception:
            # Never let an error reach bolt after the request: Slack would get no answer.
            log.exception("slack: saving a draft failed")
            await ack(response_action="errors", errors={TEXT: SAVE_FAILED})
            return
        await self._answer_form(ack, outcome, "Draft sent")

    async def _answer_form(self, ack: AsyncAck, outcome: Outcome, title: str) -> None:
        if outcome.refused:
            await ack(response_action="errors", errors=dict(outcome.errors.by_input))
        elif outcome.reply is not None:
            await ack(
                response_action="update", view=blockkit.render_result_modal(title, outcome.reply)
            )
        else:
            await ack()

    async def post_decision_pending(self, ack: AsyncAck, body: Json) -> None:
        # Deciding from the card is the next piece of work; the click is acknowledged so
        # Slack shows no error, and logged so the operator knows it happened.
        await ack()
        log.info("slack: %s clicked on a draft card", (body.get("user") or {}).get("id"))

    async def policy_command(self, ack: AsyncAck, body: Json) -> None:
        question = str(body.get("text") or "").strip()
        message = help_handler.policy_reply(self.runtime.context, question)
        await ack(**self._ephemeral(message))

    async def report_command(self, ack: AsyncAck) -> None:
        await ack(**self._ephemeral(help_handler.report_reply(self.runtime.context)))

    async def direct_message(
        self, event: Json, request: AsyncBoltRequest, say: Callable[..., Awaitable[Any]]
    ) -> None:
        if event.get("channel_type") != "im" or event.get("bot_id") or event.get("subtype"):
            return
        if is_retry(request):
            return
        try:
            await say(**blockkit.render_message(help_handler.help_message(self.runtime.context)))
        except Exception:
            log.exception("slack: could not answer a direct message")

    @staticmethod
    def _ephemeral(message: Message) -> Json:
        rendered = blockkit.render_message(message)
        return {
            "response_type": "ephemeral",
            "text": rendered["text"],
            "blocks": rendered["blocks"],
        }


def is_retry(request: AsyncBoltRequest) -> bool:
    """Slack resends an event it thinks was missed; the first delivery already answered.
    Bolt gives headers as lists, and in Socket Mode a first delivery carries retry number 0."""
    numbers = request.headers.get("x-slack-retry-num") or []
    return any(str(n).strip() not in ("", "0") for n in numbers)


def _state(view: Mapping[str, Any]) -> Mapping[str, Any]:
    state = view.get("state")
    values = state.get("values") if isinstance(state, dict) else None
    return values if isinstance(values, dict) else {}


def _element(values: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    block = values.get(name)
    element = block.get(name) if isinstance(block, dict) else None
    return element if isinstance(element, dict) else {}


def _selected(element: Mapping[str, Any]) -> tuple[str, ...]:
    options = element.get("selected_options")
    if not isinstance(options, list):
        return ()
    return tuple(str(o["value"]) for o in options if isinstance(o, dict) and "value" in o)


def _file(raw: Any) -> AttachmentRef | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
        return None
    url = raw.get("url_private_download") or raw.get("url_private")
    if not isinstance(url, str):
        return None
    size = raw.get("size")
    return AttachmentRef(
        platform=Platform.SLACK,
        source_id=raw["id"],
        name=str(raw.get("name") or raw.get("title") or raw["id"])[:500],
        mimetype=str(raw.get("mimetype") or "application/octet-stream")[:200],
        size=size if isinstance(size, int) and size >= 0 else 0,
        download_url=url,
    )


def draft_from_view(view: Mapping[str, Any]) -> DraftSubmission:
    """Read the draft form's state; anything missing or malformed reads as empty, so the
    handler refuses it with a clear message instead of the edge failing."""
    values = _state(view)
    text = _element(values, TEXT).get("value")
    files = _element(values, ATTACHMENTS).get("files")
    attachments = tuple(
        ref for ref in (_file(f) for f in (files if isinstance(files, list) else [])) if ref
    )
    wished = _element(values, WISHED_DATE).get("selected_date")
    return DraftSubmission(
        text=text if isinstance(text, str) else "",
        accounts=_selected(_element(values, ACCOUNTS)),
        confirmed=frozenset(
            item.name
            for item in CHECKLIST
            if blockkit.CONFIRMED in _selected(_element(values, item.name))
        ),
        wished_date=wished if isinstance(wished, str) else None,
        attachments=attachments,
        form_key=f"slack:{view['id']}" if isinstance(view.get("id"), str) else None,
    )


class SlackHttpEndpoint:
    """POST /slack/events: the signature is checked before anything is parsed, so an unsigned
    or stale request gets 401 and touches nothing, however malformed its body."""

    def __init__(self, bolt_app: AsyncApp, signing_secret: str) -> None:
        self._bolt = bolt_app
        self._verifier = SignatureVerifier(signing_secret)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        # The verifier itself raises on a timestamp that is not a number.
        if not timestamp.isdigit() or not self._verifier.is_valid(
            body=body, timestamp=timestamp, signature=signature
        ):
            return web.json_response({"error": "invalid or stale signature"}, status=401)
        try:
            bolt_request = await to_bolt_request(request)
            response = await self._bolt.async_dispatch(bolt_request)
        except Exception:
            log.warning("slack: a signed request could not be read", exc_info=True)
            return web.json_response({"error": "malformed request"}, status=400)
        return await to_aiohttp_response(response)

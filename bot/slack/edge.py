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
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltRequest
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.core.people import Directory, Identity, Person, Platform
from bot.core.ui import Form, Message
from bot.handlers.routes import ROUTES
from bot.handlers.workflow import DONE_FAILED, Clicked, Said, Submitted
from bot.records import SeenRequests
from bot.runtime import DatabaseUnavailable, Runtime
from bot.settings import SettingsError, SlackSettings
from bot.slack import blockkit
from bot.slack.forms import SlackFormValues
from bot.slack.replay import RequestGate
from bot.slack.transport import TOKEN_REFUSED

log = logging.getLogger(__name__)

Json = dict[str, Any]


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
    # Enterprise Grid: the organisation, and whether the app is installed across all of it.
    enterprise_id: str | None = None
    enterprise_install: bool = False


class _EnvironmentTokenNotice(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment by itself and then warns that the
    client's (absent) token wins; the bot's token reaches bolt through `authorize` instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


def build_bolt_app(
    runtime: Runtime,
    settings: SlackSettings,
    identity: SlackIdentity,
    replies: InteractionReplies,
) -> AsyncApp:
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
    app.use(RequestGate(runtime, SeenRequests(runtime), runtime.context.clock, identity, replies))
    SlackListeners(runtime, replies).register(app)
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
    identity.enterprise_id = answer.get("enterprise_id")
    identity.enterprise_install = answer.get("is_enterprise_install") is True
    log.info(
        "slack: signed in to %s (%s) as %s; requests from any other workspace are refused",
        answer.get("team"),
        identity.team_id,
        answer.get("user"),
    )
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


# How long the first request of someone the configuration does not name waits for Slack to
# say their name (users.info), once per person while the bot runs.
NAME_LOOKUP_SECONDS = 1.0


def _user_of(body: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The user id and the name the payload itself carries (a slash command's user_name, an
    interaction's user.name or user.username: the person's Slack username)."""
    user = body.get("user")
    if isinstance(user, dict):
        name = user.get("name") or user.get("username")
        return _text_or_none(user.get("id")), _text_or_none(name)
    if isinstance(user, str):  # an event's sender
        return user, None
    return _text_or_none(body.get("user_id")), _text_or_none(body.get("user_name"))


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _may_be_anonymous(body: Mapping[str, Any], directory: Directory) -> bool:
    """A request that may make or follow up an anonymous report (the workflow tables say
    which): the bot asks Slack nothing about whoever sent it."""
    command = body.get("command")
    if isinstance(command, str):
        return ROUTES.may_be_anonymous(command=command.removeprefix("/"))
    action, _ = _clicked(body)
    if action:
        return ROUTES.may_be_anonymous(click=action)
    view = body.get("view")
    if isinstance(view, dict):
        form = str(view.get("callback_id") or "")
        return ROUTES.may_be_anonymous(form=form, values=SlackFormValues(view, directory))
    return False


# The slash commands this edge answers; manifests/slack/manifest.yaml declares the same.
COMMANDS = tuple(f"/{command.word}" for command in ROUTES.slash_commands)


class SlackListeners:
    """Bolt listeners, one for each kind of request, dispatching from the workflow tables
    (bot/handlers/routes.py): each reads the payload into the handlers' neutral shapes, runs
    the route through the runtime, and answers. Anything sent after the answer (a modal to
    open, a note only the clicker sees) runs in a task of its own, so nothing after the ack
    can fail into bolt."""

    def __init__(self, runtime: Runtime, replies: InteractionReplies) -> None:
        self.runtime = runtime
        self.replies = replies
        # Whose name Slack was asked for: once each while the bot runs, answered or not.
        self._asked_names: set[str] = set()

    def register(self, app: AsyncApp) -> None:
        app.use(self.learn_name)
        for command in ROUTES.slash_commands:
            if command.asks is not None:
                app.command(f"/{command.word}")(self.command_answered)
            else:
                app.command(f"/{command.word}")(ack=self.ack_only, lazy=[self.command_opened])
        for form_id in ROUTES.forms:
            app.view(form_id)(self.form_submitted)
        for action in ROUTES.clicks:
            app.action(action)(self.clicked)
        # Last, so they match only what no route takes: a form or button this version no
        # longer answers (a message from before an upgrade) is told so, rather than given
        # bolt's 404, which Slack shows as the app failing.
        app.view(re.compile(".+"))(self.form_unknown)
        app.action(re.compile(".+"))(self.click_unknown)
        app.event("message")(ack=self.ack_only, lazy=[self.direct_message])

    async def learn_name(
        self, body: Json, client: AsyncWebClient, next_: Callable[[], Awaitable[None]]
    ) -> None:
        """Records name who acted as they were then (issue 13): for someone the configuration
        does not name, their Slack name (users.info's real name), asked once while the bot
        runs, with the payload's username until Slack answers."""
        try:
            await self._learn_name(body, client)
        except Exception:
            log.warning("slack: could not ask Slack for a person's name", exc_info=True)
        await next_()

    async def _learn_name(self, body: Json, client: AsyncWebClient) -> None:
        user_id, username = _user_of(body)
        if user_id is None:
            return
        directory = self.runtime.context.directory
        identity = Identity(Platform.SLACK, user_id)
        if (
            user_id in self._asked_names
            or directory.knows_name(identity)
            or _may_be_anonymous(body, directory)
        ):
            directory.learn_name(identity, username, fallback=True)
            return
        self._asked_names.add(user_id)
        try:
            async with asyncio.timeout(NAME_LOOKUP_SECONDS):
                answer = await client.users_info(user=user_id)
        except (TimeoutError, SlackApiError, aiohttp.ClientError):
            answer = None
        real = _real_name(answer.get("user") if answer is not None else None)
        directory.learn_name(identity, real or username, fallback=real is None)

    async def ack_only(self, ack: AsyncAck) -> None:
        """Acknowledged at once; the work follows in a lazy listener."""
        await ack()

    # --- commands ------------------------------------------------------------------------

    async def command_opened(self, body: Json, client: AsyncWebClient) -> None:
        """A command answered without the database (a form to open), after the ack (lazily):
        the trigger lasts 3 seconds and cannot be replayed, so if Slack refuses it the person
        is told instead."""
        command = ROUTES.commands[str(body.get("command")).removeprefix("/")]
        actor = actor_of(self.runtime, body)
        trigger_id = body.get("trigger_id")
        if actor is None or not isinstance(trigger_id, str) or command.opens is None:
            log.warning("slack: %s without a user or trigger_id; ignored", body.get("command"))
            return
        said = Said(actor, str(body.get("text") or ""), Platform.SLACK)
        outcome = command.opens(self.runtime.context, said)
        if outcome.form is None:
            if outcome.reply is not None:
                await self.replies.ephemeral(
                    body.get("response_url"), blockkit.render_message(outcome.reply)
                )
            return
        try:
            await client.views_open(trigger_id=trigger_id, view=blockkit.render_modal(outcome.form))
        except Exception as error:
            log.error("slack: views.open failed: %r", error)
            await self.replies.ephemeral(
                body.get("response_url"), blockkit.render_message(Message.saying(command.unsaved))
            )

    async def command_answered(self, ack: AsyncAck, body: Json) -> None:
        """A command answered from the database (a policy question), in the command's own
        response, seen only by whoever typed it."""
        command = ROUTES.commands[str(body.get("command")).removeprefix("/")]
        actor = actor_of(self.runtime, body)
        if actor is None or command.asks is None:
            await ack(**self._ephemeral(Message.saying("Slack did not say who you are.")))
            return
        said = Said(actor, str(body.get("text") or ""), Platform.SLACK)
        asks, ctx = command.asks, self.runtime.context
        try:
            outcome = await self.runtime.perform(lambda uow: asks(ctx, uow, said))
            answer = self._ephemeral(outcome.reply or Message.saying(command.unsaved))
        except Exception:
            # Never into bolt: Slack would get no answer at all.
            log.exception("slack: %s could not be answered", body.get("command"))
            answer = self._ephemeral(Message.saying(command.unsaved))
        await ack(**answer)

    # --- forms ---------------------------------------------------------------------------

    async def form_submitted(self, ack: AsyncAck, body: Json) -> None:
        view = body.get("view")
        if not isinstance(view, dict):
            await ack(response_action="clear")
            return
        route = ROUTES.forms[str(view.get("callback_id"))]  # registered for these only
        values = SlackFormValues(view, self.runtime.context.directory)
        error_field = route.field or next(iter(values.names()), None)
        actor = actor_of(self.runtime, body)
        target = route.reads(values.context)
        if error_field is None:
            # Nothing came back to put a refusal on.
            await ack(response_action="clear")
            return
        if actor is None or target is None:
            await ack(
                response_action="errors", errors={error_field: "This form arrived incomplete."}
            )
            return
        sent = Submitted(actor, target, values, Platform.SLACK)
        handler, ctx = route.handler, self.runtime.context
        try:
            outcome = await self.runtime.perform(lambda uow: handler(ctx, uow, sent))
        except Exception as error:
            # Never let an error reach bolt after the request: Slack would get no answer.
            if isinstance(error, DatabaseUnavailable):
                log.warning("slack: a form was not saved: the database did not answer in time")
            else:
                log.exception("slack: a form could not be saved")
            await ack(response_action="errors", errors={error_field: route.unsaved})
            return
        if outcome.refused:
            await ack(response_action="errors", errors=dict(outcome.errors.by_input))
        elif outcome.form is not None:
            # The next step of the same task (a report opened by its receipt) in this window.
            await ack(response_action="update", view=blockkit.render_modal(outcome.form))
        elif outcome.reply is not None:
            await ack(
                response_action="update",
                view=blockkit.render_result_modal(route.done, outcome.reply),
            )
        else:
            await ack(response_action="clear")

    # --- buttons -------------------------------------------------------------------------

    async def clicked(
        self, ack: AsyncAck, body: Json, request: AsyncBoltRequest, client: AsyncWebClient
    ) -> None:
        """A button: the change (or refusal) is decided and stored before the ack, so the ack
        means it is done; a form to open or a note for the clicker follows the ack."""
        action, value = _clicked(body)
        route = ROUTES.clicks[action]  # registered for these only
        actor = actor_of(self.runtime, body)
        target = route.reads(value)
        if actor is None or target is None:
            await ack()
            log.warning("slack: a click without a user, or naming nothing; ignored")
            return
        clicked = Clicked(actor, target, Platform.SLACK)
        handler, ctx = route.handler, self.runtime.context
        try:
            outcome = await self.runtime.perform(lambda uow: handler(ctx, uow, clicked))
        except Exception:
            log.exception("slack: a click could not be handled")
            await ack()
            self.replies.later(
                self.replies.ephemeral(
                    body.get("response_url"), blockkit.render_message(Message.saying(DONE_FAILED))
                )
            )
            return
        await ack()
        if outcome.replaces_clicked is not None and not route.beside_card:
            # The clicker's own message shown again (an answer with their vote on it): only
            # its response_url reaches an ephemeral message, which chat.update cannot.
            self.replies.later(
                self.replies.replace(
                    body.get("response_url"), blockkit.render_message(outcome.replaces_clicked)
                )
            )
        if outcome.form is not None:
            trigger_id = body.get("trigger_id")
            if isinstance(trigger_id, str):
                self.replies.later(self._open_form(client, trigger_id, outcome.form, body))
        elif outcome.reply is not None and not is_retry(request):
            # A retry's first delivery already answered the clicker.
            self.replies.later(
                self.replies.ephemeral(
                    body.get("response_url"), blockkit.render_message(outcome.reply)
                )
            )

    async def _open_form(
        self, client: AsyncWebClient, trigger_id: str, form: Form, body: Json
    ) -> None:
        try:
            await client.views_open(trigger_id=trigger_id, view=blockkit.render_modal(form))
        except Exception as error:
            # The trigger lasts 3 seconds and cannot be replayed; tell the person instead.
            log.error("slack: views.open failed: %r", error)
            await self.replies.ephemeral(
                body.get("response_url"),
                blockkit.render_message(Message.saying(FORM_FAILED)),
            )

    async def form_unknown(self, ack: AsyncAck, body: Json) -> None:
        view = body.get("view")
        values = SlackFormValues(
            view if isinstance(view, dict) else {}, self.runtime.context.directory
        )
        first = next(iter(values.names()), None)
        if first is None:
            await ack(response_action="clear")
        else:
            await ack(response_action="errors", errors={first: NO_LONGER_IN_USE})

    async def click_unknown(self, ack: AsyncAck, body: Json) -> None:
        await ack()
        told = blockkit.render_message(Message.saying(NO_LONGER_IN_USE))
        self.replies.later(self.replies.ephemeral(body.get("response_url"), told))

    # --- direct messages -----------------------------------------------------------------

    async def direct_message(self, event: Json, say: Callable[..., Awaitable[Any]]) -> None:
        """Any direct message is answered with help: in Slack the commands are slash commands."""
        # A resend of an event already answered never gets here (bot/slack/replay.py).
        if event.get("channel_type") != "im" or event.get("bot_id") or event.get("subtype"):
            return
        user = event.get("user")
        # Whatever it says: the commands are slash commands, so answer as an empty chat line.
        help_command = ROUTES.read_chat("", with_files=False).command
        if not isinstance(user, str) or help_command is None or help_command.opens is None:
            return
        actor = self.runtime.context.directory.resolve(Identity(Platform.SLACK, user))
        outcome = help_command.opens(self.runtime.context, Said(actor, "", Platform.SLACK))
        if outcome.reply is None:
            return
        try:
            await say(**blockkit.render_message(outcome.reply))
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


def _real_name(user: object) -> str | None:
    """The name Slack's users.info gives a person: their real name, else their display name."""
    if not isinstance(user, dict):
        return None
    profile = user.get("profile")
    profile = profile if isinstance(profile, dict) else {}
    names = (user.get("real_name"), profile.get("real_name"), profile.get("display_name"))
    return next((n for n in names if isinstance(n, str) and n.strip()), None)


INCOMPLETE = "This form arrived incomplete."
NO_LONGER_IN_USE = "That is no longer in use. Nothing was changed."
FORM_FAILED = "The form could not be opened just now. Please click the button again."


class InteractionReplies:
    """Answers only the person who clicked: Slack's response_url for the interaction, posted
    as an ephemeral message (it needs no scope, and lasts 30 minutes). Replies run as tasks
    of their own after the ack, and are awaited at shut-down."""

    def __init__(self, http: aiohttp.ClientSession, api_url: str) -> None:
        self._http = http
        self._trusted_hosts = {"hooks.slack.com", urlsplit(api_url).hostname or "slack.com"}
        self._tasks: set[asyncio.Task[None]] = set()

    def later(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await work
            except Exception:
                log.exception("slack: a reply after the ack failed")

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def ephemeral(self, response_url: object, rendered: Mapping[str, Any]) -> None:
        await self._respond(
            response_url, {"response_type": "ephemeral", "replace_original": False, **rendered}
        )

    async def replace(self, response_url: object, rendered: Mapping[str, Any]) -> None:
        """The message clicked, replaced for the clicker (ephemeral as it was)."""
        await self._respond(response_url, {"replace_original": True, **rendered})

    async def _respond(self, response_url: object, body: Mapping[str, Any]) -> None:
        if not isinstance(response_url, str):
            return
        # The address came in a signed request; still, nothing but Slack gets our answers.
        if (urlsplit(response_url).hostname or "") not in self._trusted_hosts:
            log.warning("slack: not answering to an address outside Slack")
            return
        async with self._http.post(
            response_url, json=body, timeout=aiohttp.ClientTimeout(total=10)
        ) as answer:
            if answer.status != 200:
                log.warning("slack: response_url answered HTTP %s", answer.status)

    async def close(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _clicked(body: Mapping[str, Any]) -> tuple[str, str]:
    actions = body.get("actions")
    first = actions[0] if isinstance(actions, list) and actions else {}
    if not isinstance(first, dict):
        return "", ""
    return str(first.get("action_id") or ""), str(first.get("value") or "")


def is_retry(request: AsyncBoltRequest) -> bool:
    """Slack resends an event it thinks was missed; the first delivery already answered.
    Bolt gives headers as lists, and in Socket Mode a first delivery carries retry number 0."""
    numbers = request.headers.get("x-slack-retry-num") or []
    return any(str(n).strip() not in ("", "0") for n in numbers)


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

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
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from botbuilder.core import BotAdapter, InvokeResponse, TurnContext
from botbuilder.core.teams import TeamsActivityHandler
from botbuilder.schema import Activity, ActivityTypes, ChannelAccount, ResourceResponse
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core import plaintext
from bot.core import reports as report_fields
from bot.core.outcome import Outcome
from bot.core.people import Identity, Person, Platform
from bot.core.ports import UnitOfWork
from bot.core.posts import (
    ACCOUNTS,
    CHECKLIST,
    KEEP_ATTACHMENTS,
    MAX_ATTACHMENTS,
    REASON,
    TEXT,
    WISHED_DATE,
    AttachmentRef,
    DraftSubmission,
)
from bot.core.reports import ReportSubmission, receipt_digest
from bot.core.typed import printable
from bot.core.ui import Form, FormErrors, Message, Paragraph
from bot.handlers import HandlerContext, posts, questions, reports
from bot.handlers import help as help_handler
from bot.handlers import post_cards as cards
from bot.handlers.unsaved import QUESTION_FAILED, SAVE_FAILED, unsaved
from bot.runtime import DatabaseUnavailable, Runtime
from bot.settings import TeamsSettings
from bot.store import outbox
from bot.store import teams as teams_store
from bot.store.models import CARDS
from bot.teams import cards as adaptive
from bot.teams.auth import KeysUnavailable, TokenVerifier, Unauthorized
from bot.teams.connector import ConnectorClient, ConnectorError

log = logging.getLogger(__name__)

Json = dict[str, Any]
TEAMS_CHANNEL = "msteams"
# The words the bot answers in a personal chat; manifests/teams/manifest.json lists the same.
COMMANDS = ("post", "report", "policy", "help")
FILE_DOWNLOAD_INFO = "application/vnd.microsoft.teams.file.download.info"
UNKNOWN_BUTTON = "That button is no longer in use. Nothing was changed."
REPORT_UPLOADS_GONE = (
    "The files sent for this report are no longer held, so nothing was sent. Please send them "
    "again in one message with the word report."
)
UPLOADS_GONE = (
    "The photos sent with this form are no longer held, so nothing was sent. Please send them "
    "again in one message with the word post."
)


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
        settings: TeamsSettings,
        connector: ConnectorClient,
        renderer: adaptive.CardRenderer,
        verifier: TokenVerifier | None,
    ) -> None:
        self._runtime = runtime
        self._settings = settings
        self._verifier = verifier
        self._adapter = TurnAdapter()
        self._bot = SocialdeskBot(runtime, settings, connector, renderer)

    async def handle(self, request: web.Request) -> web.StreamResponse:
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
        if self._verifier is not None:
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
        turn = TurnContext(self._adapter, activity)
        try:
            # Every database call the turn makes shares one budget, well inside the time
            # Teams waits for an answer (and Slack's 3 seconds, which the budget is set for).
            with self._runtime.request_deadline():
                await self._adapter.run_pipeline(turn, self._bot.on_turn)
        except (SQLAlchemyError, DatabaseUnavailable) as error:
            log.warning("teams: the database failed during a %s activity: %r", activity.type, error)
            if activity.type == ActivityTypes.invoke:
                if str(activity.name or "").startswith("task/"):
                    return web.json_response(adaptive.dialog_message(SAVE_FAILED))
                return web.json_response(adaptive.invoke_message(SAVE_FAILED))
            if activity.type == ActivityTypes.message and await self._bot.apologise(activity):
                return web.Response(status=200)
            return _refusal(503, "the database is unavailable", retry_after=30)
        except Exception:
            log.exception("teams: a %s activity could not be handled", activity.type)
            if activity.type == ActivityTypes.invoke:
                return web.json_response(adaptive.invoke_message(SAVE_FAILED))
            return _refusal(500, "internal error")
        sent = turn.turn_state.get(BotAdapter._INVOKE_RESPONSE_KEY)
        if sent is None:
            if activity.type == ActivityTypes.invoke:
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


def _shown_name(account: ChannelAccount | None) -> str | None:
    """The display name Teams sent, without what no database or card can hold (control
    characters, lone surrogates)."""
    name = printable(str(getattr(account, "name", None) or "")).strip()[:200]
    return name or None


def tenant_of(activity: Activity) -> str | None:
    # botbuilder leaves conversation.tenant_id empty for Teams payloads; Teams sends the
    # tenant in the channel data.
    data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    tenant = data.get("tenant")
    tenant_id = tenant.get("id") if isinstance(tenant, dict) else None
    if isinstance(tenant_id, str) and tenant_id:
        return tenant_id
    conversation_tenant = getattr(activity.conversation, "tenant_id", None)
    return conversation_tenant if isinstance(conversation_tenant, str) else None


class SocialdeskBot(TeamsActivityHandler):  # type: ignore[misc]
    def __init__(
        self,
        runtime: Runtime,
        settings: TeamsSettings,
        connector: ConnectorClient,
        renderer: adaptive.CardRenderer,
    ) -> None:
        super().__init__()
        self._runtime = runtime
        self._settings = settings
        self._connector = connector
        self._renderer = renderer
        self._reach = runtime.teams_reach

    @property
    def _ctx(self) -> HandlerContext:
        return self._runtime.context

    # --- who is talking, and where they can be reached -----------------------------------

    def _aad_id(self, account: ChannelAccount | None, channel_id: str) -> str | None:
        if account is None:
            return None
        aad = getattr(account, "aad_object_id", None)
        if isinstance(aad, str) and aad:
            return aad
        # The Bot Framework Emulator has no Entra ID: in local mode its user id stands in.
        if self._settings.local_mode and channel_id != TEAMS_CHANNEL and account.id:
            return str(account.id) if len(str(account.id)) <= 64 else None
        return None

    def _actor(self, turn: TurnContext) -> Person | None:
        activity = turn.activity
        aad = self._aad_id(activity.from_property, activity.channel_id)
        if aad is None:
            return None
        identity = Identity(Platform.TEAMS, aad)
        self._ctx.directory.learn_name(identity, _shown_name(activity.from_property))
        return self._ctx.directory.resolve(identity)

    async def on_turn(self, turn_context: TurnContext) -> None:
        await self._remember(turn_context)
        await super().on_turn(turn_context)

    async def _remember(self, turn: TurnContext) -> None:
        activity = turn.activity
        conversation = activity.conversation
        if conversation is None or not _personal(activity):
            return
        aad = self._aad_id(activity.from_property, activity.channel_id)
        if aad is None or activity.recipient is None or not conversation.id:
            return
        if activity.type == ActivityTypes.installation_update and str(
            activity.action or ""
        ).startswith("remove"):
            return
        record = teams_store.TeamsConversation(
            aad_object_id=aad,
            tenant_id=tenant_of(activity),
            service_url=activity.service_url,
            conversation_id=conversation.id,
            user_id=str(activity.from_property.id or aad),
            bot_id=str(activity.recipient.id or ""),
            name=_shown_name(activity.from_property),
        )
        # An install or a conversation update may follow a block or removal that another
        # instance saw: those always reach the database.
        routine = activity.type in (ActivityTypes.message, ActivityTypes.invoke)
        if routine and self._reach.unchanged(record):
            return
        self._ctx.directory.learn_name(Identity(Platform.TEAMS, aad), record.name)
        self._reach.drop(aad)
        try:
            now = self._ctx.clock.now()
            released = await self._runtime.write(
                lambda db: teams_store.remember(db, record, now, release=not routine)
            )
        except (SQLAlchemyError, DatabaseUnavailable) as error:
            if not routine:
                raise
            # Remembered with their next message; this one is answered meanwhile.
            log.warning("teams: could not record where %s is reached (%r)", aad, error)
            return
        self._reach.knew(aad, record)
        if released:
            log.info("teams: %s can be reached; messages waiting for them go now", aad)
            self._runtime.wake_delivery()

    # --- installs --------------------------------------------------------------------------

    async def on_installation_update_add(self, turn_context: TurnContext) -> None:
        # botbuilder routes an upgrade ("add-upgrade") here too; that needs no welcome. Nor
        # does a team or group chat: socialdesk works in personal chats only.
        if turn_context.activity.action == "add" and _personal(turn_context.activity):
            await self._welcome(turn_context)

    async def on_installation_update_remove(self, turn_context: TurnContext) -> None:
        if not _personal(turn_context.activity):
            # Removed from a team or group chat: the person's own chat with the bot stays.
            return
        aad = self._aad_id(turn_context.activity.from_property, turn_context.activity.channel_id)
        if aad is None:
            return
        self._reach.drop(aad)
        now = self._ctx.clock.now()
        await self._runtime.write(lambda db: teams_store.forget(db, aad, "removed the app", now))
        self._reach.knew(aad, None)
        log.warning("teams: %s removed socialdesk; their messages wait until it is added", aad)

    async def on_teams_members_added_dispatch(
        self, members_added: list[ChannelAccount], team_info: Any, turn_context: TurnContext
    ) -> None:
        # botbuilder would look each person up in the Bot Connector (TeamsInfo.get_member)
        # before saying they joined; socialdesk needs nothing about them, so asks nothing.
        await self.on_members_added_activity(members_added, turn_context)

    async def on_members_added_activity(
        self, members_added: list[ChannelAccount], turn_context: TurnContext
    ) -> None:
        # Teams announces an install with installationUpdate (welcomed above); the Bot
        # Framework Emulator only adds the bot to the conversation.
        activity = turn_context.activity
        bot_id = activity.recipient.id if activity.recipient else None
        if activity.channel_id != TEAMS_CHANNEL and any(m.id == bot_id for m in members_added):
            await self._welcome(turn_context)

    async def _welcome(self, turn: TurnContext) -> None:
        actor = self._actor(turn)
        if actor is None:
            return
        message = help_handler.welcome_message(self._ctx, Platform.TEAMS)
        await self._say(turn, actor, self._renderer.activity(message))

    # --- messages --------------------------------------------------------------------------

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        actor = self._actor(turn_context)
        if actor is None:
            log.warning("teams: a message with no Entra ID user; ignored")
            return
        if getattr(activity.conversation, "conversation_type", "personal") not in (
            None,
            "personal",
        ):
            await self._say(
                turn_context,
                actor,
                self._renderer.activity(
                    cards.refusal("I work in a personal chat: open socialdesk and message me.")
                ),
                queue_on_failure=False,
            )
            return
        TurnContext.remove_recipient_mention(activity)
        text = (activity.text or "").strip()
        word, _, rest = text.partition(" ")
        command = word.lower().strip()
        files = files_sent(activity)
        aad_of_sender = self._aad_id(activity.from_property, activity.channel_id)
        post, report, policy, help_word = COMMANDS
        # "post" alone (or with photos) opens the form; "post photos of my class?" is a question.
        if command == post and not (rest.strip().endswith("?") and not files):
            form = posts.draft_form(self._ctx)
            form_key = uuid.uuid4().hex
            if files and aad_of_sender is not None:
                # Kept here, not in the card: what comes back from a card is the client's to
                # change, and a file's address must be the one Teams gave.
                await self._keep_uploads(form_key, aad_of_sender, files)
            card = self._renderer.form_card(form, files=[f.name for f in files], form_key=form_key)
            await self._say(turn_context, actor, _as_activity(card, form.title))
            return
        if files and command == report and aad_of_sender is not None:
            # Kept on the server, as for a draft: the dialog's form carries only their key.
            form_key = uuid.uuid4().hex
            await self._keep_uploads(form_key, aad_of_sender, files)
            message = reports.start_menu(self._ctx, Platform.TEAMS, form_key, len(files))
        elif files:
            message = cards.refusal(
                "To put photos on a draft, send them in one message with the word post; to add "
                "them to a report of a concern, with the word report."
            )
        elif (command in (help_word, "hi", "hello") and not rest.strip()) or text in ("", "?"):
            message = help_handler.help_message(self._ctx, Platform.TEAMS)
        elif command == report:
            # The form opens in a dialog: what a report says never stays in the chat.
            message = reports.start_menu(self._ctx, Platform.TEAMS)
        else:
            # Any other words are a policy question (DESIGN.md), `policy` first or not.
            question = rest if command == policy else text
            message = await self._question(actor, question)
        await self._say(turn_context, actor, self._renderer.activity(message))

    async def _question(self, actor: Person, question: str) -> Message:
        ctx = self._ctx
        try:
            outcome = await self._runtime.perform(
                lambda uow: questions.ask(ctx, uow, actor, question, Platform.TEAMS)
            )
        except Exception:
            log.exception("teams: a policy question could not be answered")
            return cards.refusal(QUESTION_FAILED)
        return outcome.reply or cards.refusal(QUESTION_FAILED)

    async def _say(
        self,
        turn: TurnContext,
        actor: Person,
        payload: Mapping[str, Any],
        *,
        queue_on_failure: bool = True,
    ) -> None:
        """Answer in the conversation at once; if Teams fails, the answer waits in the outbox
        and goes when it can, as every other message does."""
        activity = turn.activity
        try:
            await self._connector.send(activity.service_url, activity.conversation.id, payload)
            return
        except ConnectorError as error:
            log.warning("teams: could not answer in the chat now (%s)", error)
            aad = self._aad_id(activity.from_property, activity.channel_id)
            if not queue_on_failure or aad is None:
                return
        answer = outbox.message(
            platform=Platform.TEAMS.value,
            recipient_key=actor.key,
            address=aad,
            card_key=None,
            payload=payload,
            now=self._ctx.clock.now(),
        )
        await self._runtime.write(lambda db: outbox.queue(db, [answer]))
        self._runtime.wake_delivery()

    async def apologise(self, activity: Activity) -> bool:
        """Tell the person in the chat that what they sent could not be saved (the database
        failed during their message); False if Teams could not be told either."""
        payload = self._renderer.activity(cards.refusal(SAVE_FAILED))
        try:
            await self._connector.send(activity.service_url, activity.conversation.id, payload)
        except ConnectorError as error:
            log.warning("teams: could not say that a message was not saved (%s)", error)
            return False
        return True

    # --- card actions ----------------------------------------------------------------------

    async def on_invoke_activity(self, turn_context: TurnContext) -> Any:
        activity = turn_context.activity
        if activity.name in ("task/fetch", "task/submit"):
            return InvokeResponse(status=200, body=await self._dialog(turn_context))
        if activity.name != "adaptiveCard/action":
            return await super().on_invoke_activity(turn_context)
        # Read the raw value: botbuilder's AdaptiveCardInvokeValue drops `trigger`.
        value = _mapping(activity.value)
        action = _mapping(value.get("action"))
        if action.get("type") != "Action.Execute":
            # Not a card action at all: the Universal Actions error response, with the
            # status botbuilder gives it.
            return InvokeResponse(
                status=400,
                body=adaptive.invoke_error(400, "BadRequest", "expected an Action.Execute"),
            )
        verb = str(action.get("verb") or "")
        data = _mapping(action.get("data"))
        if value.get("trigger") == "automatic":
            # socialdesk's cards ask for no automatic refresh; leave the card as it is.
            return InvokeResponse(status=200, body=adaptive.invoke_message(""))
        actor = self._actor(turn_context)
        if actor is None:
            body = adaptive.invoke_message("Teams did not say who you are. Nothing was changed.")
        else:
            body = await self._card_action(turn_context, actor, verb, data)
        return InvokeResponse(status=200, body=body)

    async def _card_action(
        self, turn: TurnContext, actor: Person, verb: str, data: Mapping[str, Any]
    ) -> Json:
        ctx = self._ctx
        if verb == adaptive.SUBMIT_VERB:
            return await self._form_submitted(turn, actor, data)
        if verb in questions.CLICKS:
            return await self._question_clicked(turn, actor, verb, data)
        if verb in reports.CARD_BUTTONS:
            report = reports.report_id(str(data.get(adaptive.VALUE_KEY) or ""))
            if report is None:
                return adaptive.invoke_message(UNKNOWN_BUTTON)
            if verb == reports.ACKNOWLEDGE:
                return await self._answer(
                    turn, lambda uow: reports.acknowledge(ctx, uow, actor, report)
                )
            if verb == reports.REPLY:
                return await self._answer(
                    turn, lambda uow: reports.open_reply_form(ctx, uow, actor, report)
                )
            return await self._answer(
                turn, lambda uow: reports.open_click_form(ctx, uow, actor, report, verb)
            )
        parsed = cards.parse_target(str(data.get(adaptive.VALUE_KEY) or ""))
        if parsed is None:
            return adaptive.invoke_message(UNKNOWN_BUTTON)
        post_id, version = parsed
        if verb in cards.DECISION_ACTIONS:
            decision = cards.DECISION_ACTIONS[verb]

            def work(uow: UnitOfWork) -> Awaitable[Outcome]:
                return posts.decide(ctx, uow, actor, post_id, version, decision)

        elif verb in posts.BUTTONS:
            click = posts.BUTTONS[verb]

            def work(uow: UnitOfWork) -> Awaitable[Outcome]:
                return click(ctx, uow, actor, post_id, version)

        else:
            return adaptive.invoke_message(UNKNOWN_BUTTON)
        return await self._answer(turn, work)

    async def _question_clicked(
        self, turn: TurnContext, actor: Person, verb: str, data: Mapping[str, Any]
    ) -> Json:
        question_id = questions.clicked_question(str(data.get(adaptive.VALUE_KEY) or ""))
        if question_id is None:
            return adaptive.invoke_message(UNKNOWN_BUTTON)
        ctx, click = self._ctx, questions.CLICKS[verb]
        if verb == questions.START_DRAFT:
            # The draft form comes as a message of its own: the answer stays readable above it.
            form = posts.draft_form(ctx)
            card = self._renderer.form_card(form, form_key=uuid.uuid4().hex)
            await self._say(turn, actor, _as_activity(card, form.title))
            return adaptive.invoke_message("The draft form is in the message below.")
        if verb == questions.ESCALATE:
            try:
                outcome = await self._runtime.perform(
                    lambda uow: click(ctx, uow, actor, question_id)
                )
            except Exception:
                log.exception("teams: a question could not be sent on")
                return adaptive.invoke_message(SAVE_FAILED)
            # The answer card stays as it was; the asker is told in a note.
            return adaptive.invoke_message(_said(outcome.reply) if outcome.reply else "")
        return await self._answer(turn, lambda uow: click(ctx, uow, actor, question_id))

    async def _form_submitted(
        self, turn: TurnContext, actor: Person, data: Mapping[str, Any]
    ) -> Json:
        ctx = self._ctx
        form_id = str(data.get(adaptive.FORM_KEY) or "")
        context = str(data.get(adaptive.CONTEXT_KEY) or "")
        prefix = str(data.get(adaptive.PREFIX_KEY) or "")

        def field(name: str) -> str:
            value = data.get(prefix + name)
            return value if isinstance(value, str) else ""

        work: Callable[[UnitOfWork], Awaitable[Outcome]]
        # The form to show again with its refusals; None: they are told in a note, and the
        # card, with what was typed in it, stays (a form inside a shared card, a revision).
        form: Form | None
        form_key = str(data.get(adaptive.FORM_ID_KEY) or "")[:64]
        files: list[dict[str, Any]] = []
        if form_id == cards.DRAFT_FORM and form_key and data.get(adaptive.FILES_KEPT_KEY):
            files = await self._uploads(actor, form_key)
            if not files:
                # Rather than a draft quietly without the photos its form lists.
                return adaptive.invoke_message(UPLOADS_GONE)
        if form_id in (cards.DRAFT_FORM, cards.REVISION_FORM):
            submission = draft_from_data(field, form_key, files)
            if form_id == cards.DRAFT_FORM:
                form = posts.draft_form(ctx)

                def work(uow: UnitOfWork) -> Awaitable[Outcome]:
                    return posts.submit_draft(ctx, uow, actor, submission)

            else:
                parsed = cards.parse_target(context)
                if parsed is None:
                    return adaptive.invoke_message(UNKNOWN_BUTTON)
                post_id, version = parsed
                keep = "keep" in field(KEEP_ATTACHMENTS).split(",")

                def work(uow: UnitOfWork) -> Awaitable[Outcome]:
                    return posts.submit_revision(
                        ctx, uow, actor, post_id, version, submission, keep
                    )

                form = None
        elif form_id == cards.REASON_FORM:
            reason_target = cards.parse_reason_target(context)
            if reason_target is None:
                return adaptive.invoke_message(UNKNOWN_BUTTON)
            post_id, version, decision = reason_target
            reason = field(REASON)

            def work(uow: UnitOfWork) -> Awaitable[Outcome]:
                return posts.decide(
                    ctx, uow, actor, post_id, version, decision, reason, from_form=True
                )

            form = None
        elif form_id == questions.ANSWER_FORM:
            answered_id = questions.question_id(context)
            if answered_id is None:
                return adaptive.invoke_message(UNKNOWN_BUTTON)
            answer = field(questions.ANSWER_TEXT)
            keep = questions.LEARN in field(questions.LEARN).split(",")
            chosen = tuple(c for c in field(questions.SECTIONS).split(",") if c)

            def work(uow: UnitOfWork) -> Awaitable[Outcome]:
                return questions.submit_answer(ctx, uow, actor, answered_id, answer, keep, chosen)

            form = None
        elif form_id in (
            reports.NOTE_FORM,
            reports.ASK_FORM,
            reports.CLOSE_FORM,
            reports.REPLY_FORM,
        ):
            report = reports.report_id(context)
            if report is None:
                return adaptive.invoke_message(UNKNOWN_BUTTON)
            work = _report_action(ctx, actor, form_id, report, field)
            form = None
        elif form_id == cards.LINKS_FORM:
            target = cards.parse_target(context)
            if target is None:
                return adaptive.invoke_message(UNKNOWN_BUTTON)
            post_id, version = target
            given = {
                name: value if isinstance(value, str) else None
                for name, value in _inputs(data, prefix).items()
            }

            def work(uow: UnitOfWork) -> Awaitable[Outcome]:
                return posts.mark_posted(ctx, uow, actor, post_id, version, given)

            form = None
        else:
            return adaptive.invoke_message(UNKNOWN_BUTTON)
        return await self._answer(
            turn,
            work,
            submitted=data,
            form=form,
            files=[str(f.get("name")) for f in files],
            failed=unsaved(form_id),
        )

    async def _answer(
        self,
        turn: TurnContext,
        work: Callable[[UnitOfWork], Awaitable[Outcome]],
        *,
        submitted: Mapping[str, Any] | None = None,
        form: Form | None = None,
        files: Sequence[str] = (),
        failed: str = SAVE_FAILED,
    ) -> Json:
        """Run the work and answer the clicker: a refusal in the form it came from, a form to
        fill in place of the card, or the card as it now is for everyone."""
        clicked: str | None = None

        async def find_clicked_card(db: AsyncConnection) -> None:
            nonlocal clicked
            clicked = await _card_at(db, turn.activity)

        try:
            outcome = await self._runtime.perform(work, also=find_clicked_card)
        except Exception:
            log.exception("teams: a card action could not be handled")
            return adaptive.invoke_message(failed)
        if outcome.refused:
            return self._refused(outcome.errors, submitted or {}, form, files)
        if outcome.form is not None:
            card = self._renderer.form_card(outcome.form, form_key=uuid.uuid4().hex)
            return adaptive.invoke_card(card)
        return self._shown_after(outcome, clicked)

    # --- dialogs (task modules): reports, kept out of the chat ------------------------------

    async def _dialog(self, turn: TurnContext) -> Json:
        activity = turn.activity
        data = _mapping(_mapping(activity.value).get("data"))
        actor = self._actor(turn)
        if actor is None:
            return adaptive.dialog_message("Teams did not say who you are. Nothing was sent.")
        ctx = self._ctx
        if activity.name == "task/fetch":
            verb = str(data.get(adaptive.VERB_KEY) or "")
            if verb == reports.OPEN_FORM:
                value = str(data.get(adaptive.VALUE_KEY) or "")
                if value.startswith(reports.FILES_PREFIX):
                    # Each dialog is a form of its own; the files stay under their own key.
                    uploads_key = value.removeprefix(reports.FILES_PREFIX)[:64]
                    names = [str(f.get("name")) for f in await self._uploads(actor, uploads_key)]
                    if not names:
                        return adaptive.dialog_message(REPORT_UPLOADS_GONE)
                    form = reports.report_form(ctx, None, Platform.TEAMS, files_sent=True)
                    card = self._renderer.form_card(
                        form,
                        files=names,
                        form_key=uuid.uuid4().hex,
                        dialog=True,
                        uploads_key=uploads_key,
                    )
                    return adaptive.dialog_card(form.title, card)
                form = reports.report_form(ctx, value or None, Platform.TEAMS)
            elif verb == reports.FOLLOW_UP:
                form = reports.receipt_form()
            else:
                return adaptive.dialog_message(UNKNOWN_BUTTON)
            card = self._renderer.form_card(form, form_key=uuid.uuid4().hex, dialog=True)
            return adaptive.dialog_card(form.title, card)
        return await self._dialog_submitted(actor, data)

    async def _dialog_submitted(self, actor: Person, data: Mapping[str, Any]) -> Json:
        ctx = self._ctx
        form_id = str(data.get(adaptive.FORM_KEY) or "")
        context = str(data.get(adaptive.CONTEXT_KEY) or "")
        form_key = str(data.get(adaptive.FORM_ID_KEY) or "")[:64]
        uploads_key = str(data.get(adaptive.UPLOADS_KEY) or "")[:64]

        def field(name: str) -> str:
            value = data.get(name)
            return value if isinstance(value, str) else ""

        work: Callable[[UnitOfWork], Awaitable[Outcome]]
        form: Form | None = None
        files: list[dict[str, Any]] = []
        if form_id == reports.REPORT_FORM:
            if data.get(adaptive.FILES_KEPT_KEY):
                files = await self._uploads(actor, uploads_key)
                if not files:
                    return adaptive.dialog_message(REPORT_UPLOADS_GONE)
            submission = report_from_data(field, form_key, files, context)
            form = reports.report_form(ctx, None, Platform.TEAMS, files_sent=bool(files))
            if receipt_digest(context):
                # Shown again after a refusal, the form keeps the receipt it was opened with.
                form = replace(form, context=context)

            def work(uow: UnitOfWork) -> Awaitable[Outcome]:
                return reports.submit(ctx, uow, actor, submission)

        elif form_id == reports.RECEIPT_FORM:
            code = field(reports.RECEIPT)
            form = reports.receipt_form()

            def work(uow: UnitOfWork) -> Awaitable[Outcome]:
                return reports.follow_up(ctx, uow, code)

        elif form_id == reports.REPLY_FORM and context.startswith("receipt:"):
            code, answer = context.removeprefix("receipt:"), field(reports.ANSWER)

            def work(uow: UnitOfWork) -> Awaitable[Outcome]:
                return reports.reply_anonymously(ctx, uow, code, answer)

        else:
            return adaptive.dialog_message(UNKNOWN_BUTTON)
        try:
            outcome = await self._runtime.perform(work)
        except Exception:
            log.exception("teams: a dialog could not be saved")
            return adaptive.dialog_message(unsaved(form_id))
        if outcome.refused:
            # The same form again, as typed, with the reasons (or the form the refusal names).
            shown = form or outcome.form
            if shown is None:
                return adaptive.dialog_message(" ".join(outcome.errors.by_input.values()))
            card = self._renderer.form_card(
                shown,
                values=_inputs(data, ""),
                errors=outcome.errors,
                files=[str(f.get("name")) for f in files],
                form_key=form_key or None,
                dialog=True,
                uploads_key=uploads_key or None,
            )
            return adaptive.dialog_card(shown.title, card)
        if outcome.form is not None:
            card = self._renderer.form_card(outcome.form, form_key=uuid.uuid4().hex, dialog=True)
            return adaptive.dialog_card(outcome.form.title, card)
        if outcome.reply is not None:
            return adaptive.dialog_card(outcome.reply.summary, self._renderer.card(outcome.reply))
        return adaptive.dialog_message("Done.")

    async def _keep_uploads(self, form_key: str, aad: str, files: list[AttachmentRef]) -> None:
        kept, now = [_file_json(f) for f in files], self._ctx.clock.now()
        await self._runtime.write(lambda db: teams_store.keep_uploads(db, form_key, aad, kept, now))

    async def _uploads(self, actor: Person, form_key: str) -> list[dict[str, Any]]:
        aad = _identity_of(actor)
        if not aad or not form_key:
            return []
        return await self._runtime.read(lambda db: teams_store.uploads_for(db, form_key, aad))

    def _shown_after(self, outcome: Outcome, clicked: str | None) -> Json:
        """`clicked`: the key of the card the click came from, if it is one the bot tracks
        (an approver's card, shared by every approver)."""
        changed = bool(outcome.notifications or outcome.card_updates)
        for update in outcome.card_updates:
            if update.card_key == clicked:
                return adaptive.invoke_card(self._renderer.card(update.message))
        if outcome.reply is not None:
            if not changed or clicked is not None:
                # Nothing changed (a refusal, a decision someone else made first), or the card
                # is one everyone shares: it stays as it is, and only the clicker hears why.
                return adaptive.invoke_message(_said(outcome.reply))
            return adaptive.invoke_card(self._renderer.card(outcome.reply))
        if outcome.card_updates:
            # Clicked on a message of the clicker's own (a "ready to post" reminder, say):
            # it now shows where the draft stands.
            return adaptive.invoke_card(self._renderer.card(outcome.card_updates[-1].message))
        return adaptive.invoke_message("")

    def _refused(
        self,
        errors: FormErrors,
        submitted: Mapping[str, Any],
        form: Form | None,
        files: Sequence[str],
    ) -> Json:
        text = " ".join(errors.by_input.values())
        if form is None:
            return adaptive.invoke_message(text or "That could not be done.")
        values = _inputs(submitted, str(submitted.get(adaptive.PREFIX_KEY) or ""))
        card = self._renderer.form_card(
            form,
            values=values,
            errors=errors,
            files=files,
            form_key=str(submitted.get(adaptive.FORM_ID_KEY) or "") or None,
        )
        return adaptive.invoke_card(card)


async def _card_at(db: AsyncConnection, activity: Activity) -> str | None:
    """Which tracked card an invoke came from: Teams names the message in replyToId."""
    if not activity.reply_to_id or activity.conversation is None:
        return None
    key: str | None = await db.scalar(
        select(CARDS.c.card_key).where(
            CARDS.c.platform == Platform.TEAMS.value,
            CARDS.c.channel == activity.conversation.id,
            CARDS.c.message_id == activity.reply_to_id,
        )
    )
    return key


def _report_action(
    ctx: HandlerContext,
    actor: Person,
    form_id: str,
    report: int,
    field: Callable[[str], str],
) -> Callable[[UnitOfWork], Awaitable[Outcome]]:
    """A form from a report's card (or, for its maker, a question's): the work it asks for."""
    if form_id == reports.CLOSE_FORM:
        outcome, summary = field(reports.OUTCOME), field(reports.SUMMARY)
        return lambda uow: reports.close(ctx, uow, actor, report, outcome, summary)
    if form_id == reports.ASK_FORM:
        question = field(reports.QUESTION)
        return lambda uow: reports.ask_reporter(ctx, uow, actor, report, question)
    if form_id == reports.REPLY_FORM:
        answer = field(reports.ANSWER)
        return lambda uow: reports.reply(ctx, uow, actor, report, answer)
    note = field(reports.NOTE)
    return lambda uow: reports.add_note(ctx, uow, actor, report, note)


def report_from_data(
    field: Callable[[str], str], form_key: str, files: list[dict[str, Any]], receipt: str = ""
) -> ReportSubmission:
    """The report form as a dialog sent it back; the handler checks everything. `files` are
    those sent in the chat with the word report, kept on the server under the form's key."""
    return ReportSubmission(
        kind=field(report_fields.KIND),
        where=field(report_fields.WHERE),
        links=field(report_fields.LINKS),
        seen_on=field(report_fields.SEEN_ON) or None,
        seen_at=field(report_fields.SEEN_AT) or None,
        details=field(report_fields.DETAILS),
        involved=tuple(k for k in field(report_fields.INVOLVED).split(",") if k),
        involved_text=field(report_fields.INVOLVED_TEXT),
        anonymous=report_fields.ANONYMOUSLY in field(report_fields.ANONYMOUSLY).split(","),
        attachments=tuple(ref for ref in (_file_of(f) for f in files) if ref),
        form_key=f"teams:{form_key}" if form_key else None,
        receipt=receipt or None,
    )


def _said(message: Message) -> str:
    """A message as the one line of plain text an invoke's note can carry: its paragraphs."""
    paragraphs = tuple(b for b in message.blocks if isinstance(b, Paragraph))
    return plaintext.render_blocks(paragraphs).replace("\n", " ") or message.summary


def _personal(activity: Activity) -> bool:
    conversation = activity.conversation
    if conversation is None or getattr(conversation, "is_group", False):
        return False
    return getattr(conversation, "conversation_type", None) in (None, "personal")


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _inputs(data: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """The values a person entered, by input name, without the card's own data."""
    return {
        key[len(prefix) :]: value
        for key, value in data.items()
        if key.startswith(prefix) and not key.startswith(adaptive.RESERVED_PREFIX)
    }


def _as_activity(card: Json, summary: str) -> Json:
    return {
        "type": "message",
        "summary": summary,
        "attachments": [{"contentType": adaptive.CARD_CONTENT_TYPE, "content": card}],
    }


def files_sent(activity: Activity) -> list[AttachmentRef]:
    """Photos and files sent with a message: Teams' file download info for files, and an
    image's own address for a picture pasted into the message."""
    found: list[AttachmentRef] = []
    for index, attachment in enumerate(activity.attachments or []):
        content_type = str(attachment.content_type or "")
        content = attachment.content if isinstance(attachment.content, dict) else {}
        if content_type == FILE_DOWNLOAD_INFO:
            url = content.get("downloadUrl")
            source = content.get("uniqueId") or f"{activity.id}:{index}"
            kind = str(content.get("fileType") or "")
            mimetype = _MIME.get(kind.lower(), "application/octet-stream")
        elif content_type.startswith("image/"):
            url = attachment.content_url
            source = f"{activity.id}:{index}"
            kind = content_type.split("/", 1)[1]
            mimetype = content_type
        else:
            continue
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            continue
        # A pasted picture comes as image/*: Teams names neither it nor its type.
        extension = f".{kind}" if kind and kind != "*" else ""
        name = str(attachment.name or f"photo-{index + 1}{extension}")[:500]
        found.append(
            AttachmentRef(
                platform=Platform.TEAMS,
                source_id=str(source)[:200],
                name=name,
                mimetype=mimetype[:200],
                size=0,
                download_url=url,
            )
        )
    return found[: MAX_ATTACHMENTS + 1]


_MIME = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "heic": "image/heic",
    "webp": "image/webp",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "pdf": "application/pdf",
}


def _file_json(ref: AttachmentRef) -> Json:
    return {
        "id": ref.source_id,
        "name": ref.name,
        "type": ref.mimetype,
        "url": ref.download_url,
    }


def _identity_of(person: Person) -> str | None:
    identity = person.identity_on(Platform.TEAMS)
    return identity.external_id if identity else None


def _file_of(raw: Any) -> AttachmentRef | None:
    if not isinstance(raw, dict):
        return None
    url, name = raw.get("url"), raw.get("name")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        return None
    return AttachmentRef(
        platform=Platform.TEAMS,
        source_id=str(raw.get("id") or url)[:200],
        name=str(name or "file")[:500],
        mimetype=str(raw.get("type") or "application/octet-stream")[:200],
        size=0,
        download_url=url,
    )


def draft_from_data(
    field: Callable[[str], str], form_key: str, files: list[dict[str, Any]]
) -> DraftSubmission:
    """Read the draft form's values; anything missing or malformed reads as empty, so the
    handler refuses it with a clear message instead of the edge failing. `files` are those
    kept on the server for this form."""
    attachments = tuple(ref for ref in (_file_of(f) for f in files) if ref)
    return DraftSubmission(
        text=field(TEXT),
        accounts=tuple(a for a in field(ACCOUNTS).split(",") if a),
        confirmed=frozenset(
            item.name for item in CHECKLIST if field(item.name) == adaptive.CONFIRMED
        ),
        wished_date=field(WISHED_DATE) or None,
        attachments=attachments,
        form_key=f"teams:{form_key}" if form_key else None,
    )

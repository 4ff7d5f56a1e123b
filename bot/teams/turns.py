"""Microsoft Teams: one turn of the conversation, through botbuilder-core's activity handler,
dispatching from the workflow tables (bot/handlers/routes.py).

A chat message is read into a command (`post`, `report`, a question); a card's button into a
click; a card's or a dialog's form into a submitted form read through TeamsFormValues. What
the handler returns is rendered as Adaptive Cards: in the invoke's answer for the clicker, and
through the outbox for everyone else.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from botbuilder.core import InvokeResponse, TurnContext
from botbuilder.core.teams import TeamsActivityHandler
from botbuilder.schema import Activity, ActivityTypes, ChannelAccount

from bot.core import plaintext
from bot.core.outcome import Outcome
from bot.core.people import Identity, Person, Platform
from bot.core.ports import UnitOfWork
from bot.core.posts import AttachmentRef
from bot.core.typed import printable
from bot.core.ui import Message, Paragraph
from bot.handlers import HandlerContext
from bot.handlers.routes import ROUTES
from bot.handlers.workflow import (
    KEPT_FILES_PREFIX,
    SAVE_FAILED,
    Clicked,
    CommandRoute,
    FormRoute,
    Said,
    Submitted,
)
from bot.records import TeamsConversation, TeamsRecords
from bot.runtime import DatabaseUnavailable, Runtime
from bot.settings import TeamsSettings
from bot.teams import cards as adaptive
from bot.teams.connector import ConnectorClient, ConnectorError
from bot.teams.forms import TeamsFormValues, files_sent

log = logging.getLogger(__name__)

Json = dict[str, Any]
TEAMS_CHANNEL = "msteams"
UNKNOWN_BUTTON = "That button is no longer in use. Nothing was changed."
UPLOADS_GONE = (
    "The files sent for this form are no longer held, so nothing was sent. Please send them "
    "again in one message with the word that opened the form."
)
FORM_BELOW = "The form is in the message below."
NOT_PERSONAL = "I work in a personal chat: open socialdesk and message me."


def shown_name(account: ChannelAccount | None) -> str | None:
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


def personal(activity: Activity) -> bool:
    conversation = activity.conversation
    if conversation is None or getattr(conversation, "is_group", False):
        return False
    return getattr(conversation, "conversation_type", None) in (None, "personal")


class SocialdeskBot(TeamsActivityHandler):  # type: ignore[misc]
    def __init__(
        self,
        runtime: Runtime,
        records: TeamsRecords,
        settings: TeamsSettings,
        connector: ConnectorClient,
        renderer: adaptive.CardRenderer,
    ) -> None:
        super().__init__()
        self._runtime = runtime
        self._records = records
        self._settings = settings
        self._connector = connector
        self._renderer = renderer

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

    def _sender(self, turn: TurnContext) -> str | None:
        return self._aad_id(turn.activity.from_property, turn.activity.channel_id)

    def _actor(self, turn: TurnContext) -> Person | None:
        aad = self._sender(turn)
        if aad is None:
            return None
        identity = Identity(Platform.TEAMS, aad)
        self._ctx.directory.learn_name(identity, shown_name(turn.activity.from_property))
        return self._ctx.directory.resolve(identity)

    async def on_turn(self, turn_context: TurnContext) -> None:
        await self._remember(turn_context)
        await super().on_turn(turn_context)

    async def _remember(self, turn: TurnContext) -> None:
        activity = turn.activity
        conversation = activity.conversation
        if conversation is None or not personal(activity):
            return
        aad = self._sender(turn)
        if aad is None or activity.recipient is None or not conversation.id:
            return
        if activity.type == ActivityTypes.installation_update and str(
            activity.action or ""
        ).startswith("remove"):
            return
        record = TeamsConversation(
            aad_object_id=aad,
            tenant_id=tenant_of(activity),
            service_url=activity.service_url,
            conversation_id=conversation.id,
            user_id=str(activity.from_property.id or aad),
            bot_id=str(activity.recipient.id or ""),
            name=shown_name(activity.from_property),
        )
        # An install or a conversation update may follow a block or removal that another
        # instance saw: those always reach the database.
        routine = activity.type in (ActivityTypes.message, ActivityTypes.invoke)
        if routine and self._records.unchanged(record):
            return
        self._ctx.directory.learn_name(Identity(Platform.TEAMS, aad), record.name)
        try:
            now = self._ctx.clock.now()
            released = await self._records.remember(record, now, release=not routine)
        except DatabaseUnavailable as error:
            if not routine:
                raise
            # Remembered with their next message; this one is answered meanwhile.
            log.warning("teams: could not record where %s is reached (%r)", aad, error)
            return
        if released:
            log.info("teams: %s can be reached; messages waiting for them go now", aad)
            self._runtime.wake_delivery()

    # --- installs --------------------------------------------------------------------------

    async def on_installation_update_add(self, turn_context: TurnContext) -> None:
        # botbuilder routes an upgrade ("add-upgrade") here too; that needs no welcome. Nor
        # does a team or group chat: socialdesk works in personal chats only.
        if turn_context.activity.action == "add" and personal(turn_context.activity):
            await self._welcome(turn_context)

    async def on_installation_update_remove(self, turn_context: TurnContext) -> None:
        if not personal(turn_context.activity):
            # Removed from a team or group chat: the person's own chat with the bot stays.
            return
        aad = self._sender(turn_context)
        if aad is None:
            return
        await self._records.removed(aad, "removed the app", self._ctx.clock.now())
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
        message = ROUTES.welcome(self._ctx, Platform.TEAMS)
        await self._say(turn, actor, self._renderer.activity(message))

    # --- messages: commands ----------------------------------------------------------------

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        actor = self._actor(turn_context)
        if actor is None:
            log.warning("teams: a message with no Entra ID user; ignored")
            return
        if not personal(activity):
            refusal = self._renderer.activity(Message.saying(NOT_PERSONAL))
            await self._say(turn_context, actor, refusal, queue_on_failure=False)
            return
        TurnContext.remove_recipient_mention(activity)
        files = files_sent(activity)
        typed = ROUTES.read_chat(activity.text or "", with_files=bool(files))
        if typed.command is None:
            message = Message.saying(typed.refusal or "")
            await self._say(turn_context, actor, self._renderer.activity(message))
            return
        form_key = uuid.uuid4().hex
        aad = self._sender(turn_context)
        if files and aad is not None:
            # Kept on the server under the form's key, not in the card: what comes back from a
            # card is the client's to change, and a file's address must be the one Teams gave.
            await self._records.keep_uploads(form_key, aad, files, self._ctx.clock.now())
        said = Said(actor, typed.text, Platform.TEAMS, form_key if files else None, len(files))
        outcome = await self._command(typed.command, said)
        if outcome.form is not None:
            names = [f.name for f in files]
            card = self._renderer.form_card(outcome.form, files=names, form_key=form_key)
            await self._say(turn_context, actor, _as_activity(card, outcome.form.title))
        elif outcome.reply is not None:
            await self._say(turn_context, actor, self._renderer.activity(outcome.reply))

    async def _command(self, command: CommandRoute, said: Said) -> Outcome:
        ctx = self._ctx
        if command.opens is not None:
            return command.opens(ctx, said)
        asks = command.asks
        assert asks is not None
        outcome = await self._perform(
            lambda uow: asks(ctx, uow, said), f"the command {command.word}"
        )
        if outcome is None or not (outcome.reply or outcome.form):
            return Outcome(reply=Message.saying(command.unsaved))
        return outcome

    async def _perform(
        self, work: Callable[[UnitOfWork], Awaitable[Outcome]], what: str
    ) -> Outcome | None:
        """The work's outcome; None when it failed (logged), for the caller to apologise."""
        try:
            return await self._runtime.perform(work)
        except Exception:
            log.exception("teams: %s could not be handled", what)
            return None

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
        aad = self._sender(turn)
        if queue_on_failure and aad is not None:
            await self._records.queue_answer(actor.key, aad, payload, self._ctx.clock.now())

    async def apologise(self, activity: Activity) -> bool:
        """Tell the person in the chat that what they sent could not be saved (the database
        failed during their message); False if Teams could not be told either."""
        payload = self._renderer.activity(Message.saying(SAVE_FAILED))
        try:
            await self._connector.send(activity.service_url, activity.conversation.id, payload)
        except ConnectorError as error:
            log.warning("teams: could not say that a message was not saved (%s)", error)
            return False
        return True

    # --- card actions: clicks and forms in the chat -----------------------------------------

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
        if value.get("trigger") == "automatic":
            # socialdesk's cards ask for no automatic refresh; leave the card as it is.
            return InvokeResponse(status=200, body=adaptive.invoke_message(""))
        actor = self._actor(turn_context)
        if actor is None:
            body = adaptive.invoke_message("Teams did not say who you are. Nothing was changed.")
        else:
            verb, data = str(action.get("verb") or ""), _mapping(action.get("data"))
            if verb == adaptive.SUBMIT_VERB:
                body = await self._form_in_card(turn_context, actor, data)
            else:
                body = await self._clicked(turn_context, actor, verb, data)
        return InvokeResponse(status=200, body=body)

    async def _clicked(
        self, turn: TurnContext, actor: Person, verb: str, data: Mapping[str, Any]
    ) -> Json:
        route = ROUTES.clicks.get(verb)
        target = route.reads(str(data.get(adaptive.VALUE_KEY) or "")) if route else None
        if route is None or target is None or route.in_window:
            # A button whose form opens only in a dialog comes as task/fetch, never here.
            return adaptive.invoke_message(UNKNOWN_BUTTON)
        clicked, ctx, handler = Clicked(actor, target, Platform.TEAMS), self._ctx, route.handler
        if not route.beside_card:
            answer = await self._answer(turn, lambda uow: handler(ctx, uow, clicked))
            if isinstance(answer, Outcome):
                return adaptive.invoke_message(_reasons(answer) or "That could not be done.")
            return answer
        outcome = await self._perform(lambda uow: handler(ctx, uow, clicked), "a click")
        if outcome is None:
            return adaptive.invoke_message(SAVE_FAILED)
        if outcome.form is not None:
            # In a message of its own: the card clicked stays readable above it.
            card = self._renderer.form_card(outcome.form, form_key=uuid.uuid4().hex)
            await self._say(turn, actor, _as_activity(card, outcome.form.title))
            return adaptive.invoke_message(FORM_BELOW)
        # The card stays as it was; the clicker is told in a note.
        return adaptive.invoke_message(_said(outcome.reply) if outcome.reply else "")

    async def _form_in_card(
        self, turn: TurnContext, actor: Person, data: Mapping[str, Any]
    ) -> Json:
        route = ROUTES.forms.get(str(data.get(adaptive.FORM_KEY) or ""))
        if route is None:
            return adaptive.invoke_message(UNKNOWN_BUTTON)
        files = await self._form_files(actor, data)
        if files is None:
            # Rather than a draft quietly without the photos its form lists.
            return adaptive.invoke_message(UPLOADS_GONE)
        values = TeamsFormValues(data, str(data.get(adaptive.PREFIX_KEY) or ""), files)
        sent = self._submitted(route, actor, values)
        if sent is None or route.only_in_window(sent.target, values):
            # A report's forms come from a dialog, never from a card in the chat.
            return adaptive.invoke_message(UNKNOWN_BUTTON)
        ctx, handler = self._ctx, route.handler
        answer = await self._answer(turn, lambda uow: handler(ctx, uow, sent), route.unsaved)
        if isinstance(answer, Outcome):
            return self._refused(route, sent, answer, data, dialog=False)
        return answer

    def _submitted(
        self, route: FormRoute, actor: Person, values: TeamsFormValues
    ) -> Submitted | None:
        target = route.reads(values.context)
        return None if target is None else Submitted(actor, target, values, Platform.TEAMS)

    async def _form_files(
        self, actor: Person, data: Mapping[str, Any]
    ) -> tuple[AttachmentRef, ...] | None:
        """The files sent in the chat that the form lists, kept on the server under its key
        (or, for a dialog opened from a menu, the menu's); None when they are no longer held."""
        if not data.get(adaptive.FILES_KEPT_KEY):
            return ()
        return await self._kept(
            actor, data.get(adaptive.UPLOADS_KEY) or data.get(adaptive.FORM_ID_KEY)
        )

    async def _kept(self, actor: Person, key: object) -> tuple[AttachmentRef, ...] | None:
        """The files kept under `key` for the person who sent them; None when there are none
        (gone, or never theirs)."""
        identity = actor.identity_on(Platform.TEAMS)
        found = await self._records.uploads(
            str(key or "")[:64], identity.external_id if identity else ""
        )
        return found or None

    async def _answer(
        self,
        turn: TurnContext,
        work: Callable[[UnitOfWork], Awaitable[Outcome]],
        failed: str = SAVE_FAILED,
    ) -> Json | Outcome:
        """Run the work and answer the clicker: a form to fill in place of the card, or the
        card as it now is for everyone. A refusal comes back as the Outcome, for the caller
        to show in the form it came from."""
        activity = turn.activity
        conversation = activity.conversation.id if activity.conversation else None
        try:
            outcome, clicked = await self._records.perform_on_card(
                work, conversation, activity.reply_to_id
            )
        except Exception:
            log.exception("teams: a card action could not be handled")
            return adaptive.invoke_message(failed)
        if outcome.refused:
            return outcome
        if outcome.form is not None:
            card = self._renderer.form_card(outcome.form, form_key=uuid.uuid4().hex)
            return adaptive.invoke_card(card)
        return self._shown_after(outcome, clicked)

    def _shown_after(self, outcome: Outcome, clicked: str | None) -> Json:
        """`clicked`: the key of the card the click came from, if it is one the bot tracks
        (an approver's card, shared by every approver)."""
        if outcome.replaces_clicked is not None and clicked is None:
            # A card of the clicker's own, which no card_key tracks (an answer with their vote
            # on it, a form in a message of its own): shown again as it now reads.
            return adaptive.invoke_card(self._renderer.card(outcome.replaces_clicked))
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
        route: FormRoute,
        sent: Submitted,
        outcome: Outcome,
        data: Mapping[str, Any],
        *,
        dialog: bool,
    ) -> Json:
        """The form again, as typed, with the reasons on their inputs. Where the route shows no
        form again, a dialog shows the form the refusal names, if any (it would close and lose
        what was typed); a form in the chat stays where it is (inside a shared card, a
        revision), and the reasons come in a note."""
        values = sent.values
        assert isinstance(values, TeamsFormValues)
        shown = route.again(self._ctx, sent) if route.again is not None else None
        if shown is None and dialog:
            shown = outcome.form
        if shown is None:
            if dialog:
                return adaptive.dialog_message(_reasons(outcome))
            return adaptive.invoke_message(_reasons(outcome) or "That could not be done.")
        card = self._renderer.form_card(
            shown,
            values=values.typed(),
            errors=outcome.errors,
            files=[f.name for f in values.files("")],
            form_key=str(data.get(adaptive.FORM_ID_KEY) or "")[:64] or None,
            dialog=dialog,
            uploads_key=str(data.get(adaptive.UPLOADS_KEY) or "")[:64] or None,
        )
        return adaptive.dialog_card(shown.title, card) if dialog else adaptive.invoke_card(card)

    # --- dialogs (task modules): reports, kept out of the chat ------------------------------

    async def _dialog(self, turn: TurnContext) -> Json:
        activity = turn.activity
        data = _mapping(_mapping(activity.value).get("data"))
        actor = self._actor(turn)
        if actor is None:
            return adaptive.dialog_message("Teams did not say who you are. Nothing was sent.")
        if activity.name == "task/fetch":
            return await self._dialog_opened(actor, data)
        return await self._dialog_submitted(actor, data)

    async def _dialog_opened(self, actor: Person, data: Mapping[str, Any]) -> Json:
        """A button that opens its form in a dialog: its click's outcome is the form."""
        route = ROUTES.clicks.get(str(data.get(adaptive.VERB_KEY) or ""))
        value = str(data.get(adaptive.VALUE_KEY) or "")
        target = route.reads(value) if route is not None else None
        if route is None or target is None or not route.in_window:
            return adaptive.dialog_message(UNKNOWN_BUTTON)
        uploads_key, names = None, []
        if value.startswith(KEPT_FILES_PREFIX):
            # Each dialog is a form of its own; the files stay under the menu's key.
            uploads_key = value.removeprefix(KEPT_FILES_PREFIX)[:64]
            kept = await self._kept(actor, uploads_key)
            if kept is None:
                return adaptive.dialog_message(UPLOADS_GONE)
            names = [f.name for f in kept]
        clicked, ctx, handler = Clicked(actor, target, Platform.TEAMS), self._ctx, route.handler
        outcome = await self._perform(lambda uow: handler(ctx, uow, clicked), "a dialog opening")
        if outcome is None:
            return adaptive.dialog_message(SAVE_FAILED)
        if outcome.form is None:
            return adaptive.dialog_message(_said(outcome.reply) if outcome.reply else "")
        card = self._renderer.form_card(
            outcome.form,
            files=names,
            form_key=uuid.uuid4().hex,
            dialog=True,
            uploads_key=uploads_key,
        )
        return adaptive.dialog_card(outcome.form.title, card)

    async def _dialog_submitted(self, actor: Person, data: Mapping[str, Any]) -> Json:
        route = ROUTES.forms.get(str(data.get(adaptive.FORM_KEY) or ""))
        if route is None:
            return adaptive.dialog_message(UNKNOWN_BUTTON)
        files = await self._form_files(actor, data)
        if files is None:
            return adaptive.dialog_message(UPLOADS_GONE)
        values = TeamsFormValues(data, "", files)
        sent = self._submitted(route, actor, values)
        if sent is None or not route.only_in_window(sent.target, values):
            # Only the forms a dialog opens are taken from one.
            return adaptive.dialog_message(UNKNOWN_BUTTON)
        ctx, handler = self._ctx, route.handler
        outcome = await self._perform(lambda uow: handler(ctx, uow, sent), "a dialog")
        if outcome is None:
            return adaptive.dialog_message(route.unsaved)
        if outcome.refused:
            return self._refused(route, sent, outcome, data, dialog=True)
        if outcome.form is not None:
            card = self._renderer.form_card(outcome.form, form_key=uuid.uuid4().hex, dialog=True)
            return adaptive.dialog_card(outcome.form.title, card)
        if outcome.reply is not None:
            return adaptive.dialog_card(outcome.reply.summary, self._renderer.card(outcome.reply))
        return adaptive.dialog_message("Done.")


def _said(message: Message) -> str:
    """A message as the one line of plain text an invoke's note can carry: its paragraphs."""
    paragraphs = tuple(b for b in message.blocks if isinstance(b, Paragraph))
    return plaintext.render_blocks(paragraphs).replace("\n", " ") or message.summary


def _reasons(outcome: Outcome) -> str:
    """A refusal's reasons as one line, for a note."""
    return " ".join(outcome.errors.by_input.values())


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _as_activity(card: Json, summary: str) -> Json:
    return {
        "type": "message",
        "summary": summary,
        "attachments": [{"contentType": adaptive.CARD_CONTENT_TYPE, "content": card}],
    }

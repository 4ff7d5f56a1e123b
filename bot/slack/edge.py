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

from bot.core import reports as report_fields
from bot.core.outcome import Outcome
from bot.core.people import Identity, Person, Platform
from bot.core.ports import UnitOfWork
from bot.core.posts import (
    ACCOUNTS,
    ATTACHMENTS,
    CHECKLIST,
    KEEP_ATTACHMENTS,
    REASON,
    TEXT,
    WISHED_DATE,
    AttachmentRef,
    DraftSubmission,
)
from bot.core.reports import ReportSubmission
from bot.core.ui import Form, Message
from bot.handlers import help as help_handler
from bot.handlers import post_cards as cards
from bot.handlers import posts, questions, reports
from bot.handlers.unsaved import (
    DONE_FAILED,
    DRAFT_FAILED,
    QUESTION_FAILED,
    REPORT_FAILED,
    SAVE_FAILED,
)
from bot.runtime import DatabaseUnavailable, Runtime
from bot.settings import SettingsError, SlackSettings
from bot.slack import blockkit
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
    # A /policy question the gate cannot record is told as a question, not as a change.
    apologies = {COMMANDS[2]: QUESTION_FAILED}
    app.use(RequestGate(runtime, runtime.context.clock, identity, replies, apologies))
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


def _may_be_anonymous(body: Mapping[str, Any]) -> bool:
    """A request that may make or follow up an anonymous report: the bot asks Slack nothing
    about whoever sent it, so no call of the bot's lines up with the report. (Opening the
    report form counts: the person has not yet said whether it is anonymous.)"""
    if body.get("command") == "/report":
        return True
    action, _ = _clicked(body)
    if action in (reports.OPEN_FORM, reports.FOLLOW_UP):
        return True
    view = body.get("view")
    if not isinstance(view, dict):
        return False
    form = view.get("callback_id")
    if form == reports.RECEIPT_FORM:
        return True
    if form == reports.REPLY_FORM:
        return _metadata(view).startswith("receipt:")
    if form == reports.REPORT_FORM:
        state = view.get("state")
        values = state.get("values") if isinstance(state, dict) else None
        element = _element(values, report_fields.ANONYMOUSLY) if isinstance(values, dict) else {}
        return report_fields.ANONYMOUSLY in _selected(element)
    return False


# The slash commands this edge answers; manifests/slack/manifest.yaml declares the same.
COMMANDS = ("/post", "/report", "/policy")


class SlackListeners:
    """Bolt listeners: each reads the payload into a typed command, runs its handler through
    the runtime, and answers. Anything sent after the answer (a modal to open, a note only
    the clicker sees) runs in a task of its own, so nothing after the ack can fail into bolt."""

    def __init__(self, runtime: Runtime, replies: InteractionReplies) -> None:
        self.runtime = runtime
        self.replies = replies
        # Whose name Slack was asked for: once each while the bot runs, answered or not.
        self._asked_names: set[str] = set()

    def register(self, app: AsyncApp) -> None:
        app.use(self.learn_name)
        post, report, policy = COMMANDS
        app.command(post)(ack=self.ack_command, lazy=[self.open_post_form])
        app.view(cards.DRAFT_FORM)(self.submit_draft)
        app.view(cards.REVISION_FORM)(self.submit_revision)
        app.view(cards.REASON_FORM)(self.submit_reason)
        app.view(cards.LINKS_FORM)(self.submit_links)
        for action in cards.DECISION_ACTIONS:
            app.action(action)(self.decision_clicked)
        for action in posts.BUTTONS:
            app.action(action)(self.post_button_clicked)
        app.command(policy)(self.policy_command)
        for action in questions.BUTTONS:
            app.action(action)(self.question_button_clicked)
        app.view(questions.ANSWER_FORM)(self.submit_policy_answer)
        app.command(report)(ack=self.ack_command, lazy=[self.open_report_form])
        app.view(reports.REPORT_FORM)(self.submit_report)
        app.view(reports.RECEIPT_FORM)(self.submit_receipt)
        app.view(reports.REPLY_FORM)(self.submit_report_reply)
        for form_id in (reports.NOTE_FORM, reports.ASK_FORM, reports.CLOSE_FORM):
            app.view(form_id)(self.submit_report_action)
        for action in (*reports.CARD_BUTTONS, reports.OPEN_FORM, reports.FOLLOW_UP):
            app.action(action)(self.report_button_clicked)
        app.event("message")(ack=self.ack_event, lazy=[self.direct_message])

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
            or _may_be_anonymous(body)
        ):
            directory.learn_name(identity, username, fallback=True)
            return
        self._asked_names.add(user_id)
        try:
            async with asyncio.timeout(NAME_LOOKUP_SECONDS):
                answer = await client.users_info(user=user_id)
        except (TimeoutError, SlackApiError, aiohttp.ClientError):
            answer = None
        user = answer.get("user") if answer is not None else None
        profile = user.get("profile") if isinstance(user, dict) else None
        names = (
            (
                user.get("real_name"),
                (profile or {}).get("real_name"),
                (profile or {}).get("display_name"),
            )
            if isinstance(user, dict)
            else ()
        )
        real = next((n for n in names if isinstance(n, str) and n.strip()), None)
        directory.learn_name(identity, real or username, fallback=real is None)

    async def ack_command(self, ack: AsyncAck) -> None:
        await ack()

    async def ack_event(self, ack: AsyncAck) -> None:
        await ack()

    async def open_post_form(self, body: Json, client: AsyncWebClient) -> None:
        await self._open_command_form(
            body,
            client,
            lambda: posts.draft_form(self.runtime.context),
            "The draft form could not be opened just now. Please try /post again.",
        )

    async def _open_command_form(
        self, body: Json, client: AsyncWebClient, form: Callable[[], Form], failed: str
    ) -> None:
        """A slash command's modal, opened after the ack (lazily): the trigger lasts 3 seconds
        and cannot be replayed, so if Slack refuses it the person is told instead."""
        trigger_id = body.get("trigger_id")
        if actor_of(self.runtime, body) is None or not isinstance(trigger_id, str):
            log.warning("slack: %s without a user or trigger_id; ignored", body.get("command"))
            return
        try:
            await client.views_open(trigger_id=trigger_id, view=blockkit.render_modal(form()))
        except Exception as error:
            log.error("slack: views.open failed: %r", error)
            await self.replies.ephemeral(
                body.get("response_url"), blockkit.render_message(cards.refusal(failed))
            )

    # --- forms ---------------------------------------------------------------------------

    async def submit_draft(self, ack: AsyncAck, body: Json) -> None:
        actor = actor_of(self.runtime, body)
        view = body.get("view")
        if actor is None or not isinstance(view, dict):
            await ack(response_action="errors", errors={TEXT: "This form arrived incomplete."})
            return
        submission = draft_from_view(view)
        ctx = self.runtime.context
        await self._run_form(
            ack,
            lambda uow: posts.submit_draft(ctx, uow, actor, submission),
            "Draft sent",
            TEXT,
            DRAFT_FAILED,
        )

    async def submit_revision(self, ack: AsyncAck, body: Json) -> None:
        actor = actor_of(self.runtime, body)
        view = body.get("view")
        parsed = cards.parse_target(_metadata(view))
        if actor is None or not isinstance(view, dict) or parsed is None:
            await ack(response_action="errors", errors={TEXT: "This form arrived incomplete."})
            return
        post_id, version = parsed
        submission = draft_from_view(view)
        keep = "keep" in _selected(_element(_state(view), KEEP_ATTACHMENTS))
        ctx = self.runtime.context
        await self._run_form(
            ack,
            lambda uow: posts.submit_revision(ctx, uow, actor, post_id, version, submission, keep),
            "Revision sent",
            TEXT,
            DRAFT_FAILED,
        )

    async def submit_reason(self, ack: AsyncAck, body: Json) -> None:
        actor = actor_of(self.runtime, body)
        view = body.get("view")
        parsed = cards.parse_reason_target(_metadata(view))
        if actor is None or not isinstance(view, dict) or parsed is None:
            await ack(response_action="errors", errors={REASON: "This form arrived incomplete."})
            return
        post_id, version, decision = parsed
        reason = _element(_state(view), REASON).get("value")
        ctx = self.runtime.context
        await self._run_form(
            ack,
            lambda uow: posts.decide(
                ctx,
                uow,
                actor,
                post_id,
                version,
                decision,
                reason if isinstance(reason, str) else None,
                from_form=True,
            ),
            "Draft decided",
            REASON,
        )

    async def submit_links(self, ack: AsyncAck, body: Json) -> None:
        actor = actor_of(self.runtime, body)
        view = body.get("view")
        parsed = cards.parse_target(_metadata(view))
        values = _state(view) if isinstance(view, dict) else {}
        first = next(iter(values), None)
        if actor is None or not isinstance(view, dict) or parsed is None or first is None:
            await ack(response_action="clear")
            return
        post_id, version = parsed
        given = {
            name: value if isinstance(value := _element(values, name).get("value"), str) else None
            for name in values
        }
        ctx = self.runtime.context
        await self._run_form(
            ack,
            lambda uow: posts.mark_posted(ctx, uow, actor, post_id, version, given),
            "Marked as posted",
            first,
        )

    async def _run_form(
        self,
        ack: AsyncAck,
        work: Callable[[UnitOfWork], Awaitable[Outcome]],
        title: str,
        error_field: str,
        failed: str = SAVE_FAILED,
    ) -> None:
        try:
            outcome = await self.runtime.perform(work)
        except Exception as error:
            # Never let an error reach bolt after the request: Slack would get no answer.
            if isinstance(error, DatabaseUnavailable):
                log.warning("slack: a form was not saved: the database did not answer in time")
            else:
                log.exception("slack: a form could not be saved")
            await ack(response_action="errors", errors={error_field: failed})
            return
        if outcome.refused:
            await ack(response_action="errors", errors=dict(outcome.errors.by_input))
        elif outcome.form is not None:
            # The next step of the same task (a report opened by its receipt) in this window.
            await ack(response_action="update", view=blockkit.render_modal(outcome.form))
        elif outcome.reply is not None:
            await ack(
                response_action="update", view=blockkit.render_result_modal(title, outcome.reply)
            )
        else:
            await ack(response_action="clear")

    # --- buttons -------------------------------------------------------------------------

    async def decision_clicked(
        self, ack: AsyncAck, body: Json, request: AsyncBoltRequest, client: AsyncWebClient
    ) -> None:
        action, value = _clicked(body)
        decision = cards.DECISION_ACTIONS[action]  # registered for these only
        target = cards.parse_target(value)
        ctx = self.runtime.context

        def work(uow: UnitOfWork, actor: Person) -> Awaitable[Outcome]:
            assert target is not None
            return posts.decide(ctx, uow, actor, *target, decision)

        await self._run_click(ack, body, request, client, work if target else None)

    async def post_button_clicked(
        self, ack: AsyncAck, body: Json, request: AsyncBoltRequest, client: AsyncWebClient
    ) -> None:
        action, value = _clicked(body)
        handler = posts.BUTTONS[action]  # registered for these only
        target = cards.parse_target(value)
        ctx = self.runtime.context

        def work(uow: UnitOfWork, actor: Person) -> Awaitable[Outcome]:
            assert target is not None
            return handler(ctx, uow, actor, *target)

        await self._run_click(ack, body, request, client, work if target else None)

    async def _run_click(
        self,
        ack: AsyncAck,
        body: Json,
        request: AsyncBoltRequest,
        client: AsyncWebClient,
        work: ClickWork | None,
    ) -> None:
        """A button: the change (or refusal) is decided and stored before the ack, so the ack
        means it is done; a form to open or a note for the clicker follows the ack. `work` is
        None when the button's value names nothing the bot knows."""
        actor = actor_of(self.runtime, body)
        if actor is None or work is None:
            await ack()
            log.warning("slack: a click without a user, or naming nothing; ignored")
            return
        try:
            outcome = await self.runtime.perform(lambda uow: work(uow, actor))
        except Exception:
            log.exception("slack: a click could not be handled")
            await ack()
            self.replies.later(
                self.replies.ephemeral(
                    body.get("response_url"), blockkit.render_message(cards.refusal(DONE_FAILED))
                )
            )
            return
        await ack()
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
                blockkit.render_message(cards.refusal(FORM_FAILED)),
            )

    # --- policy questions ----------------------------------------------------------------

    async def policy_command(self, ack: AsyncAck, body: Json) -> None:
        """Answered in the command's own response, seen only by the asker."""
        actor = actor_of(self.runtime, body)
        if actor is None:
            await ack(**self._ephemeral(cards.refusal("Slack did not say who you are.")))
            return
        text = str(body.get("text") or "")
        ctx = self.runtime.context
        try:
            outcome = await self.runtime.perform(
                lambda uow: questions.ask(ctx, uow, actor, text, Platform.SLACK)
            )
            answer = self._ephemeral(outcome.reply or cards.refusal(QUESTION_FAILED))
        except Exception:
            # Never into bolt: Slack would get no answer at all.
            log.exception("slack: a policy question could not be answered")
            answer = self._ephemeral(cards.refusal(QUESTION_FAILED))
        await ack(**answer)

    async def question_button_clicked(
        self, ack: AsyncAck, body: Json, request: AsyncBoltRequest, client: AsyncWebClient
    ) -> None:
        action, value = _clicked(body)
        click = questions.CLICKS[action]  # registered for these only
        question_id = questions.clicked_question(value)
        ctx = self.runtime.context

        def work(uow: UnitOfWork, actor: Person) -> Awaitable[Outcome]:
            assert question_id is not None
            return click(ctx, uow, actor, question_id)

        await self._run_click(ack, body, request, client, None if question_id is None else work)

    async def submit_policy_answer(self, ack: AsyncAck, body: Json) -> None:
        actor = actor_of(self.runtime, body)
        view = body.get("view")
        question_id = questions.question_id(_metadata(view))
        if actor is None or not isinstance(view, dict) or question_id is None:
            await ack(
                response_action="errors",
                errors={questions.ANSWER_TEXT: "This form arrived incomplete."},
            )
            return
        values = _state(view)
        answer = _element(values, questions.ANSWER_TEXT).get("value")
        keep = questions.LEARN in _selected(_element(values, questions.LEARN))
        chosen = _selected(_element(values, questions.SECTIONS))
        ctx = self.runtime.context
        await self._run_form(
            ack,
            lambda uow: questions.submit_answer(
                ctx,
                uow,
                actor,
                question_id,
                answer if isinstance(answer, str) else "",
                keep,
                chosen,
            ),
            "Answer sent",
            questions.ANSWER_TEXT,
        )

    # --- reports -------------------------------------------------------------------------

    async def open_report_form(self, body: Json, client: AsyncWebClient) -> None:
        """`/report` opens the form; `/report receipt` opens an anonymous report again. Both
        are modals: nothing of a report stays in a conversation Slack keeps."""
        words = str(body.get("text") or "").strip().lower()
        if words.startswith(("receipt", "follow")):
            form: Callable[[], Form] = reports.receipt_form
        else:
            form = lambda: reports.report_form(self.runtime.context)  # noqa: E731
        await self._open_command_form(
            body,
            client,
            form,
            "The report form could not be opened just now. Please try /report again. If a "
            "child is at immediate risk, phone the DSL now.",
        )

    async def submit_report(self, ack: AsyncAck, body: Json) -> None:
        actor = actor_of(self.runtime, body)
        view = body.get("view")
        if actor is None or not isinstance(view, dict):
            await ack(response_action="errors", errors={"details": "This form arrived incomplete."})
            return
        submission = report_from_view(self.runtime, view)
        ctx = self.runtime.context
        await self._run_form(
            ack,
            lambda uow: reports.submit(ctx, uow, actor, submission),
            "Report sent",
            "details",
            REPORT_FAILED,
        )

    async def submit_receipt(self, ack: AsyncAck, body: Json) -> None:
        view = body.get("view")
        code = (
            _element(_state(view), reports.RECEIPT).get("value") if isinstance(view, dict) else ""
        )
        ctx = self.runtime.context
        await self._run_form(
            ack,
            lambda uow: reports.follow_up(ctx, uow, code if isinstance(code, str) else ""),
            "Report",
            reports.RECEIPT,
        )

    async def submit_report_reply(self, ack: AsyncAck, body: Json) -> None:
        actor = actor_of(self.runtime, body)
        view = body.get("view")
        context = _metadata(view)
        answer = (
            _element(_state(view), reports.ANSWER).get("value") if isinstance(view, dict) else ""
        )
        text = answer if isinstance(answer, str) else ""
        ctx = self.runtime.context
        if context.startswith("receipt:"):
            code = context.removeprefix("receipt:")

            def work(uow: UnitOfWork) -> Awaitable[Outcome]:
                return reports.reply_anonymously(ctx, uow, code, text)

        else:
            report = reports.report_id(context)
            if actor is None or report is None:
                await ack(
                    response_action="errors",
                    errors={reports.ANSWER: "This form arrived incomplete."},
                )
                return

            def work(uow: UnitOfWork) -> Awaitable[Outcome]:
                assert report is not None
                return reports.reply(ctx, uow, actor, report, text)

        await self._run_form(ack, work, "Answer sent", reports.ANSWER)

    async def submit_report_action(self, ack: AsyncAck, body: Json) -> None:
        actor = actor_of(self.runtime, body)
        view = body.get("view")
        report = reports.report_id(_metadata(view))
        form_id = view.get("callback_id") if isinstance(view, dict) else None
        field = {
            reports.NOTE_FORM: reports.NOTE,
            reports.ASK_FORM: reports.QUESTION,
            reports.CLOSE_FORM: reports.SUMMARY,
        }.get(str(form_id), reports.NOTE)
        if actor is None or not isinstance(view, dict) or report is None:
            await ack(response_action="errors", errors={field: "This form arrived incomplete."})
            return
        values = _state(view)
        text = _element(values, field).get("value")
        typed = text if isinstance(text, str) else ""
        ctx = self.runtime.context
        if form_id == reports.CLOSE_FORM:
            chosen = _element(values, reports.OUTCOME).get("selected_option")
            outcome = str(chosen.get("value")) if isinstance(chosen, dict) else ""

            def work(uow: UnitOfWork) -> Awaitable[Outcome]:
                assert actor is not None and report is not None
                return reports.close(ctx, uow, actor, report, outcome, typed)

        elif form_id == reports.ASK_FORM:

            def work(uow: UnitOfWork) -> Awaitable[Outcome]:
                assert actor is not None and report is not None
                return reports.ask_reporter(ctx, uow, actor, report, typed)

        else:

            def work(uow: UnitOfWork) -> Awaitable[Outcome]:
                assert actor is not None and report is not None
                return reports.add_note(ctx, uow, actor, report, typed)

        await self._run_form(ack, work, "Report updated", field)

    async def report_button_clicked(
        self, ack: AsyncAck, body: Json, request: AsyncBoltRequest, client: AsyncWebClient
    ) -> None:
        action, value = _clicked(body)
        ctx = self.runtime.context
        work: ClickWork | None = None
        if action == reports.OPEN_FORM:

            def work(uow: UnitOfWork, actor: Person) -> Awaitable[Outcome]:
                return reports.open_form(ctx, uow, actor, value)

        elif action == reports.FOLLOW_UP:

            async def work(uow: UnitOfWork, actor: Person) -> Outcome:
                return Outcome(form=reports.receipt_form())

        elif (report := reports.report_id(value)) is not None:
            if action == reports.ACKNOWLEDGE:

                def work(uow: UnitOfWork, actor: Person) -> Awaitable[Outcome]:
                    return reports.acknowledge(ctx, uow, actor, report)

            elif action == reports.REPLY:

                def work(uow: UnitOfWork, actor: Person) -> Awaitable[Outcome]:
                    return reports.open_reply_form(ctx, uow, actor, report)

            else:

                def work(uow: UnitOfWork, actor: Person) -> Awaitable[Outcome]:
                    return reports.open_click_form(ctx, uow, actor, report, action)

        await self._run_click(ack, body, request, client, work)

    async def direct_message(self, event: Json, say: Callable[..., Awaitable[Any]]) -> None:
        # A resend of an event already answered never gets here (bot/slack/replay.py).
        if event.get("channel_type") != "im" or event.get("bot_id") or event.get("subtype"):
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


# What a button does, given who clicked it (the edge has read what its value names).
ClickWork = Callable[[UnitOfWork, Person], Awaitable[Outcome]]
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
        if not isinstance(response_url, str):
            return
        # The address came in a signed request; still, nothing but Slack gets our answers.
        if (urlsplit(response_url).hostname or "") not in self._trusted_hosts:
            log.warning("slack: not answering to an address outside Slack")
            return
        body = {"response_type": "ephemeral", "replace_original": False, **rendered}
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


def _metadata(view: object) -> str:
    value = view.get("private_metadata") if isinstance(view, dict) else None
    return value if isinstance(value, str) else ""


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


def report_from_view(runtime: Runtime, view: Mapping[str, Any]) -> ReportSubmission:
    """Read the report form's state; anything missing reads as empty, for the handler to
    refuse with a reason."""
    values = _state(view)

    def text(name: str) -> str:
        value = _element(values, name).get("value")
        return value if isinstance(value, str) else ""

    kind = _element(values, report_fields.KIND).get("selected_option")
    users = _element(values, report_fields.INVOLVED).get("selected_users")
    directory = runtime.context.directory
    involved = tuple(
        directory.resolve(Identity(Platform.SLACK, user)).key
        for user in (users if isinstance(users, list) else [])
        if isinstance(user, str) and user
    )
    files = _element(values, report_fields.EVIDENCE).get("files")
    seen_on = _element(values, report_fields.SEEN_ON).get("selected_date")
    seen_at = _element(values, report_fields.SEEN_AT).get("selected_time")
    return ReportSubmission(
        kind=str(kind.get("value") or "") if isinstance(kind, dict) else "",
        where=text(report_fields.WHERE),
        links=text(report_fields.LINKS),
        seen_on=seen_on if isinstance(seen_on, str) else None,
        seen_at=seen_at if isinstance(seen_at, str) else None,
        details=text(report_fields.DETAILS),
        involved=involved,
        involved_text=text(report_fields.INVOLVED_TEXT),
        anonymous=report_fields.ANONYMOUSLY
        in _selected(_element(values, report_fields.ANONYMOUSLY)),
        attachments=tuple(
            ref for ref in (_file(f) for f in (files if isinstance(files, list) else [])) if ref
        ),
        form_key=f"slack:{view['id']}" if isinstance(view.get("id"), str) else None,
        receipt=_metadata(view) or None,
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

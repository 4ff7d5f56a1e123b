"""The workflow tables, driven as an edge drives them but without HTTP: commands, forms and
clicks looked up in ROUTES and run over SQLite, for every role that may or may not act.

Fast beside the HTTP scenarios: what goes where, and who may do what, for each workflow.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.clock import SchoolTime, SystemClock
from bot.core.outcome import Outcome
from bot.core.people import Directory, Identity, Person, Platform, Role
from bot.core.posts import (
    ACCOUNTS,
    CHECKLIST,
    TEXT,
    Account,
    link_input_name,
    validate_live_links,
)
from bot.core.reports import ANONYMOUSLY, DETAILS, INVOLVED, KIND, ReportKind
from bot.core.ui import Button, Buttons, Form, Message
from bot.handlers import HandlerContext
from bot.handlers.help import help_message
from bot.handlers.report_cards import start_menu
from bot.handlers.routes import ROUTES, WORKFLOWS, Routes
from bot.handlers.workflow import Clicked, Said, Submitted, Workflow
from bot.store.db import make_engine, migrate
from bot.store.repos import SqlUnitOfWork
from bot.terminal.forms import TerminalFormValues


def _person(key: str, *roles: Role) -> Person:
    return Person(
        key, key.title(), (Identity(Platform.SLACK, f"U{key.upper()}"),), frozenset(roles)
    )


TEACHER = _person("tia")
MANAGER = _person("sam", Role.NETWORK_MANAGER)
HEAD_ONE = _person("chris", Role.CO_HEAD)
HEAD_TWO = _person("alex", Role.CO_HEAD)
DSL = _person("dana", Role.DSL)
CHAIR = _person("gill", Role.CHAIR_OF_GOVERNORS)
EVERYONE = (TEACHER, MANAGER, HEAD_ONE, HEAD_TWO, DSL, CHAIR)
CTX = HandlerContext(
    school_name="Oakgreen School",
    policy_contact=None,
    accounts=(Account.named("Facebook"),),
    directory=Directory(list(EVERYONE)),
    clock=SystemClock(),
    school_time=SchoolTime(ZoneInfo("Europe/London")),
)


def values_of(
    fields: dict[str, Any], context: str = "", form_key: str | None = None
) -> TerminalFormValues:
    """A submitted form as a dict, read through the FormValues protocol as any edge reads one:
    the terminal chat's own reader, which is exactly that."""
    return TerminalFormValues(fields, context, form_key or "")


class Tables:
    """An edge of the plainest kind: it reads nothing, and dispatches from ROUTES."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.shown: list[Message | Form] = []

    async def _run(self, work: Any) -> Outcome:
        async with self.engine.begin() as db:
            outcome: Outcome = await work(SqlUnitOfWork(db, CTX.directory))
        self.shown.extend(_shown(outcome))
        return outcome

    async def command(self, actor: Person, word: str, text: str = "") -> Outcome:
        route = ROUTES.commands[word]
        said = Said(actor, text, Platform.SLACK)
        if route.opens is not None:
            outcome = route.opens(CTX, said)
            self.shown.extend(_shown(outcome))
            return outcome
        asks = route.asks
        assert asks is not None
        return await self._run(lambda uow: asks(CTX, uow, said))

    async def form(self, actor: Person, form: Form, fields: dict[str, Any]) -> Outcome:
        route = ROUTES.forms[form.form_id]
        values = values_of(fields, form.context, form_key=f"test:{len(self.shown)}")
        target = route.reads(values.context)
        assert target is not None, f"{form.form_id} does not read its own context"
        sent = Submitted(actor, target, values, Platform.SLACK)
        return await self._run(lambda uow: route.handler(CTX, uow, sent))

    async def click(self, actor: Person, button: Button) -> Outcome:
        route = ROUTES.clicks[button.action]
        target = route.reads(button.value)
        assert target is not None, f"{button.action} does not read its own value"
        clicked = Clicked(actor, target, Platform.SLACK)
        return await self._run(lambda uow: route.handler(CTX, uow, clicked))


def _shown(outcome: Outcome) -> Iterator[Message | Form]:
    if outcome.reply is not None:
        yield outcome.reply
    if outcome.form is not None:
        yield outcome.form
    yield from (n.message for n in outcome.notifications)
    yield from (u.message for u in outcome.card_updates)


def _buttons(message: Message) -> list[Button]:
    return [b for block in message.blocks if isinstance(block, Buttons) for b in block.buttons]


def _button(message: Message, action: str) -> Button:
    return next(b for b in _buttons(message) if b.action == action)


@pytest.fixture
async def tables(tmp_path: Path) -> AsyncIterator[Tables]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'routing.db'}")
    await migrate(engine)
    yield Tables(engine)
    await engine.dispose()


DRAFT_FIELDS: dict[str, Any] = {
    TEXT: "Our choir sang at the town hall today.",
    ACCOUNTS: ("Facebook",),
    **{item.name: True for item in CHECKLIST},
}


async def _draft(tables: Tables, submitter: Person) -> Outcome:
    form = (await tables.command(submitter, "post")).form
    assert form is not None
    return await tables.form(submitter, form, DRAFT_FIELDS)


def _recipients(outcome: Outcome) -> set[str]:
    return {n.recipient.key for n in outcome.notifications}


# --- drafts: who is asked to approve, and who may --------------------------------------------


@pytest.mark.parametrize(
    ("submitter", "approvers"),
    [
        (TEACHER, {"sam"}),
        (DSL, {"sam"}),
        (HEAD_ONE, {"sam"}),
        # "Personnel Responsible for Implementing This Policy": a Network Manager's own draft
        # goes to the Co-Headteachers.
        (MANAGER, {"chris", "alex"}),
    ],
)
async def test_a_draft_goes_to_its_approvers(
    tables: Tables, submitter: Person, approvers: set[str]
) -> None:
    sent = await _draft(tables, submitter)
    assert not sent.refused
    cards = [n for n in sent.notifications if n.recipient.key != submitter.key]
    assert {n.recipient.key for n in cards} == approvers


@pytest.mark.parametrize(
    ("clicker", "decides"),
    [(MANAGER, True), (TEACHER, False), (HEAD_ONE, False), (DSL, False), (CHAIR, False)],
)
async def test_only_an_approver_may_approve_a_teachers_draft(
    tables: Tables, clicker: Person, decides: bool
) -> None:
    sent = await _draft(tables, TEACHER)
    card = next(n.message for n in sent.notifications if n.recipient.key == "sam")
    outcome = await tables.click(clicker, _button(card, "post.approve"))
    assert bool(outcome.card_updates) is decides


async def test_nobody_approves_their_own_draft(tables: Tables) -> None:
    sent = await _draft(tables, MANAGER)
    card = next(n.message for n in sent.notifications if n.recipient.key == "chris")
    refused = await tables.click(MANAGER, _button(card, "post.approve"))
    assert not refused.card_updates
    approved = await tables.click(HEAD_TWO, _button(card, "post.approve"))
    assert approved.card_updates


# --- reports: who receives each kind ---------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "receivers"),
    [
        (ReportKind.DISPARAGING, {"chris", "alex"}),
        (ReportKind.PUPIL_REQUEST, {"dana", "sam"}),
        (ReportKind.PARENT_REQUEST, {"sam"}),
        (ReportKind.STAFF_MISUSE, {"sam"}),
        (ReportKind.SAFEGUARDING, {"dana"}),
    ],
)
async def test_a_report_goes_to_whom_its_kind_names(
    tables: Tables, kind: ReportKind, receivers: set[str]
) -> None:
    form = (await tables.command(TEACHER, "report")).form
    assert form is not None
    made = await tables.form(TEACHER, form, {KIND: kind.value, DETAILS: "Seen this morning."})
    assert not made.refused
    assert _recipients(made) - {"tia"} == receivers


async def test_a_report_naming_its_recipient_goes_above_them(tables: Tables) -> None:
    form = (await tables.command(TEACHER, "report")).form
    assert form is not None
    fields = {KIND: ReportKind.STAFF_MISUSE.value, DETAILS: "A post.", INVOLVED: ("sam",)}
    made = await tables.form(TEACHER, form, fields)
    assert _recipients(made) - {"tia"} == {"chris", "alex"}


async def test_an_anonymous_report_leaves_nobody_out_and_names_nobody(tables: Tables) -> None:
    form = (await tables.command(MANAGER, "report")).form
    assert form is not None
    fields = {KIND: ReportKind.STAFF_MISUSE.value, DETAILS: "A post.", ANONYMOUSLY: (ANONYMOUSLY,)}
    made = await tables.form(MANAGER, form, fields)
    # Leaving its maker out would name them by their absence.
    assert _recipients(made) == {"sam"}
    assert made.detached


# --- questions: who answers what the bot could not ------------------------------------------


@pytest.mark.parametrize(
    ("asker", "answerers"),
    [(TEACHER, {"sam"}), (HEAD_ONE, {"sam"}), (MANAGER, {"chris", "alex"})],
)
async def test_a_question_sent_on_goes_to_its_answerers(
    tables: Tables, asker: Person, answerers: set[str]
) -> None:
    asked = await tables.command(asker, "policy", "Can I post photos of the trip?")
    assert asked.reply is not None
    sent_on = await tables.click(asker, _button(asked.reply, "policy.escalate"))
    assert _recipients(sent_on) - {asker.key} == answerers


# --- the tables themselves -------------------------------------------------------------------


async def test_every_button_and_form_the_workflows_show_has_a_route(tables: Tables) -> None:
    await _draft(tables, TEACHER)
    await _draft(tables, MANAGER)
    for kind in ReportKind:
        form = (await tables.command(TEACHER, "report")).form
        assert form is not None
        await tables.form(TEACHER, form, {KIND: kind.value, DETAILS: "Seen."})
    await tables.command(TEACHER, "policy", "Can I post photos of the trip?")
    await tables.command(TEACHER, "help")
    tables.shown.append(help_message(CTX, Platform.TEAMS))
    tables.shown.append(start_menu(CTX, Platform.TEAMS, "kept", 2))
    buttons = [b for s in tables.shown if isinstance(s, Message) for b in _buttons(s)]
    forms = {s.form_id for s in tables.shown if isinstance(s, Form)}
    forms |= {b.form.form_id for b in buttons if b.form is not None}
    assert forms <= set(ROUTES.forms)
    assert {b.action for b in buttons} <= set(ROUTES.clicks)
    assert {"post.approve", "report.acknowledge", "policy.escalate"} <= {b.action for b in buttons}
    # A button that opens its form in a window of its own goes to a route that takes it only
    # from one, and the other way round: Teams sends the two kinds by different invokes.
    assert all(b.dialog == ROUTES.clicks[b.action].in_window for b in buttons)


def test_two_workflows_cannot_answer_the_same_form() -> None:
    copy = Workflow("copy", forms=WORKFLOWS[0].forms[:1])
    with pytest.raises(ValueError, match=r"two workflows answer the form 'post\.draft'"):
        Routes.of((*WORKFLOWS, copy))


@pytest.mark.parametrize(
    ("typed", "files", "command", "words"),
    [
        ("post", False, "post", ""),
        ("post", True, "post", ""),
        ("Post", False, "post", ""),
        # A question about posting is a question.
        ("post photos of my class?", False, "policy", "post photos of my class?"),
        ("report", False, "report", ""),
        ("report", True, "report", ""),
        ("help", False, "help", ""),
        ("hello", False, "help", ""),
        ("", False, "help", ""),
        ("?", False, "help", ""),
        ("help me post a photo", False, "policy", "help me post a photo"),
        ("policy can I friend a parent", False, "policy", "can I friend a parent"),
        ("can I friend a parent", False, "policy", "can I friend a parent"),
    ],
)
def test_a_line_typed_in_a_chat_names_its_command(
    typed: str, files: bool, command: str, words: str
) -> None:
    turn = ROUTES.read_chat(typed, with_files=files)
    assert turn.command is not None
    assert (turn.command.word, turn.text.strip()) == (command, words)


@pytest.mark.parametrize("typed", ["help", "policy may I?", "hello", "what about photos"])
def test_files_sent_with_no_command_that_takes_them_are_refused(typed: str) -> None:
    assert ROUTES.read_chat(typed, with_files=True).refusal == (
        "To put photos on a draft, send them in one message with the word post; to add them to "
        "a report of a concern, with the word report."
    )


def test_what_may_be_anonymous_comes_from_the_tables() -> None:
    assert ROUTES.may_be_anonymous(command="report")
    assert not ROUTES.may_be_anonymous(command="post")
    assert ROUTES.may_be_anonymous(click="report.open")
    assert not ROUTES.may_be_anonymous(click="post.approve")
    ticked = values_of({ANONYMOUSLY: (ANONYMOUSLY,)})
    assert ROUTES.may_be_anonymous(form="report.form", values=ticked)
    assert not ROUTES.may_be_anonymous(form="report.form", values=values_of({}))
    assert ROUTES.may_be_anonymous(form="report.reply_form", values=values_of({}, "receipt:ABCD"))
    assert not ROUTES.may_be_anonymous(form="report.reply_form", values=values_of({}, "12"))


def test_a_reports_forms_are_taken_only_from_a_window_of_their_own() -> None:
    # Teams: from a dialog, never from a card in the chat, whose history keeps what it showed.
    assert ROUTES.clicks["report.open"].in_window
    assert ROUTES.clicks["report.follow_up"].in_window
    assert not ROUTES.clicks["post.approve"].in_window
    report = ROUTES.forms["report.form"]
    assert report.only_in_window(report.reads(""), values_of({}))
    reply = ROUTES.forms["report.reply_form"]
    assert reply.only_in_window(reply.reads("receipt:ABCD"), values_of({}))
    assert not reply.only_in_window(reply.reads("12"), values_of({}))
    assert not ROUTES.forms["post.draft"].only_in_window("", values_of({}))


@pytest.mark.parametrize(
    "value", ["2147483648", "99999999999", "-2147483648", "\u0663", "\uff11", "", "-"]
)
def test_a_value_no_record_can_have_names_nothing(value: str) -> None:
    # The store's ids are 32-bit: a longer number is refused before any database sees it.
    assert ROUTES.clicks["report.acknowledge"].reads(value) is None
    assert ROUTES.clicks["post.approve"].reads(f"{value}:1") is None
    assert ROUTES.forms["policy.answer_form"].reads(value) is None


def test_a_live_link_with_control_characters_is_refused() -> None:
    links, errors = validate_live_links(
        ("Facebook",), {link_input_name("Facebook"): "https://a.b/\x00"}
    )
    assert not links and "characters" in errors.by_input[link_input_name("Facebook")]

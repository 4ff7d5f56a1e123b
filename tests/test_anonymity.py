"""An anonymous report cannot be traced back to its maker (issue 13).

A member of staff the configuration does not name made a report under their own name a week
ago. Today they ask the bot about a colleague's misuse, use the answer's Report it to report it
anonymously, and answer a handler's question with their receipt: on Slack, and on Teams, over
HTTP against the fake platforms, with the logging the command line sets up at LOG_LEVEL=DEBUG.

Then every column of every row of every table is searched. Rows that name the person (their
platform ids or name) are "theirs"; rows written or changed from the moment they started the
anonymous report are "the report's". None may be both; the receipt code may be nowhere; and no
row of theirs may line up with a row of the report's: by a time within 5 seconds, or by an id
(or a reference number) next to one in the same table.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import MetaData, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cli import LIBRARY_LOGGERS, configure_logging
from bot.core.refs import RefKind
from bot.settings import Settings
from bot.store.models import OutboxItem, PolicyQuestion, Report
from tests.conftest import BotFactory
from tests.fakes.slack import FakeSlack
from tests.fakes.teams import FakeTeams
from tests.harness import POLICY_FILE, RunningBot, SettableClock, eventually, view_payload
from tests.report_samples import report_values
from tests.teams_client import TeamsUser, texts_of

needs_policy = pytest.mark.skipif(
    not POLICY_FILE.exists(), reason=f"{POLICY_FILE} is absent: the answer offering Report it"
)

TERRY_SLACK = "U0TERRY"
TERRY_AAD = "3f1c2b7a-0000-4000-8000-0000000007e1"
TERRY_NAME = "Terry Teacher"
SAM_SLACK, NIA_SLACK = "U0NETMGR", "U0NETDEP"
QUESTION = "Can I report a colleague misusing social media?"
DETAILS = "Mx Example posts photos of Year 7 on a personal Instagram story."
ANSWER = "It was the Year 7 trip to the coast, last Friday."
WITHIN = timedelta(seconds=5)


# --- the logging the command line sets up ------------------------------------------------


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    """LOG_LEVEL=DEBUG, set up as `socialdesk serve` sets it up; put back afterwards."""
    names = ["", "bot", *LIBRARY_LOGGERS]
    levels = {name: logging.getLogger(name).level for name in names}
    root = logging.getLogger()
    handlers = list(root.handlers)
    written = io.StringIO()
    configure_logging(Settings(log_level="DEBUG"), written)
    yield written
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


# --- every row of every table --------------------------------------------------------------


# A reference as format_reference writes it: the bot itself never reads one back.
_REFERENCE = re.compile(rf"^\s*[{''.join(RefKind)}]-(?P<number>\d{{4,}})\s*$")


@dataclass(frozen=True)
class Row:
    table: str
    key: tuple[Any, ...]
    values: dict[str, Any]

    @property
    def text(self) -> str:
        return " ".join(_as_text(v) for v in self.values.values()).lower()

    def times(self) -> list[datetime]:
        return [_utc(v) for v in self.values.values() if isinstance(v, datetime)]

    def numbers(self, key_columns: tuple[str, ...]) -> list[int]:
        """Its integer key, and the number of any reference it has (R-0007)."""
        found = [v for c, v in self.values.items() if c in key_columns and isinstance(v, int)]
        for column, value in self.values.items():
            quoted = _REFERENCE.match(value.upper()) if column == "reference" and value else None
            if quoted is not None:
                found.append(int(quoted["number"]))
        return found


def _as_text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class Snapshot:
    rows: dict[tuple[str, tuple[Any, ...]], Row]
    keys: dict[str, tuple[str, ...]]  # each table's primary key columns


async def snapshot(engine: AsyncEngine) -> Snapshot:
    """Every table the database holds (read from the database itself, not from the models),
    every column of every row."""

    def read(connection: Connection) -> Snapshot:
        metadata = MetaData()
        metadata.reflect(connection)
        rows: dict[tuple[str, tuple[Any, ...]], Row] = {}
        keys: dict[str, tuple[str, ...]] = {}
        for table in metadata.sorted_tables:
            key = tuple(c.name for c in table.primary_key.columns) or tuple(table.columns.keys())
            keys[table.name] = key
            for number, found in enumerate(connection.execute(select(table))):
                values = dict(found._mapping)
                identity = tuple(values[c] for c in key) or (number,)
                rows[(table.name, identity)] = Row(table.name, identity, values)
        return Snapshot(rows, keys)

    async with engine.connect() as connection:
        return await connection.run_sync(read)


def written_since(before: Snapshot, after: Snapshot) -> list[Row]:
    """Rows added between the two, and of rows changed, the columns that changed (with the
    row's key): what was written meanwhile."""
    written = []
    for ref, row in after.rows.items():
        earlier = before.rows.get(ref)
        if earlier is None:
            written.append(row)
        elif earlier != row:
            key_columns = after.keys[row.table]
            changed = {
                c: v
                for c, v in row.values.items()
                if c in key_columns or earlier.values.get(c) != v
            }
            written.append(Row(row.table, row.key, changed))
    return written


def assert_untraceable(
    before: Snapshot, after: Snapshot, needles: list[str], receipt: str, log: str
) -> None:
    needles = [n.lower() for n in needles]
    codes = {receipt.lower(), receipt.replace("-", "").lower()}
    everything = list(after.rows.values())
    # The receipt code is kept nowhere; only its digest opens the report.
    assert not [r for r in everything if any(code in r.text for code in codes)]
    theirs = [r for r in everything if any(n in r.text for n in needles)]
    reports = written_since(before, after)
    assert theirs, "the person made a named report before: rows of theirs must exist"
    assert reports, "the anonymous report must have written rows"
    # Nothing written while the report was made or followed up names them.
    written_keys = {(r.table, r.key) for r in reports}
    both = [r for r in theirs if (r.table, r.key) in written_keys]
    assert both == [], f"rows written with the anonymous report name its maker: {both}"
    # No row of theirs lines up with a row of the report's, by time or by neighbouring ids.
    by_time = [
        (mine.table, other.table, t, u)
        for mine in theirs
        for other in reports
        for t in mine.times()
        for u in other.times()
        if abs(t - u) <= WITHIN
    ]
    assert by_time == [], f"rows of the maker's within 5 s of the report's: {by_time}"
    by_id = [
        (mine.table, a, b)
        for mine in theirs
        for other in reports
        if other.table == mine.table
        for a in mine.numbers(after.keys[mine.table])
        for b in other.numbers(after.keys[other.table])
        if abs(a - b) == 1
    ]
    assert by_id == [], f"rows of the maker's next to the report's: {by_id}"
    # At DEBUG, the log says nothing of who, nor the code, nor what the report says.
    logged = log.lower()
    for secret in [*needles, *codes, DETAILS.lower(), ANSWER.lower()]:
        assert secret not in logged, f"the DEBUG log carries {secret!r}"


async def settled(bot: RunningBot) -> None:
    async def nothing_pending() -> bool:
        return all(i.status != "pending" or i.kind == "timer" for i in await bot.rows(OutboxItem))

    await eventually(nothing_pending, what="the outbox to empty")


@pytest.fixture
async def week_ago_clock() -> AsyncIterator[SettableClock]:
    clock = SettableClock()
    clock.advance(timedelta(days=-7))
    yield clock


async def a_week_later(bot: RunningBot, clock: SettableClock) -> None:
    """Today: what fell due meanwhile (the old report's chase, which finds it acknowledged)
    has run, as it would have in the week."""
    clock.advance(timedelta(days=7))
    bot.runtime.wake_delivery()

    async def nothing_due() -> bool:
        return all(
            i.status != "pending" or i.next_attempt_at > clock.now()
            for i in await bot.rows(OutboxItem)
        )

    await eventually(nothing_due, what="the week's timers to run")


def newest_report(rows: list[Report]) -> Report:
    return max(rows, key=lambda r: r.created_at)


# --- Slack ---------------------------------------------------------------------------------


@needs_policy
async def test_on_slack_an_anonymous_report_cannot_be_traced_to_its_maker(
    start_bot: BotFactory,
    fake_slack: FakeSlack,
    debug_log: io.StringIO,
    week_ago_clock: SettableClock,
) -> None:
    fake_slack.members[TERRY_SLACK] = (TERRY_NAME, "terry")
    bot = await start_bot(clock=week_ago_clock)

    async def form(user: str, callback_id: str, metadata: str, values: Any) -> Any:
        reply = await bot.submit(view_payload(user, callback_id, metadata, values))
        assert reply.status == 200, reply.text
        return reply.json()

    # A week ago Terry reported something under their own name, and Sam acknowledged it.
    named = await form(TERRY_SLACK, "report.form", "", report_values(kind="staff_misuse"))
    assert named["response_action"] == "update"
    (earlier,) = await bot.rows(Report)
    respond = fake_slack.response_url("sam")
    await bot.click(SAM_SLACK, "report.acknowledge", str(earlier.id), respond)
    await settled(bot)
    await a_week_later(bot, week_ago_clock)

    before = await snapshot(bot.runtime.engine)
    # Today: a question about a colleague, whose answer offers Report it.
    asked = await bot.command("/policy", TERRY_SLACK, QUESTION)
    report_it = [
        e
        for b in asked.json()["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "report.open"
    ]
    assert [e["value"] for e in report_it] == ["staff_misuse"]
    await bot.click(TERRY_SLACK, "report.open", "staff_misuse", fake_slack.response_url("t"))
    await fake_slack.wait_for(lambda: bool(fake_slack.calls_to("views.open")))
    opened = fake_slack.calls_to("views.open")[-1].args["view"]
    opened = json.loads(opened) if isinstance(opened, str) else opened
    made = await form(
        TERRY_SLACK,
        "report.form",
        opened["private_metadata"],
        report_values(kind="staff_misuse", anonymous=True, details=DETAILS),
    )
    receipt = json.dumps(made).split("Your receipt code: ")[1].split(".")[0]
    await settled(bot)

    # Sam asks the reporter something; Terry reads it with the receipt and answers.
    report = newest_report(await bot.rows(Report))
    assert report.reporter_key is None and report.reference != earlier.reference
    await form(SAM_SLACK, "report.ask_form", str(report.id), {"question": {"value": "When?"}})
    await bot.command("/report", TERRY_SLACK, "receipt")
    status = await form(TERRY_SLACK, "report.receipt", "", {"receipt": {"value": receipt}})
    assert "When?" in json.dumps(status)
    reply_to = status["view"]["private_metadata"]
    await form(TERRY_SLACK, "report.reply_form", reply_to, {"answer": {"value": ANSWER}})
    await settled(bot)
    # The handlers' cards show the answer.
    await fake_slack.wait_for(
        lambda: ANSWER in json.dumps([c.args for c in fake_slack.calls_to("chat.update")])
    )

    # The question kept no asker, and only its day.
    (question,) = await bot.rows(PolicyQuestion)
    assert question.asker_key is None
    asked_at = _utc(question.asked_at)
    assert (asked_at.minute, asked_at.second, asked_at.microsecond) == (0, 0, 0)
    after = await snapshot(bot.runtime.engine)
    assert_untraceable(
        before,
        after,
        [TERRY_SLACK, TERRY_NAME],
        receipt,
        debug_log.getvalue(),
    )


# --- Teams ---------------------------------------------------------------------------------


@needs_policy
async def test_on_teams_an_anonymous_report_cannot_be_traced_to_its_maker(
    start_bot: BotFactory,
    fake_slack: FakeSlack,
    fake_teams: FakeTeams,
    debug_log: io.StringIO,
    week_ago_clock: SettableClock,
) -> None:
    bot = await start_bot(clock=week_ago_clock)
    terry = TeamsUser(bot, fake_teams, TERRY_AAD, TERRY_NAME)
    await terry.install()

    # A week ago Terry reported something under their own name, and Sam acknowledged it.
    await terry.say("report")
    _, menu = terry.last_card()
    form = await terry.open_dialog(menu, "Make a report")
    await terry.submit_dialog(form, teams_report(anonymously=""))
    (earlier,) = await bot.rows(Report)
    await bot.click(SAM_SLACK, "report.acknowledge", str(earlier.id), "https://x/")
    await settled(bot)
    await a_week_later(bot, week_ago_clock)

    before = await snapshot(bot.runtime.engine)
    # Today: a question about a colleague, in the chat; its answer offers Report it.
    await terry.say(QUESTION)
    _, answer = terry.last_card()
    assert "Report it" in [a.get("title") for a in answer["actions"]]
    form = await terry.open_dialog(answer, "Report it")
    done = await terry.submit_dialog(form, teams_report(anonymously="anonymously"))
    receipt = texts_of(done).split("Your receipt code: ")[1].split(".")[0]
    await settled(bot)

    report = newest_report(await bot.rows(Report))
    assert report.reporter_key is None and report.reference != earlier.reference
    asked = view_payload(
        SAM_SLACK, "report.ask_form", str(report.id), {"question": {"value": "When?"}}
    )
    assert (await bot.submit(asked)).status == 200
    await terry.say("report")
    _, menu = terry.last_card()
    opened = await terry.open_dialog(menu, "Follow up an anonymous report")
    status = await terry.submit_dialog(opened, {"receipt": receipt})
    assert "When?" in texts_of(status)
    thanks = await terry.submit_dialog(status, {"answer": ANSWER})
    assert "Your answer was added" in texts_of(thanks)
    await settled(bot)

    (question,) = await bot.rows(PolicyQuestion)
    assert question.asker_key is None
    after = await snapshot(bot.runtime.engine)
    assert_untraceable(
        before,
        after,
        [TERRY_AAD, TERRY_NAME],
        receipt,
        debug_log.getvalue(),
    )


def teams_report(anonymously: str) -> dict[str, str]:
    return {
        "kind": "staff_misuse",
        "where": "Instagram",
        "links": "https://instagram.com/someone",
        "seen_on": "",
        "seen_at": "",
        "details": DETAILS,
        "involved": "",
        "involved_text": "",
        "anonymously": anonymously,
    }


@pytest.mark.parametrize(
    ("library_level", "expected"), [("WARNING", logging.WARNING), ("DEBUG", logging.DEBUG)]
)
def test_log_level_debug_raises_the_bots_loggers_only(
    debug_log: io.StringIO, library_level: str, expected: int
) -> None:
    """At LOG_LEVEL=DEBUG the libraries (bolt's logger too, though the bot names it) stay at
    LIBRARY_LOG_LEVEL: at DEBUG they write whole requests, answers and statements."""
    configure_logging(Settings(log_level="DEBUG", library_log_level=library_level), debug_log)
    assert logging.getLogger("bot.handlers.reports").getEffectiveLevel() == logging.DEBUG
    for name in (
        "slack_sdk.web.async_base_client",
        "slack_bolt.AsyncApp",
        "bot.slack.bolt",
        "aiohttp.access",
        "aiosqlite",
        "sqlalchemy.engine.Engine",
        "botbuilder.core",
        "asyncio",
    ):
        assert logging.getLogger(name).getEffectiveLevel() == expected, name


# --- what the maker does under their own name afterwards ----------------------------------


def _beside(rows: list[Row], theirs: list[Row], keys: dict[str, tuple[str, ...]]) -> list[Any]:
    """Pairs of a row of the maker's and a row written with the report whose ids differ by one
    in the same table."""
    return sorted(
        {
            (mine.table, mine.key, other.key)
            for mine in theirs
            for other in rows
            if mine.table == other.table
            for a in mine.numbers(keys[mine.table])
            for b in other.numbers(keys[other.table])
            if abs(a - b) == 1
        }
    )


def _named(after: Snapshot) -> list[Row]:
    return [
        r
        for r in after.rows.values()
        if TERRY_SLACK.lower() in r.text or TERRY_NAME.lower() in r.text
    ]


async def test_the_first_rows_of_an_install_are_anonymous_and_the_next_named_ones_apart(
    start_bot: BotFactory, fake_slack: FakeSlack, week_ago_clock: SettableClock
) -> None:
    """On a new install (or any table holding only an anonymous report's rows) Terry reports
    anonymously, and a day later under their own name. SQLite gives a new row the largest id
    plus one, which would be the anonymous report's own block."""
    fake_slack.members[TERRY_SLACK] = (TERRY_NAME, "terry")
    bot = await start_bot(clock=week_ago_clock)
    before = await snapshot(bot.runtime.engine)
    made = await bot.submit(
        view_payload(
            TERRY_SLACK,
            "report.form",
            "",
            report_values(kind="staff_misuse", anonymous=True, details=DETAILS),
        )
    )
    assert "receipt code" in made.text
    await settled(bot)
    with_the_report = written_since(before, await snapshot(bot.runtime.engine))
    week_ago_clock.advance(timedelta(days=1))
    named = await bot.submit(
        view_payload(TERRY_SLACK, "report.form", "", report_values(kind="parent_request"))
    )
    assert "R-0001" in named.text
    await settled(bot)
    after = await snapshot(bot.runtime.engine)
    theirs = _named(after)
    assert {r.table for r in theirs} >= {"reports", "audit_events"}
    assert _beside(with_the_report, theirs, after.keys) == []

"""A stalled database never hangs the bot. PostgreSQL is put behind a TCP proxy that can be
frozen (it keeps accepting and holding connections but forwards nothing, as a stalled server or
network does) and thawed: meanwhile every Slack and Teams request is answered within 2.5 s with
"could not save, nothing was changed", nothing is half written, /healthz says 503 within 2 s,
and once it answers again new actions work and the deliveries and timers that waited go out.
On SQLite, another process holding the write lock is refused within the same bound."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from bot.settings import DatabaseTimeouts, Settings, SettingsError, normalise_database_url
from bot.store.models import OutboxItem, PolicyQuestion, Post, Report
from tests.conftest import BotFactory
from tests.fakes.slack import FakeSlack, Fault
from tests.fakes.teams import FakeTeams, cards_in
from tests.harness import (
    FIXTURES,
    POLICY_FILE,
    RunningBot,
    SettableClock,
    draft_payload,
    eventually,
    sessions,
    settings_for,
    view_payload,
)
from tests.report_samples import report_values
from tests.teams_client import TEACHER, TeamsUser, draft_inputs, report_inputs, texts_of

GOVERNED = FIXTURES / "school-governed.yaml"
SLACK_TEACHER, SAM, NIA, DSL = "U0TEACH", "U0NETMGR", "U0NETDEP", "U0DSL"
NEWCOMER = "7b2a0c55-0000-4000-8000-0000000000e1"
# Slack's limit is 3 s; the bot answers well inside it.
ANSWER_WITHIN = 2.5
HEALTH_WITHIN = 2.0
T = TypeVar("T")


class FreezableProxy:
    """A TCP proxy on an ephemeral loopback port. Frozen, it still accepts connections and
    holds them, and holds every byte sent either way; thawed, all it held goes on, as after a
    network stall, closes included."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._thawed = asyncio.Event()
        self._thawed.set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> FreezableProxy:
        self._server = await asyncio.start_server(self._connected, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def freeze(self) -> None:
        self._thawed.clear()

    def thaw(self) -> None:
        self._thawed.set()

    async def stop(self) -> None:
        self.thaw()
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def _track(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connected(self, client_in: asyncio.StreamReader, client_out: Any) -> None:
        self._writers.add(client_out)
        await self._thawed.wait()
        try:
            server_in, server_out = await asyncio.open_connection(*self._target)
        except OSError:
            client_out.close()
            return
        self._writers.add(server_out)
        self._track(self._pump(client_in, server_out))
        self._track(self._pump(server_in, client_out))

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                await self._thawed.wait()
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            await self._thawed.wait()
            sink.close()


async def timed(work: Awaitable[T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = await work
    return result, time.perf_counter() - started


@contextlib.asynccontextmanager
async def proxied(database_url: str) -> AsyncIterator[tuple[FreezableProxy, str]]:
    """The test's PostgreSQL database, reached through a proxy in front of the server."""
    url = make_url(database_url)
    proxy = await FreezableProxy(url.host or "127.0.0.1", url.port or 5432).start()
    try:
        yield (
            proxy,
            url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False),
        )
    finally:
        await proxy.stop()


async def counts(bot: RunningBot) -> dict[str, int]:
    return {m.__name__: await bot.count(m) for m in (Post, Report, PolicyQuestion)}


def errors_of(reply: Any) -> str:
    answer = reply.json()
    assert answer["response_action"] == "errors", answer
    return " ".join(answer["errors"].values())


@pytest.mark.postgres_only
@pytest.mark.skipif(not POLICY_FILE.exists(), reason=f"{POLICY_FILE} is absent")
async def test_a_frozen_postgresql_is_refused_cleanly_and_everything_resumes_after(
    database_url: str,
    fake_slack: FakeSlack,
    fake_teams: FakeTeams,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = SettableClock()
    async with proxied(database_url) as (proxy, through_proxy):
        # Statements time out sooner than by default (10 s), so that the delivery worker's
        # own wait for the stalled database ends, and its back-off is seen, within the test.
        settings = replace(
            settings_for(through_proxy, fake_slack),
            database_timeouts=DatabaseTimeouts(statement=1.0),
        )
        bot = await RunningBot(settings, GOVERNED, clock).start()
        try:
            await _frozen_then_thawed(bot, proxy, clock, fake_slack, fake_teams, caplog)
        finally:
            proxy.thaw()
            await bot.stop()


async def _frozen_then_thawed(
    bot: RunningBot,
    proxy: FreezableProxy,
    clock: SettableClock,
    slack: FakeSlack,
    fake_teams: FakeTeams,
    caplog: pytest.LogCaptureFixture,
) -> None:
    teacher = TeamsUser(bot, fake_teams, TEACHER, "Robin Teacher")
    await teacher.install()
    await teacher.say("post")
    draft_card_sent, draft_card = teacher.last_card()
    await teacher.say("report")
    report_dialog = await teacher.open_dialog(teacher.last_card()[1], "Make a report")

    # A safeguarding report: its card reaches the DSL, and its chase timer waits an hour.
    made = await bot.submit(
        view_payload(SLACK_TEACHER, "report.form", "", report_values(kind="safeguarding"))
    )
    assert made.json()["response_action"] == "update"
    await slack.wait_for(lambda: bool(slack.messages_to(DSL)), what="the DSL's card")
    (report,) = await bot.rows(Report)
    # A draft whose cards Slack turns away for a while: they wait in the outbox.
    for _ in range(2):
        slack.fail_next("chat.postMessage", Fault(429, headers={"Retry-After": "3"}))
    drafted = await bot.submit(draft_payload(SLACK_TEACHER))
    assert drafted.json()["response_action"] == "update"
    await slack.wait_for(lambda: len(slack.failed) >= 2, what="Slack to turn the cards away")
    before = await counts(bot)
    pending_before = [i.id for i in await bot.rows(OutboxItem) if i.status == "pending"]

    newcomer = TeamsUser(bot, fake_teams, NEWCOMER, "Kit Newcomer")
    screenshot = fake_teams.add_file("message.png", b"\x89PNG the message", inline=True)
    told_before = len(teacher.messages)

    proxy.freeze()
    clock.advance(timedelta(hours=3))  # the chase falls due while the database is stalled
    bot.runtime.wake_delivery()
    response_url = slack.response_url(DSL)
    (
        (health, health_took),
        (draft, draft_took),
        (slack_report, report_took),
        (click, click_took),
        (question, question_took),
        (teams_question, teams_question_took),
        (teams_draft, teams_draft_took),
        (teams_report, teams_report_took),
        (teams_files, teams_files_took),
        (teams_help, teams_help_took),
    ) = await asyncio.gather(
        timed(bot.get("/healthz")),
        timed(bot.submit(draft_payload(SLACK_TEACHER))),
        timed(bot.submit(view_payload(SLACK_TEACHER, "report.form", "", report_values()))),
        timed(bot.click(DSL, "report.acknowledge", str(report.id), response_url)),
        timed(bot.command("/policy", SLACK_TEACHER, "can I post photos of the fair?")),
        timed(teacher.say("can I use my own phone for trip photos?")),
        timed(teacher.click(draft_card, "Send for approval", draft_inputs(), draft_card_sent)),
        timed(teacher.submit_dialog(report_dialog, report_inputs())),
        # Files kept for a report to come: the database is needed before any form opens.
        timed(teacher.say("report", [{"contentType": "image/png", "contentUrl": screenshot}])),
        # Someone new: where they are reached cannot be recorded, and they are answered anyway.
        timed(newcomer.say("help")),
    )

    assert health.status == 503 and health.json()["status"] == "degraded"
    assert health_took < HEALTH_WITHIN
    for took in (draft_took, report_took, click_took, question_took, teams_question_took):
        assert took < ANSWER_WITHIN
    for took in (teams_draft_took, teams_report_took, teams_files_took, teams_help_took):
        assert took < ANSWER_WITHIN
    # Each says what could not be saved, in the form it came from; a report is a report.
    assert "draft could not be saved" in errors_of(draft)
    said = errors_of(slack_report)
    assert "report could not be saved" in said and "draft" not in said
    assert click.status == 200 and click.text == ""
    await slack.wait_for(lambda: bool(slack.responses_to(DSL)), what="the click's refusal")
    assert "Nothing was changed" in json.dumps(slack.responses_to(DSL))
    assert question.status == 200 and "could not answer" in question.text
    assert teams_question.status == teams_files.status == teams_help.status == 200
    told = " ".join(
        texts_of(card)
        for sent in teacher.messages[told_before:]
        for card in cards_in(sent.activity)
    )
    assert "could not answer" in told and "could not be saved" in told
    assert "post - draft a post" in texts_of(newcomer.last_card()[1])
    assert "draft could not be saved" in teams_draft["value"]
    closed = teams_report["closed"]
    assert "report could not be saved" in closed and "draft" not in closed

    # The delivery worker gives up on the outbox for now, and waits before it asks again.
    def logged(words: str) -> int:
        return sum(words in r.getMessage() for r in caplog.records if r.name == "bot.delivery")

    async def worker_gave_up() -> bool:
        return logged("could not read the outbox") == 1

    await eventually(
        worker_gave_up,
        timeout=30,
        what="the delivery worker to give up on the stalled database",
    )
    proxy.thaw()
    # Nothing of what was refused was stored, not even once the held bytes reached the server.
    await asyncio.sleep(0.5)
    assert await counts(bot) == before
    assert (await bot.rows(Report))[0].state == "open"

    # It all resumes by itself: the cards that waited, the chase that fell due, new work.
    await slack.wait_for(
        lambda: bool(slack.messages_to(SAM)) and bool(slack.messages_to(NIA)),
        timeout=30,
        what="the draft's cards",
    )
    await slack.wait_for(
        lambda: (
            "waiting to be acknowledged" in json.dumps([c.args for c in slack.messages_to(DSL)])
        ),
        timeout=30,
        what="the chase",
    )

    async def sent(item_id: int) -> bool:
        async with sessions(bot.runtime.engine)() as session:
            status = await session.scalar(select(OutboxItem.status).where(OutboxItem.id == item_id))
        return status == "sent"

    for item_id in pending_before:
        kind = next(i.kind for i in await bot.rows(OutboxItem) if i.id == item_id)
        if kind != "timer":
            await eventually(lambda item_id=item_id: sent(item_id), what=f"item {item_id}")
    again = await bot.submit(draft_payload(SLACK_TEACHER))
    assert again.json()["response_action"] == "update"
    assert await bot.count(Post) == before["Post"] + 1
    health = await bot.get("/healthz")
    assert health.status == 200
    # Said once for the whole stall, and once when it ended.
    assert logged("could not read the outbox") == 1
    assert logged("the outbox answers again") == 1


def _hold_write_lock(path: Path) -> subprocess.Popen[str]:
    """Another process (an operator's tool, say) holding SQLite's write lock until told."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys\n"
            f"db = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
            "db.execute('BEGIN IMMEDIATE')\n"
            "print('locked', flush=True)\n"
            "sys.stdin.read()\n"
            "db.rollback()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


async def test_sqlite_locked_by_another_process_is_refused_within_the_bound(
    database_url: str, start_bot: BotFactory
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's write lock")
    bot = await start_bot(config_path=GOVERNED)
    before = await counts(bot)
    holder = _hold_write_lock(Path(normalise_database_url(database_url).split("///", 1)[1]))
    try:
        draft, draft_took = await timed(bot.submit(draft_payload(SLACK_TEACHER)))
        report, report_took = await timed(
            bot.submit(view_payload(SLACK_TEACHER, "report.form", "", report_values()))
        )
        health, health_took = await timed(bot.get("/healthz"))
    finally:
        holder.communicate(timeout=10)
    assert draft_took < ANSWER_WITHIN and report_took < ANSWER_WITHIN
    assert "draft could not be saved" in errors_of(draft)
    said = errors_of(report)
    assert "report could not be saved" in said and "draft" not in said
    assert health.status == 503 and health_took < HEALTH_WITHIN
    assert await counts(bot) == before

    # The lock gone, the same work goes through.
    again = await bot.submit(draft_payload(SLACK_TEACHER))
    assert again.json()["response_action"] == "update"
    assert await bot.count(Post) == before["Post"] + 1
    assert (await bot.get("/healthz")).status == 200


@pytest.mark.postgres_only
async def test_the_health_check_sees_the_outbox_held_locked(bot: RunningBot) -> None:
    # The database answers, but every change waits on the outbox: as good as stalled.
    async with bot.runtime.engine.connect() as holder, holder.begin():
        await holder.execute(text("LOCK TABLE outbox IN ACCESS EXCLUSIVE MODE"))
        health, took = await timed(bot.get("/healthz"))
        assert health.status == 503 and took < HEALTH_WITHIN
    assert (await bot.get("/healthz")).status == 200


def test_the_database_timeouts_are_settings_with_defaults() -> None:
    assert Settings.from_env({}).database_timeouts == DatabaseTimeouts(
        connect=5.0, statement=10.0, lock=1.0, pool=30.0, request=1.5
    )
    chosen = Settings.from_env(
        {
            "SOCIALDESK_DB_CONNECT_SECONDS": "3",
            "SOCIALDESK_DB_STATEMENT_SECONDS": "20",
            "SOCIALDESK_DB_LOCK_SECONDS": "0.5",
            "SOCIALDESK_DB_POOL_SECONDS": "10",
            "SOCIALDESK_DB_REQUEST_SECONDS": "2",
        }
    ).database_timeouts
    assert chosen == DatabaseTimeouts(connect=3, statement=20, lock=0.5, pool=10, request=2)
    for name, value in (
        ("SOCIALDESK_DB_REQUEST_SECONDS", "3"),  # Slack would give up first
        ("SOCIALDESK_DB_STATEMENT_SECONDS", "soon"),
        ("SOCIALDESK_DB_POOL_SECONDS", "0"),
        ("SOCIALDESK_DB_CONNECT_SECONDS", "-1"),
    ):
        with pytest.raises(SettingsError, match=name):
            Settings.from_env({name: value})
    with pytest.raises(SettingsError, match="must be below SOCIALDESK_DB_REQUEST_SECONDS"):
        Settings.from_env({"SOCIALDESK_DB_LOCK_SECONDS": "2"})


@pytest.mark.postgres_only
async def test_postgresql_sessions_carry_the_statement_and_lock_timeouts(bot: RunningBot) -> None:
    async with bot.runtime.engine.connect() as db:
        shown = {
            name: await db.scalar(text(f"SHOW {name}"))
            for name in ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout")
        }
    assert shown == {
        "statement_timeout": "10s",
        "lock_timeout": "1s",
        "idle_in_transaction_session_timeout": "1min",
    }

"""Races on one report, forced into their worst order with two real PostgreSQL transactions
(SQLite runs one writer at a time, so it cannot interleave them)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.people import Directory, Identity, Person, Platform, Role
from bot.core.reports import ReportSubmission
from bot.handlers import reports
from bot.store.db import make_engine, migrate
from bot.store.repos import SqlUnitOfWork
from tests.races import CTX, TEACHER, first_commits_late

pytestmark = pytest.mark.postgres_only

DSL = Person("dana", "Dana", (Identity(Platform.SLACK, "U0DSL"),), frozenset({Role.DSL}))
HEAD = Person("chris", "Chris", (Identity(Platform.SLACK, "U0HEAD"),), frozenset({Role.CO_HEAD}))
SCHOOL = replace(CTX, directory=Directory([TEACHER, DSL, HEAD]))
REPORT = ReportSubmission(
    "safeguarding", "Instagram", "", None, None, "Something worrying", form_key="slack:V1"
)
CHASE = {"report_id": 1}


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    migrated = make_engine(database_url)
    await migrate(migrated)
    async with migrated.begin() as db:
        made = await reports.submit(SCHOOL, SqlUnitOfWork(db), TEACHER, REPORT)
        assert not made.refused
    yield migrated
    await migrated.dispose()


async def test_an_acknowledgement_committing_as_the_chase_runs_stops_the_chase(
    engine: AsyncEngine,
) -> None:
    acknowledged, chased = await first_commits_late(
        engine,
        lambda uow: reports.acknowledge(SCHOOL, uow, DSL, 1),
        lambda uow: reports.chase(SCHOOL, uow, CHASE),
    )
    assert "You acknowledged R-0001" in (acknowledged.reply.summary if acknowledged.reply else "")
    # The chase read "open" before the acknowledgement committed, and still sends nothing.
    assert chased.notifications == () and chased.schedules == ()


async def test_two_answers_to_one_question_at_once_keep_one(engine: AsyncEngine) -> None:
    async with engine.begin() as db:
        await reports.ask_reporter(SCHOOL, SqlUnitOfWork(db), DSL, 1, "Which account?")
    first, second = await first_commits_late(
        engine,
        lambda uow: reports.reply(SCHOOL, uow, TEACHER, 1, "The first answer"),
        lambda uow: reports.reply(SCHOOL, uow, TEACHER, 1, "The second answer"),
    )
    assert not first.refused
    assert "changed meanwhile" in second.errors.by_input["answer"]

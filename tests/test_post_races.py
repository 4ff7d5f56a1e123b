"""Races between two changes to one draft, forced into their worst order with two real
transactions (PostgreSQL lets a statement see what another committed after this transaction
began; SQLite runs one writer at a time, so it cannot interleave them)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.clock import SchoolTime, SystemClock
from bot.core.outcome import Outcome
from bot.core.people import Directory, Identity, Person, Platform, Role
from bot.core.posts import CHECKLIST, Account, Decision, DraftSubmission
from bot.handlers import HandlerContext, posts
from bot.store.db import make_engine, migrate
from bot.store.repos import SqlUnitOfWork

pytestmark = pytest.mark.postgres_only

TEACHER = Person("teacher", "Tia Teacher", (Identity(Platform.SLACK, "U0TEACH"),))
MANAGER = Person(
    "sam", "Sam", (Identity(Platform.SLACK, "U0NETMGR"),), frozenset({Role.NETWORK_MANAGER})
)
CONFIRMED = frozenset(item.name for item in CHECKLIST)
CTX = HandlerContext(
    school_name="Oakgreen School",
    policy_contact=None,
    accounts=(Account.named("X"),),
    directory=Directory([TEACHER, MANAGER]),
    clock=SystemClock(),
    school_time=SchoolTime(ZoneInfo("Europe/London")),
)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    migrated = make_engine(database_url)
    await migrate(migrated)
    async with migrated.begin() as db:
        await posts.submit_draft(
            CTX,
            SqlUnitOfWork(db),
            TEACHER,
            DraftSubmission("Sports day", ("X",), CONFIRMED, None, (), "slack:V1"),
        )
    yield migrated
    await migrated.dispose()


Work = Callable[[SqlUnitOfWork], Coroutine[Any, Any, Outcome]]


async def _first_commits_late(
    engine: AsyncEngine, first: Work, second: Work
) -> tuple[Outcome, Outcome]:
    """Run `first` to just before its commit, start `second` (which then waits on the row
    `first` changed), and let `first` commit."""
    first_done = asyncio.Event()
    commit = asyncio.Event()

    async def run_first() -> Outcome:
        async with engine.begin() as db:
            outcome = await first(SqlUnitOfWork(db))
            first_done.set()
            await commit.wait()
            return outcome

    async def run_second() -> Outcome:
        await first_done.wait()
        async with engine.begin() as db:
            waiting = asyncio.create_task(second(SqlUnitOfWork(db)))
            await asyncio.sleep(0.3)  # long enough to be blocked on the row
            commit.set()
            return await waiting

    return await asyncio.gather(run_first(), run_second())


async def test_the_same_revision_form_twice_at_once_says_it_was_sent(engine: AsyncEngine) -> None:
    revision = DraftSubmission("Sports day (cropped)", ("X",), CONFIRMED, None, (), "slack:V2")

    def revise(uow: SqlUnitOfWork) -> Coroutine[Any, Any, Outcome]:
        return posts.submit_revision(CTX, uow, TEACHER, 1, 1, revision, False)

    first, second = await _first_commits_late(engine, revise, revise)
    assert first.notifications and not first.refused
    assert not second.refused and second.reply is not None
    assert "already sent" in second.reply.summary


async def test_a_withdrawal_racing_an_approval_does_not_act_on_what_it_read(
    engine: AsyncEngine,
) -> None:
    def approve(uow: SqlUnitOfWork) -> Coroutine[Any, Any, Outcome]:
        return posts.decide(CTX, uow, MANAGER, 1, 1, Decision.APPROVE)

    def withdraw(uow: SqlUnitOfWork) -> Coroutine[Any, Any, Outcome]:
        return posts.withdraw(CTX, uow, TEACHER, 1, 1)

    approved, withdrawn = await _first_commits_late(engine, approve, withdraw)
    assert approved.card_updates
    # The withdrawal read "waiting for approval"; it must not go ahead as if that were so
    # (its notice to whoever posts an approved draft would be skipped). The teacher is told.
    assert withdrawn.reply is not None and "already approved" in withdrawn.reply.summary
    assert not withdrawn.card_updates
    async with engine.begin() as db:
        again = await posts.withdraw(CTX, SqlUnitOfWork(db), TEACHER, 1, 1)
    assert [n.recipient for n in again.notifications] == [MANAGER]
    assert "do not post it" in again.notifications[0].message.summary
    async with engine.connect() as db:
        steps = [(e.from_state, e.to_state) for e in await SqlUnitOfWork(db).history.of("post", 1)]
    assert steps == [
        (None, "awaiting_approval"),
        ("awaiting_approval", "approved"),
        ("approved", "withdrawn"),
    ]

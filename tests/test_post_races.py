"""Races between two changes to one draft, forced into their worst order with two real
transactions (PostgreSQL lets a statement see what another committed after this transaction
began; SQLite runs one writer at a time, so it cannot interleave them)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Coroutine
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.outcome import Outcome
from bot.core.posts import CHECKLIST, Decision, DraftSubmission
from bot.handlers import posts
from bot.store.db import make_engine, migrate
from bot.store.repos import SqlUnitOfWork
from tests.races import CTX, MANAGER, TEACHER, first_commits_late

pytestmark = pytest.mark.postgres_only

CONFIRMED = frozenset(item.name for item in CHECKLIST)


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


async def test_the_same_revision_form_twice_at_once_says_it_was_sent(engine: AsyncEngine) -> None:
    revision = DraftSubmission("Sports day (cropped)", ("X",), CONFIRMED, None, (), "slack:V2")

    def revise(uow: SqlUnitOfWork) -> Coroutine[Any, Any, Outcome]:
        return posts.submit_revision(CTX, uow, TEACHER, 1, 1, revision, False)

    first, second = await first_commits_late(engine, revise, revise)
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

    approved, withdrawn = await first_commits_late(engine, approve, withdraw)
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

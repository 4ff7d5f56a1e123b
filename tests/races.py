"""For the race tests: a school of one teacher and one network manager, and two real
transactions forced into their worst order (on PostgreSQL: SQLite runs one writer at a time)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.clock import SchoolTime, SystemClock
from bot.core.outcome import Outcome
from bot.core.people import Directory, Identity, Person, Platform, Role
from bot.core.posts import Account
from bot.handlers import HandlerContext
from bot.store.repos import SqlUnitOfWork

TEACHER = Person("teacher", "Tia Teacher", (Identity(Platform.SLACK, "U0TEACH"),))
MANAGER = Person(
    "sam", "Sam", (Identity(Platform.SLACK, "U0NETMGR"),), frozenset({Role.NETWORK_MANAGER})
)
CTX = HandlerContext(
    school_name="Oakgreen School",
    policy_contact=None,
    accounts=(Account.named("X"),),
    directory=Directory([TEACHER, MANAGER]),
    clock=SystemClock(),
    school_time=SchoolTime(ZoneInfo("Europe/London")),
)

Work = Callable[[SqlUnitOfWork], Coroutine[Any, Any, Outcome]]


async def first_commits_late(
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

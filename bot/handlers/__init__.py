"""Use cases, one module per workflow. A handler takes an actor and a typed command and
returns an Outcome; it never calls a platform SDK, a web framework or the ORM."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.core.clock import Clock, SchoolTime
from bot.core.people import Directory
from bot.core.posts import Account
from bot.core.questions import PolicyLookup

if TYPE_CHECKING:
    from bot.core.outcome import Outcome
    from bot.core.ports import UnitOfWork


@dataclass(frozen=True)
class HandlerContext:
    """What every handler may read: the school's configuration and the clock."""

    school_name: str
    policy_contact: str | None
    accounts: tuple[Account, ...]
    directory: Directory
    clock: Clock
    school_time: SchoolTime
    # None when no policy document is configured: questions are then answered as such.
    policy: PolicyLookup | None = None


# A timer's work: like a handler, but run by the delivery worker when it falls due.
TimerHandler = Callable[
    [HandlerContext, "UnitOfWork", Mapping[str, str | int]], Awaitable["Outcome"]
]

"""Use cases, one module per workflow. A handler takes an actor and a typed command and
returns an Outcome; it never calls a platform SDK, a web framework or the ORM."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.core.clock import Clock, SchoolTime
from bot.core.people import Directory
from bot.core.posts import Account
from bot.core.questions import PolicyLookup
from bot.core.reports import Deadlines, WorkingCalendar

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
    # When reports must be acknowledged: the school's working hours, terms and holidays.
    calendar: WorkingCalendar = field(default=None)  # type: ignore[assignment]
    deadlines: Deadlines = field(default_factory=Deadlines)

    def __post_init__(self) -> None:
        if self.calendar is None:
            object.__setattr__(self, "calendar", WorkingCalendar(self.school_time.zone))


# A timer's work: like a handler, but run by the delivery worker when it falls due.
TimerHandler = Callable[
    [HandlerContext, "UnitOfWork", Mapping[str, str | int]], Awaitable["Outcome"]
]

"""Time: stored in UTC, shown in the school's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class SchoolTime:
    """Formats UTC instants for people at the school."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone

    def local(self, instant: datetime) -> datetime:
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=UTC)
        return instant.astimezone(self.zone)

    def today(self, clock: Clock) -> date:
        return self.local(clock.now()).date()

    def show(self, instant: datetime) -> str:
        local = self.local(instant)
        return f"{local:%a %-d %b %Y, %H:%M} {local.tzname()}"

    @staticmethod
    def show_date(day: date) -> str:
        return f"{day:%a %-d %b %Y}"

"""Time: stored in UTC, shown in the school's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
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

    def stamp(self, instant: datetime) -> str:
        """To the second, for logs and records an operator reads."""
        local = self.local(instant)
        return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()}"

    def start_of(self, day: date) -> datetime:
        """The instant (in UTC) the school's day begins."""
        return datetime.combine(day, time.min, tzinfo=self.zone).astimezone(UTC)

    def at(self, day: date, local_time: time) -> datetime:
        """The instant (in UTC) the school's clocks show `local_time` on `day`."""
        return datetime.combine(day, local_time, tzinfo=self.zone).astimezone(UTC)

    @staticmethod
    def show_date(day: date) -> str:
        return f"{day:%a %-d %b %Y}"

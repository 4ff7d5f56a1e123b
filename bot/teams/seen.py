"""Where each person was last seen in Teams, so that most activities cost no database read.

A person's chat address is written when it is new or changed, or when they were marked
unreachable (blocked or removed the bot) and are back. An entry lasts a minute, so that a
mark made by another instance sharing the database is noticed soon; in this instance, a mark
clears the entry at once.
"""

from __future__ import annotations

import time

SEEN_SECONDS = 60.0


class SeenInTeams:
    def __init__(self) -> None:
        self._seen: dict[str, tuple[tuple[str, str], float]] = {}

    def unchanged(self, aad_object_id: str, where: tuple[str, str]) -> bool:
        entry = self._seen.get(aad_object_id)
        return (
            entry is not None and entry[0] == where and time.monotonic() - entry[1] < SEEN_SECONDS
        )

    def saw(self, aad_object_id: str, where: tuple[str, str]) -> None:
        self._seen[aad_object_id] = (where, time.monotonic())

    def lost(self, aad_object_id: str) -> None:
        self._seen.pop(aad_object_id, None)

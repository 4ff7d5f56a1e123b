"""Numbers the store hands out: row ids that keep an anonymous report apart from the rows
around it, and the references (P-0001, R-0001, Q-0001) people see."""

from __future__ import annotations

from sqlalchemy import Table, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.refs import RefKind
from bot.store.models import COUNTERS, detached_ids, ordinary_ids


class DetachedIds:
    """Ids for the rows one transaction writes about an anonymous report: consecutive among
    themselves, so that events written together (reported, then sent) keep their order."""

    BLOCK = 256

    def __init__(self) -> None:
        self._left: list[int] = []

    async def take(self, db: AsyncConnection, table: Table, detached: bool) -> dict[str, int]:
        """The `id` value to insert; for an ordinary row, nothing (the sequence's next) or,
        on SQLite, one above every id the table holds (see models.ordinary_ids)."""
        if not detached:
            ordinary = await ordinary_ids(db, table, 1)
            return {"id": ordinary[0]} if ordinary else {}
        if not self._left:
            self._left = detached_ids(self.BLOCK)
        return {"id": self._left.pop(0)}


class SqlReferences:
    def __init__(self, db: AsyncConnection) -> None:
        self._db = db

    async def next_number(self, kind: RefKind) -> int:
        # UPDATE ... RETURNING takes the row lock, so two submissions at once get two numbers.
        bumped = await self._db.execute(
            update(COUNTERS)
            .where(COUNTERS.c.kind == kind.value)
            .values(last=COUNTERS.c.last + 1)
            .returning(COUNTERS.c.last)
        )
        number = bumped.scalar_one_or_none()
        if number is None:
            raise LookupError(f"no counter for {kind.name} references: is the schema migrated?")
        return int(number)

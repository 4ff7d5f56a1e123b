"""What a database knows of how it has been served: the platforms it has served with real
credentials, and since when."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.models import SERVED_PLATFORMS


async def record_served(db: AsyncConnection, platforms: Iterable[str], now: datetime) -> None:
    """Marks the platforms as served; the first time each was is kept."""
    insert = postgresql_insert if db.dialect.name == "postgresql" else sqlite_insert
    for platform in platforms:
        statement = insert(SERVED_PLATFORMS).values(platform=platform, since=now)
        await db.execute(statement.on_conflict_do_nothing(index_elements=["platform"]))


async def served(db: AsyncConnection) -> dict[str, datetime]:
    rows = await db.execute(select(SERVED_PLATFORMS.c.platform, SERVED_PLATFORMS.c.since))
    return {row.platform: row.since for row in rows}

"""What a database knows of how it has been served: the platforms it has served with real
credentials, and since when."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, inspect, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.models import CARDS, SERVED_PLATFORMS, TEAMS_CONVERSATIONS


async def record_served(db: AsyncConnection, platforms: Iterable[str], now: datetime) -> None:
    """Marks the platforms as served; the first time each was is kept."""
    insert = postgresql_insert if db.dialect.name == "postgresql" else sqlite_insert
    for platform in platforms:
        statement = insert(SERVED_PLATFORMS).values(platform=platform, since=now)
        await db.execute(statement.on_conflict_do_nothing(index_elements=["platform"]))


async def served(db: AsyncConnection) -> dict[str, datetime]:
    """The platforms served, and since when; read on a schema of any version since Teams
    conversations were kept, without migrating it first. A database served by a version from
    before `served_platforms` says the same by what it holds: a card delivered in Slack, or a
    Teams conversation reached through Teams' own service (https; the Bot Framework Emulator
    is local)."""
    found: dict[str, datetime] = {}
    if await db.run_sync(lambda sync: inspect(sync).has_table(SERVED_PLATFORMS.name)):
        rows = await db.execute(select(SERVED_PLATFORMS.c.platform, SERVED_PLATFORMS.c.since))
        found.update({row.platform: row.since for row in rows})
    for platform, first in (
        ("slack", select(func.min(CARDS.c.created_at)).where(CARDS.c.platform == "slack")),
        (
            "teams",
            select(func.min(TEAMS_CONVERSATIONS.c.updated_at)).where(
                TEAMS_CONVERSATIONS.c.service_url.like("https://%")
            ),
        ),
    ):
        when = (await db.execute(first)).scalar()
        if when is not None and platform not in found:
            found[platform] = when
    return found

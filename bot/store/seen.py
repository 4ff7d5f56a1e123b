"""Slack requests already taken, one row each, by a digest of the request (never its
content); bot/slack/replay.py decides what the digest covers and how long it is kept."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.models import SEEN_REQUESTS


async def first_sighting(
    db: AsyncConnection, digest: str, expires_at: datetime, now: datetime
) -> bool:
    """Record `digest`; True when it was not already there (or had expired, purged or not).

    One statement, so two instances taking the same request at once cannot both win: the
    second insert waits for the first's row and then changes nothing."""
    insert = (
        postgresql_insert(SEEN_REQUESTS)
        if db.dialect.name == "postgresql"
        else sqlite_insert(SEEN_REQUESTS)
    )
    statement = insert.values(digest=digest, expires_at=expires_at)
    result = await db.execute(
        statement.on_conflict_do_update(
            index_elements=[SEEN_REQUESTS.c.digest],
            set_={"expires_at": statement.excluded.expires_at},
            where=SEEN_REQUESTS.c.expires_at <= now,
        )
    )
    return int(result.rowcount) == 1


async def purge(db: AsyncConnection, now: datetime) -> int:
    """Forget what can no longer come again; how many were forgotten."""
    result = await db.execute(delete(SEEN_REQUESTS).where(SEEN_REQUESTS.c.expires_at <= now))
    return int(result.rowcount)

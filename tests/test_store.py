"""The schema: migrations and models agree, and the audit log refuses edits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from bot.store.db import make_engine, migrate
from bot.store.models import Base
from bot.store.repos import SqlAuditLog


async def test_migrations_build_exactly_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    await migrate(engine)
    await migrate(engine)  # a second run is a no-op
    async with engine.connect() as connection:
        differences = await connection.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
        )
    await engine.dispose()
    assert differences == []


async def test_the_audit_log_is_append_only(database_url: str) -> None:
    engine = make_engine(database_url)
    await migrate(engine)
    async with engine.begin() as db:
        await SqlAuditLog(db).append(
            "slack:U0TEACH", "post.submitted", "post", "P-0001", datetime.now(UTC), {"version": 1}
        )
    for statement in (
        "UPDATE audit_events SET actor_key = 'someone else'",
        "DELETE FROM audit_events",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as connection:
                await connection.execute(text(statement))
    async with engine.connect() as db:
        (entry,) = await SqlAuditLog(db).entries()
    assert entry.actor_key == "slack:U0TEACH" and entry.at.tzinfo is not None
    await engine.dispose()

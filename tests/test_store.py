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


async def test_0006_forgets_who_asked_questions_never_sent_on(database_url: str) -> None:
    """Issue 13: upgrading keeps the asker only of questions sent on to the IT Network
    Manager, keeps question times to the day, and leaves the chronology append-only."""
    from alembic import command

    from bot.store.db import _alembic_config

    engine = make_engine(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.upgrade(_alembic_config(sync), "0005"))
        asked = datetime(2026, 11, 30, 14, 7, 31, 123456, tzinfo=UTC)
        for number, escalated in ((1, None), (2, asked)):
            await connection.execute(
                text(
                    "INSERT INTO policy_questions (id, asker_key, question, kind, sections, "
                    "asked_at, escalated_at, learned) VALUES (:id, 'slack:U0TEACH', 'q', "
                    "'answered', '[]', :asked, :escalated, false)"
                ),
                {
                    "id": number,
                    "asked": asked
                    if connection.dialect.name == "postgresql"
                    else asked.replace(tzinfo=None),
                    "escalated": escalated
                    if escalated is None or connection.dialect.name == "postgresql"
                    else escalated.replace(tzinfo=None),
                },
            )
    await migrate(engine)
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                text(
                    "SELECT id, asker_key, asked_at, escalated_at FROM policy_questions ORDER BY id"
                )
            )
        ).all()
    assert [(r.id, r.asker_key) for r in rows] == [(1, None), (2, "slack:U0TEACH")]
    for row in rows:
        for value in (row.asked_at, row.escalated_at):
            if value is not None:
                shown = value if isinstance(value, datetime) else datetime.fromisoformat(value)
                assert (shown.hour, shown.minute, shown.second, shown.microsecond) == (0, 0, 0, 0)
    # The chronology's triggers survived the new columns.
    async with engine.connect() as connection:
        triggers = await connection.scalars(
            text(
                "SELECT trigger_name FROM information_schema.triggers "
                "WHERE event_object_table = 'report_events'"
                if connection.dialect.name == "postgresql"
                else "SELECT name FROM sqlite_master "
                "WHERE type = 'trigger' AND tbl_name = 'report_events'"
            )
        )
        assert len(set(triggers)) >= 1
    await engine.dispose()

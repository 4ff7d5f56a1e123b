"""The PostgreSQL test command works as the README writes it: TEST_DATABASE_URL names the server
and user, and the database it names need not exist (each test makes and drops its own)."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from bot.settings import normalise_database_url
from tests.conftest import create_postgres_database, drop_postgres_database, postgres_url


def _naming(database: str | None) -> str:
    url = make_url(normalise_database_url(postgres_url()))
    return url.set(database=database).render_as_string(hide_password=False)


async def _exists(name: str) -> bool:
    url = make_url(normalise_database_url(postgres_url()))
    admin = await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username, password=url.password,
        database="postgres",
    )  # fmt: skip
    try:
        return bool(await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await admin.close()


@pytest.mark.parametrize(
    "database",
    ["postgres", f"socialdesk_absent_{uuid.uuid4().hex[:8]}", None],
    ids=["the README's postgres", "a database that does not exist", "no database named"],
)
async def test_each_test_database_is_made_and_dropped_whatever_database_the_url_names(
    database: str | None,
) -> None:
    base = _naming(database)
    url, name = await create_postgres_database(base)
    assert await _exists(name)
    engine = await asyncpg.connect(normalise_database_url(url).replace("+asyncpg", ""))
    await engine.close()
    await drop_postgres_database(base, name)
    assert not await _exists(name)
    if database not in (None, "postgres"):
        assert not await _exists(database)  # never created behind the user's back

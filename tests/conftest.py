from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from bot.settings import normalise_database_url
from tests.fakes.slack import FakeSlack
from tests.fakes.teams import FakeTeams
from tests.harness import RunningBot, settings_for

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres_only: runs only against PostgreSQL")


@pytest.fixture
async def fake_teams() -> AsyncIterator[FakeTeams]:
    fake = await FakeTeams().start()
    yield fake
    await fake.stop()
    # Every card the bot sent or updated passed the Adaptive Cards 1.5 schema.
    assert fake.invalid == []


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = await FakeSlack().start()
    yield fake
    await fake.stop()


# Every PostgreSQL server has this database (initdb creates it); the README's URL names it.
ADMIN_DATABASE = "postgres"


async def admin_connection(base_url: str) -> asyncpg.Connection:
    """A connection for creating and dropping each test's database. TEST_DATABASE_URL says
    which server and user; the database it names is used when it exists, and otherwise the
    server's `postgres` database, since the tests never use the named one themselves."""
    url = make_url(normalise_database_url(base_url))
    server = {
        "host": url.host,
        "port": url.port or 5432,
        "user": url.username,
        "password": url.password,
    }
    named = url.database or ADMIN_DATABASE
    try:
        return await asyncpg.connect(database=named, **server)
    except asyncpg.InvalidCatalogNameError:
        if named == ADMIN_DATABASE:
            raise
    try:
        return await asyncpg.connect(database=ADMIN_DATABASE, **server)
    except asyncpg.InvalidCatalogNameError as error:
        raise RuntimeError(
            f"TEST_DATABASE_URL names the database {named!r}, which does not exist, and the "
            f"server has no {ADMIN_DATABASE!r} database either: name a database that exists "
            "(the user must be allowed to CREATE DATABASE; each test makes and drops its own)"
        ) from error


async def as_admin(base_url: str, statement: str) -> None:
    admin = await admin_connection(base_url)
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


async def create_postgres_database(base_url: str) -> tuple[str, str]:
    name = f"socialdesk_test_{uuid.uuid4().hex[:12]}"
    await as_admin(base_url, f'CREATE DATABASE "{name}"')
    url = make_url(normalise_database_url(base_url)).set(database=name)
    return url.render_as_string(hide_password=False), name


async def drop_postgres_database(base_url: str, name: str) -> None:
    await as_admin(base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL", "").strip()
    if not url:
        pytest.skip("TEST_DATABASE_URL is not set: the PostgreSQL variant is skipped")
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        if request.node.get_closest_marker("postgres_only"):
            pytest.skip("this test needs PostgreSQL")
        yield f"sqlite+aiosqlite:///{tmp_path / 'socialdesk.db'}"
        return
    base = postgres_url()
    url, name = await create_postgres_database(base)
    yield url
    await drop_postgres_database(base, name)


BotFactory = Callable[..., Awaitable[RunningBot]]


@pytest.fixture
async def start_bot(
    database_url: str, fake_slack: FakeSlack, request: pytest.FixtureRequest
) -> AsyncIterator[BotFactory]:
    started: list[RunningBot] = []

    async def start(**kwargs: Any) -> RunningBot:
        config_path = kwargs.pop("config_path", None)
        clock = kwargs.pop("clock", None)
        use_fake = kwargs.pop("slack", True)
        teams = kwargs.pop("teams", None)
        policy = kwargs.pop("policy", None)
        no_policy = kwargs.pop("no_policy", False)
        network = kwargs.pop("teams_network", None)
        settings = settings_for(
            database_url, fake_slack if use_fake else None, teams, policy, **kwargs
        )
        if no_policy:
            settings = replace(settings, policy_path=None)
        if network is None and teams is not None and teams.app_id is not None:
            # A registered bot talks to Teams' hosts by their real names, over https: the
            # fake Bot Connector answers for them.
            fake: FakeTeams = request.getfixturevalue("fake_teams")
            network = fake.go_secure()
        bot = RunningBot(settings, config_path, clock, network)
        await bot.start()
        started.append(bot)
        return bot

    yield start
    for bot in reversed(started):
        await bot.stop()


@pytest.fixture
async def bot(start_bot: BotFactory) -> RunningBot:
    return await start_bot()


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent: the shared schemas and policy are not beside the project")
    return SHARED

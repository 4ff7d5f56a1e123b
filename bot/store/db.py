"""Engines and schema migrations."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, make_url, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.settings import DatabaseTimeouts

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
# Any fixed number: it names the PostgreSQL advisory lock that keeps two instances starting
# at once from migrating the same database together.
_MIGRATION_LOCK = 0x50C1A1D35C


def make_engine(
    url: str,
    timeouts: DatabaseTimeouts | None = None,
    *,
    private_file: bool = True,
    **kwargs: Any,
) -> AsyncEngine:
    """An engine for `url`. With `timeouts`, no connect, statement, lock or wait for a pooled
    connection lasts longer than they say; without, statements run as long as they need (the
    migrations, which may wait for another instance's, and the command line).
    `private_file`: a SQLite file is made (or closed up to be) readable by its owner only."""
    # A failed statement's message would otherwise carry its values (a question, a draft)
    # into the logs.
    kwargs = {"hide_parameters": True, **kwargs}
    if url.startswith("sqlite"):
        if private_file:
            _private_sqlite_file(url)
        # SQLite has one writer at a time. Left to itself, a second writer waits in SQLite's
        # busy handler, which sleeps in steps of up to 100 ms: under load that, not the work,
        # set the ack latency (p99 0.7 s at 50 drafts/s, bench/ack_latency.py). One pooled
        # connection makes the wait a first-come, first-served queue in the event loop
        # instead; the busy timeout stays for other processes (`socialdesk audit`, say). It
        # is the lock timeout: the wait runs in aiosqlite's thread, which a request giving
        # up cannot interrupt, and the one connection is held until it ends.
        busy = 30.0 if timeouts is None else timeouts.lock
        pool_wait = 60.0 if timeouts is None else timeouts.pool
        engine = create_async_engine(
            url,
            connect_args={"timeout": busy},
            **{"pool_size": 1, "max_overflow": 0, "pool_timeout": pool_wait, **kwargs},
        )
        _sqlite_write_serialised(engine)
        return engine
    # No pre-ping: it would cost every transaction a round trip. A connection found dead is
    # dropped by the pool, and Runtime.perform runs the work again (see there). The pool is
    # as large as a burst of Slack requests plus the delivery worker's slots: an overflow
    # connection is opened for one transaction and closed after it, and opening one cost
    # more than the transaction (bench/ack_latency.py).
    if timeouts is not None:
        kwargs = {
            "connect_args": _postgresql_limits(timeouts),
            "pool_timeout": timeouts.pool,
            **kwargs,
        }
    return create_async_engine(url, **{"pool_size": 20, "max_overflow": 10, **kwargs})


def _private_sqlite_file(url: str) -> None:
    """The database holds safeguarding reports: only the bot's own user may read it, whatever
    the umask. SQLite gives the -wal and -shm files it creates the database file's mode, so
    the file is made 0600 before SQLite first opens it; one left readable by an earlier
    version is closed up, with its -wal and -shm."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        return
    except FileExistsError:
        pass
    except OSError:
        return  # left for SQLite to report as it opens the file
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            mode = stat.S_IMODE(file.stat().st_mode)
            if mode & 0o077:
                file.chmod(mode & 0o700)
                log.warning("%s was readable by other users (%o): now %o", file, mode, mode & 0o700)
        except OSError:
            continue


def _postgresql_limits(timeouts: DatabaseTimeouts) -> dict[str, Any]:
    def ms(seconds: float) -> str:
        return str(max(1, round(seconds * 1000)))

    return {
        "timeout": timeouts.connect,
        # The server cancels a slow statement itself and the connection stays usable; the
        # client's own limit, a second later, is for a server that does not answer at all.
        # asyncpg also bounds its cancel request by it, which a stalled server never answers.
        "command_timeout": timeouts.statement + 1.0,
        "server_settings": {
            "statement_timeout": ms(timeouts.statement),
            "lock_timeout": ms(timeouts.lock),
            # A transaction whose client has gone (a request that gave up on a stalled
            # network) would otherwise hold its row locks until the server noticed.
            "idle_in_transaction_session_timeout": ms(max(60.0, 6 * timeouts.statement)),
        },
    }


def _sqlite_write_serialised(engine: AsyncEngine) -> None:
    # SQLite's deferred transactions fail at once with "database is locked" when two of them
    # read and then both try to write; BEGIN IMMEDIATE makes the second wait its turn instead,
    # so counters and claims stay race-free without retry loops.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision. Safe to run from several instances at once."""
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK}
            )
        await connection.run_sync(lambda sync: command.upgrade(_alembic_config(sync), "head"))


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )

"""The command line's database commands: migrate, back up, and open the bot's database as it
is for the commands that read it."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from bot.settings import Settings, SettingsError, UsageError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine


NO_DATABASE_YET = (
    "DATABASE_URL: no socialdesk database there yet (`socialdesk serve` or `socialdesk migrate` "
    "makes one)"
)


async def migrate_database(settings: Settings) -> int:
    from bot.startup import migrated_schema

    print(f"database schema at revision {await migrated_schema(settings)}")
    return 0


def sqlite_file_missing(database_url: str) -> bool:
    from sqlalchemy import make_url

    url = make_url(database_url)
    return (
        url.get_backend_name() == "sqlite"
        and bool(url.database)
        and not (url.database == ":memory:" or Path(url.database or "").exists())
    )


@contextlib.asynccontextmanager
async def existing_database(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """The bot's database as it is: reading commands never change its schema under a running
    bot, so one that is behind (or absent) is reported instead."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.startup import database_error, unhurried_engine
    from bot.store.db import current_revision, head_revision

    if sqlite_file_missing(settings.database_url):
        # Opening it would create an empty file where the bot's database should be.
        raise SettingsError(NO_DATABASE_YET)
    # Reading leaves the file as it is; serve closes up a file an earlier version left open.
    engine = unhurried_engine(settings, change_nothing=True)
    try:
        try:
            found = await current_revision(engine)
        except (OSError, SQLAlchemyError, TimeoutError, TypeError) as error:
            raise database_error(settings, error) from error
        if found is None:
            raise SettingsError(NO_DATABASE_YET)
        if found != head_revision():
            raise SettingsError(
                f"the database schema is at revision {found}, this socialdesk needs "
                f"{head_revision()}: run `socialdesk migrate` first"
            )
        yield engine
    finally:
        await engine.dispose()


def backup_sqlite(settings: Settings, out: Path) -> int:
    import sqlite3

    from sqlalchemy import make_url

    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite":
        raise SettingsError(
            "DATABASE_URL is a PostgreSQL database: back it up with pg_dump -Fc (see README.md)"
        )
    if sqlite_file_missing(settings.database_url) or not url.database:
        raise SettingsError(NO_DATABASE_YET)
    if out.exists() and out.stat().st_size > 0:
        raise UsageError(f"{out} already exists: name a new file")
    # VACUUM INTO fills an empty file as it finds it, so the copy is private from the start.
    os.close(open_private(out))
    # Not read-only: a read-only connection leaves -wal and -shm files behind, owned by whoever
    # ran the backup, and a bot started later as another user could not open them.
    source = sqlite3.connect(url.database)
    try:
        # One read transaction: a consistent copy, taken while the bot goes on writing.
        source.execute("VACUUM INTO ?", (str(out),))
    except sqlite3.Error as error:
        out.unlink(missing_ok=True)
        raise SettingsError(f"backup failed: {error}") from error
    finally:
        source.close()
    print(f"wrote {out} ({out.stat().st_size} bytes)")
    return 0


def open_private(path: Path | str) -> int:
    """A file descriptor for writing `path` afresh, readable by its owner only, whether or not
    the file was there before: what socialdesk writes out (reports, backups) holds
    safeguarding records, and an existing file keeps its mode unless it is changed."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as error:
        raise UsageError(f"{path}: cannot write there ({error.strerror})") from error
    os.fchmod(descriptor, 0o600)
    return descriptor

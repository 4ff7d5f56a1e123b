"""`socialdesk chat`: the terminal chat (bot/terminal), over the configured database.

It opens the database as `serve` does (migrated first) and builds the same runtime, except
that every follow-up of what is done (messages, card updates, timers) is handed to the chat's
inboxes instead of the outbox: a bot serving from the same database must never send what the
chat causes to real people, nor run its timers. No Slack or Teams setting is needed.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from typing import TYPE_CHECKING, TextIO

from bot.cli_database import sqlite_file_missing
from bot.config import SchoolConfig, load_config
from bot.core.clock import SystemClock
from bot.core.people import Person, Role
from bot.handlers.routes import ROUTES
from bot.policy_source import PolicySource
from bot.runtime import Runtime, handler_context, open_database
from bot.settings import Settings, SettingsError, UsageError, describe_database
from bot.startup import policy_of
from bot.terminal.chat import TerminalChat, find_person
from bot.terminal.inbox import Inboxes

if TYPE_CHECKING:
    pass


def chat(settings: Settings, start_as: str | None, stdin: TextIO, stdout: TextIO) -> int:
    try:
        return _chat_until_done(settings, start_as, stdin, stdout)
    except KeyboardInterrupt:
        # Ctrl-C, however early: whatever was committed stays; a form part filled was never
        # sent.
        stdout.write("\nInterrupted.\n")
        return 130


def _chat_until_done(
    settings: Settings, start_as: str | None, stdin: TextIO, stdout: TextIO
) -> int:
    if settings.slack is not None or settings.teams.app_id is not None:
        # With Slack or Teams set up, DATABASE_URL holds the school's own records: a report
        # made here would be recorded as sent to the DSL, who in Slack or Teams would never
        # hear of it, and no serving bot would ever chase it.
        raise SettingsError(
            "socialdesk chat is for trying socialdesk without a workspace, but Slack or Teams "
            "is set up here (SLACK_BOT_TOKEN or MICROSOFT_APP_ID), so DATABASE_URL holds the "
            "school's own records: run it on a database of its own, with those unset, as in "
            "DATABASE_URL=sqlite:///trial.db socialdesk chat"
        )
    school = load_config(settings.config_path)
    person = _first_person(school, start_as)
    policy = policy_of(settings, school)
    return asyncio.run(_chat(settings, school, person, policy, stdin, stdout))


def _first_person(school: SchoolConfig, start_as: str | None) -> Person:
    directory = school.directory
    if start_as is not None:
        found = find_person(directory, start_as)
        if isinstance(found, str):
            raise UsageError(f"--as: {found}")
        return found
    first = directory.holders(Role.NETWORK_MANAGER) or directory.people
    if not first:
        raise SettingsError("SOCIALDESK_CONFIG: the configuration names nobody to act as")
    return first[0]


async def _chat(
    settings: Settings,
    school: SchoolConfig,
    person: Person,
    policy: PolicySource,
    stdin: TextIO,
    stdout: TextIO,
) -> int:
    if threading.current_thread() is threading.main_thread():
        # asyncio.run's own Ctrl-C handler only cancels the task, which a terminal blocked
        # reading a line never notices: the person would go on typing into a chat that then
        # drops what they typed. Interrupted at once instead, wherever it is.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    # Before anything is migrated: a school's database is refused as it is found.
    await _not_the_schools_records(settings, school)
    engine, _ = await open_database(settings)
    inboxes = Inboxes()
    runtime = Runtime(
        settings=settings,
        school=school,
        engine=engine,
        context=handler_context(school, policy, SystemClock()),
        renderers={},
        wake_delivery=lambda: None,
        timers=ROUTES.timers,
        follow_ups_elsewhere=inboxes.take,
    )
    stdout.write(
        f"socialdesk chat: {school.name}, configuration {settings.config_path.resolve()}, "
        f"database {describe_database(settings.database_url)}. What you do here is real: it "
        "is stored in that database. The messages it "
        "causes are shown only here, never sent to Slack or Teams.\n"
    )
    try:
        return await TerminalChat(runtime, inboxes, person, stdin, stdout).run()
    finally:
        await runtime.settle(5.0)
        await engine.dispose()


async def _not_the_schools_records(settings: Settings, school: SchoolConfig) -> None:
    """Refuses a database a bot has served Slack or Teams from with real credentials: the
    settings of this shell may leave them out (an operator's shell with only DATABASE_URL),
    but the database itself says whose records it holds."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy.exc import SQLAlchemyError

    from bot.startup import database_error, unhurried_engine
    from bot.store import deployment

    if sqlite_file_missing(settings.database_url):
        return  # a new trial database
    engine = unhurried_engine(settings, change_nothing=True)
    try:
        async with engine.connect() as db:
            schema = await db.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
            served = await deployment.served(db) if schema is not None else {}
    except (OSError, SQLAlchemyError, TimeoutError, TypeError) as error:
        raise database_error(settings, error) from error
    finally:
        await engine.dispose()
    if served:
        zone = school.timezone
        since = ", ".join(
            f"{platform} since {when.astimezone(zone):%d %b %Y}"
            for platform, when in sorted(served.items())
        )
        raise SettingsError(
            f"DATABASE_URL holds the school's own records (served to {since}): socialdesk chat, "
            "whose messages reach nobody, would add reports recorded as sent to people who "
            "never heard of them. Give it a database of its own, as in "
            "DATABASE_URL=sqlite:///trial.db socialdesk chat"
        )

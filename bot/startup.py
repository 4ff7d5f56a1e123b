"""What `socialdesk serve` checks before it listens, in one place, so that `socialdesk
check-config` runs the very same checks and fails exactly when `serve` would.

Each check raises SettingsError naming the setting at fault; what can only be known later (Slack
or Entra ID unreachable just now) is returned as a note instead, because `serve` then starts and
tries again.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import SchoolConfig
from bot.policy_source import PolicySource, open_policy, policy_setting
from bot.settings import Settings, SettingsError, SlackSettings, TeamsSettings

if TYPE_CHECKING:
    import aiohttp
    from sqlalchemy.ext.asyncio import AsyncEngine

# How long start-up waits for Entra ID to give the bot its token.
TEAMS_TOKEN_CHECK_SECONDS = 10.0


class PortInUse(SettingsError):
    """Something listens on the port now (another socialdesk, the one being checked)."""


def listening_socket(host: str, port: int) -> socket.socket:
    """The socket `serve` listens on, bound before anything else starts: a port already in use
    is said at once, before the database is migrated or anyone is messaged."""
    try:
        return socket.create_server((host, port), reuse_port=False, backlog=128)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise PortInUse(
                f"PORT {port} on HOST {host}: cannot listen: something else is listening there "
                "already (another socialdesk?)"
            ) from None
        if isinstance(error, socket.gaierror):
            why = "HOST is not an address or name of this machine"
        elif error.errno == errno.EADDRNOTAVAIL:
            why = "HOST is not an address of this machine"
        elif error.errno == errno.EACCES:
            why = "not allowed to listen there (ports under 1024 need privileges)"
        else:
            why = error.strerror or str(error)
        raise SettingsError(f"PORT {port} on HOST {host}: cannot listen: {why}") from None


def port_is_free(host: str, port: int) -> bool:
    """False when something listens there now; SettingsError when nothing ever could (an
    address this machine does not have, a port it may not use)."""
    try:
        listening_socket(host, port).close()
    except PortInUse:
        return False
    return True


def role_warnings(school: SchoolConfig) -> list[str]:
    """What start-up warns of in the roles: a configuration serve starts with, but where some
    reports have nobody to go to."""
    from bot.core.people import Role

    directory = school.directory
    warnings = []
    if not directory.holders(Role.CHAIR_OF_GOVERNORS):
        warnings.append(
            "nobody holds the chair_of_governors role: a report of disparaging content naming "
            "both Co-Headteachers would be held until someone does, and one of theirs not "
            "acknowledged in time has nobody above them to go to"
        )
    if not directory.holders(Role.DSL):
        warnings.append(
            "nobody holds the dsl role: safeguarding concerns go to the Co-Headteachers "
            "instead, and pupils' friend requests to the Network Manager alone"
        )
    return warnings


def policy_of(settings: Settings, school: SchoolConfig) -> PolicySource:
    """The policy document, read as `serve` reads it (SettingsError naming the setting)."""
    return open_policy(
        policy_path(settings, school), policy_setting(settings.policy_path, settings.config_path)
    )


def policy_path(settings: Settings, school: SchoolConfig) -> Path | None:
    return settings.policy_path or school.policy_path


def _timed_out(error: BaseException | None) -> bool:
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, TimeoutError):
            return True
        error, seen = error.__cause__ or error.__context__, seen + 1
    return False


def database_error(settings: Settings, error: BaseException) -> SettingsError:
    if _timed_out(error):
        reason = (
            f"it did not answer within {settings.database_timeouts.connect:g} s "
            "(SOCIALDESK_DB_CONNECT_SECONDS)"
        )
    else:
        # SQLAlchemy adds a line pointing at its own documentation: one line is enough.
        said = str(getattr(error, "orig", None) or error).strip().splitlines()
        reason = f"{type(error).__name__}: {said[0] if said else ''}"
    return SettingsError(f"DATABASE_URL: cannot open the database ({reason})")


def unhurried_engine(settings: Settings, *, change_nothing: bool = False) -> AsyncEngine:
    """An engine for start-up's own work and the command line's (the migrations, the schema
    check, reading records): no statement timeouts, since a migration may wait for another
    instance's, but a connection not made within the connect timeout is given up, so a
    stalled server is said, not waited on."""
    from bot.store.db import make_engine

    if settings.database_url.startswith("postgresql"):
        return make_engine(
            settings.database_url,
            connect_args={"timeout": settings.database_timeouts.connect},
        )
    # `change_nothing`: check-config leaves even a SQLite file's mode as it found it (and a
    # DATABASE_URL naming some other file must not have that file's mode changed).
    return make_engine(settings.database_url, private_file=not change_nothing)


async def migrated_schema(settings: Settings) -> str | None:
    """Bring the database's schema up to date, as `serve` and `migrate` do; the revision."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.store.db import current_revision, migrate

    engine = unhurried_engine(settings)
    try:
        await migrate(engine)
        return await current_revision(engine)
    # TypeError: the driver refused a parameter the URL's query string gave it.
    except (OSError, SQLAlchemyError, TimeoutError, TypeError) as error:
        raise database_error(settings, error) from error
    finally:
        await engine.dispose()


async def schema_found(settings: Settings) -> str | None:
    """The schema revision of the database as it is, changing nothing (None: no socialdesk
    tables yet, which `serve` creates)."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.cli_database import sqlite_file_missing
    from bot.store.db import current_revision

    if sqlite_file_missing(settings.database_url):
        return None  # opening it would create the file
    engine = unhurried_engine(settings, change_nothing=True)
    try:
        return await current_revision(engine)
    except (OSError, SQLAlchemyError, TimeoutError, TypeError) as error:
        raise database_error(settings, error) from error
    finally:
        await engine.dispose()


async def check_slack(slack: SlackSettings, http: aiohttp.ClientSession) -> list[str]:
    """Slack's verdict on the tokens: SettingsError if it refuses one; a note if it cannot
    be asked now (serve then starts and asks again)."""
    from bot.slack import edge

    client = edge.web_client(slack, http)
    notes = []
    identity = edge.SlackIdentity()
    if await edge.check_bot_token(client, identity):
        notes.append(f"Slack accepted SLACK_BOT_TOKEN (workspace {identity.team_id})")
    else:
        notes.append("Slack could not be asked about SLACK_BOT_TOKEN just now")
    if slack.app_token:
        await edge.check_app_token(client, slack.app_token)
    return notes


async def check_teams(teams: TeamsSettings, http: aiohttp.ClientSession) -> list[str]:
    """Entra ID's verdict on the bot's app id and client secret: SettingsError if it refuses
    them (the bot could send nothing), a note if it cannot be asked now."""
    from bot.teams.connector import BotToken, ConnectorError, CredentialsRefused

    if teams.app_id is None:
        return []
    try:
        async with asyncio.timeout(TEAMS_TOKEN_CHECK_SECONDS):
            await BotToken(http, teams).header()
    except CredentialsRefused as refused:
        raise SettingsError(
            f"{refused.detail}: copy the app's Application (client) ID and a current client "
            "secret from its Entra ID app registration (Certificates & secrets)"
        ) from None
    except (ConnectorError, TimeoutError) as error:
        return [f"Entra ID could not be asked about MICROSOFT_APP_PASSWORD just now ({error})"]
    return ["Entra ID accepted MICROSOFT_APP_ID and MICROSOFT_APP_PASSWORD"]


async def held_by_socialdesk(http: aiohttp.ClientSession, host: str, port: int) -> bool:
    """Whether what listens on the port answers /healthz as socialdesk does."""
    import aiohttp

    local = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host  # noqa: S104
    if ":" in local:
        local = f"[{local}]"
    try:
        async with asyncio.timeout(2.0), http.get(f"http://{local}:{port}/healthz") as answer:
            body = await answer.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return False
    return isinstance(body, dict) and {"status", "slack", "teams"} <= body.keys()

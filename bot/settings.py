"""Settings from the environment, read once at start-up and passed down.

Nothing else in socialdesk reads os.environ. A missing or invalid setting stops start-up with
a message that names it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///socialdesk.db"
DEFAULT_CONFIG = "socialdesk.yaml"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
# Where the Bot Connector service publishes the keys that sign its requests to bots.
DEFAULT_TEAMS_OPENID_METADATA_URL = (
    "https://login.botframework.com/v1/.well-known/openidconfiguration"
)
# Where the bot asks Microsoft Entra ID for its own token, to call the Bot Connector.
DEFAULT_TEAMS_LOGIN_URL = "https://login.microsoftonline.com"
TEAMS_APP_TYPES = ("MultiTenant", "SingleTenant")
# Where Teams keeps what people send a bot (TEAMS_FILE_HOSTS): a file sent in a personal chat
# is uploaded to the sender's OneDrive for Business, a SharePoint address (Microsoft's "Send
# and receive files using bot"); a picture pasted into a message is held by the Bot Connector,
# the activity's serviceUrl (smba.trafficmanager.net), or by Teams' media service
# (*.asm.skype.com); the Bot Framework's own services are under *.botframework.com.
DEFAULT_TEAMS_FILE_HOSTS = (
    "*.sharepoint.com",
    "smba.trafficmanager.net",
    "*.botframework.com",
    "*.asm.skype.com",
)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# A platform call gets three fifths of the lease (see DeliveryWorker); under 5 s that would
# cut off an ordinary slow answer from Slack or Teams.
MIN_LEASE_SECONDS = 5.0


class SettingsError(Exception):
    """A setting is missing or invalid; the message names it and says what to do."""


class UsageError(SettingsError):
    """An argument given on the command line is wrong (a date, a file to write, a name): said
    as such, not as a configuration error, with the same exit status."""


@dataclass(frozen=True)
class SlackSettings:
    bot_token: str
    signing_secret: str | None
    app_token: str | None
    api_url: str

    @property
    def socket_mode(self) -> bool:
        return self.app_token is not None


@dataclass(frozen=True)
class TeamsSettings:
    """The Azure Bot registration. Without an app id the bot runs in local mode: nothing is
    verified, for the Bot Framework Emulator and tests only."""

    app_id: str | None = None
    app_password: str | None = None
    tenant_id: str | None = None
    app_type: str = "MultiTenant"
    openid_metadata_url: str = DEFAULT_TEAMS_OPENID_METADATA_URL
    login_url: str = DEFAULT_TEAMS_LOGIN_URL
    # Without an app id: local mode, or Teams off. See _teams_settings.
    local_allowed: bool = True
    # The only hosts files people send are fetched from (local mode: this machine instead).
    file_hosts: tuple[str, ...] = DEFAULT_TEAMS_FILE_HOSTS

    @property
    def local_mode(self) -> bool:
        return self.app_id is None and self.local_allowed

    @property
    def enabled(self) -> bool:
        return self.app_id is not None or self.local_allowed

    @property
    def token_url(self) -> str:
        # A single-tenant bot gets its token from its own tenant; a multi-tenant one from
        # the Bot Framework's.
        authority = self.tenant_id if self.app_type == "SingleTenant" else "botframework.com"
        return f"{self.login_url.rstrip('/')}/{authority}/oauth2/v2.0/token"


@dataclass(frozen=True)
class DatabaseTimeouts:
    """How long the bot waits on the database, in seconds. A stalled database must never hang
    a request: Slack gives an app 3 seconds to answer, so a request gives the database
    `request` seconds in all and then answers "could not save" instead. The others bound each
    step for everything else (the delivery worker, timers, start-up)."""

    # Opening a connection (asyncpg's connect timeout).
    connect: float = 5.0
    # One statement: PostgreSQL's statement_timeout on the server, and a little more on the
    # client (asyncpg's command_timeout) for a server that does not answer at all.
    statement: float = 10.0
    # Waiting for a lock another transaction holds: PostgreSQL's lock_timeout; on SQLite, the
    # busy timeout for another process's write lock. Below `request`, so that a request
    # blocked by a lock is refused by the database cleanly, not abandoned mid-wait.
    lock: float = 1.0
    # Waiting for a free pooled connection.
    pool: float = 30.0
    # Everything one Slack or Teams request asks of the database. Half of Slack's 3 seconds:
    # the rest is for reading the request and sending the answer on a busy machine.
    request: float = 1.5


# Slack allows 3 seconds for an answer; a request's database budget must leave room for it.
SLACK_ANSWER_SECONDS = 3.0


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    port: int = 3978
    host: str = "0.0.0.0"  # noqa: S104 - a bot server listens for the platforms
    config_path: Path = Path("socialdesk.yaml")
    # How config_path was found, said when a command opens it (see `find_configuration`).
    config_origin: str = "SOCIALDESK_CONFIG"
    policy_path: Path | None = None
    slack: SlackSettings | None = None
    teams: TeamsSettings = TeamsSettings()
    retry_base_seconds: float = 2.0
    retry_cap_seconds: float = 300.0
    # How long a delivery worker holds an item it claimed. An instance that dies holding one
    # (killed, the machine lost) delays it this long, until another instance may send it.
    delivery_lease_seconds: float = 300.0
    log_level: str = "INFO"
    database_timeouts: DatabaseTimeouts = DatabaseTimeouts()
    # The libraries' own loggers (Slack's SDK and bolt, aiohttp, the database drivers,
    # SQLAlchemy, botbuilder): at DEBUG they write whole requests, answers and statements,
    # with what people typed, receipt codes and who sent them. LOG_LEVEL never raises them.
    library_log_level: str = "WARNING"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        port_text = get("PORT") or "3978"
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise SettingsError(f"PORT must be a port number (1-65535), not {port_text!r}")

        retry_text = get("SOCIALDESK_RETRY_BASE_SECONDS") or "2"
        try:
            retry_base = float(retry_text)
        except ValueError:
            retry_base = -1.0
        if not 0 < retry_base <= 3600:
            raise SettingsError(
                f"SOCIALDESK_RETRY_BASE_SECONDS must be a number of seconds, not {retry_text!r}"
            )

        lease_text = get("SOCIALDESK_DELIVERY_LEASE_SECONDS") or "300"
        try:
            lease = float(lease_text)
        except ValueError:
            lease = -1.0
        if not MIN_LEASE_SECONDS <= lease <= 86400:
            raise SettingsError(
                "SOCIALDESK_DELIVERY_LEASE_SECONDS must be a number of seconds from "
                f"{MIN_LEASE_SECONDS:g} to 86400, not {lease_text!r}"
            )

        log_level = (get("LOG_LEVEL") or "INFO").upper()
        if log_level not in LOG_LEVELS:
            raise SettingsError(
                f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {log_level!r}"
            )

        library_log_level = (get("LIBRARY_LOG_LEVEL") or "WARNING").upper()
        if library_log_level not in LOG_LEVELS:
            raise SettingsError(
                f"LIBRARY_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, "
                f"not {library_log_level!r}"
            )

        policy = get("SOCIALDESK_POLICY")
        slack = _slack_settings(get)
        return cls(
            database_url=_with_existing_folder(
                normalise_database_url(get("DATABASE_URL") or DEFAULT_DATABASE_URL)
            ),
            port=int(port_text),
            host=get("HOST") or "0.0.0.0",  # noqa: S104
            config_path=Path(get("SOCIALDESK_CONFIG") or DEFAULT_CONFIG),
            config_origin="SOCIALDESK_CONFIG" if get("SOCIALDESK_CONFIG") else "",
            policy_path=Path(policy) if policy else None,
            slack=slack,
            teams=_teams_settings(get, slack_configured=slack is not None),
            retry_base_seconds=retry_base,
            delivery_lease_seconds=lease,
            log_level=log_level,
            database_timeouts=_database_timeouts(get),
            library_log_level=library_log_level,
        )


# The example school's configuration, beside the package in a clone of the repository.
EXAMPLE_CONFIG = Path(__file__).resolve().parents[1] / "socialdesk.example.yaml"


def find_configuration(settings: Settings, example: Path = EXAMPLE_CONFIG) -> Settings:
    """Where the configuration is: SOCIALDESK_CONFIG, else socialdesk.yaml in the current
    folder, else (on a machine given no Slack or Teams credentials, a trial) the example
    school's, as `scripts/serve.sh` always did. With credentials a missing socialdesk.yaml
    stays an error: a bot serving real people must never start as the example school."""
    if settings.config_origin or settings.config_path.exists():
        return replace(settings, config_origin=settings.config_origin or "the current folder")
    credentials = settings.slack is not None or settings.teams.app_id is not None
    if credentials or not example.exists():
        return settings
    return replace(settings, config_path=example, config_origin="example")


def describe_database(url: str) -> str:
    """The database a command opened, as it may be shown: a SQLite file's full path, or a
    server's address without the password."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"SQLite file {Path(str(parsed.database)).resolve()}"
    # The query string may carry a password too (?password=, ?sslpassword=): left out.
    shown = parsed.set(query={}).render_as_string(hide_password=True)
    return f"PostgreSQL {shown.split('://', 1)[1]}"


@dataclass(frozen=True)
class PackageSettings:
    """What `socialdesk teams-package` reads from the environment: only what goes in the zip.
    The package names the bot by its app id and holds no secret, so whoever builds it for a
    Teams admin needs neither MICROSOFT_APP_PASSWORD nor MICROSOFT_APP_TENANT_ID (serve
    still demands both, through Settings)."""

    app_id: str | None
    config_path: Path
    # SOCIALDESK_CONFIG was set: then its file must exist. Unset, a socialdesk.yaml is read
    # if there is one, and the command-line flags give the rest.
    config_named: bool

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PackageSettings:
        app_id = env.get("MICROSOFT_APP_ID", "").strip() or None
        config = env.get("SOCIALDESK_CONFIG", "").strip() or None
        return cls(app_id, Path(config or DEFAULT_CONFIG), config is not None)


def _database_timeouts(get: Callable[[str], str | None]) -> DatabaseTimeouts:
    defaults = DatabaseTimeouts()

    def seconds(name: str, default: float, most: float) -> float:
        text = get(name)
        if text is None:
            return default
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not 0 < value <= most:
            raise SettingsError(
                f"{name} must be a number of seconds above 0 and at most {most:g}, not {text!r}"
            )
        return value

    request = seconds("SOCIALDESK_DB_REQUEST_SECONDS", defaults.request, SLACK_ANSWER_SECONDS - 0.5)
    lock = seconds("SOCIALDESK_DB_LOCK_SECONDS", defaults.lock, 600)
    if lock >= request:
        raise SettingsError(
            f"SOCIALDESK_DB_LOCK_SECONDS ({lock:g}) must be below SOCIALDESK_DB_REQUEST_SECONDS "
            f"({request:g}): a request waiting on a lock is then refused by the database "
            "cleanly, before the request gives up on it"
        )
    return DatabaseTimeouts(
        connect=seconds("SOCIALDESK_DB_CONNECT_SECONDS", defaults.connect, 600),
        statement=seconds("SOCIALDESK_DB_STATEMENT_SECONDS", defaults.statement, 3600),
        lock=lock,
        pool=seconds("SOCIALDESK_DB_POOL_SECONDS", defaults.pool, 600),
        request=request,
    )


def _slack_settings(get: Callable[[str], str | None]) -> SlackSettings | None:
    bot_token = get("SLACK_BOT_TOKEN")
    signing_secret = get("SLACK_SIGNING_SECRET")
    app_token = get("SLACK_APP_TOKEN")
    api_url = get("SLACK_API_URL") or DEFAULT_SLACK_API_URL
    if not (bot_token or signing_secret or app_token):
        return None
    if not bot_token:
        raise SettingsError(
            "SLACK_BOT_TOKEN is missing: Slack needs the bot token (xoxb-...) from the app's "
            "OAuth & Permissions page, beside SLACK_SIGNING_SECRET or SLACK_APP_TOKEN"
        )
    if not bot_token.startswith("xoxb-"):
        raise SettingsError("SLACK_BOT_TOKEN must be a bot token, starting with xoxb-")
    if app_token is not None and not app_token.startswith("xapp-"):
        raise SettingsError("SLACK_APP_TOKEN must be an app-level token, starting with xapp-")
    if app_token is None and signing_secret is None:
        raise SettingsError(
            "SLACK_SIGNING_SECRET is missing: over HTTP every Slack request is verified with it "
            "(or set SLACK_APP_TOKEN to use Socket Mode instead)"
        )
    if not api_url.startswith(("http://", "https://")):
        raise SettingsError(f"SLACK_API_URL must be an http(s) URL, not {api_url!r}")
    if not api_url.endswith("/"):
        api_url += "/"
    return SlackSettings(bot_token, signing_secret, app_token, api_url)


def _teams_settings(get: Callable[[str], str | None], slack_configured: bool) -> TeamsSettings:
    app_id = get("MICROSOFT_APP_ID")
    password = get("MICROSOFT_APP_PASSWORD")
    tenant_id = get("MICROSOFT_APP_TENANT_ID")
    app_type = get("MICROSOFT_APP_TYPE") or "MultiTenant"
    metadata_url = get("MICROSOFT_OPENID_METADATA_URL") or DEFAULT_TEAMS_OPENID_METADATA_URL
    login_url = get("MICROSOFT_LOGIN_URL") or DEFAULT_TEAMS_LOGIN_URL
    known = {t.lower(): t for t in (*TEAMS_APP_TYPES, "UserAssignedMSI")}
    app_type = known.get(app_type.lower(), app_type)
    if app_type == "UserAssignedMSI":
        raise SettingsError(
            "MICROSOFT_APP_TYPE UserAssignedMSI is not supported: register the bot as "
            "MultiTenant or SingleTenant with a client secret (MICROSOFT_APP_PASSWORD)"
        )
    if app_type not in TEAMS_APP_TYPES:
        raise SettingsError(
            f"MICROSOFT_APP_TYPE must be {' or '.join(TEAMS_APP_TYPES)}, not {app_type!r}"
        )
    for name, url in (
        ("MICROSOFT_OPENID_METADATA_URL", metadata_url),
        ("MICROSOFT_LOGIN_URL", login_url),
    ):
        if not url.startswith(("http://", "https://")):
            raise SettingsError(f"{name} must be an http(s) URL, not {url!r}")
    hosts_text = get("TEAMS_FILE_HOSTS")
    try:
        file_hosts = parse_file_hosts(hosts_text) if hosts_text else DEFAULT_TEAMS_FILE_HOSTS
    except ValueError as error:
        raise SettingsError(
            f"TEAMS_FILE_HOSTS: {error}; give host names or *.domain, separated by commas"
        ) from error
    local_flag = (get("SOCIALDESK_TEAMS_LOCAL") or "").lower()
    if local_flag not in ("", "0", "1", "true", "false", "yes", "no"):
        raise SettingsError(f"SOCIALDESK_TEAMS_LOCAL must be 1 or 0, not {local_flag!r}")
    if app_id is None:
        if password is not None:
            raise SettingsError(
                "MICROSOFT_APP_ID is missing: MICROSOFT_APP_PASSWORD is set, but without the "
                "app id every Teams request would be accepted unverified"
            )
        # Local mode verifies nothing. It runs when the bot runs with no credentials at all
        # (a trial, tests), or when asked for; a Slack deployment, reachable from outside,
        # gets no unverified Teams endpoint beside it.
        forced = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
        allowed = forced.get(local_flag, not slack_configured)
        return TeamsSettings(
            openid_metadata_url=metadata_url,
            login_url=login_url,
            local_allowed=allowed,
            file_hosts=file_hosts,
        )
    if local_flag in ("1", "true", "yes"):
        raise SettingsError(
            "SOCIALDESK_TEAMS_LOCAL is set, but so is MICROSOFT_APP_ID: local mode is for "
            "running without a registration"
        )
    if password is None:
        raise SettingsError(
            "MICROSOFT_APP_PASSWORD is missing: the bot needs the client secret of its Azure "
            "Bot registration (Configuration → Manage Password) to send messages"
        )
    if tenant_id is None:
        # Any Microsoft 365 organisation could otherwise talk to a multi-tenant bot.
        raise SettingsError(
            "MICROSOFT_APP_TENANT_ID is missing: the school's directory (tenant) id, so that "
            "only the school's own Teams is served (Entra ID, Overview, Tenant ID)"
        )
    return TeamsSettings(
        app_id, password, tenant_id, app_type, metadata_url, login_url, file_hosts=file_hosts
    )


def parse_file_hosts(text: str) -> tuple[str, ...]:
    """Host names, or `*.` and a domain for any name under it, separated by commas or spaces.
    Raises ValueError saying what is wrong."""
    hosts = tuple(h.strip().lower().rstrip(".") for h in text.replace(",", " ").split())
    if not hosts:
        raise ValueError("names no host")
    for host in hosts:
        name = host.removeprefix("*.")
        if "*" in name or "/" in host or ":" in host or "." not in name:
            raise ValueError(f"{host!r} is not a host name or *.domain (no scheme, port or path)")
    return hosts


def host_allowed(host: str, patterns: Collection[str]) -> bool:
    """Whether `host` is one of `patterns`; `*.example.com` is any name under example.com."""
    host = host.lower().rstrip(".")
    for pattern in patterns:
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]):
                return True
        elif host == pattern:
            return True
    return False


def _with_existing_folder(url: str) -> str:
    """A SQLite file's folder must exist. Said here, before anything connects: aiosqlite's
    failed connect leaves a worker thread that reports into the closed event loop as the
    process exits, burying the message."""
    try:
        parsed = make_url(url)
        parsed.port  # noqa: B018 - a port that is not a number fails only when read
    except (ArgumentError, ValueError):
        # Not repeated: the URL may hold a password, and this message goes to the log.
        raise SettingsError(
            "DATABASE_URL is not a database URL socialdesk can read (the form is "
            "sqlite:///path/to/file.db or postgresql://user:password@host:5432/database)"
        ) from None
    if parsed.drivername.startswith("sqlite") and parsed.database in (None, "", ":memory:"):
        # Every connection would get an empty database of its own, gone when it closes.
        raise SettingsError(
            "DATABASE_URL names no SQLite file: give one, as in sqlite:///socialdesk.db "
            "(an in-memory database would lose every record)"
        )
    if parsed.drivername.startswith("sqlite"):
        folder = Path(str(parsed.database)).parent
        if not folder.is_dir():
            raise SettingsError(
                f"DATABASE_URL: cannot open the database (the folder {folder} does not exist)"
            )
    return url


def normalise_database_url(url: str) -> str:
    """Accept the URLs operators paste (postgres://, postgresql://) and pick async drivers."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    if url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
        return url
    # Only what comes before the first colon is repeated: the rest may hold a password, and
    # this message goes to the log.
    raise SettingsError(
        f"DATABASE_URL must be a SQLite or PostgreSQL URL (sqlite:///path or "
        f"postgresql://user@host/db), not one starting {url.split(':', 1)[0][:20]!r}"
    )

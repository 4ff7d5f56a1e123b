"""The one aiohttp application that serves Slack and Teams, and its lifecycle.

The database engine, the delivery worker and the platform connections start in the
application's startup and stop in its cleanup; nothing happens at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import startup
from bot.config import SchoolConfig
from bot.core.clock import Clock, SystemClock
from bot.core.people import Identity, Platform
from bot.delivery import Backoff, DeliveryWorker, Transport
from bot.handlers import report_timers
from bot.handlers.routes import ROUTES
from bot.runtime import Runtime, handler_context, open_database
from bot.settings import Settings, SlackSettings
from bot.slack import blockkit
from bot.store.models import OUTBOX
from bot.store.outbox import Claimed, Outbox
from bot.teams.cards import CardRenderer

if TYPE_CHECKING:
    from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

    from bot.slack.edge import SlackHttpEndpoint
    from bot.teams.edge import TeamsEndpoint
    from bot.teams.files import FileNetwork

log = logging.getLogger(__name__)

# Slack's own payloads are a few kilobytes; a megabyte leaves room and refuses floods.
MAX_REQUEST_BYTES = 1024 * 1024
# Long enough for an ordinary delivery in flight to finish. A longer one is cancelled; its
# lease then lets this or another instance send it again.
SHUTDOWN_GRACE_SECONDS = 35.0


@dataclass
class Services:
    """What the running application holds once started."""

    runtime: Runtime | None = None
    worker: DeliveryWorker | None = None
    slack_mode: str = "off"
    schema: str | None = None
    slack_http: SlackHttpEndpoint | None = None
    teams_mode: str = "off"
    teams: TeamsEndpoint | None = None
    background: list[asyncio.Task[None]] = field(default_factory=list)
    socket_handler: AsyncSocketModeHandler | None = None
    # Outbound connections to close at shut-down, in reverse order of opening.
    closers: list[Callable[[], Awaitable[object]]] = field(default_factory=list)


SETTINGS = web.AppKey("settings", Settings)
SCHOOL = web.AppKey("school", SchoolConfig)
CLOCK = web.AppKey("clock", Clock)
SERVICES = web.AppKey("services", Services)
TEAMS_NETWORK = web.AppKey("teams_network", object)


def create_app(
    settings: Settings,
    school: SchoolConfig,
    clock: Clock | None = None,
    teams_network: FileNetwork | None = None,
) -> web.Application:
    """`teams_network`: how Teams' hosts are reached, if not through the system's DNS and
    certificate store (tests give their own, to reach fake hosts by their real names)."""
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    app[SETTINGS] = settings
    app[SCHOOL] = school
    app[CLOCK] = clock or SystemClock()
    app[SERVICES] = Services()
    app[TEAMS_NETWORK] = teams_network
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/slack/events", slack_events)
    app.router.add_post("/api/messages", teams_messages)
    app.cleanup_ctx.append(_lifecycle)
    return app


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    settings, school, clock, services = app[SETTINGS], app[SCHOOL], app[CLOCK], app[SERVICES]
    policy = startup.policy_of(settings, school)
    engine, services.schema = await open_database(settings)
    transports: dict[str, Transport] = {}
    teams_cards = CardRenderer()

    lease = timedelta(seconds=settings.delivery_lease_seconds)

    async def run_timer(item: Claimed, worker_id: str) -> None:
        await runtime.run_timer(item, worker_id)

    worker = DeliveryWorker(
        Outbox(engine),
        transports,
        clock,
        Backoff(base=settings.retry_base_seconds, cap=settings.retry_cap_seconds),
        lease=lease,
        # Platform calls end well inside the lease, as with the default 3 minutes of 5.
        deadline=lease * 0.6,
        timers=run_timer,
    )
    runtime = Runtime(
        settings=settings,
        school=school,
        engine=engine,
        context=handler_context(school, policy, clock),
        renderers={
            Platform.SLACK.value: blockkit.render_message,
            Platform.TEAMS.value: teams_cards.activity,
        },
        wake_delivery=worker.wake,
        timers=ROUTES.timers,
        # The same mapping the worker sends through: a platform is live once started.
        live=transports.keys(),
    )
    services.runtime = runtime
    services.worker = worker
    delivery: asyncio.Task[None] | None = None
    try:
        if settings.slack is None:
            log.warning(
                "Slack is off: SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN) are "
                "not set. Messages for Slack users wait in the outbox until it is configured."
            )
        else:
            await _start_slack(settings.slack, runtime, services, transports)
        if settings.teams.enabled:
            await _start_teams(
                settings, runtime, services, transports, teams_cards, app[TEAMS_NETWORK]
            )
        else:
            log.warning(
                "Teams is off: MICROSOFT_APP_ID is not set. (Local mode, which verifies nothing "
                "and is for the Bot Framework Emulator, runs only without Slack credentials or "
                "with SOCIALDESK_TEAMS_LOCAL=1.)"
            )
        await _record_served(settings, engine, clock)
        _warn_about_unreachable_roles(school, frozenset(Platform(p) for p in runtime.renderers))
        _warn_about_report_routes(school)
        await _send_held_reports(runtime)
        delivery = asyncio.create_task(worker.run_forever(), name="delivery")
        yield
    finally:
        try:
            await _shut_down(services, worker, delivery)
            await runtime.settle(5.0)
        finally:
            await engine.dispose()


async def _shut_down(
    services: Services, worker: DeliveryWorker, delivery: asyncio.Task[None] | None
) -> None:
    # Inbound first (no new events while the rest winds down), then the work in hand, then
    # the connections that work used.
    if services.socket_handler is not None:
        await services.socket_handler.close_async()  # type: ignore[no-untyped-call]
    worker.stop()
    for task in services.background:
        task.cancel()
    await asyncio.gather(*services.background, return_exceptions=True)
    if delivery is not None:
        await _let_finish(delivery)
    for close in reversed(services.closers):
        try:
            await close()
        except Exception:
            log.exception("shut-down: a connection did not close cleanly")


async def _let_finish(delivery: asyncio.Task[None]) -> None:
    # Cancelling a delivery mid-transaction leaves its database connection half-closed, and
    # engine.dispose() then waits for it: let the items in hand finish instead.
    try:
        await asyncio.wait_for(asyncio.shield(delivery), timeout=SHUTDOWN_GRACE_SECONDS)
    except TimeoutError:
        log.warning("delivery did not stop within %ss; cancelling", SHUTDOWN_GRACE_SECONDS)
        delivery.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await delivery


async def _start_slack(
    slack: SlackSettings, runtime: Runtime, services: Services, transports: dict[str, Transport]
) -> None:
    import aiohttp
    from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

    from bot.slack import edge
    from bot.slack.transport import SlackTransport

    http = aiohttp.ClientSession()
    services.closers.append(http.close)
    client = edge.web_client(slack, http)
    identity = edge.SlackIdentity()
    if not await edge.check_bot_token(client, identity):
        services.background.append(
            asyncio.create_task(
                edge.keep_checking_bot_token(client, identity, first_delay=5.0),
                name="slack sign-in",
            )
        )
    replies = edge.InteractionReplies(http, slack.api_url)
    # Closed in reverse order: the replies in flight finish before their HTTP session closes.
    services.closers.append(replies.close)
    bolt_app = edge.build_bolt_app(runtime, slack, identity, replies)
    transports[Platform.SLACK.value] = SlackTransport(client, slack.api_url)
    modes = []
    if slack.signing_secret:
        services.slack_http = edge.SlackHttpEndpoint(bolt_app, slack.signing_secret)
        modes.append("http")
    if slack.app_token:
        await edge.check_app_token(client, slack.app_token)
        socket_handler = AsyncSocketModeHandler(
            bolt_app, app_token=slack.app_token, web_client=client
        )
        services.socket_handler = socket_handler
        # The handler reconnects by itself for as long as it must; start-up does not wait.
        services.background.append(
            asyncio.create_task(socket_handler.connect_async(), name="slack socket mode")  # type: ignore[no-untyped-call]
        )
        modes.append("socket")
    services.slack_mode = "+".join(modes)
    log.info("Slack is on (%s)", services.slack_mode)


async def _start_teams(
    settings: Settings,
    runtime: Runtime,
    services: Services,
    transports: dict[str, Transport],
    renderer: CardRenderer,
    network: object,
) -> None:
    import aiohttp

    from bot.records import TeamsRecords
    from bot.store import teams as teams_store
    from bot.teams.auth import TokenVerifier
    from bot.teams.connector import BotToken, ConnectorClient
    from bot.teams.edge import TeamsEndpoint
    from bot.teams.files import FileFetcher, FileNetwork
    from bot.teams.transport import TeamsTransport

    teams = settings.teams
    files_network = network if isinstance(network, FileNetwork) else FileNetwork()
    http = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(
            resolver=files_network.resolver,
            ssl=files_network.ssl if files_network.ssl is not None else True,
        )
    )
    services.closers.append(http.close)
    # Files have a session of their own, whose every connection checks where it goes.
    fetcher = FileFetcher(teams.file_hosts, files_network, local_mode=teams.local_mode)
    services.closers.append(fetcher.close)
    for note in await startup.check_teams(teams, http):
        log.info("teams: %s", note)
    connector = ConnectorClient(http, BotToken(http, teams))
    async with runtime.engine.begin() as db:
        await teams_store.purge_uploads(db, runtime.context.clock.now())
        for aad, name in (await teams_store.names(db)).items():
            runtime.context.directory.learn_name(Identity(Platform.TEAMS, aad), name)
        waiting = await runtime.teams_reach.reachable(
            db,
            (
                i.external_id
                for p in runtime.context.directory.people
                for i in p.identities
                if i.platform is Platform.TEAMS
            ),
        )
    verifier = None
    if teams.local_mode:
        log.warning(
            "Teams is in LOCAL MODE: MICROSOFT_APP_ID is not set, so requests to /api/messages "
            "are NOT verified and anyone who can reach this port can act as any Teams user. "
            "Use it only with the Bot Framework Emulator or tests, never on a public address."
        )
        services.teams_mode = "local"
    else:
        verifier = TokenVerifier(http, teams.openid_metadata_url, teams.app_id or "")
        services.teams_mode = "on"
        log.info("Teams is on (app %s, %s)", teams.app_id, teams.app_type)
    records = TeamsRecords(runtime)
    services.teams = TeamsEndpoint(runtime, records, teams, connector, renderer, verifier)
    transports[Platform.TEAMS.value] = TeamsTransport(
        connector,
        records,
        runtime.context.clock,
        fetcher,
        person_key=lambda aad: runtime.context.directory.resolve(Identity(Platform.TEAMS, aad)).key,
    )
    for person in runtime.context.directory.people:
        identity = person.identity_on(Platform.TEAMS)
        if person.roles and identity is not None and identity.external_id not in waiting:
            log.warning(
                "%s (%s) has not added socialdesk in Teams yet: %s; see `socialdesk teams`",
                person.name,
                ", ".join(sorted(r.value for r in person.roles)),
                "their messages go to Slack meanwhile"
                if person.identity_on(Platform.SLACK) and settings.slack is not None
                else "their messages wait until they do",
            )


async def _record_served(settings: Settings, engine: AsyncEngine, clock: Clock) -> None:
    """The database now holds the school's own records: `socialdesk chat`, whose messages
    reach nobody in Slack or Teams, refuses to add to it (bot/cli_chat.py)."""
    from bot.store import deployment

    served = [
        platform.value
        for platform, on in (
            (Platform.SLACK, settings.slack is not None),
            (Platform.TEAMS, settings.teams.app_id is not None),
        )
        if on
    ]
    if served:
        async with engine.begin() as db:
            await deployment.record_served(db, served, clock.now())


def _warn_about_report_routes(school: SchoolConfig) -> None:
    for warning in startup.role_warnings(school):
        log.warning("%s", warning)


async def _send_held_reports(runtime: Runtime) -> None:
    """Reports nobody could receive are sent once the configuration names someone who can."""
    ctx = runtime.context
    try:
        await runtime.perform(lambda uow: report_timers.release_held(ctx, uow), in_request=False)
    except Exception:
        log.exception("could not send on held reports; they stay held")


def _warn_about_unreachable_roles(school: SchoolConfig, platforms: frozenset[Platform]) -> None:
    # A role holder the bot cannot reach still gets every message, held in the outbox; say so
    # now rather than let a draft wait unseen.
    for person in school.directory.unreachable(platforms):
        log.warning(
            "%s (%s) has no identity on a platform this bot serves (%s): their messages are "
            "held; see `socialdesk outbox`",
            person.name,
            ", ".join(sorted(r.value for r in person.roles)),
            ", ".join(sorted(p.value for p in platforms)) or "none",
        )


# A health probe is answered within 2 seconds, database or not; a stalled database is a 503.
HEALTH_CHECK_SECONDS = 1.5


async def healthz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    body: dict[str, object] = {"slack": services.slack_mode, "teams": services.teams_mode}
    if services.runtime is None:
        return web.json_response(body | {"status": "starting"}, status=503)
    engine = services.runtime.engine

    async def answers() -> None:
        async with engine.connect() as connection:
            # A table every change writes, not SELECT 1: a database that answers but holds the
            # outbox locked (or stalled) refuses every request just the same.
            await connection.execute(select(OUTBOX.c.id).limit(1))

    try:
        await services.runtime.within(HEALTH_CHECK_SECONDS, answers)
    except Exception as error:
        log.warning("healthz: database unreachable: %r", error)
        body |= {"status": "degraded", "database": f"unreachable: {type(error).__name__}"}
        return web.json_response(body, status=503)
    body |= {"status": "ok", "database": "ok", "schema": services.schema}
    return web.json_response(body)


async def slack_events(request: web.Request) -> web.StreamResponse:
    endpoint = request.app[SERVICES].slack_http
    if endpoint is None:
        return web.json_response(
            {"error": "Slack over HTTP is not configured (SLACK_SIGNING_SECRET is not set)"},
            status=404,
        )
    return await endpoint.handle(request)


async def teams_messages(request: web.Request) -> web.StreamResponse:
    endpoint = request.app[SERVICES].teams
    if endpoint is None:
        if not request.app[SETTINGS].teams.enabled:
            return web.json_response(
                {"error": "Teams is not configured (MICROSOFT_APP_ID is not set)"}, status=404
            )
        return web.json_response({"error": "starting"}, status=503)
    return await endpoint.handle(request)

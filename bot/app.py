"""The one aiohttp application that serves Slack (and later Teams), and its lifecycle.

The database engine, the delivery worker and the Slack connection start in the application's
startup and stop in its cleanup; nothing happens at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web
from sqlalchemy import text

from bot.config import SchoolConfig
from bot.core.clock import Clock, SchoolTime, SystemClock
from bot.core.people import Platform
from bot.delivery import Backoff, DeliveryWorker, Transport
from bot.handlers import HandlerContext
from bot.runtime import Runtime
from bot.settings import Settings
from bot.slack import blockkit
from bot.store.db import current_revision, make_engine, migrate, sessions
from bot.store.outbox import Outbox

log = logging.getLogger(__name__)

# Slack's own payloads are a few kilobytes; a megabyte leaves room and refuses floods.
MAX_REQUEST_BYTES = 1024 * 1024
# Long enough for a delivery in flight to finish (the Web API client times out at 30 s).
SHUTDOWN_GRACE_SECONDS = 35.0


@dataclass
class Services:
    """What the running application holds once started."""

    runtime: Runtime | None = None
    worker: DeliveryWorker | None = None
    slack_mode: str = "off"
    schema: str | None = None
    slack_http: object | None = None
    background: list[asyncio.Task[None]] = field(default_factory=list)


SETTINGS = web.AppKey("settings", Settings)
SCHOOL = web.AppKey("school", SchoolConfig)
CLOCK = web.AppKey("clock", Clock)
SERVICES = web.AppKey("services", Services)


def create_app(
    settings: Settings, school: SchoolConfig, clock: Clock | None = None
) -> web.Application:
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    app[SETTINGS] = settings
    app[SCHOOL] = school
    app[CLOCK] = clock or SystemClock()
    app[SERVICES] = Services()
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/slack/events", slack_events)
    app.cleanup_ctx.append(_lifecycle)
    return app


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    settings, school, clock, services = app[SETTINGS], app[SCHOOL], app[CLOCK], app[SERVICES]
    engine = make_engine(settings.database_url)
    await migrate(engine)
    services.schema = await current_revision(engine)
    outbox = Outbox(sessions(engine))
    transports: dict[str, Transport] = {}
    worker_box: list[DeliveryWorker] = []

    runtime = Runtime(
        settings=settings,
        school=school,
        engine=engine,
        sessions=sessions(engine),
        context=HandlerContext(
            school_name=school.name,
            policy_contact=school.policy_contact,
            accounts=school.accounts,
            directory=school.directory,
            clock=clock,
            school_time=SchoolTime(school.timezone),
        ),
        renderers={Platform.SLACK.value: blockkit.render_message},
        wake_delivery=lambda: worker_box[0].wake() if worker_box else None,
    )
    services.runtime = runtime

    socket_handler = None
    if settings.slack is None:
        log.warning(
            "Slack is off: SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN) are not "
            "set. Messages for Slack users wait in the outbox until it is configured."
        )
    else:
        from bot.slack.edge import SlackHttpEndpoint, build_bolt_app, web_client
        from bot.slack.transport import SlackTransport

        client = web_client(settings.slack)
        bolt_app = build_bolt_app(runtime, settings.slack, client)
        transports[Platform.SLACK.value] = SlackTransport(client, settings.slack.api_url)
        if settings.slack.signing_secret:
            services.slack_http = SlackHttpEndpoint(bolt_app, settings.slack.signing_secret)
            services.slack_mode = "http"
        if settings.slack.app_token:
            from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

            socket_handler = AsyncSocketModeHandler(
                bolt_app, app_token=settings.slack.app_token, web_client=client
            )
            await socket_handler.connect_async()  # type: ignore[no-untyped-call]
            services.slack_mode = "socket" if services.slack_mode == "off" else "http+socket"
        log.info("Slack is on (%s)", services.slack_mode)

    worker = DeliveryWorker(
        outbox,
        transports,
        clock,
        Backoff(base=settings.retry_base_seconds, cap=settings.retry_cap_seconds),
    )
    worker_box.append(worker)
    services.worker = worker
    services.background.append(asyncio.create_task(worker.run_forever(), name="delivery"))
    try:
        yield
    finally:
        worker.stop()
        for task in services.background:
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=SHUTDOWN_GRACE_SECONDS)
            except TimeoutError:
                log.warning("delivery did not stop within %ss; cancelling", SHUTDOWN_GRACE_SECONDS)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if socket_handler is not None:
            await socket_handler.close_async()  # type: ignore[no-untyped-call]
        await engine.dispose()


async def healthz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    runtime = services.runtime
    body: dict[str, object] = {"slack": services.slack_mode}
    try:
        assert runtime is not None
        async with runtime.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        body |= {"status": "ok", "database": "ok", "schema": services.schema}
        return web.json_response(body)
    except Exception as error:
        log.warning("healthz: database unreachable: %r", error)
        body |= {"status": "degraded", "database": f"unreachable: {type(error).__name__}"}
        return web.json_response(body, status=503)


async def slack_events(request: web.Request) -> web.StreamResponse:
    endpoint = request.app[SERVICES].slack_http
    if endpoint is None:
        return web.json_response(
            {"error": "Slack over HTTP is not configured (SLACK_SIGNING_SECRET is not set)"},
            status=404,
        )
    from bot.slack.edge import SlackHttpEndpoint

    assert isinstance(endpoint, SlackHttpEndpoint)
    return await endpoint.handle(request)

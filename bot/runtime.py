"""Runs handlers inside one transaction and turns their outcomes into stored work.

A handler's writes and the messages its outcome asks for are committed together: a message to
anyone other than the actor is stored before it is sent, and the delivery worker sends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot import startup
from bot.config import SchoolConfig
from bot.core.clock import Clock, SchoolTime
from bot.core.outcome import CardUpdate, Outcome
from bot.core.people import Identity, Person, Platform
from bot.core.ports import UnitOfWork
from bot.core.questions import PolicyLookup
from bot.core.ui import Message
from bot.delivery import PermanentFailure
from bot.handlers import HandlerContext, TimerHandler
from bot.settings import Settings
from bot.store import outbox
from bot.store import teams as teams_store
from bot.store.db import make_engine
from bot.store.repos import SqlUnitOfWork

log = logging.getLogger(__name__)

Renderer = Callable[[Message], Mapping[str, Any]]
T = TypeVar("T")

# When the request being answered must have its answer: every database call it makes shares
# one budget (event-loop time), however many it makes.
_REQUEST_DEADLINE: ContextVar[float | None] = ContextVar("request_deadline", default=None)


async def open_database(settings: Settings) -> tuple[AsyncEngine, str | None]:
    """The engine that serves, once the schema is brought up to date; and the schema's
    revision. Used by everything that runs handlers (`serve`, `chat`)."""
    # Migrations run without the statement timeouts: one may wait for another instance's
    # to finish, and a large one may take a while. The engine that serves has them.
    schema = await startup.migrated_schema(settings)
    return make_engine(settings.database_url, settings.database_timeouts), schema


def handler_context(
    school: SchoolConfig, policy: PolicyLookup | None, clock: Clock
) -> HandlerContext:
    """What every handler reads, from the school's configuration."""
    return HandlerContext(
        school_name=school.name,
        policy_contact=school.policy_contact,
        accounts=school.accounts,
        directory=school.directory,
        clock=clock,
        school_time=SchoolTime(school.timezone),
        policy=policy,
        calendar=school.calendar,
        deadlines=school.deadlines,
    )


class DatabaseUnavailable(Exception):
    """The database did not answer within the request's time, or failed. Its transaction was
    abandoned before it committed, so nothing was saved; the person is told to try again."""


@dataclass
class Runtime:
    settings: Settings
    school: SchoolConfig
    engine: AsyncEngine
    context: HandlerContext
    renderers: Mapping[str, Renderer]
    wake_delivery: Callable[[], None]
    timers: Mapping[str, TimerHandler] = field(default_factory=dict)
    # Platforms this instance can send on now (a configured Slack, Teams); a message for
    # someone reachable on one of them is not also queued on a platform that is off.
    live: Collection[str] = field(default_factory=frozenset)
    teams_reach: teams_store.ReachCache = field(default_factory=teams_store.ReachCache)
    # Takes a committed outcome's follow-ups (notifications, card updates, timers, fetches)
    # instead of the outbox: for `socialdesk chat`, which shares the database with a bot that
    # may be serving, whose delivery worker would otherwise send what the chat causes to real
    # people in Slack or Teams, and run its timers. None: everything goes to the outbox.
    follow_ups_elsewhere: Callable[[Outcome], None] | None = None

    # Database work a request stopped waiting for, left to wind down (see `_before`).
    _abandoned: set[asyncio.Task[Any]] = field(default_factory=set, init=False, repr=False)

    @contextlib.contextmanager
    def request_deadline(self) -> Iterator[None]:
        """The request being answered gives the database this long in all (see `in_request`),
        counted from now."""
        loop = asyncio.get_running_loop()
        token = _REQUEST_DEADLINE.set(loop.time() + self.settings.database_timeouts.request)
        try:
            yield
        finally:
            _REQUEST_DEADLINE.reset(token)

    async def in_request(self, work: Callable[[], Awaitable[T]]) -> T:
        """Database work a request waits for: given up at the request's deadline (or, outside
        `request_deadline`, after the request budget), raising DatabaseUnavailable. Slack
        allows 3 seconds for an answer, and a stalled database would otherwise hold the
        request until the connection or statement timeouts, or for ever."""
        deadline = _REQUEST_DEADLINE.get()
        if deadline is None:
            deadline = asyncio.get_running_loop().time() + self.settings.database_timeouts.request
        return await self._before(deadline, work)

    async def within(self, seconds: float, work: Callable[[], Awaitable[T]]) -> T:
        """`work`, given up after `seconds` (DatabaseUnavailable)."""
        return await self._before(asyncio.get_running_loop().time() + seconds, work)

    async def write(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """`work` in a transaction of its own, within the request's time."""

        async def run() -> T:
            async with self.engine.begin() as db:
                return await work(db)

        return await self.in_request(run)

    async def read(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """`work` reading on a connection of its own, within the request's time."""

        async def run() -> T:
            async with self.engine.connect() as db:
                return await work(db)

        return await self.in_request(run)

    async def _before(self, deadline: float, work: Callable[[], Awaitable[T]]) -> T:
        # The work runs in a task of its own, so that the answer need not wait for it to wind
        # down once given up: cancelled mid-transaction, a connection is closed, not returned
        # to the pool, and closing one to a stalled server waits for it (SQLAlchemy gives
        # asyncpg 2 seconds). The server rolls the transaction back: nothing half written.
        task = asyncio.ensure_future(work())
        try:
            async with asyncio.timeout_at(deadline):
                return await asyncio.shield(task)
        except TimeoutError as error:
            # The deadline, or a statement's own timeout on the client.
            raise DatabaseUnavailable("the database did not answer in time") from error
        except SQLAlchemyError as error:
            # Refused, gone, or locked past the lock timeout: to the person asking, all the
            # same, and the edges answering them need not know the ORM.
            raise DatabaseUnavailable(f"the database failed: {error!r}") from error
        finally:
            if not task.done():
                task.cancel()
                self._abandoned.add(task)
                task.add_done_callback(self._wound_down)

    def _wound_down(self, task: asyncio.Task[Any]) -> None:
        self._abandoned.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("abandoned database work ended: %r", task.exception())

    async def settle(self, seconds: float) -> None:
        """Wait (a while) for abandoned database work to wind down, before the engine closes."""
        if self._abandoned:
            await asyncio.wait(set(self._abandoned), timeout=seconds)

    async def perform(
        self,
        work: Callable[[UnitOfWork], Awaitable[Outcome]],
        also: Callable[[AsyncConnection], Awaitable[None]] | None = None,
        *,
        in_request: bool = True,
    ) -> Outcome:
        """Run `work` in one transaction with the messages it asks for. `also` reads what an
        edge needs to answer (which card was clicked) in the same transaction, rather than
        wait for another connection. In a request (the default) it gives up at the request's
        deadline with DatabaseUnavailable; the statement timeouts bound it otherwise."""
        if not in_request:
            return await self._perform_with_retry(work, also)
        return await self.in_request(lambda: self._perform_with_retry(work, also))

    async def _perform_with_retry(
        self,
        work: Callable[[UnitOfWork], Awaitable[Outcome]],
        also: Callable[[AsyncConnection], Awaitable[None]] | None,
    ) -> Outcome:
        try:
            return await self._perform_once(work, also=also)
        except IntegrityError:
            # Two requests raced to write the same unique row (the same form submitted twice
            # at once); running the work again sees the winner's row and answers accordingly.
            log.info("a unique write lost a race; running the work again")
            return await self._perform_once(work, also=also)
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
            # A pooled connection had gone (the database restarted). Connections are not
            # pinged before each use, which would cost every request a round trip; the pool
            # has dropped the dead ones, so run the work again. Had the commit itself landed
            # before the connection went, the work finds its own change made and answers as
            # it does to a repeated click or form.
            log.warning("the database connection was lost; running the work again")
            return await self._perform_once(work, also=also)

    async def _perform_once(
        self,
        work: Callable[[UnitOfWork], Awaitable[Outcome]],
        finish: Callable[[AsyncConnection], Awaitable[bool]] | None = None,
        also: Callable[[AsyncConnection], Awaitable[None]] | None = None,
    ) -> Outcome:
        async with self.engine.connect() as db, db.begin() as transaction:
            outcome = await work(SqlUnitOfWork(db, self.context.directory))
            if outcome.refused or (finish is not None and not await finish(db)):
                await transaction.rollback()
                return outcome
            if also is not None:
                await also(db)
            if self.follow_ups_elsewhere is None:
                await self._store_follow_ups(db, outcome)
        if self.follow_ups_elsewhere is not None:
            self.follow_ups_elsewhere(outcome)
        elif outcome.notifications or outcome.fetches or outcome.card_updates:
            self.wake_delivery()
        return outcome

    async def run_timer(self, item: outbox.Claimed, worker: str) -> None:
        """A due timer's work, committed with the timer's completion: it runs once, even
        with several instances sharing the database, and again only if it did not commit."""
        name = str(item.payload.get("timer"))
        handler = self.timers.get(name)
        if handler is None:
            raise PermanentFailure(f"no timer called {name!r} in this version")
        args = item.payload.get("args") or {}
        ctx = self.context

        async def still_ours(db: AsyncConnection) -> bool:
            return await outbox.finish(db, item, worker, ctx.clock.now())

        await self._perform_once(lambda uow: handler(ctx, uow, args), finish=still_ours)

    async def _store_follow_ups(self, db: AsyncConnection, outcome: Outcome) -> None:
        now = self.context.clock.now()
        render = self._render_once()
        rows = await self._notification_rows(db, outcome, render, now)
        for update in outcome.card_updates:
            rows.extend(await self._card_update_rows(db, update, render, now))
        rows.extend(
            outbox.timer(name=schedule.name, due=schedule.due, args=schedule.args, now=now)
            for schedule in outcome.schedules
        )
        rows.extend(
            outbox.fetch(
                platform=fetch.platform.value,
                attachment_id=fetch.attachment_id,
                url=fetch.download_url,
                now=now,
            )
            for fetch in outcome.fetches
        )
        await outbox.queue(db, rows, detached=outcome.detached)

    def _render_once(self) -> Callable[[Message, str], Mapping[str, Any] | None]:
        """A function that renders a message for a platform (None for one this bot does not
        serve): a card for several approvers is rendered once per platform, not once each."""
        rendered: dict[tuple[int, str], Mapping[str, Any]] = {}

        def render(message: Message, platform: str) -> Mapping[str, Any] | None:
            renderer = self.renderers.get(platform)
            if renderer is None:
                return None
            key = (id(message), platform)
            if key not in rendered:
                rendered[key] = renderer(message)
            return rendered[key]

        return render

    async def _notification_rows(
        self,
        db: AsyncConnection,
        outcome: Outcome,
        render: Callable[[Message, str], Mapping[str, Any] | None],
        now: datetime,
    ) -> list[outbox.Row]:
        """Each message queued, with its files, wherever its recipient can be reached; held,
        with the reason, for someone who can be reached nowhere."""
        rows: list[outbox.Row] = []
        in_teams = await self.teams_reach.reachable(
            db,
            (
                identity.external_id
                for notify in outcome.notifications
                for identity in notify.recipient.identities
                if identity.platform is Platform.TEAMS
            ),
        )
        for notify in outcome.notifications:
            queued = False
            for identity in _where_to_reach(notify.recipient, self.renderers, self.live, in_teams):
                platform = identity.platform.value
                payload = render(notify.message, platform)
                if payload is None:
                    continue
                rows.append(
                    outbox.message(
                        platform=platform,
                        recipient_key=notify.recipient.key,
                        address=identity.external_id,
                        card_key=notify.card_key,
                        payload=payload,
                        now=now,
                        revision=notify.revision,
                    )
                )
                rows.extend(
                    outbox.share(
                        platform=platform,
                        recipient_key=notify.recipient.key,
                        address=identity.external_id,
                        card_key=notify.card_key,
                        attachment_id=attachment_id,
                        now=now,
                    )
                    for attachment_id in notify.attachments
                )
                queued = True
            if not queued:
                reason = "no identity on a platform this bot serves"
                log.warning("a message for %s is held: %s", notify.recipient.key, reason)
                rows.append(
                    outbox.held(
                        recipient_key=notify.recipient.key,
                        card_key=notify.card_key,
                        reason=reason,
                        now=now,
                    )
                )
        return rows

    async def _card_update_rows(
        self,
        db: AsyncConnection,
        update: CardUpdate,
        render: Callable[[Message, str], Mapping[str, Any] | None],
        now: datetime,
    ) -> list[outbox.Row]:
        """Every copy of a card, on each platform this bot serves, brought up to date: one not
        yet sent is rewritten, one sent is replaced."""
        rows: list[outbox.Row] = []
        copies = await outbox.card_copies(db, update.card_key)
        for platform in sorted({copy.platform for copy in copies}):
            payload = render(update.message, platform)
            if payload is None:
                continue
            here = [copy for copy in copies if copy.platform == platform]
            shown_to = update.visible_to
            withdrawn = (
                render(update.withdrawn, platform)
                if shown_to is not None and update.withdrawn is not None
                else None
            )
            if shown_to is None or withdrawn is None:
                await outbox.refresh_unsent(db, update.card_key, platform, payload, update.revision)
                rows.extend(
                    outbox.card_update(copy, update.card_key, payload, update.revision, now)
                    for copy in here
                )
                continue
            # Copies for people who may no longer see the card: one not yet sent (and the
            # files beneath it) never goes; one already sent now says so.
            shown = [c for c in here if c.recipient_key in shown_to]
            hidden = [c for c in here if c.recipient_key not in shown_to]
            await outbox.refresh_unsent(
                db,
                update.card_key,
                platform,
                payload,
                update.revision,
                recipients=[c.recipient_key for c in shown],
            )
            await outbox.withdraw_unsent(db, update.card_key, [c.recipient_key for c in hidden])
            rows.extend(
                outbox.card_update(copy, update.card_key, payload, update.revision, now)
                for copy in shown
            )
            rows.extend(
                outbox.card_update(copy, update.card_key, withdrawn, update.revision, now)
                for copy in hidden
            )
        return rows


def _where_to_reach(
    person: Person, served: Mapping[str, Renderer], live: Collection[str], in_teams: set[str]
) -> list[Identity]:
    """A person is told where they have the bot: on Slack, if it is on; in Teams, once they
    have added the app there. Someone reachable nowhere yet gets the message queued on each
    platform that is on, to go wherever they can first be reached (or, with none on, on every
    platform they have, to wait for one)."""
    identities = [i for i in person.identities if i.platform.value in served]
    ready = [
        i
        for i in identities
        if i.platform.value in live
        and (i.platform is not Platform.TEAMS or i.external_id in in_teams)
    ]
    live_ones = [i for i in identities if i.platform.value in live]
    return ready or live_ones or identities

"""Delivers what the outbox holds, at least once, whatever the platforms do meanwhile.

Temporary failures (HTTP 5xx, 429, network errors) are retried with exponential back-off,
honouring Retry-After; nothing is dropped. A permanent refusal is kept as `failed`, where
`socialdesk outbox` shows it and `socialdesk outbox --retry` sends it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, TypeVar

from bot.core.clock import Clock
from bot.core.posts import MAX_ATTACHMENT_BYTES
from bot.store.outbox import FETCH, MESSAGE, SHARE, TIMER, UPDATE, Claimed, Done, Outbox

log = logging.getLogger(__name__)
T = TypeVar("T")


class TemporaryFailure(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """An HTTP Retry-After header, in seconds or as an HTTP date (RFC 9110, 10.2.3)."""
    text = (value or "").strip()
    if not text:
        return None
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


class NotReady(TemporaryFailure):
    """What the item needs is not there yet (a file still being fetched, a card not yet sent)."""


class Unreachable(NotReady):
    """The person cannot be reached on this platform yet (they have not added the bot, or
    blocked it): the item waits, and the operator is told once."""


class PermanentFailure(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Sent:
    channel: str
    message_id: str


class Transport(Protocol):
    """One platform's way of sending a rendered message to a person and fetching a file."""

    async def send_message(self, address: str, payload: Mapping[str, Any]) -> Sent: ...

    async def update_message(
        self, channel: str, message_id: str, payload: Mapping[str, Any]
    ) -> None: ...

    async def download(self, url: str, max_bytes: int) -> bytes: ...

    async def share_file(
        self,
        address: str,
        channel: str | None,
        thread: str | None,
        name: str,
        mimetype: str,
        content: bytes,
    ) -> None: ...


# While the outbox cannot be read, the worker tries again after its retry back-off, but never
# waits longer than this: it resumes soon after the database answers again.
OUTBOX_RETRY_CAP_SECONDS = 30.0

# Runs a due timer: its work and the item's completion commit together (see Runtime).
TimerRunner = Callable[[Claimed, str], Awaitable[None]]


@dataclass(frozen=True)
class Backoff:
    base: float = 2.0
    cap: float = 300.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        exponential = min(self.cap, self.base * 2 ** max(0, attempt - 1))
        exponential *= random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not security
        return float(max(exponential, retry_after or 0.0))


class DeliveryWorker:
    """Claims due outbox items and delivers them, a few at a time.

    It claims only as many items as it has free slots, and gives each at most `deadline` of
    platform time, well inside the lease: an item is finished or given back before another
    instance may claim it, so no message goes out twice because one instance was slow.
    """

    def __init__(
        self,
        outbox: Outbox,
        transports: Mapping[str, Transport],
        clock: Clock,
        backoff: Backoff,
        *,
        lease: timedelta = timedelta(minutes=5),
        deadline: timedelta = timedelta(minutes=3),
        concurrency: int = 8,
        idle_poll: float = 5.0,
        timers: TimerRunner | None = None,
    ) -> None:
        if deadline >= lease:
            raise ValueError("an item's deadline must end before its lease does")
        self.worker_id = f"worker-{uuid.uuid4().hex[:12]}"
        self._outbox = outbox
        self._transports = transports
        self._clock = clock
        self._backoff = backoff
        self._lease = lease
        self._deadline = deadline.total_seconds()
        self._concurrency = concurrency
        self._idle_poll = idle_poll
        self._timers = timers
        self._wake = asyncio.Event()
        self._stopping = False
        # Finished items, recorded with the next claim in one transaction.
        self._finished: list[Done] = []
        # Items given back (to retry later, or failed for good) while the database did not
        # answer: recorded once it does, rather than left claimed until their lease runs out.
        self._unrecorded: list[Callable[[], Awaitable[None]]] = []
        # Cycles in a row the outbox could not be read: the worker waits longer after each.
        self._outbox_failures = 0

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """Finish the items in hand, then return from run_forever. Cancelling mid-item instead
        would leave a database connection half-closed; the item's lease would cover it, but a
        clean stop loses no time."""
        self._stopping = True
        self._wake.set()

    async def run_forever(self) -> None:
        in_flight: set[asyncio.Task[None]] = set()
        try:
            while not self._stopping:
                # Cleared before looking at the outbox, so a wake-up (new work, or stop())
                # that arrives meanwhile is kept for the sleep below.
                self._wake.clear()
                free = self._concurrency - len(in_flight)
                claimed: list[Claimed] = []
                if free > 0 or self._finished or self._unrecorded:
                    try:
                        await self._record_given_back()
                        claimed = await self._cycle(max(free, 0))
                    except Exception as error:
                        # The database may be unreachable for a while; the outbox keeps
                        # everything, and the worker comes back to it by itself.
                        await self._outbox_failed(error)
                        continue
                    if self._outbox_failures:
                        log.warning("delivery: the outbox answers again; delivering")
                        self._outbox_failures = 0
                for item in claimed:
                    task = asyncio.create_task(self._handle(item))
                    in_flight.add(task)
                    task.add_done_callback(self._slot_freed(in_flight))
                if len(in_flight) >= self._concurrency:
                    await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                elif not claimed:
                    # While items are in hand, each one that finishes wakes the loop; only an
                    # idle worker asks the outbox when its next item falls due.
                    await self._sleep_until_due(ask_outbox=not in_flight)
        finally:
            if in_flight:
                await asyncio.gather(*in_flight, return_exceptions=True)
            if self._finished:
                try:
                    await self._cycle(0)
                except Exception:
                    # Their leases run out and they are sent again: at least once, as always.
                    log.exception("delivery: could not record the last items sent")

    async def _outbox_failed(self, error: Exception) -> None:
        self._outbox_failures += 1
        delay = min(self._backoff.delay(self._outbox_failures, None), OUTBOX_RETRY_CAP_SECONDS)
        if self._outbox_failures == 1:
            log.warning(
                "delivery: could not read the outbox (%r); trying again in %.1fs, and less "
                "often while it fails",
                error,
                delay,
            )
        else:
            log.info("delivery: the outbox still does not answer (%r)", error)
        # No new work can be stored meanwhile; an item in hand finishing, or stop(), ends
        # the wait early.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=delay)

    async def _record_given_back(self) -> None:
        while self._unrecorded:
            await self._unrecorded[0]()
            self._unrecorded.pop(0)

    async def _give_back(self, record: Callable[[], Awaitable[None]]) -> None:
        try:
            await record()
        except Exception as error:
            log.warning("delivery: could not record an item's outcome yet (%r)", error)
            self._unrecorded.append(record)
            self._wake.set()

    def _slot_freed(
        self, in_flight: set[asyncio.Task[None]]
    ) -> Callable[[asyncio.Task[None]], None]:
        def freed(task: asyncio.Task[None]) -> None:
            in_flight.discard(task)
            # A finished item may have been given a near retry time; look again.
            self._wake.set()

        return freed

    async def _sleep_until_due(self, ask_outbox: bool) -> None:
        if self._wake.is_set():
            return
        timeout = self._idle_poll
        due = None
        if ask_outbox:
            with contextlib.suppress(Exception):
                due = await self._outbox.next_due()
        if due is not None:
            timeout = min(timeout, max(0.0, (due - self._clock.now()).total_seconds()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=timeout)

    async def _cycle(self, limit: int) -> list[Claimed]:
        done, self._finished = self._finished, []
        try:
            claimed, late = await self._outbox.cycle(
                self.worker_id, self._clock.now(), self._lease, done, limit
            )
        except BaseException:
            self._finished = done + self._finished
            raise
        for finished in late:
            log.warning(
                "delivery: %s %s was done after its lease ran out",
                finished.item.kind,
                finished.item.id,
            )
        return claimed

    async def _handle(self, item: Claimed) -> None:
        try:
            if item.kind == TIMER:
                if self._timers is None:
                    raise TemporaryFailure("timers do not run in this instance", self._backoff.cap)
                await self._timers(item, self.worker_id)
                return
            transport = self._transports.get(item.platform or "")
            if transport is None:
                # The platform is off in this instance; leave the item for one that has it.
                raise TemporaryFailure(
                    f"no {item.platform} connection in this instance", self._backoff.cap
                )
            if item.kind == MESSAGE:
                await self._deliver_message(transport, item)
            elif item.kind == UPDATE:
                await self._update_card(transport, item)
            elif item.kind == FETCH:
                await self._fetch(transport, item)
            elif item.kind == SHARE:
                await self._share(transport, item)
            else:
                raise PermanentFailure(f"unknown outbox kind {item.kind!r}")
        except PermanentFailure as failure:
            log.error(
                "delivery: %s %s refused for good (%s); see `socialdesk outbox`",
                item.kind,
                item.id,
                failure,
            )
            now, refusal = self._clock.now(), str(failure)

            async def record_failure() -> None:
                await self._outbox.mark_failed(item, self.worker_id, now, refusal)
                if item.kind == FETCH:
                    await self._outbox.mark_attachment_unavailable(
                        int(item.payload["attachment_id"]), now
                    )

            await self._give_back(record_failure)
        except Exception as error:
            # Temporary failures and faults of ours alike: keep the item, try again later.
            retry_after = error.retry_after if isinstance(error, TemporaryFailure) else None
            delay = self._backoff.delay(item.attempts + 1, retry_after)
            if isinstance(error, Unreachable) and item.attempts == 0:
                log.warning(
                    "delivery: %s %s for %s waits: %s; see `socialdesk outbox`",
                    item.kind,
                    item.id,
                    item.recipient_key,
                    error,
                )
            elif isinstance(error, NotReady):
                log.info("delivery: %s %s waits (%s)", item.kind, item.id, error)
            elif isinstance(error, TemporaryFailure):
                log.warning(
                    "delivery: %s %s failed (%s); attempt %d, retrying in %.1fs",
                    item.kind,
                    item.id,
                    error,
                    item.attempts + 1,
                    delay,
                )
            else:
                log.exception("delivery: %s %s raised; it stays queued", item.kind, item.id)
            reason = str(error) if isinstance(error, TemporaryFailure) else repr(error)
            when = self._clock.now() + timedelta(seconds=delay)
            await self._give_back(
                lambda: self._outbox.retry_later(item, self.worker_id, when, reason)
            )

    async def _on_platform(self, work: Awaitable[T]) -> T:
        """Platform calls get a deadline inside the lease (see the class docstring)."""
        try:
            async with asyncio.timeout(self._deadline):
                return await work
        except TimeoutError as error:
            raise TemporaryFailure(f"no answer within {self._deadline:.0f}s") from error

    async def _done(self, item: Claimed, channel: str | None = None, ts: str | None = None) -> None:
        # Recorded with the next claim, well inside the lease; the run loop wakes for it.
        self._finished.append(Done(item, channel, ts))
        self._wake.set()

    async def _deliver_message(self, transport: Transport, item: Claimed) -> None:
        sent = await self._on_platform(transport.send_message(item.address or "", item.payload))
        await self._done(item, sent.channel, sent.message_id)

    async def _update_card(self, transport: Transport, item: Claimed) -> None:
        card = item.card
        if card is None:
            # Not delivered when the update was claimed; it may have been since.
            card, in_hand = await self._outbox.card_now(item)
            if card is None and in_hand:
                raise NotReady("the card is being sent; it is updated once it has been")
        if card is None:
            # Never sent: the card waiting in the outbox was given this content already, or
            # it failed and will carry it when sent again.
            self._finished.append(Done(item, applied=False))
            self._wake.set()
            return
        if card.revision < (item.revision or 0):
            await self._on_platform(
                transport.update_message(card.channel, card.message_id, item.payload)
            )
        await self._done(item)

    async def _fetch(self, transport: Transport, item: Claimed) -> None:
        content = await self._on_platform(
            transport.download(str(item.payload["url"]), MAX_ATTACHMENT_BYTES)
        )
        await self._outbox.keep_attachment(
            int(item.payload["attachment_id"]), content, self._clock.now()
        )
        await self._done(item)

    async def _share(self, transport: Transport, item: Claimed) -> None:
        target = await self._outbox.share_target(item)
        if target.unavailable:
            raise PermanentFailure(target.unavailable)
        if target.file is None:
            raise NotReady("the attachment is still being fetched")
        if item.card_key and target.thread is None:
            raise NotReady("the card it belongs beneath is not sent yet")
        await self._on_platform(
            transport.share_file(
                item.address or "",
                target.channel,
                target.thread,
                target.file.name,
                target.file.mimetype,
                target.file.content,
            )
        )
        await self._done(item)

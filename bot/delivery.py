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
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from bot.core.clock import Clock
from bot.core.posts import MAX_ATTACHMENT_BYTES
from bot.store.outbox import FETCH, MESSAGE, SHARE, Claimed, Outbox

log = logging.getLogger(__name__)


class TemporaryFailure(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class NotReady(TemporaryFailure):
    """What the item needs is not there yet (a file still being fetched, a card not yet sent)."""


class PermanentFailure(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Sent:
    channel: str
    message_id: str


class Transport(Protocol):
    """One platform's way of sending a rendered message to a person and fetching a file."""

    async def send_message(self, address: str, payload: Mapping[str, Any]) -> Sent: ...

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


@dataclass(frozen=True)
class Backoff:
    base: float = 2.0
    cap: float = 300.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        exponential = min(self.cap, self.base * 2 ** max(0, attempt - 1))
        exponential *= random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not security
        return float(max(exponential, retry_after or 0.0))


class DeliveryWorker:
    def __init__(
        self,
        outbox: Outbox,
        transports: Mapping[str, Transport],
        clock: Clock,
        backoff: Backoff,
        *,
        lease: timedelta = timedelta(minutes=2),
        batch: int = 20,
        concurrency: int = 4,
        idle_poll: float = 5.0,
    ) -> None:
        self.worker_id = f"worker-{uuid.uuid4().hex[:12]}"
        self._outbox = outbox
        self._transports = transports
        self._clock = clock
        self._backoff = backoff
        self._lease = lease
        self._batch = batch
        self._limit = asyncio.Semaphore(concurrency)
        self._idle_poll = idle_poll
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """Finish the items in hand, then return from run_forever. Cancelling mid-item instead
        would leave a database connection half-closed; the item's lease would cover it, but a
        clean stop loses no time."""
        self._stopping = True
        self._wake.set()

    async def run_forever(self) -> None:
        while not self._stopping:
            try:
                handled = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The database may be briefly unreachable; the outbox keeps everything.
                log.exception("delivery: could not read the outbox; trying again shortly")
                handled = 0
            if handled or self._stopping:
                continue
            await self._sleep_until_due()

    async def _sleep_until_due(self) -> None:
        # Cleared before looking at the outbox, so a wake-up that arrives meanwhile is kept.
        self._wake.clear()
        timeout = self._idle_poll
        try:
            due = await self._outbox.next_due()
        except Exception:
            due = None
        if due is not None:
            timeout = min(timeout, max(0.0, (due - self._clock.now()).total_seconds()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=timeout)

    async def run_once(self) -> int:
        claimed = await self._outbox.claim(
            self.worker_id, self._clock.now(), self._lease, self._batch
        )
        if claimed:
            await asyncio.gather(*(self._handle(item) for item in claimed))
        return len(claimed)

    async def _handle(self, item: Claimed) -> None:
        async with self._limit:
            transport = self._transports.get(item.platform or "")
            if transport is None:
                # The platform is switched off in this instance; leave it for one that has it.
                await self._outbox.retry_later(
                    item,
                    self.worker_id,
                    self._clock.now() + timedelta(seconds=self._backoff.cap),
                    f"no {item.platform} connection in this instance",
                )
                return
            try:
                if item.kind == MESSAGE:
                    await self._deliver_message(transport, item)
                elif item.kind == FETCH:
                    await self._fetch(transport, item)
                elif item.kind == SHARE:
                    await self._share(transport, item)
                else:
                    raise PermanentFailure(f"unknown outbox kind {item.kind!r}")
            except NotReady as waiting:
                delay = self._backoff.delay(item.attempts + 1, None)
                log.info("delivery: %s %s waits (%s)", item.kind, item.id, waiting)
                await self._outbox.retry_later(
                    item, self.worker_id, self._clock.now() + timedelta(seconds=delay), str(waiting)
                )
            except TemporaryFailure as failure:
                delay = self._backoff.delay(item.attempts + 1, failure.retry_after)
                log.warning(
                    "delivery: %s %s failed (%s); attempt %d, retrying in %.1fs",
                    item.kind,
                    item.id,
                    failure,
                    item.attempts + 1,
                    delay,
                )
                await self._outbox.retry_later(
                    item, self.worker_id, self._clock.now() + timedelta(seconds=delay), str(failure)
                )
            except PermanentFailure as failure:
                log.error(
                    "delivery: %s %s refused for good (%s); see `socialdesk outbox`",
                    item.kind,
                    item.id,
                    failure,
                )
                await self._outbox.mark_failed(
                    item, self.worker_id, self._clock.now(), str(failure)
                )
                if item.kind == FETCH:
                    await self._outbox.mark_attachment_unavailable(
                        int(item.payload["attachment_id"]), self._clock.now()
                    )
            except Exception as error:
                # A fault of ours must not lose the item either: keep it and try again later.
                log.exception("delivery: %s %s raised; it stays queued", item.kind, item.id)
                delay = self._backoff.delay(item.attempts + 1, None)
                await self._outbox.retry_later(
                    item, self.worker_id, self._clock.now() + timedelta(seconds=delay), repr(error)
                )

    async def _deliver_message(self, transport: Transport, item: Claimed) -> None:
        sent = await transport.send_message(item.address or "", item.payload)
        await self._outbox.mark_sent(
            item, self.worker_id, self._clock.now(), sent.channel, sent.message_id
        )

    async def _fetch(self, transport: Transport, item: Claimed) -> None:
        content = await transport.download(str(item.payload["url"]), MAX_ATTACHMENT_BYTES)
        await self._outbox.keep_attachment(
            int(item.payload["attachment_id"]), content, self._clock.now()
        )
        await self._outbox.mark_sent(item, self.worker_id, self._clock.now())

    async def _share(self, transport: Transport, item: Claimed) -> None:
        target = await self._outbox.share_target(item)
        if target.unavailable:
            raise PermanentFailure(target.unavailable)
        if target.file is None:
            raise NotReady("the attachment is still being fetched")
        if item.card_key and target.thread is None:
            raise NotReady("the card it belongs beneath is not sent yet")
        await transport.share_file(
            item.address or "",
            target.channel,
            target.thread,
            target.file.name,
            target.file.mimetype,
            target.file.content,
        )
        await self._outbox.mark_sent(item, self.worker_id, self._clock.now())

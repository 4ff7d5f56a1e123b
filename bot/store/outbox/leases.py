"""Items going out: claimed by one delivery worker at a time through a lease, so several
instances can share a database, then finished, retried or failed; and the kept files they
deliver."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.store.models import ATTACHMENTS, CARDS, OUTBOX, detached_ids, ordinary_ids
from bot.store.outbox.items import FAILED, MESSAGE, PENDING, SENT, SHARE, UPDATE, Row


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    kind: str
    platform: str | None
    recipient_key: str | None
    address: str | None
    card_key: str | None
    payload: Mapping[str, Any]
    attempts: int
    revision: int | None = None
    # For an update or a share: where the card it concerns was delivered, if it was.
    card: CardPlace | None = None


@dataclass(frozen=True, slots=True)
class CardPlace:
    channel: str
    message_id: str
    revision: int


@dataclass(frozen=True, slots=True)
class Done:
    """An item this worker finished; for a card, where it was delivered. An update with
    nothing to update (its card never went out) is done without `applied`."""

    item: Claimed
    channel: str | None = None
    message_id: str | None = None
    applied: bool = True


# An update for a copy of a card whose previous update is in some worker's hands waits this
# long before it is claimed again: long enough for the one in hand to land.
UPDATE_TURN_WAIT = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class OutboxLine:
    """An item as an operator sees it: no message content."""

    id: int
    kind: str
    status: str
    platform: str | None
    recipient_key: str | None
    card_key: str | None
    attempts: int
    next_attempt_at: datetime
    last_error: str | None


async def finish(db: AsyncConnection, item: Claimed, worker: str, now: datetime) -> bool:
    """Mark an item done inside the caller's transaction, if this worker still holds it: a
    timer's work and its completion commit together, so it runs once."""
    done = await db.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id == item.id, OUTBOX.c.claimed_by == worker)
        .values(**_FINISHED, done_at=now, attempts=OUTBOX.c.attempts + 1)
    )
    return int(done.rowcount) == 1


# What was sent lives on in the draft itself, which retention can purge; the queue keeps no
# copy of it.
_FINISHED: dict[str, Any] = {
    "status": SENT,
    "payload": None,
    "claimed_until": None,
    "last_error": None,
}
_SHOWS_REVISION = (
    update(CARDS)
    .where(
        CARDS.c.card_key == bindparam("key"),
        CARDS.c.platform == bindparam("on"),
        CARDS.c.recipient_key == bindparam("to"),
        CARDS.c.revision < bindparam("shows"),
    )
    .values(revision=bindparam("shows"))
)


def _card_row(done: Done, now: datetime) -> Row:
    return {
        "card_key": done.item.card_key,
        "platform": done.item.platform,
        "recipient_key": done.item.recipient_key,
        "channel": done.channel,
        "message_id": done.message_id,
        "created_at": now,
        "revision": done.item.revision or 1,
    }


def _insert_ignoring_duplicates(db: AsyncConnection) -> Any:
    if db.dialect.name == "postgresql":
        return postgresql_insert(CARDS)
    return sqlite_insert(CARDS)


@dataclass(frozen=True, slots=True)
class KeptFile:
    name: str
    mimetype: str
    content: bytes


@dataclass(frozen=True, slots=True)
class ShareTarget:
    """Where a share goes: the card's conversation and message, or nowhere yet."""

    file: KeptFile | None
    unavailable: str | None
    channel: str | None
    thread: str | None


class Outbox:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def cycle(
        self,
        worker: str,
        now: datetime,
        lease: timedelta,
        done: Sequence[Done],
        limit: int,
    ) -> tuple[list[Claimed], list[Done]]:
        """Record what this worker finished and claim up to `limit` more, in one transaction:
        a delivery then costs a share of one transaction instead of two of its own. Returns
        the items claimed, and those finished too late (their lease had run out, so another
        worker may have them now)."""
        async with self._engine.begin() as db:
            late = await self._record_done(db, worker, now, done)
            claimed = await self._claim(db, worker, now, lease, limit) if limit > 0 else []
        return claimed, late

    async def _record_done(
        self, db: AsyncConnection, worker: str, now: datetime, done: Sequence[Done]
    ) -> list[Done]:
        if not done:
            return []
        finished = set(
            await db.scalars(
                update(OUTBOX)
                .where(OUTBOX.c.id.in_([d.item.id for d in done]), OUTBOX.c.claimed_by == worker)
                .values(**_FINISHED, done_at=now, attempts=OUTBOX.c.attempts + 1)
                .returning(OUTBOX.c.id)
            )
        )
        delivered = [
            d
            for d in done
            if d.item.id in finished
            and d.item.kind == MESSAGE
            and d.item.card_key
            and d.channel
            and d.message_id
        ]
        # Where an anonymous report's cards went is kept outside the shared sequence too.
        detached = [d for d in delivered if d.item.id < 0]
        ordinary = [_card_row(d, now) for d in delivered if d.item.id >= 0]
        chosen = await ordinary_ids(db, CARDS, len(ordinary)) if ordinary else None
        if chosen is not None:
            ordinary = [
                {**row, "id": card_id} for row, card_id in zip(ordinary, chosen, strict=True)
            ]
        apart = [
            {**_card_row(d, now), "id": card_id}
            for d, card_id in zip(detached, detached_ids(len(detached)), strict=True)
        ]
        for rows in (ordinary, apart):
            if rows:
                # A copy sent twice (a lease that ran out) is recorded once.
                await db.execute(_insert_ignoring_duplicates(db).on_conflict_do_nothing(), rows)
        updated = [
            {
                "key": d.item.card_key,
                "on": d.item.platform,
                "to": d.item.recipient_key,
                "shows": d.item.revision,
            }
            for d in done
            if d.item.id in finished and d.item.kind == UPDATE and d.item.revision and d.applied
        ]
        if updated:
            await db.execute(_SHOWS_REVISION, updated)
        return [d for d in done if d.item.id not in finished]

    async def _claim(
        self, db: AsyncConnection, worker: str, now: datetime, lease: timedelta, limit: int
    ) -> list[Claimed]:
        claimable = (
            OUTBOX.c.status == PENDING,
            OUTBOX.c.next_attempt_at <= now,
            or_(OUTBOX.c.claimed_until.is_(None), OUTBOX.c.claimed_until < now),
        )
        # Two statements, not N+1. The SELECT locks the rows it picks, and SKIP LOCKED lets
        # workers on PostgreSQL pick different rows at the same moment (SQLite serialises
        # whole transactions instead, and ignores it). Not one statement: PostgreSQL may
        # run an `IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)` subquery once per row
        # and so take far more than n.
        chosen = list(
            await db.scalars(
                select(OUTBOX.c.id)
                .where(*claimable)
                .order_by(OUTBOX.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        if not chosen:
            return []
        taken = await db.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id.in_(chosen), *claimable)
            .values(claimed_by=worker, claimed_until=now + lease)
            .returning(
                OUTBOX.c.id,
                OUTBOX.c.kind,
                OUTBOX.c.platform,
                OUTBOX.c.recipient_key,
                OUTBOX.c.address,
                OUTBOX.c.card_key,
                OUTBOX.c.payload,
                OUTBOX.c.attempts,
                OUTBOX.c.revision,
            )
        )
        claimed = [
            Claimed(item_id, kind, platform, recipient, address, card_key, payload or {}, n, r)
            for item_id, kind, platform, recipient, address, card_key, payload, n, r in taken
        ]
        if any(c.kind == UPDATE for c in claimed):
            claimed = await self._one_update_per_copy(db, now, claimed)
        # An update or a share goes where its card went: read those places now, in the same
        # transaction, rather than with a query of its own later.
        wanted = {c.card_key for c in claimed if c.kind in (UPDATE, SHARE) and c.card_key}
        if wanted:
            places = {
                (key, platform, recipient): CardPlace(channel, message_id, revision)
                for key, platform, recipient, channel, message_id, revision in await db.execute(
                    select(
                        CARDS.c.card_key,
                        CARDS.c.platform,
                        CARDS.c.recipient_key,
                        CARDS.c.channel,
                        CARDS.c.message_id,
                        CARDS.c.revision,
                    ).where(CARDS.c.card_key.in_(wanted))
                )
            }
            claimed = [
                replace(c, card=places.get((c.card_key, c.platform, c.recipient_key)))
                if c.card_key in wanted
                else c
                for c in claimed
            ]
        return sorted(claimed, key=lambda c: c.id)

    async def _one_update_per_copy(
        self, db: AsyncConnection, now: datetime, claimed: list[Claimed]
    ) -> list[Claimed]:
        """Updates to one copy of a card go out one at a time, newest only: two sent at once
        could land in either order and leave the older showing. Of those claimed together
        the newest is kept and the rest are done with; one for a copy whose update is in
        another worker's hands waits its turn, or is done with if that one is newer."""

        def copy_of(item: Claimed) -> tuple[str | None, str | None, str | None]:
            return (item.card_key, item.platform, item.recipient_key)

        batch = {c.id for c in claimed}
        newest: dict[tuple[str | None, str | None, str | None], Claimed] = {}
        for item in claimed:
            if item.kind == UPDATE:
                kept = newest.get(copy_of(item))
                if kept is None or (item.revision or 0) > (kept.revision or 0):
                    newest[copy_of(item)] = item
        elsewhere: dict[tuple[str | None, str | None, str | None], int] = {}
        for key, platform, recipient, revision in await db.execute(
            select(
                OUTBOX.c.card_key, OUTBOX.c.platform, OUTBOX.c.recipient_key, OUTBOX.c.revision
            ).where(
                OUTBOX.c.kind == UPDATE,
                OUTBOX.c.status == PENDING,
                OUTBOX.c.claimed_until > now,
                OUTBOX.c.card_key.in_(sorted({k for k, _, _ in newest if k})),
                OUTBOX.c.id.not_in(sorted(batch)),
            )
        ):
            copy = (key, platform, recipient)
            elsewhere[copy] = max(elsewhere.get(copy, 0), revision or 0)
        superseded: list[int] = []
        later: list[int] = []
        keep: list[Claimed] = []
        for item in claimed:
            if item.kind != UPDATE:
                keep.append(item)
            elif newest[copy_of(item)] is not item:
                superseded.append(item.id)
            elif copy_of(item) not in elsewhere:
                keep.append(item)
            elif elsewhere[copy_of(item)] >= (item.revision or 0):
                superseded.append(item.id)
            else:
                later.append(item.id)
        if superseded:
            await db.execute(
                update(OUTBOX)
                .where(OUTBOX.c.id.in_(superseded))
                .values({**_FINISHED, "done_at": now, "last_error": "superseded by a newer update"})
            )
        if later:
            await db.execute(
                update(OUTBOX)
                .where(OUTBOX.c.id.in_(later))
                .values(
                    claimed_by=None,
                    claimed_until=None,
                    next_attempt_at=now + UPDATE_TURN_WAIT,
                )
            )
        return keep

    async def card_now(self, item: Claimed) -> tuple[CardPlace | None, bool]:
        """Where the card this update is for was delivered, read afresh, and whether some
        worker is sending it right now (it may go out stale, and is updated once it has).
        Read together, so that a card recorded meanwhile is seen in one place or the other."""
        async with self._engine.connect() as db:
            place = (
                await db.execute(
                    select(CARDS.c.channel, CARDS.c.message_id, CARDS.c.revision).where(
                        CARDS.c.card_key == item.card_key,
                        CARDS.c.platform == item.platform,
                        CARDS.c.recipient_key == item.recipient_key,
                    )
                )
            ).one_or_none()
            if place is not None:
                return CardPlace(place[0], place[1], place[2]), False
            in_hand = await db.scalar(
                select(func.count())
                .select_from(OUTBOX)
                .where(
                    OUTBOX.c.kind == MESSAGE,
                    OUTBOX.c.card_key == item.card_key,
                    OUTBOX.c.platform == item.platform,
                    OUTBOX.c.recipient_key == item.recipient_key,
                    OUTBOX.c.status == PENDING,
                    OUTBOX.c.claimed_until.is_not(None),
                )
            )
            return None, bool(in_hand)

    async def retry_later(self, item: Claimed, worker: str, when: datetime, error: str) -> None:
        async with self._engine.begin() as db:
            await db.execute(
                update(OUTBOX)
                .where(OUTBOX.c.id == item.id, OUTBOX.c.claimed_by == worker)
                .values(
                    attempts=OUTBOX.c.attempts + 1,
                    next_attempt_at=when,
                    claimed_until=None,
                    last_error=error[:1000],
                )
            )

    async def mark_failed(self, item: Claimed, worker: str, now: datetime, error: str) -> None:
        async with self._engine.begin() as db:
            await db.execute(
                update(OUTBOX)
                .where(OUTBOX.c.id == item.id, OUTBOX.c.claimed_by == worker)
                .values(
                    status=FAILED,
                    attempts=OUTBOX.c.attempts + 1,
                    done_at=now,
                    claimed_until=None,
                    last_error=error[:1000],
                )
            )

    async def requeue_failed(self, now: datetime) -> int:
        async with self._engine.begin() as db:
            result = await db.execute(
                update(OUTBOX)
                .where(OUTBOX.c.status == FAILED)
                .values(status=PENDING, next_attempt_at=now, done_at=None)
            )
            # Their fetches are queued again too; until one succeeds, shares wait for it.
            await db.execute(
                update(ATTACHMENTS)
                .where(ATTACHMENTS.c.status == "failed", ATTACHMENTS.c.content.is_(None))
                .values(status="pending")
            )
            return int(result.rowcount)

    async def keep_attachment(self, attachment_id: int, content: bytes, now: datetime) -> None:
        async with self._engine.begin() as db:
            await db.execute(
                update(ATTACHMENTS)
                .where(ATTACHMENTS.c.id == attachment_id)
                .values(
                    content=content,
                    size=len(content),
                    sha256=hashlib.sha256(content).hexdigest(),
                    status="kept",
                    fetched_at=now,
                )
            )

    async def mark_attachment_unavailable(self, attachment_id: int, now: datetime) -> None:
        async with self._engine.begin() as db:
            await db.execute(
                update(ATTACHMENTS)
                .where(ATTACHMENTS.c.id == attachment_id, ATTACHMENTS.c.status == "pending")
                .values(status="failed", fetched_at=now)
            )

    async def share_target(self, item: Claimed) -> ShareTarget:
        async with self._engine.connect() as db:
            attachment = (
                await db.execute(
                    select(
                        ATTACHMENTS.c.status,
                        ATTACHMENTS.c.name,
                        ATTACHMENTS.c.mimetype,
                        ATTACHMENTS.c.content,
                    ).where(ATTACHMENTS.c.id == int(item.payload["attachment_id"]))
                )
            ).one_or_none()
            # Where the card went was read with the claim.
            card = item.card
            if attachment is None or attachment.status in ("failed", "purged"):
                return ShareTarget(None, "the attachment is not held", None, None)
            if item.card_key and card is None and await self._card_failed(db, item):
                return ShareTarget(
                    None, "the card it belongs beneath was not delivered", None, None
                )
            kept = (
                KeptFile(attachment.name, attachment.mimetype, attachment.content)
                if attachment.status == "kept" and attachment.content is not None
                else None
            )
            return ShareTarget(
                kept,
                None,
                card.channel if card else None,
                card.message_id if card else None,
            )

    @staticmethod
    async def _card_failed(db: AsyncConnection, item: Claimed) -> bool:
        status = await db.scalar(
            select(OUTBOX.c.status).where(
                OUTBOX.c.kind == MESSAGE,
                OUTBOX.c.card_key == item.card_key,
                OUTBOX.c.platform == item.platform,
                OUTBOX.c.recipient_key == item.recipient_key,
            )
        )
        return status == FAILED

    async def next_due(self) -> datetime | None:
        """When the next item can be claimed: an item in someone's hands waits for its lease."""
        free_at = case(
            (OUTBOX.c.claimed_until > OUTBOX.c.next_attempt_at, OUTBOX.c.claimed_until),
            else_=OUTBOX.c.next_attempt_at,
        )
        async with self._engine.connect() as db:
            due: datetime | None = await db.scalar(
                select(func.min(free_at)).where(OUTBOX.c.status == PENDING)
            )
            return due

    async def lines(self, statuses: Sequence[str]) -> list[OutboxLine]:
        async with self._engine.connect() as db:
            rows = await db.execute(
                select(OUTBOX).where(OUTBOX.c.status.in_(statuses)).order_by(OUTBOX.c.id)
            )
            return [
                OutboxLine(
                    r.id,
                    r.kind,
                    r.status,
                    r.platform,
                    r.recipient_key,
                    r.card_key,
                    r.attempts,
                    r.next_attempt_at,
                    r.last_error,
                )
                for r in rows
            ]

"""The outbox: messages and fetches stored with the change that caused them, then claimed
by one delivery worker at a time through a lease, so several instances can share a database."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.store.models import ATTACHMENTS, CARDS, OUTBOX

MESSAGE = "message"
UPDATE = "update"
FETCH = "fetch"
SHARE = "share"
TIMER = "timer"

PENDING = "pending"
SENT = "sent"
HELD = "held"
FAILED = "failed"


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


# Every insert names the same columns, so that all of them share one compiled statement.
_OPTIONAL_FIELDS = (
    "platform",
    "recipient_key",
    "address",
    "card_key",
    "payload",
    "revision",
    "last_error",
)


async def _queue(
    db: AsyncConnection, kind: str, now: datetime, due: datetime | None = None, **fields: Any
) -> None:
    """Every item starts unattempted, due now unless `due` says later; `fields` say what and
    for whom."""
    row = dict.fromkeys(_OPTIONAL_FIELDS) | fields
    await db.execute(
        insert(OUTBOX).values(
            kind=kind,
            **{"status": PENDING, **row},
            attempts=0,
            next_attempt_at=due or now,
            created_at=now,
        )
    )


async def add_message(
    db: AsyncConnection,
    *,
    platform: str,
    recipient_key: str,
    address: str,
    card_key: str | None,
    payload: Mapping[str, Any],
    now: datetime,
    revision: int | None = None,
) -> None:
    await _queue(
        db,
        MESSAGE,
        now,
        platform=platform,
        recipient_key=recipient_key,
        address=address,
        card_key=card_key,
        payload=dict(payload),
        revision=revision,
    )


@dataclass(frozen=True, slots=True)
class CardCopy:
    platform: str
    recipient_key: str
    address: str


async def card_copies(db: AsyncConnection, card_key: str) -> list[CardCopy]:
    """Everyone a card was sent (or is being sent) to, on each platform."""
    rows = await db.execute(
        select(OUTBOX.c.platform, OUTBOX.c.recipient_key, OUTBOX.c.address)
        .where(
            OUTBOX.c.kind == MESSAGE,
            OUTBOX.c.card_key == card_key,
            OUTBOX.c.address.is_not(None),
        )
        .distinct()
    )
    return [CardCopy(p, r, a) for p, r, a in rows if p and r and a]


async def update_card(
    db: AsyncConnection,
    copy: CardCopy,
    card_key: str,
    payload: Mapping[str, Any],
    revision: int,
    now: datetime,
) -> None:
    """Bring one copy of a card to `revision`. A copy not yet sent is given the new content
    to send instead (so it never goes out stale); one already sent is updated in place."""
    await db.execute(
        update(OUTBOX)
        .where(
            OUTBOX.c.kind == MESSAGE,
            OUTBOX.c.card_key == card_key,
            OUTBOX.c.platform == copy.platform,
            OUTBOX.c.recipient_key == copy.recipient_key,
            OUTBOX.c.status.in_([PENDING, FAILED]),
            or_(OUTBOX.c.revision.is_(None), OUTBOX.c.revision < revision),
        )
        .values(payload=dict(payload), revision=revision)
    )
    await _queue(
        db,
        UPDATE,
        now,
        platform=copy.platform,
        recipient_key=copy.recipient_key,
        address=copy.address,
        card_key=card_key,
        payload=dict(payload),
        revision=revision,
    )


async def add_timer(
    db: AsyncConnection, *, name: str, due: datetime, args: Mapping[str, Any], now: datetime
) -> None:
    # A timer waits in the outbox until it is due, as a retry would, and is claimed once.
    await _queue(db, TIMER, now, due, payload={"timer": name, "args": dict(args)})


async def finish(db: AsyncConnection, item: Claimed, worker: str, now: datetime) -> bool:
    """Mark an item done inside the caller's transaction, if this worker still holds it: a
    timer's work and its completion commit together, so it runs once."""
    done = await db.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id == item.id, OUTBOX.c.claimed_by == worker)
        .values(
            status=SENT,
            # What was sent lives on in the draft itself, which retention can purge; the
            # queue keeps no copy.
            payload=None,
            done_at=now,
            attempts=OUTBOX.c.attempts + 1,
            claimed_until=None,
            last_error=None,
        )
    )
    return int(done.rowcount) == 1


async def add_held(
    db: AsyncConnection, *, recipient_key: str, card_key: str | None, reason: str, now: datetime
) -> None:
    await _queue(
        db,
        MESSAGE,
        now,
        status=HELD,
        recipient_key=recipient_key,
        card_key=card_key,
        last_error=reason,
    )


async def add_fetch(
    db: AsyncConnection, *, platform: str, attachment_id: int, url: str, now: datetime
) -> None:
    await _queue(
        db, FETCH, now, platform=platform, payload={"attachment_id": attachment_id, "url": url}
    )


async def add_share(
    db: AsyncConnection,
    *,
    platform: str,
    recipient_key: str,
    address: str,
    card_key: str | None,
    attachment_id: int,
    now: datetime,
) -> None:
    """A kept attachment to deliver after the card `card_key` (in its thread) to one person."""
    await _queue(
        db,
        SHARE,
        now,
        platform=platform,
        recipient_key=recipient_key,
        address=address,
        card_key=card_key,
        payload={"attachment_id": attachment_id},
    )


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


@dataclass(frozen=True, slots=True)
class UpdateTarget:
    """The copy of a card an update is for: where it is and what it shows, if it was sent;
    else whether a worker is sending it right now."""

    channel: str | None
    message_id: str | None
    revision: int | None
    sending: bool


class Outbox:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def claim(
        self, worker: str, now: datetime, lease: timedelta, limit: int
    ) -> list[Claimed]:
        claimable = (
            OUTBOX.c.status == PENDING,
            OUTBOX.c.next_attempt_at <= now,
            or_(OUTBOX.c.claimed_until.is_(None), OUTBOX.c.claimed_until < now),
        )
        async with self._engine.begin() as db:
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
        return sorted(claimed, key=lambda c: c.id)

    async def mark_sent(
        self,
        item: Claimed,
        worker: str,
        now: datetime,
        channel: str | None = None,
        message_id: str | None = None,
    ) -> bool:
        async with self._engine.begin() as db:
            if not await finish(db, item, worker, now):
                return False
            if item.card_key and channel and message_id and item.platform and item.recipient_key:
                await db.execute(
                    insert(CARDS).values(
                        card_key=item.card_key,
                        platform=item.platform,
                        recipient_key=item.recipient_key,
                        channel=channel,
                        message_id=message_id,
                        created_at=now,
                        revision=item.revision or 1,
                    )
                )
            return True

    async def update_target(self, item: Claimed) -> UpdateTarget:
        async with self._engine.connect() as db:
            card = (
                await db.execute(
                    select(CARDS.c.channel, CARDS.c.message_id, CARDS.c.revision).where(
                        CARDS.c.card_key == item.card_key,
                        CARDS.c.platform == item.platform,
                        CARDS.c.recipient_key == item.recipient_key,
                    )
                )
            ).one_or_none()
            if card is not None:
                return UpdateTarget(card[0], card[1], card[2], sending=False)
            # Not sent yet. A card waiting its turn was given the new content already; one in
            # some worker's hands right now may go out stale, and is updated once it has.
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
            return UpdateTarget(None, None, None, sending=bool(in_hand))

    async def mark_updated(self, item: Claimed, worker: str, now: datetime) -> bool:
        """Done, and the copy now shows the item's revision (never an older one)."""
        async with self._engine.begin() as db:
            if not await finish(db, item, worker, now):
                return False
            await db.execute(
                update(CARDS)
                .where(
                    CARDS.c.card_key == item.card_key,
                    CARDS.c.platform == item.platform,
                    CARDS.c.recipient_key == item.recipient_key,
                    CARDS.c.revision < (item.revision or 0),
                )
                .values(revision=item.revision)
            )
            return True

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
            card = None
            if item.card_key:
                card = (
                    await db.execute(
                        select(CARDS.c.channel, CARDS.c.message_id).where(
                            CARDS.c.card_key == item.card_key,
                            CARDS.c.platform == item.platform,
                            CARDS.c.recipient_key == item.recipient_key,
                        )
                    )
                ).one_or_none()
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

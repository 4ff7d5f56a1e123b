"""The outbox: messages and fetches stored with the change that caused them, then claimed
by one delivery worker at a time through a lease, so several instances can share a database."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.store.models import Attachment, Card, OutboxItem, plain_update

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


def _queue(
    session: AsyncSession, kind: str, now: datetime, due: datetime | None = None, **fields: Any
) -> None:
    """Every item starts unattempted, due now unless `due` says later; `fields` say what and
    for whom."""
    session.add(
        OutboxItem(
            kind=kind,
            **{"status": PENDING, **fields},
            attempts=0,
            next_attempt_at=due or now,
            created_at=now,
        )
    )


def add_message(
    session: AsyncSession,
    *,
    platform: str,
    recipient_key: str,
    address: str,
    card_key: str | None,
    payload: Mapping[str, Any],
    now: datetime,
    revision: int | None = None,
) -> None:
    _queue(
        session,
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


async def card_copies(session: AsyncSession, card_key: str) -> list[CardCopy]:
    """Everyone a card was sent (or is being sent) to, on each platform."""
    rows = await session.execute(
        select(OutboxItem.platform, OutboxItem.recipient_key, OutboxItem.address)
        .where(
            OutboxItem.kind == MESSAGE,
            OutboxItem.card_key == card_key,
            OutboxItem.address.is_not(None),
        )
        .distinct()
    )
    return [CardCopy(p, r, a) for p, r, a in rows if p and r and a]


async def update_card(
    session: AsyncSession,
    copy: CardCopy,
    card_key: str,
    payload: Mapping[str, Any],
    revision: int,
    now: datetime,
) -> None:
    """Bring one copy of a card to `revision`. A copy not yet sent is given the new content
    to send instead (so it never goes out stale); one already sent is updated in place."""
    await session.execute(
        plain_update(OutboxItem)
        .where(
            OutboxItem.kind == MESSAGE,
            OutboxItem.card_key == card_key,
            OutboxItem.platform == copy.platform,
            OutboxItem.recipient_key == copy.recipient_key,
            OutboxItem.status.in_([PENDING, FAILED]),
            or_(OutboxItem.revision.is_(None), OutboxItem.revision < revision),
        )
        .values(payload=dict(payload), revision=revision)
    )
    _queue(
        session,
        UPDATE,
        now,
        platform=copy.platform,
        recipient_key=copy.recipient_key,
        address=copy.address,
        card_key=card_key,
        payload=dict(payload),
        revision=revision,
    )


def add_timer(
    session: AsyncSession, *, name: str, due: datetime, args: Mapping[str, Any], now: datetime
) -> None:
    # A timer waits in the outbox until it is due, as a retry would, and is claimed once.
    _queue(session, TIMER, now, due, payload={"timer": name, "args": dict(args)})


async def finish(session: AsyncSession, item: Claimed, worker: str, now: datetime) -> bool:
    """Mark an item done inside the caller's transaction, if this worker still holds it: a
    timer's work and its completion commit together, so it runs once."""
    done = await session.execute(
        plain_update(OutboxItem)
        .where(OutboxItem.id == item.id, OutboxItem.claimed_by == worker)
        .values(
            status=SENT,
            # What was sent lives on in the draft itself, which retention can purge; the
            # queue keeps no copy.
            payload=None,
            done_at=now,
            attempts=OutboxItem.attempts + 1,
            claimed_until=None,
            last_error=None,
        )
    )
    return int(done.rowcount) == 1  # type: ignore[attr-defined]


def add_held(
    session: AsyncSession, *, recipient_key: str, card_key: str | None, reason: str, now: datetime
) -> None:
    _queue(
        session,
        MESSAGE,
        now,
        status=HELD,
        recipient_key=recipient_key,
        card_key=card_key,
        last_error=reason,
    )


def add_fetch(
    session: AsyncSession, *, platform: str, attachment_id: int, url: str, now: datetime
) -> None:
    _queue(
        session, FETCH, now, platform=platform, payload={"attachment_id": attachment_id, "url": url}
    )


def add_share(
    session: AsyncSession,
    *,
    platform: str,
    recipient_key: str,
    address: str,
    card_key: str | None,
    attachment_id: int,
    now: datetime,
) -> None:
    """A kept attachment to deliver after the card `card_key` (in its thread) to one person."""
    _queue(
        session,
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
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def claim(
        self, worker: str, now: datetime, lease: timedelta, limit: int
    ) -> list[Claimed]:
        claimable = (
            OutboxItem.status == PENDING,
            OutboxItem.next_attempt_at <= now,
            or_(OutboxItem.claimed_until.is_(None), OutboxItem.claimed_until < now),
        )
        async with self._sessions() as session, session.begin():
            # Two statements, not N+1. The SELECT locks the rows it picks, and SKIP LOCKED lets
            # workers on PostgreSQL pick different rows at the same moment (SQLite serialises
            # whole transactions instead, and ignores it). Not one statement: PostgreSQL may
            # run an `IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)` subquery once per row
            # and so take far more than n.
            chosen = list(
                await session.scalars(
                    select(OutboxItem.id)
                    .where(*claimable)
                    .order_by(OutboxItem.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            )
            if not chosen:
                return []
            taken = await session.execute(
                plain_update(OutboxItem)
                .where(OutboxItem.id.in_(chosen), *claimable)
                .values(claimed_by=worker, claimed_until=now + lease)
                .returning(
                    OutboxItem.id,
                    OutboxItem.kind,
                    OutboxItem.platform,
                    OutboxItem.recipient_key,
                    OutboxItem.address,
                    OutboxItem.card_key,
                    OutboxItem.payload,
                    OutboxItem.attempts,
                    OutboxItem.revision,
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
        async with self._sessions() as session, session.begin():
            if not await finish(session, item, worker, now):
                return False
            if item.card_key and channel and message_id and item.platform and item.recipient_key:
                await session.execute(
                    insert(Card).values(
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
        async with self._sessions() as session:
            card = (
                await session.execute(
                    select(Card.channel, Card.message_id, Card.revision).where(
                        Card.card_key == item.card_key,
                        Card.platform == item.platform,
                        Card.recipient_key == item.recipient_key,
                    )
                )
            ).one_or_none()
            if card is not None:
                return UpdateTarget(card[0], card[1], card[2], sending=False)
            # Not sent yet. A card waiting its turn was given the new content already; one in
            # some worker's hands right now may go out stale, and is updated once it has.
            in_hand = await session.scalar(
                select(func.count())
                .select_from(OutboxItem)
                .where(
                    OutboxItem.kind == MESSAGE,
                    OutboxItem.card_key == item.card_key,
                    OutboxItem.platform == item.platform,
                    OutboxItem.recipient_key == item.recipient_key,
                    OutboxItem.status == PENDING,
                    OutboxItem.claimed_until.is_not(None),
                )
            )
            return UpdateTarget(None, None, None, sending=bool(in_hand))

    async def mark_updated(self, item: Claimed, worker: str, now: datetime) -> bool:
        """Done, and the copy now shows the item's revision (never an older one)."""
        async with self._sessions() as session, session.begin():
            if not await finish(session, item, worker, now):
                return False
            await session.execute(
                plain_update(Card)
                .where(
                    Card.card_key == item.card_key,
                    Card.platform == item.platform,
                    Card.recipient_key == item.recipient_key,
                    Card.revision < (item.revision or 0),
                )
                .values(revision=item.revision)
            )
            return True

    async def retry_later(self, item: Claimed, worker: str, when: datetime, error: str) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                plain_update(OutboxItem)
                .where(OutboxItem.id == item.id, OutboxItem.claimed_by == worker)
                .values(
                    attempts=OutboxItem.attempts + 1,
                    next_attempt_at=when,
                    claimed_until=None,
                    last_error=error[:1000],
                )
            )

    async def mark_failed(self, item: Claimed, worker: str, now: datetime, error: str) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                plain_update(OutboxItem)
                .where(OutboxItem.id == item.id, OutboxItem.claimed_by == worker)
                .values(
                    status=FAILED,
                    attempts=OutboxItem.attempts + 1,
                    done_at=now,
                    claimed_until=None,
                    last_error=error[:1000],
                )
            )

    async def requeue_failed(self, now: datetime) -> int:
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                plain_update(OutboxItem)
                .where(OutboxItem.status == FAILED)
                .values(status=PENDING, next_attempt_at=now, done_at=None)
            )
            # Their fetches are queued again too; until one succeeds, shares wait for it.
            await session.execute(
                plain_update(Attachment)
                .where(Attachment.status == "failed", Attachment.content.is_(None))
                .values(status="pending")
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    async def keep_attachment(self, attachment_id: int, content: bytes, now: datetime) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                plain_update(Attachment)
                .where(Attachment.id == attachment_id)
                .values(
                    content=content,
                    size=len(content),
                    sha256=hashlib.sha256(content).hexdigest(),
                    status="kept",
                    fetched_at=now,
                )
            )

    async def mark_attachment_unavailable(self, attachment_id: int, now: datetime) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                plain_update(Attachment)
                .where(Attachment.id == attachment_id, Attachment.status == "pending")
                .values(status="failed", fetched_at=now)
            )

    async def share_target(self, item: Claimed) -> ShareTarget:
        async with self._sessions() as session:
            attachment = await session.get(Attachment, int(item.payload["attachment_id"]))
            card = None
            if item.card_key:
                card = await session.scalar(
                    select(Card).where(
                        Card.card_key == item.card_key,
                        Card.platform == item.platform,
                        Card.recipient_key == item.recipient_key,
                    )
                )
            if attachment is None or attachment.status in ("failed", "purged"):
                return ShareTarget(None, "the attachment is not held", None, None)
            if item.card_key and card is None and await self._card_failed(session, item):
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
    async def _card_failed(session: AsyncSession, item: Claimed) -> bool:
        status = await session.scalar(
            select(OutboxItem.status).where(
                OutboxItem.kind == MESSAGE,
                OutboxItem.card_key == item.card_key,
                OutboxItem.platform == item.platform,
                OutboxItem.recipient_key == item.recipient_key,
            )
        )
        return status == FAILED

    async def next_due(self) -> datetime | None:
        """When the next item can be claimed: an item in someone's hands waits for its lease."""
        free_at = case(
            (OutboxItem.claimed_until > OutboxItem.next_attempt_at, OutboxItem.claimed_until),
            else_=OutboxItem.next_attempt_at,
        )
        async with self._sessions() as session:
            due: datetime | None = await session.scalar(
                select(func.min(free_at)).where(OutboxItem.status == PENDING)
            )
            return due

    async def lines(self, statuses: Sequence[str]) -> list[OutboxLine]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(OutboxItem).where(OutboxItem.status.in_(statuses)).order_by(OutboxItem.id)
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

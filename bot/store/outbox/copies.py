"""Every copy of a card, one per person and platform: found, updated in place once sent,
freshened or withdrawn while not yet sent."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.models import OUTBOX
from bot.store.outbox.items import FAILED, MESSAGE, PENDING, SHARE, UPDATE, WITHDRAWN, Row, item_row


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


async def refresh_unsent(
    db: AsyncConnection,
    card_key: str,
    platform: str,
    payload: Mapping[str, Any],
    revision: int,
    recipients: Sequence[str] | None = None,
) -> None:
    """Copies of a card not sent yet are given its newest content, so none goes out stale;
    copies already sent are updated in place by the `update` items queued beside this.
    `recipients`: only the copies for these people."""
    if recipients is not None and not recipients:
        return
    query = (
        update(OUTBOX)
        .where(
            OUTBOX.c.kind == MESSAGE,
            OUTBOX.c.card_key == card_key,
            OUTBOX.c.platform == platform,
            OUTBOX.c.status.in_([PENDING, FAILED]),
            or_(OUTBOX.c.revision.is_(None), OUTBOX.c.revision < revision),
        )
        .values(payload=dict(payload), revision=revision)
    )
    if recipients is not None:
        query = query.where(OUTBOX.c.recipient_key.in_(list(recipients)))
    await db.execute(query)


async def withdraw_unsent(db: AsyncConnection, card_key: str, recipients: Sequence[str]) -> None:
    """A card not yet sent to these people, and the files that follow it, are not sent."""
    if not recipients:
        return
    await db.execute(
        update(OUTBOX)
        .where(
            OUTBOX.c.kind.in_([MESSAGE, SHARE]),
            OUTBOX.c.card_key == card_key,
            OUTBOX.c.status.in_([PENDING, FAILED]),
            OUTBOX.c.recipient_key.in_(list(recipients)),
        )
        .values(status=WITHDRAWN)
    )


def card_update(
    copy: CardCopy, card_key: str, payload: Mapping[str, Any], revision: int, now: datetime
) -> Row:
    return item_row(
        UPDATE,
        now,
        platform=copy.platform,
        recipient_key=copy.recipient_key,
        address=copy.address,
        card_key=card_key,
        payload=dict(payload),
        revision=revision,
    )

"""Items going in: messages, fetches, shares and timers, stored in the caller's transaction so
that they commit with the change that caused them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.models import OUTBOX, detached_ids, ordinary_ids

MESSAGE = "message"
UPDATE = "update"
FETCH = "fetch"
SHARE = "share"
TIMER = "timer"

PENDING = "pending"
SENT = "sent"
HELD = "held"
FAILED = "failed"
# Never to be sent: a card, or a file beneath it, for someone no longer to see it.
WITHDRAWN = "withdrawn"


Row = dict[str, Any]


def item_row(kind: str, now: datetime, due: datetime | None = None, **fields: Any) -> Row:
    """Every item starts unattempted, due now unless `due` says later; `fields` say what and
    for whom. Every row names the same columns, so a batch is one INSERT."""
    return {
        "kind": kind,
        "status": PENDING,
        "platform": None,
        "recipient_key": None,
        "address": None,
        "card_key": None,
        "payload": None,
        "revision": None,
        "last_error": None,
        **fields,
        "attempts": 0,
        "next_attempt_at": due or now,
        "created_at": now,
    }


async def queue(db: AsyncConnection, rows: Sequence[Row], *, detached: bool = False) -> None:
    """Store items in the caller's transaction, so they commit with the change that caused
    them; one statement however many there are. `detached`: they concern an anonymous report,
    and take ids outside the shared sequence (see models.detached_ids)."""
    if not rows:
        return
    listed = list(rows)
    ids = detached_ids(len(listed)) if detached else await ordinary_ids(db, OUTBOX, len(listed))
    if ids is not None:
        listed = [{**row, "id": row_id} for row, row_id in zip(listed, ids, strict=True)]
    await db.execute(insert(OUTBOX), listed)


def message(
    *,
    platform: str,
    recipient_key: str,
    address: str,
    card_key: str | None,
    payload: Mapping[str, Any],
    now: datetime,
    revision: int | None = None,
) -> Row:
    return item_row(
        MESSAGE,
        now,
        platform=platform,
        recipient_key=recipient_key,
        address=address,
        card_key=card_key,
        payload=dict(payload),
        revision=revision,
    )


def held(*, recipient_key: str, card_key: str | None, reason: str, now: datetime) -> Row:
    return item_row(
        MESSAGE, now, status=HELD, recipient_key=recipient_key, card_key=card_key, last_error=reason
    )


def fetch(*, platform: str, attachment_id: int, url: str, now: datetime) -> Row:
    return item_row(
        FETCH, now, platform=platform, payload={"attachment_id": attachment_id, "url": url}
    )


def share(
    *,
    platform: str,
    recipient_key: str,
    address: str,
    card_key: str | None,
    attachment_id: int,
    now: datetime,
) -> Row:
    """A kept attachment to deliver after the card `card_key` (in its thread) to one person."""
    return item_row(
        SHARE,
        now,
        platform=platform,
        recipient_key=recipient_key,
        address=address,
        card_key=card_key,
        payload={"attachment_id": attachment_id},
    )


def timer(*, name: str, due: datetime, args: Mapping[str, Any], now: datetime) -> Row:
    # A timer waits in the outbox until it is due, as a retry would, and is claimed once.
    return item_row(TIMER, now, due, payload={"timer": name, "args": dict(args)})

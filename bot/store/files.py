"""The files a draft or a report brought: one row each, pending until the delivery worker
fetches the bot's own copy."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.posts import AttachmentRef
from bot.store.models import ATTACHMENTS


async def add_attachments(
    db: AsyncConnection,
    refs: Sequence[AttachmentRef],
    at: datetime,
    *,
    post_id: int | None = None,
    version: int = 1,
    report_id: int | None = None,
) -> tuple[int, ...]:
    """The new rows' ids, in the order of `refs`."""
    if not refs:
        return ()
    added = await db.scalars(
        insert(ATTACHMENTS).returning(ATTACHMENTS.c.id, sort_by_parameter_order=True),
        [
            {
                "post_id": post_id,
                "report_id": report_id,
                "version": version,
                "platform": ref.platform.value,
                "source_id": ref.source_id,
                "name": ref.name,
                "mimetype": ref.mimetype,
                "size": ref.size,
                "status": "pending",
                "created_at": at,
            }
            for ref in refs
        ],
    )
    return tuple(added)

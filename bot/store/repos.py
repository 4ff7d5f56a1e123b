"""Repositories: the store's side of the protocols in bot.core.ports, gathered in one unit of
work, and the two logs every workflow writes (each object's state history, and the audit log).
Each workflow's own repository lives beside this: post_repo, report_repo, question_repo,
review_repo."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.people import Directory
from bot.core.ports import AuditDetail, AuditEntry, HistoryEntry
from bot.store.models import AUDIT, HISTORY
from bot.store.numbering import DetachedIds, SqlReferences
from bot.store.post_repo import SqlPosts
from bot.store.question_repo import SqlQuestions
from bot.store.report_repo import SqlReports
from bot.store.review_repo import SqlReviews
from bot.store.signing import Signer, signature_in, signed_values, unsigned


class SqlHistory:
    def __init__(self, db: AsyncConnection, sign: Signer = unsigned) -> None:
        self._db = db
        self._sign = sign

    async def record(
        self,
        object_type: str,
        object_id: int,
        from_state: str | None,
        to_state: str,
        actor_key: str,
        at: datetime,
        version: int | None = None,
        note: str | None = None,
    ) -> None:
        await self._db.execute(
            insert(HISTORY).values(
                object_type=object_type,
                object_id=object_id,
                from_state=from_state,
                to_state=to_state,
                actor_key=actor_key,
                **signed_values("actor", self._sign(actor_key)),
                at=at,
                version=version,
                note=note,
            )
        )

    async def of(self, object_type: str, object_id: int) -> Sequence[HistoryEntry]:
        rows = await self._db.execute(
            select(HISTORY)
            .where(HISTORY.c.object_type == object_type, HISTORY.c.object_id == object_id)
            .order_by(HISTORY.c.id)
        )
        return [
            HistoryEntry(
                r.at,
                r.actor_key,
                r.from_state,
                r.to_state,
                r.version,
                r.note,
                signature_in(r, "actor"),
            )
            for r in rows
        ]


class SqlAuditLog:
    def __init__(self, db: AsyncConnection) -> None:
        self._db = db
        self._ids = DetachedIds()

    async def append(
        self,
        actor_key: str,
        action: str,
        object_type: str,
        object_id: str,
        at: datetime,
        detail: AuditDetail | None = None,
        *,
        detached: bool = False,
    ) -> None:
        """`detached`: the entry concerns an anonymous report (see models.detached_ids)."""
        await self._db.execute(
            insert(AUDIT).values(
                **await self._ids.take(self._db, AUDIT, detached),
                at=at,
                actor_key=actor_key,
                action=action,
                object_type=object_type,
                object_id=object_id,
                detail=dict(detail or {}),
            )
        )

    async def entries(self, since: datetime | None = None) -> Sequence[AuditEntry]:
        # By time: entries about anonymous reports have ids outside the sequence.
        query = select(AUDIT).order_by(AUDIT.c.at, AUDIT.c.id)
        if since is not None:
            query = query.where(AUDIT.c.at >= since)
        rows = await self._db.execute(query)
        return [
            AuditEntry(r.id, r.at, r.actor_key, r.action, r.object_type, r.object_id, r.detail)
            for r in rows
        ]


class SqlUnitOfWork:
    """`people`: who is who now, so that each record keeps how its actor was named then."""

    def __init__(self, db: AsyncConnection, people: Directory | None = None) -> None:
        sign: Signer = people.signature if people is not None else unsigned
        self.db = db
        self.questions = SqlQuestions(db, sign)
        self.reports = SqlReports(db, sign)
        self.references = SqlReferences(db)
        self.posts = SqlPosts(db, sign)
        self.history = SqlHistory(db, sign)
        self.audit = SqlAuditLog(db)
        self.reviews = SqlReviews(db, sign)

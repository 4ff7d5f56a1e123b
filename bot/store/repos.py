"""Repositories: the store's side of the protocols in bot.core.ports."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.ports import AuditDetail, AuditEntry, HistoryEntry, NewPost
from bot.core.posts import Draft
from bot.core.refs import RefKind
from bot.core.states import PostState
from bot.store.models import (
    Attachment,
    AuditEvent,
    Counter,
    HistoryRow,
    Post,
    PostVersion,
    plain_update,
)


class SqlReferences:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def next_number(self, kind: RefKind) -> int:
        # UPDATE ... RETURNING takes the row lock, so two submissions at once get two numbers.
        bumped = await self._session.execute(
            plain_update(Counter)
            .where(Counter.kind == kind.value)
            .values(last=Counter.last + 1)
            .returning(Counter.last)
        )
        number = bumped.scalar_one_or_none()
        if number is None:
            raise LookupError(f"no counter for {kind.name} references: is the schema migrated?")
        return int(number)


class SqlPosts:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def reference_for_form(self, form_key: str) -> str | None:
        reference: str | None = await self._session.scalar(
            select(Post.reference)
            .join(PostVersion, PostVersion.post_id == Post.id)
            .where(PostVersion.form_key == form_key)
        )
        return reference

    async def create(
        self,
        reference: str,
        submitter_key: str,
        draft: Draft,
        at: datetime,
        form_key: str | None = None,
    ) -> NewPost:
        post = Post(
            reference=reference,
            submitter_key=submitter_key,
            state=PostState.AWAITING_APPROVAL.value,
            version=1,
            wished_date=draft.wished_date,
            created_at=at,
            updated_at=at,
        )
        self._session.add(post)
        await self._session.flush()
        self._session.add(
            PostVersion(
                post_id=post.id,
                version=1,
                text=draft.text,
                accounts=list(draft.accounts),
                confirmed=list(draft.confirmed),
                created_by=submitter_key,
                created_at=at,
                form_key=form_key,
            )
        )
        attachments = [
            Attachment(
                post_id=post.id,
                version=1,
                platform=ref.platform.value,
                source_id=ref.source_id,
                name=ref.name,
                mimetype=ref.mimetype,
                size=ref.size,
                status="pending",
                created_at=at,
            )
            for ref in draft.attachments
        ]
        self._session.add_all(attachments)
        await self._session.flush()
        return NewPost(post.id, 1, tuple(a.id for a in attachments))

    async def state_of(self, post_id: int) -> PostState | None:
        state = await self._session.scalar(select(Post.state).where(Post.id == post_id))
        return PostState(state) if state is not None else None


class SqlHistory:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

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
        self._session.add(
            HistoryRow(
                object_type=object_type,
                object_id=object_id,
                from_state=from_state,
                to_state=to_state,
                actor_key=actor_key,
                at=at,
                version=version,
                note=note,
            )
        )

    async def of(self, object_type: str, object_id: int) -> Sequence[HistoryEntry]:
        rows = await self._session.scalars(
            select(HistoryRow)
            .where(HistoryRow.object_type == object_type, HistoryRow.object_id == object_id)
            .order_by(HistoryRow.id)
        )
        return [
            HistoryEntry(r.at, r.actor_key, r.from_state, r.to_state, r.version, r.note)
            for r in rows
        ]


class SqlAuditLog:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def append(
        self,
        actor_key: str,
        action: str,
        object_type: str,
        object_id: str,
        at: datetime,
        detail: AuditDetail | None = None,
    ) -> None:
        self._session.add(
            AuditEvent(
                at=at,
                actor_key=actor_key,
                action=action,
                object_type=object_type,
                object_id=object_id,
                detail=dict(detail or {}),
            )
        )

    async def entries(self, since: datetime | None = None) -> Sequence[AuditEntry]:
        query = select(AuditEvent).order_by(AuditEvent.id)
        if since is not None:
            query = query.where(AuditEvent.at >= since)
        rows = await self._session.scalars(query)
        return [
            AuditEntry(r.id, r.at, r.actor_key, r.action, r.object_type, r.object_id, r.detail)
            for r in rows
        ]


class SqlUnitOfWork:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.references = SqlReferences(session)
        self.posts = SqlPosts(session)
        self.history = SqlHistory(session)
        self.audit = SqlAuditLog(session)

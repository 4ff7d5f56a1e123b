"""Draft posts: their versions, attachments and the links where they went live."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import ColumnElement, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.ports import NewPost, VersionEntry
from bot.core.posts import Draft, KeptAttachment, LiveLink, PostRecord
from bot.core.states import PostState
from bot.store.files import add_attachments
from bot.store.models import ATTACHMENTS, POST_LINKS, POST_VERSIONS, POSTS
from bot.store.signing import Signer, signature_in, signed_values, unsigned


class SqlPosts:
    """Drafts and their versions. Statements are plain Core SQL: a request writes a handful of
    rows, and the ORM's unit of work cost more than the statements themselves."""

    def __init__(self, db: AsyncConnection, sign: Signer = unsigned) -> None:
        self._db = db
        self._sign = sign

    async def reference_for_form(self, form_key: str) -> str | None:
        reference: str | None = await self._db.scalar(
            select(POSTS.c.reference)
            .join(POST_VERSIONS, POST_VERSIONS.c.post_id == POSTS.c.id)
            .where(POST_VERSIONS.c.form_key == form_key)
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
        post_id = await self._db.scalar(
            insert(POSTS)
            .values(
                reference=reference,
                submitter_key=submitter_key,
                state=PostState.AWAITING_APPROVAL.value,
                version=1,
                step=1,
                wished_date=draft.wished_date,
                created_at=at,
                updated_at=at,
            )
            .returning(POSTS.c.id)
        )
        assert post_id is not None
        attachment_ids = await add_attachments(
            self._db, draft.attachments, at, post_id=post_id, version=1
        )
        await self._add_version(post_id, 1, draft, attachment_ids, submitter_key, at, form_key)
        return NewPost(post_id, 1, attachment_ids, step=1)

    async def add_version(
        self,
        post_id: int,
        seen_step: int,
        draft: Draft,
        kept: tuple[int, ...],
        by: str,
        at: datetime,
        form_key: str | None = None,
    ) -> NewPost | None:
        """A new version of a draft, waiting for approval again; None if the draft has moved on
        from the step the caller read."""
        moved = await self._db.execute(
            update(POSTS)
            .where(POSTS.c.id == post_id, POSTS.c.step == seen_step)
            .values(
                version=POSTS.c.version + 1,
                step=POSTS.c.step + 1,
                state=PostState.AWAITING_APPROVAL.value,
                approved_version=None,
                wished_date=draft.wished_date,
                updated_at=at,
            )
            .returning(POSTS.c.version, POSTS.c.step)
        )
        row = moved.one_or_none()
        if row is None:
            return None
        version, step = int(row[0]), int(row[1])
        added = await add_attachments(
            self._db, draft.attachments, at, post_id=post_id, version=version
        )
        carried = kept + added
        await self._add_version(post_id, version, draft, carried, by, at, form_key)
        return NewPost(post_id, version, added, step=step, carried=carried)

    async def _add_version(
        self,
        post_id: int,
        version: int,
        draft: Draft,
        attachment_ids: tuple[int, ...],
        by: str,
        at: datetime,
        form_key: str | None,
    ) -> None:
        await self._db.execute(
            insert(POST_VERSIONS).values(
                post_id=post_id,
                version=version,
                text=draft.text,
                accounts=list(draft.accounts),
                confirmed=list(draft.confirmed),
                created_by=by,
                **signed_values("created_by", self._sign(by)),
                created_at=at,
                form_key=form_key,
                attachment_ids=list(attachment_ids),
            )
        )

    async def move(self, post_id: int, seen_step: int, to: PostState, at: datetime) -> int | None:
        """Move the draft to `to` if it is still at the step the caller read: the new step, or
        None when another change came first. The check and the change are one statement, so
        of two at once exactly one succeeds (PostgreSQL re-checks the condition on the row
        the first one changed; SQLite runs one writer at a time)."""
        values: dict[str, object] = {"state": to.value, "step": POSTS.c.step + 1, "updated_at": at}
        if to is PostState.APPROVED:
            values["approved_version"] = POSTS.c.version
        moved = await self._db.scalar(
            update(POSTS)
            .where(POSTS.c.id == post_id, POSTS.c.step == seen_step)
            .values(values)
            .returning(POSTS.c.step)
        )
        return int(moved) if moved is not None else None

    async def mark_reminded(self, post_id: int, day: date) -> bool:
        marked = await self._db.execute(
            update(POSTS)
            .where(
                POSTS.c.id == post_id,
                or_(POSTS.c.reminded_on.is_(None), POSTS.c.reminded_on != day),
            )
            .values(reminded_on=day)
        )
        return int(marked.rowcount) == 1

    async def get(self, post_id: int) -> PostRecord | None:
        return await self._record(POSTS.c.id == post_id)

    async def find(self, reference: str) -> PostRecord | None:
        return await self._record(POSTS.c.reference == reference.strip().upper())

    async def _record(self, condition: ColumnElement[bool]) -> PostRecord | None:
        found = (
            await self._db.execute(
                select(
                    POSTS.c.id,
                    POSTS.c.reference,
                    POSTS.c.submitter_key,
                    POSTS.c.state,
                    POSTS.c.step,
                    POSTS.c.wished_date,
                    POSTS.c.approved_version,
                    POST_VERSIONS.c.version,
                    POST_VERSIONS.c.text,
                    POST_VERSIONS.c.accounts,
                    POST_VERSIONS.c.confirmed,
                    POST_VERSIONS.c.created_at,
                    POST_VERSIONS.c.attachment_ids,
                )
                .join(POST_VERSIONS, POST_VERSIONS.c.post_id == POSTS.c.id)
                .where(condition, POST_VERSIONS.c.version == POSTS.c.version)
            )
        ).one_or_none()
        if found is None:
            return None
        attachments: tuple[KeptAttachment, ...] = ()
        if found.attachment_ids != []:
            chosen: ColumnElement[bool]
            if found.attachment_ids is None:
                chosen = (ATTACHMENTS.c.post_id == found.id) & (
                    ATTACHMENTS.c.version == found.version
                )
            else:
                chosen = ATTACHMENTS.c.id.in_(found.attachment_ids)
            rows = await self._db.execute(
                select(
                    ATTACHMENTS.c.id, ATTACHMENTS.c.name, ATTACHMENTS.c.mimetype, ATTACHMENTS.c.size
                )
                .where(chosen)
                .order_by(ATTACHMENTS.c.id)
            )
            attachments = tuple(KeptAttachment(*row) for row in rows)
        return PostRecord(
            id=found.id,
            reference=found.reference,
            submitter_key=found.submitter_key,
            state=PostState(found.state),
            version=found.version,
            step=found.step,
            wished_date=found.wished_date,
            text=found.text or "",
            accounts=tuple(found.accounts),
            confirmed=tuple(found.confirmed),
            attachments=attachments,
            version_submitted_at=found.created_at,
            approved_version=found.approved_version,
        )

    async def record_links(
        self, post_id: int, version: int, links: tuple[LiveLink, ...], by: str, at: datetime
    ) -> None:
        await self._db.execute(
            insert(POST_LINKS),
            [
                {
                    "post_id": post_id,
                    "version": version,
                    "account": link.account,
                    "url": link.url,
                    "created_by": by,
                    "created_at": at,
                }
                for link in links
            ],
        )

    async def links(self, post_id: int) -> tuple[LiveLink, ...]:
        rows = await self._db.execute(
            select(POST_LINKS.c.account, POST_LINKS.c.url)
            .where(POST_LINKS.c.post_id == post_id)
            .order_by(POST_LINKS.c.id)
        )
        return tuple(LiveLink(account, url) for account, url in rows)

    async def versions(self, post_id: int) -> Sequence[VersionEntry]:
        rows = await self._db.execute(
            select(
                POST_VERSIONS.c.version,
                POST_VERSIONS.c.created_at,
                POST_VERSIONS.c.created_by,
                POST_VERSIONS.c.accounts,
                POST_VERSIONS.c.text,
                POST_VERSIONS.c.created_by_name,
                POST_VERSIONS.c.created_by_identity,
            )
            .where(POST_VERSIONS.c.post_id == post_id)
            .order_by(POST_VERSIONS.c.version)
        )
        return [
            VersionEntry(
                r.version,
                r.created_at,
                r.created_by,
                tuple(r.accounts),
                r.text,
                signature_in(r, "created_by"),
            )
            for r in rows
        ]

"""Repositories: the store's side of the protocols in bot.core.ports."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, false, insert, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.people import UNSIGNED, Directory, Signature
from bot.core.ports import AuditDetail, AuditEntry, HistoryEntry, NewPost, VersionEntry
from bot.core.posts import Draft, KeptAttachment, LiveLink, PostRecord
from bot.core.questions import (
    AnswerKind,
    LearnedAnswer,
    LearnedSection,
    NewQuestion,
    QuestionRecord,
)
from bot.core.refs import RefKind, format_reference
from bot.core.reports import (
    EventKind,
    NewReport,
    ReportEvent,
    ReportKind,
    ReportOutcome,
    ReportRecord,
    ReportState,
)
from bot.core.states import PostState
from bot.store.models import (
    ATTACHMENTS,
    AUDIT,
    COUNTERS,
    HISTORY,
    POLICY_QUESTIONS,
    POST_LINKS,
    POST_VERSIONS,
    POSTS,
    REPORT_EVENTS,
    REPORTS,
    detached_ids,
    ordinary_ids,
)

Signer = Callable[[str | None], Signature]


def _unsigned(key: str | None) -> Signature:
    return UNSIGNED


def _signed_values(prefix: str, signed: Signature) -> dict[str, str | None]:
    return {f"{prefix}_name": signed.name, f"{prefix}_identity": signed.identity}


class DetachedIds:
    """Ids for the rows one transaction writes about an anonymous report: consecutive among
    themselves, so that events written together (reported, then sent) keep their order."""

    BLOCK = 256

    def __init__(self) -> None:
        self._left: list[int] = []

    async def take(self, db: AsyncConnection, table: Table, detached: bool) -> dict[str, int]:
        """The `id` value to insert; for an ordinary row, nothing (the sequence's next) or,
        on SQLite, one above every id the table holds (see models.ordinary_ids)."""
        if not detached:
            ordinary = await ordinary_ids(db, table, 1)
            return {"id": ordinary[0]} if ordinary else {}
        if not self._left:
            self._left = detached_ids(self.BLOCK)
        return {"id": self._left.pop(0)}


def _signature(row: Any, prefix: str) -> Signature:
    return Signature(getattr(row, f"{prefix}_name"), getattr(row, f"{prefix}_identity"))


class SqlReferences:
    def __init__(self, db: AsyncConnection) -> None:
        self._db = db

    async def next_number(self, kind: RefKind) -> int:
        # UPDATE ... RETURNING takes the row lock, so two submissions at once get two numbers.
        bumped = await self._db.execute(
            update(COUNTERS)
            .where(COUNTERS.c.kind == kind.value)
            .values(last=COUNTERS.c.last + 1)
            .returning(COUNTERS.c.last)
        )
        number = bumped.scalar_one_or_none()
        if number is None:
            raise LookupError(f"no counter for {kind.name} references: is the schema migrated?")
        return int(number)


class SqlPosts:
    """Drafts and their versions. Statements are plain Core SQL: a request writes a handful of
    rows, and the ORM's unit of work cost more than the statements themselves."""

    def __init__(self, db: AsyncConnection, sign: Signer = _unsigned) -> None:
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
        attachment_ids = await self._add_attachments(post_id, 1, draft, at)
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
        added = await self._add_attachments(post_id, version, draft, at)
        carried = kept + added
        await self._add_version(post_id, version, draft, carried, by, at, form_key)
        return NewPost(post_id, version, added, step=step, carried=carried)

    async def _add_attachments(
        self, post_id: int, version: int, draft: Draft, at: datetime
    ) -> tuple[int, ...]:
        if not draft.attachments:
            return ()
        added = await self._db.scalars(
            insert(ATTACHMENTS).returning(ATTACHMENTS.c.id, sort_by_parameter_order=True),
            [
                {
                    "post_id": post_id,
                    "version": version,
                    "platform": ref.platform.value,
                    "source_id": ref.source_id,
                    "name": ref.name,
                    "mimetype": ref.mimetype,
                    "size": ref.size,
                    "status": "pending",
                    "created_at": at,
                }
                for ref in draft.attachments
            ],
        )
        return tuple(added)

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
                **_signed_values("created_by", self._sign(by)),
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
                _signature(r, "created_by"),
            )
            for r in rows
        ]


class SqlHistory:
    def __init__(self, db: AsyncConnection, sign: Signer = _unsigned) -> None:
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
                **_signed_values("actor", self._sign(actor_key)),
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
                _signature(r, "actor"),
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


class SqlQuestions:
    def __init__(self, db: AsyncConnection, sign: Signer = _unsigned) -> None:
        self._db = db
        self._sign = sign

    async def create(self, question: NewQuestion) -> QuestionRecord:
        sections = [{"title": t, "score": round(s, 3)} for t, s in question.sections]
        inserted = await self._db.execute(
            insert(POLICY_QUESTIONS)
            .values(
                asker_key=None,
                escalation_digest=question.escalation_digest,
                question=question.question,
                kind=question.kind.value,
                policy_hash=question.policy_hash,
                sections=sections,
                topic=question.topic,
                learned_from=question.learned_from,
                asked_at=question.at,
                learned=False,
            )
            .returning(POLICY_QUESTIONS.c.id)
        )
        return QuestionRecord(
            id=int(inserted.scalar_one()),
            reference=None,
            asker_key=None,
            question=question.question,
            kind=question.kind,
            policy_hash=question.policy_hash,
            sections=question.sections,
            asked_at=question.at,
            escalated_at=None,
            answered_by=None,
            answer=None,
            answered_at=None,
            escalation_digest=question.escalation_digest,
        )

    async def get(self, question_id: int) -> QuestionRecord | None:
        row = (
            await self._db.execute(
                select(POLICY_QUESTIONS).where(POLICY_QUESTIONS.c.id == question_id)
            )
        ).first()
        if row is None:
            return None
        return QuestionRecord(
            id=row.id,
            reference=row.reference,
            asker_key=row.asker_key,
            question=row.question,
            kind=AnswerKind(row.kind),
            policy_hash=row.policy_hash,
            sections=tuple((str(s["title"]), float(s["score"])) for s in row.sections),
            asked_at=row.asked_at,
            escalated_at=row.escalated_at,
            answered_by=row.answered_by,
            answer=row.answer,
            answered_at=row.answered_at,
            escalation_digest=row.escalation_digest,
            asker_signed=_signature(row, "asker"),
            answered_signed=_signature(row, "answered_by"),
        )

    async def mark_escalated(
        self, question_id: int, at: datetime, asker_key: str | None = None
    ) -> str | None:
        """The asker sends it on: only now does the question keep who asked."""
        changed = await self._db.execute(
            update(POLICY_QUESTIONS)
            .where(POLICY_QUESTIONS.c.id == question_id, POLICY_QUESTIONS.c.escalated_at.is_(None))
            .values(
                escalated_at=at,
                asker_key=asker_key,
                **_signed_values("asker", self._sign(asker_key)),
            )
        )
        if changed.rowcount != 1:
            return None
        # Numbered only now, so the numbers the Network Manager sees run without gaps.
        number = await SqlReferences(self._db).next_number(RefKind.QUESTION)
        reference = format_reference(RefKind.QUESTION, number)
        await self._db.execute(
            update(POLICY_QUESTIONS)
            .where(POLICY_QUESTIONS.c.id == question_id)
            .values(reference=reference)
        )
        return reference

    async def record_answer(
        self,
        question_id: int,
        by: str,
        answer: str,
        at: datetime,
        policy_hash: str | None,
        learned_sections: Sequence[LearnedSection] | None,
    ) -> bool:
        changed = await self._db.execute(
            update(POLICY_QUESTIONS)
            .where(POLICY_QUESTIONS.c.id == question_id, POLICY_QUESTIONS.c.answered_at.is_(None))
            .values(
                answered_by=by,
                **_signed_values("answered_by", self._sign(by)),
                answer=answer,
                answered_at=at,
                answer_policy_hash=policy_hash,
                learned=learned_sections is not None,
                learned_sections=None
                if learned_sections is None
                else [{"title": s.title, "digest": s.digest} for s in learned_sections],
            )
        )
        return changed.rowcount == 1

    async def learned(self) -> Sequence[LearnedAnswer]:
        rows = await self._db.execute(
            select(POLICY_QUESTIONS)
            .where(POLICY_QUESTIONS.c.learned.is_(True))
            .order_by(POLICY_QUESTIONS.c.id)
        )
        return [
            LearnedAnswer(
                question_id=row.id,
                reference=row.reference or "",
                question=row.question,
                answer=row.answer or "",
                answered_by=row.answered_by or "",
                policy_hash=row.answer_policy_hash,
                sections=tuple(
                    LearnedSection(str(s["title"]), str(s["digest"]))
                    for s in row.learned_sections or []
                ),
            )
            for row in rows
        ]


class SqlUnitOfWork:
    """`people`: who is who now, so that each record keeps how its actor was named then."""

    def __init__(self, db: AsyncConnection, people: Directory | None = None) -> None:
        sign: Signer = people.signature if people is not None else _unsigned
        self.db = db
        self.questions = SqlQuestions(db, sign)
        self.reports = SqlReports(db, sign)
        self.references = SqlReferences(db)
        self.posts = SqlPosts(db, sign)
        self.history = SqlHistory(db, sign)
        self.audit = SqlAuditLog(db)


class SqlReports:
    """Concern reports and their chronology, which is only ever added to."""

    def __init__(self, db: AsyncConnection, sign: Signer = _unsigned) -> None:
        self._db = db
        self._sign = sign
        self._ids = DetachedIds()

    async def reference_for_form(self, form_key: str) -> str | None:
        reference: str | None = await self._db.scalar(
            select(REPORTS.c.reference).where(REPORTS.c.form_key == form_key)
        )
        return reference

    async def create(self, new: NewReport) -> tuple[int, tuple[int, ...]]:
        report = new.report
        report_id = int(
            await self._db.scalar(
                insert(REPORTS)
                .values(
                    # An anonymous report's id says nothing of what came before it.
                    **await self._ids.take(self._db, REPORTS, new.reporter_key is None),
                    reference=new.reference,
                    kind=report.kind.value,
                    state=ReportState.OPEN.value,
                    reporter_key=new.reporter_key,
                    **_signed_values("reporter", self._sign(new.reporter_key)),
                    receipt_digest=new.receipt_digest,
                    where=report.where,
                    links=list(report.links),
                    seen_at=report.seen_at,
                    details=report.details,
                    involved=list(report.involved),
                    involved_text=report.involved_text,
                    recipients=list(new.recipients),
                    held=new.held,
                    escalated=False,
                    created_at=new.at,
                    due_at=new.due_at,
                    step=1,
                    form_key=new.form_key,
                )
                .returning(REPORTS.c.id)
            )
            or 0
        )
        attachment_ids: tuple[int, ...] = ()
        if report.attachments:
            added = await self._db.scalars(
                insert(ATTACHMENTS).returning(ATTACHMENTS.c.id, sort_by_parameter_order=True),
                [
                    {
                        "post_id": None,
                        "report_id": report_id,
                        "version": 1,
                        "platform": ref.platform.value,
                        "source_id": ref.source_id,
                        "name": ref.name,
                        "mimetype": ref.mimetype,
                        "size": ref.size,
                        "status": "pending",
                        "created_at": new.at,
                    }
                    for ref in report.attachments
                ],
            )
            attachment_ids = tuple(added)
        return report_id, attachment_ids

    async def get(self, report_id: int) -> ReportRecord | None:
        return await self._record(REPORTS.c.id == report_id)

    async def find(self, reference: str) -> ReportRecord | None:
        return await self._record(REPORTS.c.reference == reference.strip().upper())

    async def by_receipt(self, digest: str) -> ReportRecord | None:
        return await self._record(REPORTS.c.receipt_digest == digest)

    async def _record(self, condition: ColumnElement[bool]) -> ReportRecord | None:
        found = await self._records(condition)
        return found[0] if found else None

    async def _records(self, condition: ColumnElement[bool]) -> list[ReportRecord]:
        """The reports matching `condition`, oldest first, each with its chronology and
        evidence: three statements however many there are."""
        rows = (
            await self._db.execute(
                select(REPORTS).where(condition).order_by(REPORTS.c.created_at, REPORTS.c.id)
            )
        ).all()
        if not rows:
            return []
        ids = [row.id for row in rows]
        events: dict[int, list[Any]] = {i: [] for i in ids}
        for event in await self._db.execute(
            select(REPORT_EVENTS)
            .where(REPORT_EVENTS.c.report_id.in_(ids))
            # By time: an anonymous report's events have ids outside the sequence.
            .order_by(REPORT_EVENTS.c.at, REPORT_EVENTS.c.id)
        ):
            events[event.report_id].append(event)
        files: dict[int, list[int]] = {i: [] for i in ids}
        for attachment_id, report_id in await self._db.execute(
            select(ATTACHMENTS.c.id, ATTACHMENTS.c.report_id)
            .where(ATTACHMENTS.c.report_id.in_(ids))
            .order_by(ATTACHMENTS.c.id)
        ):
            files[report_id].append(attachment_id)
        return [_report(row, events[row.id], tuple(files[row.id])) for row in rows]

    async def append(self, report_id: int, event: ReportEvent) -> int:
        """Add to the chronology; the report's new step."""
        await self._db.execute(
            insert(REPORT_EVENTS).values(
                # Everything about an anonymous report (negative ids) stays out of the sequence.
                **await self._ids.take(self._db, REPORT_EVENTS, report_id < 0),
                report_id=report_id,
                at=event.at,
                kind=event.kind.value,
                actor_key=event.actor_key,
                **_signed_values("actor", self._sign(event.actor_key)),
                text=event.text,
            )
        )
        step = await self._db.scalar(
            update(REPORTS)
            .where(REPORTS.c.id == report_id)
            .values(step=REPORTS.c.step + 1)
            .returning(REPORTS.c.step)
        )
        return int(step or 0)

    async def append_if_unchanged(
        self, report_id: int, seen_step: int, event: ReportEvent
    ) -> int | None:
        """Add to the chronology only if nothing was added since the caller read it at
        `seen_step`; the new step, or None. Race-safe: of two at once, one is added."""
        step = await self._db.scalar(
            update(REPORTS)
            .where(REPORTS.c.id == report_id, REPORTS.c.step == seen_step)
            .values(step=REPORTS.c.step + 1)
            .returning(REPORTS.c.step)
        )
        if step is None:
            return None
        await self._db.execute(
            insert(REPORT_EVENTS).values(
                # Everything about an anonymous report (negative ids) stays out of the sequence.
                **await self._ids.take(self._db, REPORT_EVENTS, report_id < 0),
                report_id=report_id,
                at=event.at,
                kind=event.kind.value,
                actor_key=event.actor_key,
                **_signed_values("actor", self._sign(event.actor_key)),
                text=event.text,
            )
        )
        return int(step)

    async def move(
        self,
        report_id: int,
        allowed_from: Sequence[ReportState],
        to: ReportState,
        outcome: str | None = None,
    ) -> bool:
        """Change the state if it is still one of `allowed_from`. Race-safe: of two
        acknowledgements at once, one changes it."""
        values: dict[str, object] = {"state": to.value}
        if outcome is not None:
            values["outcome"] = outcome
        moved = await self._db.execute(
            update(REPORTS)
            .where(
                REPORTS.c.id == report_id,
                REPORTS.c.state.in_([s.value for s in allowed_from]),
            )
            .values(**values)
        )
        return bool(moved.rowcount)

    async def mark_escalated(self, report_id: int) -> bool:
        moved = await self._db.execute(
            update(REPORTS)
            .where(
                REPORTS.c.id == report_id,
                REPORTS.c.escalated == false(),
                REPORTS.c.state == ReportState.OPEN.value,
            )
            .values(escalated=True)
        )
        return bool(moved.rowcount)

    async def set_recipients(self, report_id: int, recipients: Sequence[str]) -> None:
        await self._db.execute(
            update(REPORTS).where(REPORTS.c.id == report_id).values(recipients=list(recipients))
        )

    async def release(
        self, report_id: int, recipients: Sequence[str], due_at: datetime | None
    ) -> bool:
        """A held report is sent: False if another instance released it first."""
        moved = await self._db.execute(
            update(REPORTS)
            .where(REPORTS.c.id == report_id, REPORTS.c.held == true())
            .values(recipients=list(recipients), held=False, due_at=due_at)
        )
        return bool(moved.rowcount)

    async def held(self) -> Sequence[int]:
        found = await self._db.scalars(
            select(REPORTS.c.id).where(REPORTS.c.held == true()).order_by(REPORTS.c.id)
        )
        return tuple(found)

    async def listed(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        kinds: Sequence[ReportKind] = (),
    ) -> Sequence[ReportRecord]:
        condition: ColumnElement[bool] = true()
        if since is not None:
            condition &= REPORTS.c.created_at >= since
        if until is not None:
            condition &= REPORTS.c.created_at < until
        if kinds:
            condition &= REPORTS.c.kind.in_([k.value for k in kinds])
        return await self._records(condition)


def _report(row: Any, events: Sequence[Any], attachments: tuple[int, ...]) -> ReportRecord:
    return ReportRecord(
        id=row.id,
        reference=row.reference,
        kind=ReportKind(row.kind),
        state=ReportState(row.state),
        reporter_key=row.reporter_key,
        where=row.where,
        links=tuple(row.links or ()),
        seen_at=row.seen_at,
        details=row.details,
        involved=tuple(row.involved or ()),
        involved_text=row.involved_text,
        recipients=tuple(row.recipients or ()),
        held=bool(row.held),
        escalated=bool(row.escalated),
        created_at=row.created_at,
        due_at=row.due_at,
        step=row.step,
        outcome=ReportOutcome(row.outcome) if row.outcome else None,
        attachments=attachments,
        events=tuple(
            ReportEvent(
                at=e.at,
                kind=EventKind(e.kind),
                actor_key=e.actor_key,
                text=e.text,
                signed=_signature(e, "actor"),
            )
            for e in events
        ),
        reporter_signed=_signature(row, "reporter"),
    )

"""Concern reports, their chronology and evidence."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, false, insert, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.reports import (
    EventKind,
    NewReport,
    ReportEvent,
    ReportKind,
    ReportOutcome,
    ReportRecord,
    ReportState,
)
from bot.store.files import add_attachments
from bot.store.models import ATTACHMENTS, REPORT_EVENTS, REPORTS
from bot.store.numbering import DetachedIds
from bot.store.signing import Signer, signature_in, signed_values, unsigned


class SqlReports:
    """Concern reports and their chronology, which is only ever added to."""

    def __init__(self, db: AsyncConnection, sign: Signer = unsigned) -> None:
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
                    **signed_values("reporter", self._sign(new.reporter_key)),
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
        attachment_ids = await add_attachments(
            self._db, report.attachments, new.at, report_id=report_id
        )
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

    async def _add_event(self, report_id: int, event: ReportEvent) -> None:
        await self._db.execute(
            insert(REPORT_EVENTS).values(
                # Everything about an anonymous report (negative ids) stays out of the sequence.
                **await self._ids.take(self._db, REPORT_EVENTS, report_id < 0),
                report_id=report_id,
                at=event.at,
                kind=event.kind.value,
                actor_key=event.actor_key,
                **signed_values("actor", self._sign(event.actor_key)),
                text=event.text,
            )
        )

    async def append(self, report_id: int, event: ReportEvent) -> int:
        """Add to the chronology; the report's new step."""
        await self._add_event(report_id, event)
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
        await self._add_event(report_id, event)
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
                signed=signature_in(e, "actor"),
            )
            for e in events
        ),
        reporter_signed=signature_in(row, "reporter"),
    )

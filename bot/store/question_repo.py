"""Policy questions: those asked, those sent on to the IT Network Manager, and the answers
kept to serve again."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.questions import (
    AnswerKind,
    LearnedAnswer,
    LearnedSection,
    NewQuestion,
    QuestionRecord,
    Vote,
)
from bot.core.refs import RefKind, format_reference
from bot.store.models import POLICY_QUESTIONS
from bot.store.numbering import SqlReferences
from bot.store.signing import Signer, signature_in, signed_values, unsigned


class SqlQuestions:
    def __init__(self, db: AsyncConnection, sign: Signer = unsigned) -> None:
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
            sections=_sections(row),
            asked_at=row.asked_at,
            escalated_at=row.escalated_at,
            answered_by=row.answered_by,
            answer=row.answer,
            answered_at=row.answered_at,
            escalation_digest=row.escalation_digest,
            asker_signed=signature_in(row, "asker"),
            answered_signed=signature_in(row, "answered_by"),
            topic=row.topic,
            learned_from=row.learned_from,
            kept=bool(row.learned),
            vote=_vote(row.vote),
            vote_reason=row.vote_reason,
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
                **signed_values("asker", self._sign(asker_key)),
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
                **signed_values("answered_by", self._sign(by)),
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

    async def vote(self, question_id: int, vote: Vote, reason: str | None) -> bool:
        changed = await self._db.execute(
            update(POLICY_QUESTIONS)
            .where(POLICY_QUESTIONS.c.id == question_id)
            .values(vote=vote.value, vote_reason=reason)
        )
        return changed.rowcount == 1

    async def listed(self, since: datetime | None = None) -> Sequence[QuestionRecord]:
        # Only the columns the report shows: never who asked, nor their digest or signature.
        columns = POLICY_QUESTIONS.c
        query = select(
            columns.id,
            columns.reference,
            columns.question,
            columns.kind,
            columns.policy_hash,
            columns.sections,
            columns.topic,
            columns.learned_from,
            columns.asked_at,
            columns.escalated_at,
            columns.answered_at,
            columns.learned,
            columns.vote,
            columns.vote_reason,
        ).order_by(columns.asked_at, columns.id)
        if since is not None:
            query = query.where(columns.asked_at >= since)
        return [
            QuestionRecord(
                id=row.id,
                reference=row.reference,
                asker_key=None,
                question=row.question,
                kind=AnswerKind(row.kind),
                policy_hash=row.policy_hash,
                sections=_sections(row),
                asked_at=row.asked_at,
                escalated_at=row.escalated_at,
                answered_by=None,
                answer=None,
                answered_at=row.answered_at,
                topic=row.topic,
                learned_from=row.learned_from,
                kept=bool(row.learned),
                vote=_vote(row.vote),
                vote_reason=row.vote_reason,
            )
            for row in await self._db.execute(query)
        ]


def _sections(row: Any) -> tuple[tuple[str, float], ...]:
    return tuple((str(s["title"]), float(s["score"])) for s in row.sections)


def _vote(value: str | None) -> Vote | None:
    # A value this version does not know (written by a later one) reads as no vote.
    known = {v.value for v in Vote}
    return Vote(value) if value is not None and value in known else None

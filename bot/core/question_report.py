"""The question report for the IT Network Manager: what staff asked the bot, per version of the
policy, and where the bot fell short (not sure, called off-topic, a thumbs down, sent on).

It is built from the questions as the store lists them for it, which hold nothing about who
asked; it shows the day each was asked and never more of when.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from bot.core.clock import SchoolTime
from bot.core.questions import AnswerKind, QuestionRecord, Vote

# How a policy version is shown: the start of its digest, as the answers' own note shows it.
SHORT_VERSION = 8


@dataclass(frozen=True, slots=True)
class Asked:
    """One question as the report lists it."""

    id: int
    day: date
    question: str
    reference: str | None = None  # sent on to the IT Network Manager
    answered: bool = False
    kept: bool = False  # its answer is one of the bot's answers now
    reason: str | None = None  # for a thumbs down, if the asker gave one

    @property
    def may_keep(self) -> bool:
        """Whether an answer can still be kept for it (each question takes one answer)."""
        return not self.answered


@dataclass(frozen=True, slots=True)
class Subject:
    """What a group of questions was about: the topic the bot knows it by, or else the policy
    section that matched best."""

    topic: str | None
    section: str | None
    count: int

    @property
    def label(self) -> str:
        return self.topic or self.section or ""


@dataclass(frozen=True, slots=True)
class QuestionList:
    key: str  # its name in the report's JSON
    title: str
    items: tuple[Asked, ...]
    reasons: bool = False  # each with the reason for its thumbs down


@dataclass(frozen=True, slots=True)
class VersionReport:
    policy_hash: str | None  # None: asked while no policy document was loaded
    first_day: date  # the first and last days a question was answered from it
    last_day: date
    asked: int
    helpful: int
    unhelpful: int
    subjects: tuple[Subject, ...]  # most asked first
    unsure: tuple[Asked, ...]
    off_topic: tuple[Asked, ...]
    thumbs_down: tuple[Asked, ...]
    sent_on: tuple[Asked, ...]

    @property
    def short(self) -> str:
        return self.policy_hash[:SHORT_VERSION] if self.policy_hash else "no policy loaded"

    @property
    def lists(self) -> tuple[QuestionList, ...]:
        """The questions the IT Network Manager may want to answer, each list with its title."""
        return (
            QuestionList("unsure", "Answered \u201cnot sure\u201d", self.unsure),
            QuestionList("off_topic", "Called off-topic", self.off_topic),
            QuestionList("thumbs_down", "Thumbs down", self.thumbs_down, reasons=True),
            QuestionList("sent_on", "Sent on to the IT Network Manager", self.sent_on),
        )


@dataclass(frozen=True, slots=True)
class QuestionReport:
    since: date | None
    versions: tuple[VersionReport, ...]  # the newest version first

    @property
    def asked(self) -> int:
        return sum(v.asked for v in self.versions)


def question_report(
    questions: Sequence[QuestionRecord], school_time: SchoolTime, since: date | None = None
) -> QuestionReport:
    by_version: dict[str | None, list[QuestionRecord]] = {}
    for record in questions:
        by_version.setdefault(record.policy_hash, []).append(record)
    # Newest first: by the last day each version answered a question and, within a day, by
    # which answered the later question (ids count up as questions are asked).
    newest = sorted(
        by_version.values(),
        key=lambda records: (records[-1].asked_at, max(r.id for r in records)),
        reverse=True,
    )
    versions = tuple(_version(records[0].policy_hash, records, school_time) for records in newest)
    return QuestionReport(since, versions)


def _version(
    policy_hash: str | None, records: Sequence[QuestionRecord], school_time: SchoolTime
) -> VersionReport:
    def asked(record: QuestionRecord, *, reason: bool = False) -> Asked:
        return Asked(
            id=record.id,
            day=school_time.local(record.asked_at).date(),
            question=record.question,
            reference=record.reference if record.escalated_at is not None else None,
            answered=record.answered_at is not None,
            kept=record.kept,
            reason=record.vote_reason if reason else None,
        )

    days = [school_time.local(r.asked_at).date() for r in records]
    counted: Counter[tuple[str | None, str | None]] = Counter()
    for record in records:
        if record.topic:
            counted[(record.topic, None)] += 1
        elif record.sections and record.kind not in (AnswerKind.OFF_TOPIC, AnswerKind.NO_POLICY):
            counted[(None, record.sections[0][0])] += 1
    subjects = sorted(
        (Subject(topic, section, count) for (topic, section), count in counted.items()),
        key=lambda s: (-s.count, s.label.casefold()),
    )
    return VersionReport(
        policy_hash=policy_hash,
        first_day=min(days),
        last_day=max(days),
        asked=len(records),
        helpful=sum(1 for r in records if r.vote is Vote.HELPFUL),
        unhelpful=sum(1 for r in records if r.vote is Vote.UNHELPFUL),
        subjects=tuple(subjects),
        unsure=tuple(asked(r) for r in records if r.kind is AnswerKind.UNSURE),
        off_topic=tuple(asked(r) for r in records if r.kind is AnswerKind.OFF_TOPIC),
        thumbs_down=tuple(asked(r, reason=True) for r in records if r.vote is Vote.UNHELPFUL),
        sent_on=tuple(asked(r) for r in records if r.escalated_at is not None),
    )

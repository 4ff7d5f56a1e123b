"""What handlers need from storage, as protocols: the store implements them.

A handler runs inside one transaction (a unit of work); everything it writes, and every
notification its outcome asks for, is committed together or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from bot.core.people import UNSIGNED, Signature
from bot.core.policy_review import Decision
from bot.core.posts import Draft, LiveLink, PostRecord
from bot.core.questions import LearnedAnswer, LearnedSection, NewQuestion, QuestionRecord, Vote
from bot.core.refs import RefKind
from bot.core.reports import NewReport, ReportEvent, ReportKind, ReportRecord, ReportState
from bot.core.states import PostState

AuditDetail = Mapping[str, str | int | None]


@dataclass(frozen=True, slots=True)
class NewPost:
    """A version just stored. `attachment_ids` are the files added with it, to be fetched;
    `carried` is every file the version carries, earlier ones kept included."""

    post_id: int
    version: int
    attachment_ids: tuple[int, ...]
    step: int = 1
    carried: tuple[int, ...] | None = None

    @property
    def all_attachments(self) -> tuple[int, ...]:
        return self.attachment_ids if self.carried is None else self.carried


@dataclass(frozen=True, slots=True)
class VersionEntry:
    version: int
    at: datetime
    by: str
    accounts: tuple[str, ...]
    text: str | None
    # Who `by` was then (None on rows from before it was kept).
    signed: Signature = UNSIGNED


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    at: datetime
    actor_key: str
    from_state: str | None
    to_state: str
    version: int | None
    note: str | None
    signed: Signature = UNSIGNED


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor_key: str
    action: str
    object_type: str
    object_id: str
    detail: AuditDetail


class References(Protocol):
    async def next_number(self, kind: RefKind) -> int: ...


class PostRepository(Protocol):
    async def create(
        self,
        reference: str,
        submitter_key: str,
        draft: Draft,
        at: datetime,
        form_key: str | None = None,
    ) -> NewPost: ...

    async def reference_for_form(self, form_key: str) -> str | None:
        """The reference of the draft already saved from this form, if any."""

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
        """A new version, if nothing changed the draft since the caller read it at `seen_step`."""

    async def move(self, post_id: int, seen_step: int, to: PostState, at: datetime) -> int | None:
        """Change the state if nothing changed the draft since the caller read it at
        `seen_step`: the new step, or None when another change came first. Race-safe: of two
        at once, one succeeds."""

    async def mark_reminded(self, post_id: int, day: date) -> bool:
        """Note that the reminder for `day` went out; False if it already had."""

    async def get(self, post_id: int) -> PostRecord | None: ...

    async def find(self, reference: str) -> PostRecord | None: ...

    async def record_links(
        self, post_id: int, version: int, links: tuple[LiveLink, ...], by: str, at: datetime
    ) -> None: ...

    async def links(self, post_id: int) -> tuple[LiveLink, ...]: ...

    async def versions(self, post_id: int) -> Sequence[VersionEntry]: ...


class History(Protocol):
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
    ) -> None: ...

    async def of(self, object_type: str, object_id: int) -> Sequence[HistoryEntry]: ...


class AuditLog(Protocol):
    """Append-only. Entries hold ids, never content, so content can be purged later."""

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
        """`detached`: about an anonymous report, so kept apart from the sequence of ids."""


class QuestionRepository(Protocol):
    async def create(self, question: NewQuestion) -> QuestionRecord: ...

    async def get(self, question_id: int) -> QuestionRecord | None: ...

    async def mark_escalated(
        self, question_id: int, at: datetime, asker_key: str | None = None
    ) -> str | None:
        """Its new reference, or None if it had already gone to the IT Network Manager.
        Race-safe."""

    async def record_answer(
        self,
        question_id: int,
        by: str,
        answer: str,
        at: datetime,
        policy_hash: str | None,
        learned_sections: Sequence[LearnedSection] | None,
    ) -> bool:
        """Store the answer unless one was stored first (False). `learned_sections` not None:
        the answer joins the bot's answers, tied to these sections."""

    async def learned(self) -> Sequence[LearnedAnswer]: ...

    async def vote(self, question_id: int, vote: Vote, reason: str | None) -> bool:
        """The asker's vote on the answer, replacing any earlier one (one vote per answer);
        False if there is no such question. Nothing says who voted."""

    async def listed(self, since: datetime | None = None) -> Sequence[QuestionRecord]:
        """Every question asked from `since` on, oldest first, for the question report:
        without who asked or who answered (`asker_key` and `answered_by` are None)."""


class ReportRepository(Protocol):
    async def reference_for_form(self, form_key: str) -> str | None:
        """The reference of the report already made from this form, if any."""

    async def create(self, new: NewReport) -> tuple[int, tuple[int, ...]]:
        """The new report's id and the ids of its evidence files, to be fetched."""

    async def get(self, report_id: int) -> ReportRecord | None: ...

    async def find(self, reference: str) -> ReportRecord | None: ...

    async def by_receipt(self, digest: str) -> ReportRecord | None: ...

    async def append(self, report_id: int, event: ReportEvent) -> int:
        """Add to the chronology, which is never edited; the report's new step."""

    async def append_if_unchanged(
        self, report_id: int, seen_step: int, event: ReportEvent
    ) -> int | None:
        """Add to the chronology if nothing was added since `seen_step`; else None."""

    async def move(
        self,
        report_id: int,
        allowed_from: Sequence[ReportState],
        to: ReportState,
        outcome: str | None = None,
    ) -> bool:
        """Race-safe: False when another change came first."""

    async def mark_escalated(self, report_id: int) -> bool: ...

    async def set_recipients(self, report_id: int, recipients: Sequence[str]) -> None: ...

    async def release(
        self, report_id: int, recipients: Sequence[str], due_at: datetime | None
    ) -> bool:
        """A held report is sent; False if it was released already. Race-safe."""

    async def held(self) -> Sequence[int]: ...

    async def listed(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        kinds: Sequence[ReportKind] = (),
    ) -> Sequence[ReportRecord]: ...


class ReviewRepository(Protocol):
    """The school's review decisions, appended and never changed (the latest that holds for a
    topic wins, bot.core.policy_review.holding)."""

    async def add(self, decision: Decision) -> int: ...

    async def all(self) -> list[Decision]: ...

    async def stamp(self) -> tuple[int, int]:
        """How many decisions there are, and the latest one's id (0 for none)."""


class UnitOfWork(Protocol):
    @property
    def references(self) -> References: ...

    @property
    def posts(self) -> PostRepository: ...

    @property
    def history(self) -> History: ...

    @property
    def audit(self) -> AuditLog: ...

    @property
    def questions(self) -> QuestionRepository: ...

    @property
    def reports(self) -> ReportRepository: ...

    @property
    def reviews(self) -> ReviewRepository: ...

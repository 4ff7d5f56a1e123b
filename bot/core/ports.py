"""What handlers need from storage, as protocols: the store implements them.

A handler runs inside one transaction (a unit of work); everything it writes, and every
notification its outcome asks for, is committed together or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.core.posts import Draft
from bot.core.refs import RefKind
from bot.core.states import PostState

AuditDetail = Mapping[str, str | int | None]


@dataclass(frozen=True, slots=True)
class NewPost:
    post_id: int
    version: int
    attachment_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    at: datetime
    actor_key: str
    from_state: str | None
    to_state: str
    version: int | None
    note: str | None


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

    async def state_of(self, post_id: int) -> PostState | None: ...


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
    ) -> None: ...


class UnitOfWork(Protocol):
    @property
    def references(self) -> References: ...

    @property
    def posts(self) -> PostRepository: ...

    @property
    def history(self) -> History: ...

    @property
    def audit(self) -> AuditLog: ...

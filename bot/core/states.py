"""State machines shared by every workflow: a draft post's is here, a report's is in
bot/core/reports.py."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

S = TypeVar("S", bound=StrEnum)


@dataclass(frozen=True)
class StateMachine(Generic[S]):
    name: str
    initial: S
    transitions: Mapping[S, frozenset[S]]

    def allows(self, current: S, wanted: S) -> bool:
        return wanted in self.transitions.get(current, frozenset())


class PostState(StrEnum):
    AWAITING_APPROVAL = "awaiting_approval"
    CHANGES_REQUESTED = "changes_requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    POSTED = "posted"


# "Staff protocol for use of social media", steps 5 and 6: the IT Network Manager confirms a
# post can go live, and then posts it. A revised draft comes back as a new version, waiting
# for approval again, from any state but the final ones.
POST_MACHINE: StateMachine[PostState] = StateMachine(
    name="post",
    initial=PostState.AWAITING_APPROVAL,
    transitions={
        PostState.AWAITING_APPROVAL: frozenset(
            {
                PostState.AWAITING_APPROVAL,
                PostState.APPROVED,
                PostState.CHANGES_REQUESTED,
                PostState.REJECTED,
                PostState.WITHDRAWN,
            }
        ),
        PostState.CHANGES_REQUESTED: frozenset({PostState.AWAITING_APPROVAL, PostState.WITHDRAWN}),
        PostState.APPROVED: frozenset(
            {PostState.POSTED, PostState.WITHDRAWN, PostState.AWAITING_APPROVAL}
        ),
        PostState.REJECTED: frozenset(),
        PostState.WITHDRAWN: frozenset(),
        PostState.POSTED: frozenset(),
    },
)

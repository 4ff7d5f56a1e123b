"""What the bot knows beyond the school's policy document (bot/knowledge), as the core's types:
concepts that map staff words to shared ideas, the areas a staff policy covers and their topics
(cues, example questions, a short answer and a next step), staff phrasings labelled with their
areas, and small talk.

Nothing here names a heading. An area is an idea ("photographs"), found in a loaded document by
what its sections say (bot/core/policy_map.py). A topic's short answer says what particular
passages say, so it records them by digest (`rests_on`): it may be served only where one group
of them appears word for word, whatever the heading above it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class NextKind(StrEnum):
    DRAFT = "draft"  # a button that opens the draft form
    CO_HEADS = "co_heads"  # ask the Co-Headteachers (named)
    REPORT = "report"  # a button that opens the report form, with its kind chosen
    NETWORK_MANAGER = "network_manager"
    LINE_MANAGER = "line_manager"


@dataclass(frozen=True, slots=True)
class NextStep:
    kind: NextKind
    text: str
    # For a report: the kind of concern the form opens with (a bot.core.reports.ReportKind).
    report_kind: str | None = None


@dataclass(frozen=True, slots=True)
class Topic:
    key: str
    area: str
    answer: str  # empty where the bot has no short answer: the document's words are the answer
    cues: tuple[str, ...]
    asks: tuple[str, ...]
    next: NextStep | None = None
    # Each group: the digests of the passages (bot.core.policy.passage_digest) the answer was
    # written against in one document; the answer holds wherever a whole group is present.
    rests_on: tuple[frozenset[str], ...] = ()


@dataclass(frozen=True, slots=True)
class Area:
    key: str
    describe: str  # in a policy's kind of words: how its section is recognised
    topics: tuple[Topic, ...]


@dataclass(frozen=True, slots=True)
class SmallTalk:
    kind: str
    terms: tuple[str, ...]
    reply: str


@dataclass(frozen=True, slots=True)
class Phrasing:
    """A question as staff put it, with the areas that answer it."""

    question: str
    areas: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Knowledge:
    concepts: Mapping[str, tuple[str, ...]]
    smalltalk: tuple[SmallTalk, ...]
    areas: tuple[Area, ...]
    phrasings: tuple[Phrasing, ...] = ()
    # What shows a question is about the policy at all (see policy-answers.yaml).
    generic_concepts: frozenset[str] = frozenset()
    policy_words: tuple[str, ...] = ()
    # The digests of the example school's policy as the repository ships it (examples/policy),
    # so a school still running on it is told.
    example_policy: frozenset[str] = frozenset()

    @property
    def topics(self) -> tuple[Topic, ...]:
        return tuple(t for area in self.areas for t in area.topics)

    def topic(self, key: str) -> Topic | None:
        return next((t for t in self.topics if t.key == key), None)

    def area(self, key: str) -> Area | None:
        return next((a for a in self.areas if a.key == key), None)

    def is_the_example(self, document_digest: str) -> bool:
        """Whether a document (by its digest) is the example school's as shipped."""
        return document_digest[:DIGEST_CHARS] in self.example_policy


DIGEST_CHARS = 12

"""What the bot knows beyond the school's policy document (bot/knowledge), as the core's types:
concepts that map staff words to shared ideas, each section's topics (cues, example questions,
a short answer and a next step), staff phrasings labelled with their sections, and small talk.
It is written against a version of each section, so a changed section is held back for review.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from bot.core.policy import PolicyDocument, title_key


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
    section: str
    answer: str
    cues: tuple[str, ...]
    asks: tuple[str, ...]
    next: NextStep | None = None


@dataclass(frozen=True, slots=True)
class Heading:
    """The same section under another document's heading, and the version it was checked at."""

    title: str
    reviewed: str


@dataclass(frozen=True, slots=True)
class SectionKnowledge:
    title: str
    reviewed: str  # the digest prefix of the section text the topics were written against
    topics: tuple[Topic, ...]
    # Other documents' headings for this section (the example school's), each checked at its
    # own version: the knowledge is tied to heading texts, so a document that words its
    # headings differently is matched through these.
    also: tuple[Heading, ...] = ()


@dataclass(frozen=True, slots=True)
class SmallTalk:
    kind: str
    terms: tuple[str, ...]
    reply: str


@dataclass(frozen=True, slots=True)
class Knowledge:
    concepts: Mapping[str, tuple[str, ...]]
    smalltalk: tuple[SmallTalk, ...]
    sections: tuple[SectionKnowledge, ...]
    phrasings: tuple[Phrasing, ...] = ()
    # What shows a question is about the policy at all (see policy-answers.yaml).
    generic_concepts: frozenset[str] = frozenset()
    policy_words: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Phrasing:
    """A question as staff put it, with the sections that answer it."""

    question: str
    titles: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Review:
    """A knowledge section whose policy section changed or vanished: held back, not served."""

    title: str
    reviewed: str
    current: str | None  # the loaded section's digest prefix; None when it is gone


DIGEST_CHARS = 12


def fitted(knowledge: Knowledge, document: PolicyDocument) -> Knowledge:
    """The knowledge under the headings `document` uses: a section the document has only
    under one of its other headings takes that title and the version checked for it, and the
    staff phrasings follow it."""
    renamed: dict[str, str] = {}
    sections: list[SectionKnowledge] = []
    for known in knowledge.sections:
        heading = None
        if document.section(known.title) is None:
            heading = next((h for h in known.also if document.section(h.title)), None)
        if heading is None:
            sections.append(known)
            continue
        renamed[title_key(known.title)] = heading.title
        topics = tuple(replace(t, section=heading.title) for t in known.topics)
        sections.append(SectionKnowledge(heading.title, heading.reviewed, topics))
    if not renamed:
        return knowledge
    phrasings = tuple(
        Phrasing(p.question, tuple(renamed.get(title_key(t), t) for t in p.titles))
        for p in knowledge.phrasings
    )
    return replace(knowledge, sections=tuple(sections), phrasings=phrasings)


def is_the_example(knowledge: Knowledge, document: PolicyDocument) -> bool:
    """Whether `document` is the example school's policy as the repository ships it: every
    section the knowledge has is there under its `also` heading, at the version checked."""

    def unchanged(heading: Heading) -> bool:
        section = document.section(heading.title)
        return section is not None and section.digest[:DIGEST_CHARS] == heading.reviewed

    return bool(knowledge.sections) and all(
        document.section(known.title) is None and any(unchanged(h) for h in known.also)
        for known in knowledge.sections
    )


def needing_review(knowledge: Knowledge, document: PolicyDocument) -> tuple[Review, ...]:
    reviews: list[Review] = []
    for known in fitted(knowledge, document).sections:
        section = document.section(known.title)
        current = section.digest[:DIGEST_CHARS] if section else None
        if current != known.reviewed:
            reviews.append(Review(known.title, known.reviewed, current))
    return tuple(reviews)

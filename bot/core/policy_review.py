"""The school's review of where the bot answers from, for each version of its policy.

For the loaded document the bot proposes, per topic, the section it will answer from and why
(the passage), and says which short answers it cannot vouch for: those written against wording
this document does not have. The IT Network Manager accepts a proposal (the short answer holds
here), reassigns the topic to another section, rewrites the short answer in the school's own
words, or says the document does not cover it. A decision is tied to the passages it was made
against, by digest: it holds in every later version where they still read word for word, and a
new version that rewords them asks again. Decisions live in the school's database, never in the
package; until a topic is reviewed its answer is the document's own passage.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from bot.core.policy import Passage, PolicyDocument, Section
from bot.core.policy_index import PolicyIndex
from bot.core.policy_map import Basis, Placement


class DecisionKind(StrEnum):
    ACCEPT = "accept"  # the proposed section, and the short answer holds for it
    REASSIGN = "reassign"  # another section; its own words are the answer
    REWRITE = "rewrite"  # the school's own short answer, resting on the passages chosen
    NOT_COVERED = "not_covered"  # this document does not cover it: no answer from any section


@dataclass(frozen=True, slots=True)
class Decision:
    topic_key: str
    kind: DecisionKind
    # The digests of the passages it was made against (bot.core.policy.passage_digest).
    passages: frozenset[str]
    answer: str | None  # the school's own words, for REWRITE
    policy_version: str  # the document's digest when it was made
    decided_by: str  # the person key of the IT Network Manager who made it
    decided_at: datetime


REVIEW_ANSWER_MAX = 600


class ReviewError(ValueError):
    """A decision that cannot be made: the message says why, for the person making it."""


@dataclass(frozen=True, slots=True)
class Proposal:
    """One topic as the bot proposes to answer it from the loaded document."""

    placement: Placement
    decision: Decision | None  # the school's, where one holds for this document

    @property
    def topic_key(self) -> str:
        return self.placement.topic.key

    @property
    def section(self) -> Section | None:
        return self.placement.section

    @property
    def passages(self) -> tuple[Passage, ...]:
        return self.placement.passages

    @property
    def short_answer(self) -> str:
        """The answer as it would be served once accepted (the school's, where rewritten), with
        the next step that comes with the topic's own."""
        if self.decision is not None and self.decision.answer:
            return self.decision.answer
        topic = self.placement.topic
        if topic.answer and topic.next is not None:
            return f"{topic.answer} Next step: {topic.next.text}"
        return topic.answer

    @property
    def needs_review(self) -> bool:
        """A short answer the bot cannot vouch for here: written for other wording. A topic
        with no short answer is answered in the document's words whatever is decided."""
        return (
            self.decision is None
            and bool(self.placement.topic.answer)
            and self.placement.basis in (Basis.CONTENT, Basis.CHANGED)
        )

    @property
    def why(self) -> str:
        basis = self.placement.basis
        if self.decision is not None:
            return f"decided: {DECIDED[self.decision.kind]}"
        return WHY[basis]


WHY = {
    Basis.WORD_FOR_WORD: (
        "the passage its short answer was written against is in this document word for word"
    ),
    Basis.CHANGED: (
        "the passage its short answer was written against now reads differently: check the "
        "short answer against what the document says now"
    ),
    Basis.CONTENT: (
        "found by what the section says; the short answer was written for another school's "
        "policy, so staff get the passage itself until it is reviewed"
    ),
    Basis.NOT_COVERED: "nothing in this document is like it, so it is not answered",
    Basis.DECIDED: "placed by the school's review",
}
DECIDED = {
    DecisionKind.ACCEPT: "the short answer holds for this section",
    DecisionKind.REASSIGN: "answered from this section in its own words",
    DecisionKind.REWRITE: "answered with the school's own words",
    DecisionKind.NOT_COVERED: "this document does not cover it",
}


def holding(document: PolicyDocument, decisions: Iterable[Decision]) -> dict[str, Decision]:
    """The latest decision per topic that holds for `document`: the passages it was made against
    are all there word for word (a NOT_COVERED decision with no section proposed holds for the
    version it was made for)."""
    present = {p.digest for s in document.answerable for p in s.passages}
    version = document.digest
    found: dict[str, Decision] = {}
    for decision in sorted(decisions, key=lambda d: d.decided_at):
        if decision.passages:
            holds = decision.passages <= present
        else:
            holds = decision.policy_version == version
        if holds:
            found[decision.topic_key] = decision
    return found


def reviewed(index: PolicyIndex, decisions: Sequence[Decision]) -> PolicyIndex:
    """`index` with the school's decisions that hold for its document applied."""
    held = holding(index.document, decisions)
    if not held:
        return index
    where: dict[str, tuple[Section, Passage]] = {}
    for section in index.document.answerable:
        for passage in section.passages:
            where.setdefault(passage.digest, (section, passage))
    placements = dict(index.placements)
    for key, decision in held.items():
        before = placements.get(key)
        if before is None:
            continue  # a topic the knowledge no longer has
        if decision.kind is DecisionKind.NOT_COVERED:
            placements[key] = Placement(before.topic, Basis.NOT_COVERED, (), (), None)
            continue
        held_in = Counter(id(where[d][0]) for d in decision.passages)
        section = next(
            where[d][0]
            for d in decision.passages
            if id(where[d][0]) == held_in.most_common(1)[0][0]
        )
        wanted = {t: 1.0 for t in index.analyzer.terms(decision.answer or before.topic.answer)}
        for cue in before.topic.cues:
            wanted.update(dict.fromkeys(index.analyzer.cue_terms(cue), 1.0))
        passages = index.passages(section, tuple(wanted), before.topic)
        answer = {
            DecisionKind.ACCEPT: before.topic.answer or None,
            DecisionKind.REWRITE: decision.answer,
            DecisionKind.REASSIGN: None,
        }[decision.kind]
        # The topic's next step was written with its own short answer: a school that rewrote
        # the answer has said in it what staff should do.
        topic = replace(before.topic, next=None) if decision.answer else before.topic
        placements[key] = Placement(topic, Basis.DECIDED, ((section, 1.0),), passages, answer)
    return index.with_placements(placements)


def proposals(index: PolicyIndex, decisions: Sequence[Decision] = ()) -> tuple[Proposal, ...]:
    """Every topic as the bot would answer it from `index`'s document, those needing review
    first, then in the document's order."""
    held = holding(index.document, decisions)
    position = {id(s): i for i, s in enumerate(index.document.sections)}
    found = [Proposal(p, held.get(key)) for key, p in reviewed(index, decisions).placements.items()]
    found.sort(
        key=lambda p: (
            not p.needs_review,
            p.section is None,
            position.get(id(p.section), 0),
        )
    )
    return tuple(found)


def decide(
    index: PolicyIndex,
    topic_key: str,
    kind: DecisionKind,
    decided_by: str,
    decided_at: datetime,
    section: Section | None = None,
    answer: str | None = None,
) -> Decision:
    """A decision on one topic of the loaded document, checked: the topic exists, a reassigned
    topic names a section of this document with text, a rewritten answer is given and not too
    long. Rests on the passages proposed, or on the best passages of the section chosen."""
    placement = index.placements.get(topic_key)
    if placement is None:
        raise ReviewError(f"there is no topic {topic_key!r}")
    if kind is DecisionKind.NOT_COVERED:
        # "Not this section": it holds while the section the bot proposed reads the same.
        proposed = placement.section
        digests = frozenset(p.digest for p in proposed.passages) if proposed else frozenset()
        return Decision(
            topic_key, kind, digests, None, index.document.digest, decided_by, decided_at
        )
    if kind is DecisionKind.REWRITE:
        answer = " ".join((answer or "").split())
        if not answer:
            raise ReviewError("write the short answer staff should get")
        if len(answer) > REVIEW_ANSWER_MAX:
            raise ReviewError(f"keep the short answer to {REVIEW_ANSWER_MAX} characters")
    else:
        answer = None
    if section is not None and section not in index.document.answerable:
        raise ReviewError("choose a section of the policy that has text")
    chosen = section or placement.section
    if chosen is None:
        raise ReviewError("this document has no section for it yet: choose one")
    if not chosen.passages:
        raise ReviewError("that section has no passage to answer from")
    # Tied to the whole section: the school read all of it, and a change anywhere in it may
    # change what the answer should say.
    digests = frozenset(p.digest for p in chosen.passages)
    return Decision(topic_key, kind, digests, answer, index.document.digest, decided_by, decided_at)

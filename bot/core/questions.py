"""Policy questions: the answer to one, from the policy index or the IT Network Manager's kept
answers, and the records a question leaves. The ranking is in policy_index, what the bot knows
beyond the document in policy_knowledge; their names used elsewhere are importable from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from bot.core.people import UNSIGNED, Signature
from bot.core.policy import Passage, PolicyDocument, Section
from bot.core.policy_index import TRUSTED, PolicyIndex, SectionScore
from bot.core.policy_knowledge import DIGEST_CHARS, Knowledge, NextKind, SmallTalk, Topic
from bot.core.policy_map import Basis, Placement, best_sentences
from bot.core.policy_words import tokens

__all__ = [
    "CONFIDENT",
    "CONFIDENT_BY_CONTENT",
    "DIGEST_CHARS",
    "FROM_SECTION",
    "HELD",
    "LEARNED_SIMILARITY",
    "NEAREST",
    "OFF_TOPIC",
    "UNSURE",
    "Answer",
    "AnswerKind",
    "Knowledge",
    "LearnedAnswer",
    "LearnedSection",
    "NewQuestion",
    "NextKind",
    "PolicyIndex",
    "PolicyLookup",
    "QuestionRecord",
    "Quoted",
    "Vote",
    "answer_question",
    "similar_learned",
    "smalltalk_in",
    "trusted_placement",
]


class AnswerKind(StrEnum):
    ANSWERED = "answered"  # a section the bot is confident of
    UNSURE = "unsure"  # nearest passages shown, the IT Network Manager offered
    OFF_TOPIC = "off_topic"
    NO_POLICY = "no_policy"
    LEARNED = "learned"  # an answer the IT Network Manager gave before


class Vote(StrEnum):
    """What the asker said of the answer they were shown (the thumbs under it)."""

    HELPFUL = "helpful"
    UNHELPFUL = "unhelpful"


@dataclass(frozen=True, slots=True)
class NewQuestion:
    """Nothing in it says who asked: see `escalation_digest`."""

    escalation_digest: str
    question: str
    kind: AnswerKind
    policy_hash: str | None
    sections: tuple[tuple[str, float], ...]  # (title, score), best first
    topic: str | None
    at: datetime
    learned_from: int | None = None


@dataclass(frozen=True, slots=True)
class QuestionRecord:
    id: int
    reference: str | None  # given when the question goes to the IT Network Manager
    asker_key: str | None  # None until the asker sends it on
    question: str
    kind: AnswerKind
    policy_hash: str | None
    sections: tuple[tuple[str, float], ...]
    asked_at: datetime
    escalated_at: datetime | None
    answered_by: str | None
    answer: str | None
    answered_at: datetime | None
    escalation_digest: str | None = None
    asker_signed: Signature = UNSIGNED
    answered_signed: Signature = UNSIGNED
    topic: str | None = None
    # The kept answer shown with it, if any.
    learned_from: int | None = None
    # Its answer joined the bot's answers (`learned`).
    kept: bool = False
    # The asker's vote on the answer, and their reason for a thumbs down; never who voted.
    vote: Vote | None = None
    vote_reason: str | None = None


@dataclass(frozen=True, slots=True)
class LearnedSection:
    title: str
    digest: str  # of the section when the answer was given


@dataclass(frozen=True, slots=True)
class LearnedAnswer:
    question_id: int
    reference: str
    question: str
    answer: str
    answered_by: str
    policy_hash: str | None
    sections: tuple[LearnedSection, ...]

    def still_fits(self, document: PolicyDocument) -> bool:
        """Served only while what it was given for is unchanged: its sections' wording, or
        (tied to no section) the whole document."""
        if not self.sections:
            return self.policy_hash == document.digest
        for learned in self.sections:
            section = document.section(learned.title)
            if section is None or section.digest[:DIGEST_CHARS] != learned.digest:
                return False
        return True


# Calibrated by 5-fold cross-validation on the staff phrasings (bench/policy_accuracy.py; the
# figures are in docs): a best section this strong and this far ahead of the next (a share of
# its score) was the right one for at least 98 questions in 100, with its topic placed word for
# word or by the school's review (CONFIDENT), or placed by content alone (CONFIDENT_BY_CONTENT,
# measured with every topic's passages hidden). Below them the bot says it is not sure and
# shows the nearest passages: a wrong answer given as the answer is worse than none.
CONFIDENT = ((50.0, 0.7), (60.0, 0.45), (70.0, 0.35))
CONFIDENT_BY_CONTENT = ((25.0, 0.6), (60.0, 0.5))
NEAREST = 3


class PolicyLookup(Protocol):
    """The policy as loaded now (a new version of the file is read when it changes), and what
    the bot knows beyond it."""

    @property
    def knowledge(self) -> Knowledge: ...

    def current(self) -> PolicyIndex | None: ...


@dataclass(frozen=True, slots=True)
class Quoted:
    section: Section
    passages: tuple[Passage, ...]


@dataclass(frozen=True, slots=True)
class Answer:
    kind: AnswerKind
    text: str  # one or two sentences: the direct answer, or why there is none
    confident: bool
    ranked: tuple[SectionScore, ...]  # best first, at most NEAREST
    quoted: tuple[Quoted, ...]
    topic: Topic | None = None
    # The topic's short answer was written for other wording of the section: it waits for the
    # school's review, and the document's own words are shown instead.
    held_for_review: bool = False


def answer_question(index: PolicyIndex, question: str) -> Answer:
    ranking = index.rank(question)
    ranked = ranking.sections[:NEAREST]
    best = ranking.best
    if best is None or best.score <= 0 or not index.about_policy(ranking.question_terms):
        # Rather than the nearest passages to a question about lunch or the wifi.
        return Answer(AnswerKind.OFF_TOPIC, OFF_TOPIC, False, (), ())
    runner_up = ranking.sections[1].score if len(ranking.sections) > 1 else 0.0
    lead = (best.score - runner_up) / best.score
    thresholds = CONFIDENT if trusted_placement(best) else CONFIDENT_BY_CONTENT
    confident = any(best.score >= score and lead >= share for score, share in thresholds)
    if confident:
        short = _short_answer(best.placement, best.section)
        if short is not None:
            text, passages = short
            return Answer(
                AnswerKind.ANSWERED,
                text,
                True,
                ranked,
                (Quoted(best.section, passages),),
                best.topic,
            )
        # No short answer holds here: the document's own words are the answer.
        passages = _sentences(index, best.section, ranking.question_terms, best.topic)
        held = best.placement is not None and best.placement.basis is Basis.CHANGED
        return Answer(
            AnswerKind.ANSWERED,
            HELD if held else FROM_SECTION,
            True,
            ranked,
            (Quoted(best.section, passages),),
            None,
            held,
        )
    quoted = tuple(
        Quoted(s.section, _sentences(index, s.section, ranking.question_terms, s.topic, limit=1))
        for s in ranked
    )
    return Answer(AnswerKind.UNSURE, UNSURE, False, ranked, quoted)


def trusted_placement(best: SectionScore) -> bool:
    """Whether the best section's topic is placed by its passages or by the school's review,
    not by content alone: content placements must clear CONFIDENT_BY_CONTENT."""
    return best.placement is not None and best.placement.basis in TRUSTED


def _short_answer(
    placement: Placement | None, section: Section
) -> tuple[str, tuple[Passage, ...]] | None:
    """The topic's short answer and the passages it rests on, where they hold in `section`."""
    if placement is None or placement.answer is None or placement.section is not section:
        return None
    return placement.answer, placement.passages


def _sentences(
    index: PolicyIndex,
    section: Section,
    terms: Sequence[str],
    topic: Topic | None,
    limit: int = 2,
) -> tuple[Passage, ...]:
    wanted = set(terms)
    return tuple(
        best_sentences(p, wanted, index.analyzer)
        for p in index.passages(section, terms, topic, limit)
    )


OFF_TOPIC = (
    "That does not look like a question about the staff Social Media Policy, which is what I "
    "answer. Ask me about it in your own words - for example, whether you can use your own "
    "phone for photos of a school trip."
)
UNSURE = (
    "I am not sure the policy settles that, so I will not guess. These are the nearest "
    "passages; the IT Network Manager can give you a proper answer."
)
HELD = (
    "The policy's wording here has changed since my short answer was checked, so here is what "
    "it says now."
)
FROM_SECTION = "This is what the policy says about it."


def similar_learned(
    index: PolicyIndex, question: str, learned: Sequence[LearnedAnswer]
) -> LearnedAnswer | None:
    """An earlier answer from the IT Network Manager to much the same question, while the
    policy it was given for still reads the same."""
    generic = index.knowledge.generic_concepts
    # Everyday ideas ("what for" is a question of purpose) say too little to tell two
    # questions apart or together: they count for neither.
    everyday = {"@" + c for c in generic}
    asked = set(index.analyzer.terms(question)) - everyday
    if not asked:
        return None

    def ideas(terms: set[str]) -> set[str]:
        return {t for t in terms if t.startswith("@") and t[1:] not in generic}

    best: tuple[float, LearnedAnswer] | None = None
    for entry in learned:
        if not entry.still_fits(index.document):
            continue
        theirs = set(index.analyzer.terms(entry.question)) - everyday
        if ideas(theirs) != ideas(asked):
            continue  # "my own TikTok" is not "the school's TikTok"
        union = asked | theirs
        weight = sum(index.idf(t) or 1.0 for t in union)
        shared = sum(index.idf(t) or 1.0 for t in asked & theirs)
        similarity = shared / weight if weight else 0.0
        if similarity >= LEARNED_SIMILARITY and (best is None or similarity > best[0]):
            best = (similarity, entry)
    return best[1] if best else None


LEARNED_SIMILARITY = 0.7


_FILLER = frozenset(
    {"so", "much", "very", "a", "lot", "you", "there", "again", "all", "for", "that"}
)


def smalltalk_in(knowledge: Knowledge, text: str) -> SmallTalk | None:
    """A message that is only a greeting, thanks or the like; None for anything more. It needs
    no policy document, so it works before one is loaded."""
    words = [w for w in tokens(text) if w not in _FILLER]
    if not words:
        return None
    for talk in knowledge.smalltalk:
        phrases = sorted((tuple(tokens(t)) for t in talk.terms), key=lambda p: -len(p))
        index = 0
        while index < len(words):
            phrase = next(
                (p for p in phrases if p and tuple(words[index : index + len(p)]) == p), None
            )
            if phrase is None:
                break
            index += len(phrase)
        else:
            return talk
    return None

"""Where the loaded document covers each topic the bot knows, found from what it says.

Headings are the school's to word as it likes, so they are never the key. A topic is placed
first by its passages: where a group of the passages its short answer was written against
appears word for word (bot.core.policy.passage_digest), the topic is there and its short answer
holds, whatever the heading above, however the sections are ordered, split or merged. Anywhere
else it is placed by content: its area's description, its answer, cues and example questions,
scored against each section's text (BM25, the heading counted as a little more text). A topic
placed by content has no short answer until the school reviews it; staff get the document's
own words instead. A topic nothing in the document is like is not placed, and gets no answer.
The school's review (bot.core.policy_review) overrides any of this for its policy version.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from bot.core.policy import Passage, PolicyDocument, Section
from bot.core.policy_knowledge import Knowledge, Topic
from bot.core.policy_words import Analyzer


class Basis(StrEnum):
    WORD_FOR_WORD = "word_for_word"  # a group of the passages its answer rests on is here
    CHANGED = "changed"  # a version of a document it was checked against, reworded here
    CONTENT = "content"  # found by what the sections say
    DECIDED = "decided"  # the school's review put it here
    NOT_COVERED = "not_covered"  # nothing in the document is like it, or the school said so


@dataclass(frozen=True, slots=True)
class Placement:
    topic: Topic
    basis: Basis
    # Where the topic is, best first, each with its weight against the best (1.0).
    sections: tuple[tuple[Section, float], ...]
    # The passages of the best section that say it: those its answer rests on, where present.
    passages: tuple[Passage, ...]
    # A short answer that may be served: the topic's own where its passages are here word for
    # word, the school's where it accepted or rewrote one; None means quote the document.
    answer: str | None
    strength: float = 0.0  # the content score that placed it (0 for word for word)

    @property
    def section(self) -> Section | None:
        return self.sections[0][0] if self.sections else None


# Content placement. A heading is a few words that say a lot: counted as this many copies.
HEADING_WEIGHT = 3.0
K1 = 1.2
B = 0.6
# What each part of a topic says about where it is: its area's description and its answer are
# in a policy's kind of words; cues and questions are in staff words.
DESCRIBE_WEIGHT = 0.6
ANSWER_WEIGHT = 1.0
CUE_WEIGHT = 0.8
ASK_WEIGHT = 0.4
EVERYDAY_WEIGHT = 0.3
PHRASED_TERMS = 25
PHRASED_SHARE = 0.05
PHRASED_WEIGHT = 2.0
# Other sections that hold a topic nearly as well as the best (a split section) share it.
SHARED_PLACE = 0.75
MAX_PLACES = 2
# Below this, nothing in the document is like the topic: it is not placed. Calibrated on the
# example school's policy with its word-for-word placements hidden (bench/policy_accuracy.py).
PLACE_MIN = 10.0
# A document in which this share of the topics are found word for word is a version of one the
# knowledge was checked against: its other topics' passages have changed, not gone missing.
KNOWN_VERSION_SHARE = 0.3


# A word in more than about half a document's sections says nothing about which one.
COMMON_IDF = math.log(2)


class SectionTexts:
    """BM25 over the sections of one document, for both questions and topics."""

    def __init__(self, document: PolicyDocument, analyzer: Analyzer) -> None:
        self.sections = document.answerable
        self._weights: list[dict[str, float]] = []
        for section in self.sections:
            weights: dict[str, float] = defaultdict(float)
            for term in analyzer.terms(section.short_title):
                weights[term] += HEADING_WEIGHT
            for term in analyzer.terms(section.text):
                weights[term] += 1.0
            self._weights.append(dict(weights))
        lengths = [sum(w.values()) for w in self._weights]
        average = sum(lengths) / max(len(lengths), 1)
        self._norms = [K1 * (1 - B + B * n / max(average, 1.0)) for n in lengths]
        seen: Counter[str] = Counter()
        for weights in self._weights:
            seen.update(weights.keys())
        count = len(self.sections)
        self.idf = {t: math.log(1 + (count - n + 0.5) / (n + 0.5)) for t, n in seen.items()}

    def shares_words(self, words: set[str], at_least: int) -> bool:
        """Whether one section uses `at_least` of `words`, none of them a word most sections
        use (school, staff)."""
        rare = {w for w in words if not w.startswith("@") and self.idf.get(w, 0.0) > COMMON_IDF}
        return len(rare) >= at_least and any(
            len(rare & weights.keys()) >= at_least for weights in self._weights
        )

    def uses_any(self, section: int, terms: frozenset[str]) -> bool:
        return section >= 0 and not terms.isdisjoint(self._weights[section].keys())

    def scores(self, query: Mapping[str, float]) -> list[float]:
        found: list[float] = []
        for weights, norm in zip(self._weights, self._norms, strict=True):
            score = 0.0
            for term, wanted in query.items():
                tf = weights.get(term)
                if tf:
                    score += wanted * self.idf[term] * tf * (K1 + 1) / (tf + norm)
            found.append(score)
        return found


def topic_profile(
    topic: Topic, describe: str, analyzer: Analyzer, everyday: frozenset[str] = frozenset()
) -> dict[str, float]:
    """What a topic's section says, as weighted terms. Everyday ideas (a pupil, a parent) are
    in every section of a staff policy, so they count for little."""
    profile: dict[str, float] = defaultdict(float)

    def add(terms: Iterable[str], weight: float) -> None:
        for term in set(terms):
            profile[term] += weight * (EVERYDAY_WEIGHT if term in everyday else 1.0)

    add(analyzer.terms(describe), DESCRIBE_WEIGHT)
    add(analyzer.terms(topic.answer), ANSWER_WEIGHT)
    for cue in topic.cues:
        add(analyzer.cue_terms(cue), CUE_WEIGHT)
    for ask in topic.asks:
        add(analyzer.terms(ask), ASK_WEIGHT)
    return dict(profile)


def topic_profiles(knowledge: Knowledge, analyzer: Analyzer) -> dict[str, dict[str, float]]:
    """Every topic's profile (see topic_profile), by key."""
    describe = {area.key: area.describe for area in knowledge.areas}
    everyday = _everyday(knowledge, analyzer)
    profiles = {
        t.key: topic_profile(t, describe.get(t.area, ""), analyzer, everyday)
        for t in knowledge.topics
    }
    # The staff phrasings of each area say, in many voices, what its sections are about: their
    # most used words join each of its topics' profiles, lightly.
    said: dict[str, Counter[str]] = defaultdict(Counter)
    for phrasing in knowledge.phrasings:
        for area in phrasing.areas:
            said[area].update(set(analyzer.terms(phrasing.question)))
    for topic in knowledge.topics:
        heard = said.get(topic.area)
        if not heard:
            continue
        count = sum(1 for p in knowledge.phrasings if topic.area in p.areas)
        for term, times in heard.most_common(PHRASED_TERMS):
            share = times / count
            if share >= PHRASED_SHARE:
                weight = PHRASED_WEIGHT * share * (EVERYDAY_WEIGHT if term in everyday else 1.0)
                profile = profiles[topic.key]
                profile[term] = profile.get(term, 0.0) + weight
    return profiles


def key_terms(knowledge: Knowledge, analyzer: Analyzer) -> dict[str, frozenset[str]]:
    """Each topic's own words: those of its cues, but for everyday ones. A section that uses
    none of them does not cover the topic, however much else it shares with it."""
    everyday = _everyday(knowledge, analyzer)
    return {
        t.key: frozenset(
            term for cue in t.cues for term in analyzer.cue_terms(cue) if term not in everyday
        )
        for t in knowledge.topics
    }


def _everyday(knowledge: Knowledge, analyzer: Analyzer) -> frozenset[str]:
    return frozenset(
        {"@" + c for c in knowledge.generic_concepts}
        | {
            term
            for concept in knowledge.generic_concepts
            for phrase in knowledge.concepts.get(concept, ())
            for term in analyzer.terms(phrase)
            if not term.startswith("@")
        }
    )


def best_passages(
    section: Section,
    wanted: Mapping[str, float],
    analyzer: Analyzer,
    idf: Mapping[str, float],
    limit: int = 2,
) -> tuple[Passage, ...]:
    """The passages of `section` that say most of what is wanted, in the document's order."""
    scored: list[tuple[float, int, Passage]] = []
    for index, passage in enumerate(section.passages):
        terms = set(analyzer.terms(passage.text))
        score = sum(idf.get(t, 0.0) * w for t, w in wanted.items() if t in terms)
        scored.append((score, index, passage))
    if not scored:
        return ()
    scored.sort(key=lambda s: (-s[0], s[1]))
    top = scored[0][0]
    chosen = [(i, p) for s, i, p in scored[:limit] if s >= 0.8 * top and s > 0]
    if not chosen:
        chosen = [(scored[0][1], scored[0][2])]
    return tuple(p for _, p in sorted(chosen, key=lambda c: c[0]))


def place_topics(
    document: PolicyDocument,
    knowledge: Knowledge,
    analyzer: Analyzer,
    texts: SectionTexts | None = None,
) -> dict[str, Placement]:
    texts = texts or SectionTexts(document, analyzer)
    where: dict[str, tuple[Section, Passage]] = {}
    for section in texts.sections:
        for passage in section.passages:
            where.setdefault(passage.digest, (section, passage))
    profiles = topic_profiles(knowledge, analyzer)
    keys = key_terms(knowledge, analyzer)

    found: dict[str, Placement] = {}
    unanchored: list[Topic] = []
    for topic in knowledge.topics:
        group = next((g for g in topic.rests_on if g and all(d in where for d in g)), None)
        if group is None:
            unanchored.append(topic)
            continue
        found[topic.key] = _word_for_word(
            topic, [where[d] for d in group], profiles[topic.key], analyzer, texts.idf
        )
    known_version = bool(found) and len(found) >= KNOWN_VERSION_SHARE * len(knowledge.topics)
    for topic in unanchored:
        profile = profiles[topic.key]
        scores = texts.scores(profile)
        best = max(scores, default=0.0)
        chosen = scores.index(best) if scores else -1
        if best < PLACE_MIN or not texts.uses_any(chosen, keys[topic.key]):
            found[topic.key] = Placement(topic, Basis.NOT_COVERED, (), (), None, best)
            continue
        ranked = sorted(zip(texts.sections, scores, strict=True), key=lambda s: -s[1])
        places = tuple(
            (s, score / best) for s, score in ranked[:MAX_PLACES] if score >= SHARED_PLACE * best
        )
        basis = Basis.CHANGED if known_version and topic.rests_on else Basis.CONTENT
        passages = best_passages(places[0][0], profile, analyzer, texts.idf)
        found[topic.key] = Placement(topic, basis, places, passages, None, best)
    return found


def _word_for_word(
    topic: Topic,
    held: Sequence[tuple[Section, Passage]],
    profile: Mapping[str, float],
    analyzer: Analyzer,
    idf: Mapping[str, float],
) -> Placement:
    """Placed where its passages are: the section holding most of them first, quoting those of
    them that say most of what the topic is about."""
    counts: Counter[int] = Counter()
    sections: dict[int, Section] = {}
    for section, _ in held:
        counts[id(section)] += 1
        sections[id(section)] = section
    places = tuple(
        (sections[key], count / counts.most_common(1)[0][1]) for key, count in counts.most_common()
    )
    first = places[0][0]
    order = {id(p): i for i, p in enumerate(first.passages)}
    own = tuple(sorted((p for s, p in held if s is first), key=lambda p: order[id(p)]))
    passages = best_passages(replace(first, passages=own), profile, analyzer, idf)
    return Placement(topic, Basis.WORD_FOR_WORD, places, passages, topic.answer or None)


# A sentence ends at . ! or ? followed by a space and a capital (or a quote or bracket).
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[A-Z0-9])")
SENTENCES_KEPT = 2


def best_sentences(passage: Passage, wanted: set[str], analyzer: Analyzer) -> Passage:
    """A long passage cut to the sentences that say most of what was asked (in their order,
    an ellipsis where some were left out), so the answer is the document's words, not a page."""
    sentences = _SENTENCE.split(passage.text)
    if len(sentences) <= SENTENCES_KEPT:
        return passage
    scored = [
        (len(wanted & set(analyzer.terms(sentence))), -index)
        for index, sentence in enumerate(sentences)
    ]
    kept = sorted(-i for _, i in sorted(scored, reverse=True)[:SENTENCES_KEPT])
    parts: list[str] = []
    for position, index in enumerate(kept):
        if position and index != kept[position - 1] + 1:
            parts.append("…")
        parts.append(sentences[index])
    if kept[-1] != len(sentences) - 1:
        parts.append("…")
    if kept[0] != 0:
        parts.insert(0, "…")
    return Passage(" ".join(parts), passage.lead)

"""The policy index: which section of the school's policy answers a question in staff words.

Staff do not use the policy's words ("a Year 8 added me on Snapchat"), so the ranking does not
rely on them alone. What the bot knows beyond the document (bot/knowledge) maps staff words to
shared concepts ("Year 8", "tutee", "kid" are all a pupil) and gives each section topics: cues,
example questions, a short answer and a next step; it also holds staff-style questions labelled
with their sections. A section's score adds three things: BM25 over its best topic's cues,
examples and the section's own text (with a bonus when every term of a cue is present); votes
from the labelled questions most like this one; and a naive Bayes model of all of them.
Nothing leaves the process.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bot.core.policy import Passage, PolicyDocument, Section, title_key
from bot.core.policy_knowledge import Knowledge, Topic, fitted, needing_review
from bot.core.policy_words import Analyzer

# Field weights: a cue is what the knowledge says points here; an example question is a
# phrasing; the section's own text is the policy's words, which staff rarely use.
CUE_WEIGHT = 1.5
ASK_WEIGHT = 1.0
TEXT_WEIGHT = 0.35
# Every term of a cue present in the question: the cue's idea is there, not only its words.
CUE_MATCH_BONUS = 1.0
K1 = 2.0
B = 0.5
# The staff phrasings (bot/knowledge/phrasings.tsv) vote too: the sections of the few most like
# the question, weighted by how alike they are.
NEIGHBOURS = 5
PHRASING_WEIGHT = 5.0
UNSEEN_IDF = 0.5
# And a naive Bayes model of the same phrasings (with the topics' cues and examples) adds its
# probability for each section: it learns which words go with which section across all of them.
BAYES_WEIGHT = 15.0
BAYES_SMOOTHING = 0.3
TOPIC_EXAMPLE_WEIGHT = 1.0


class _NaiveBayes:
    def __init__(
        self,
        phrasings: Sequence[tuple[frozenset[str], tuple[str, ...]]],
        topic_examples: Sequence[tuple[frozenset[str], str]],
    ) -> None:
        counts: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        totals: dict[str, float] = defaultdict(float)
        prior: dict[str, float] = defaultdict(float)
        for terms, keys in phrasings:
            share = 1 / len(keys)
            for key in keys:
                prior[key] += share
                for term in terms:
                    counts[key][term] += share
                    totals[key] += share
        for terms, key in topic_examples:
            for term in terms:
                counts[key][term] += TOPIC_EXAMPLE_WEIGHT
                totals[key] += TOPIC_EXAMPLE_WEIGHT
        vocabulary = len({t for c in counts.values() for t in c}) or 1
        everyone = sum(prior.values()) or 1.0
        self._prior = {k: math.log(prior[k] / everyone) for k in prior}
        self._log_chance = {
            key: {
                t: math.log((n + BAYES_SMOOTHING) / (totals[key] + BAYES_SMOOTHING * vocabulary))
                for t, n in counts[key].items()
            }
            for key in self._prior
        }
        self._unseen = {
            key: math.log(BAYES_SMOOTHING / (totals[key] + BAYES_SMOOTHING * vocabulary))
            for key in self._prior
        }

    def chances(self, terms: Iterable[str]) -> dict[str, float]:
        if not self._prior:
            return {}
        present = set(terms)
        scores = {
            key: prior + sum(self._log_chance[key].get(t, self._unseen[key]) for t in present)
            for key, prior in self._prior.items()
        }
        top = max(scores.values())
        weights = {key: math.exp(score - top) for key, score in scores.items()}
        total = sum(weights.values())
        return {key: weight / total for key, weight in weights.items()}


@dataclass(frozen=True, slots=True)
class SectionScore:
    section: Section
    score: float
    topic: Topic | None


@dataclass(frozen=True, slots=True)
class Ranking:
    question_terms: tuple[str, ...]
    sections: tuple[SectionScore, ...]  # best first

    @property
    def best(self) -> SectionScore | None:
        return self.sections[0] if self.sections else None


@dataclass
class _TopicIndex:
    topic: Topic | None
    section: Section
    weights: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    cues: list[frozenset[str]] = field(default_factory=list)
    length: float = 0.0


class PolicyIndex:
    """The loaded document and the knowledge that fits it, ready to rank questions."""

    def __init__(self, document: PolicyDocument, knowledge: Knowledge) -> None:
        knowledge = fitted(knowledge, document)
        self.document = document
        self.knowledge = knowledge
        self.analyzer = Analyzer(knowledge.concepts)
        self.reviews = needing_review(knowledge, document)
        held = {title_key(r.title) for r in self.reviews}
        self._entries: list[_TopicIndex] = []
        known_sections = {title_key(k.title): k for k in knowledge.sections}
        for section in document.answerable:
            text_terms = Counter(self.analyzer.terms(section.short_title + " " + section.text))
            known = known_sections.get(title_key(section.title))
            topics: Sequence[Topic | None] = known.topics if known and known.topics else (None,)
            for topic in topics:
                # Held-back topics still point to their section; only their answer waits.
                entry = _TopicIndex(None if title_key(section.title) in held else topic, section)
                for term, count in text_terms.items():
                    entry.weights[term] += TEXT_WEIGHT * count
                if topic is not None:
                    for cue in topic.cues:
                        terms = self.analyzer.cue_terms(cue)
                        for term in terms:
                            entry.weights[term] += CUE_WEIGHT
                        if len(set(terms)) > 1:
                            entry.cues.append(frozenset(terms))
                    for ask in topic.asks:
                        for term in self.analyzer.terms(ask):
                            entry.weights[term] += ASK_WEIGHT
                entry.length = sum(entry.weights.values())
                self._entries.append(entry)
        count = len(self._entries)
        self._average = sum(e.length for e in self._entries) / max(count, 1)
        frequency: Counter[str] = Counter()
        for entry in self._entries:
            frequency.update(entry.weights.keys())
        self._idf = {
            term: math.log(1 + (count - seen + 0.5) / (seen + 0.5))
            for term, seen in frequency.items()
        }
        self._policy_words = {
            term
            for phrase in knowledge.policy_words
            for term in self.analyzer.terms(phrase)
            if not term.startswith("@")
        }
        answerable = {title_key(s.title) for s in document.answerable}
        # Phrasings for a section the document no longer has wait for review, unused.
        orphans: Counter[str] = Counter(
            title
            for p in knowledge.phrasings
            for title in p.titles
            if title_key(title) not in answerable
        )
        self.orphan_phrasings: dict[str, int] = dict(orphans)
        self._phrasings = [
            (frozenset(self.analyzer.terms(p.question)), keys)
            for p in knowledge.phrasings
            if (keys := tuple(k for k in map(title_key, p.titles) if k in answerable))
        ]
        self._bayes = _NaiveBayes(self._phrasings, self._topic_examples(answerable))
        # Which phrasings use each term, and each phrasing's total weight, so a question is
        # compared only with the phrasings it shares a term with.
        self._postings: dict[str, list[int]] = defaultdict(list)
        self._phrasing_weight: list[float] = []
        for number, (used, _) in enumerate(self._phrasings):
            for term in used:
                self._postings[term].append(number)
            self._phrasing_weight.append(sum(self._weight(t) for t in used))

    def _weight(self, term: str) -> float:
        return self._idf.get(term) or UNSEEN_IDF

    def _topic_examples(self, answerable: set[str]) -> list[tuple[frozenset[str], str]]:
        """Each topic's cues and example questions, as examples of its section."""
        examples: list[tuple[frozenset[str], str]] = []
        for known in self.knowledge.sections:
            key = title_key(known.title)
            if key not in answerable:
                continue
            for topic in known.topics:
                for cue in topic.cues:
                    examples.append((frozenset(self.analyzer.cue_terms(cue)), key))
                for ask in topic.asks:
                    examples.append((frozenset(self.analyzer.terms(ask)), key))
        return examples

    def about_policy(self, terms: Iterable[str]) -> bool:
        """Whether a question touches the policy's subject at all: a concept other than the
        everyday ones (a pupil, a colleague), or a word such as 'online' or 'policy'."""
        generic = self.knowledge.generic_concepts
        return any(
            (t.startswith("@") and t[1:] not in generic) or t in self._policy_words for t in terms
        )

    def _neighbours(self, present: set[str]) -> dict[str, float]:
        """Votes from the staff phrasings most like the question: similarity weighted by the
        terms' rarity, so a shared 'school' counts for little and a shared '@pupil' for a lot."""
        shared: dict[int, float] = defaultdict(float)
        for term in present:
            weight = self._weight(term)
            for number in self._postings.get(term, ()):
                shared[number] += weight
        asked = sum(self._weight(t) for t in present)
        scored = [
            (common / (asked + self._phrasing_weight[number] - common), self._phrasings[number][1])
            for number, common in shared.items()
        ]
        scored.sort(key=lambda s: -s[0])
        votes: dict[str, float] = defaultdict(float)
        for similarity, keys in scored[:NEIGHBOURS]:
            for key in keys:
                votes[key] += similarity / len(keys)
        return votes

    def idf(self, term: str) -> float:
        return self._idf.get(term, 0.0)

    def rank(self, question: str) -> Ranking:
        terms = self.analyzer.terms(question)
        present = set(terms)
        best: dict[str, SectionScore] = {}
        for entry in self._entries:
            score = 0.0
            norm = K1 * (1 - B + B * entry.length / self._average)
            for term in present:
                weight = entry.weights.get(term)
                if weight:
                    score += self._idf[term] * weight * (K1 + 1) / (weight + norm)
            for cue in entry.cues:
                if cue <= present:
                    score += CUE_MATCH_BONUS * sum(self._idf.get(t, 0.0) for t in cue)
            key = title_key(entry.section.title)
            if key not in best or score > best[key].score:
                best[key] = SectionScore(entry.section, score, entry.topic)
        votes: dict[str, float] = defaultdict(float)
        for key, vote in self._neighbours(present).items():
            votes[key] += PHRASING_WEIGHT * vote
        for key, chance in self._bayes.chances(present).items():
            votes[key] += BAYES_WEIGHT * chance
        for key, vote in votes.items():
            if key in best:
                found = best[key]
                best[key] = SectionScore(found.section, found.score + vote, found.topic)
        ordered = sorted(best.values(), key=lambda s: -s.score)
        return Ranking(tuple(terms), tuple(ordered))

    def passages(
        self, section: Section, question_terms: Sequence[str], topic: Topic | None, limit: int = 2
    ) -> tuple[Passage, ...]:
        """The passages of `section` that best fit the question (and its topic's cues)."""
        wanted: dict[str, float] = defaultdict(float, {t: 2.0 for t in question_terms})
        if topic is not None:
            for cue in topic.cues:
                for term in self.analyzer.cue_terms(cue):
                    wanted[term] += 1.0
        scored: list[tuple[float, int, Passage]] = []
        for index, passage in enumerate(section.passages):
            terms = set(self.analyzer.terms(passage.text))
            score = sum(self.idf(t) * w for t, w in wanted.items() if t in terms)
            scored.append((score, index, passage))
        scored.sort(key=lambda s: (-s[0], s[1]))
        if not scored:
            return ()
        top = scored[0][0]
        chosen = [p for s, _, p in scored[:limit] if s >= 0.8 * top and s > 0] or [scored[0][2]]
        # Shown in the document's order, so a list reads as the school wrote it.
        order = {id(p): i for i, p in enumerate(section.passages)}
        return tuple(sorted(chosen, key=lambda p: order[id(p)]))

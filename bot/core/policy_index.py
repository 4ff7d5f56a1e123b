"""The policy index: which section of the school's policy answers a question in staff words.

Staff do not use the policy's words ("a Year 8 added me on Snapchat"), so the ranking does not
rely on them alone. What the bot knows beyond the document (bot/knowledge) maps staff words to
shared concepts ("Year 8", "tutee" and "kid" are all a pupil) and holds topics (cues, example
questions) and staff-style questions labelled with the areas they are about. None of it names a
heading: each topic is placed in the loaded document by policy_map, and a question's score for
a section adds what the question says about the topics placed there (BM25 over their cues and
examples, with a bonus when every term of a cue is present; votes from the labelled questions
most like this one; a naive Bayes model of all of them) to BM25 of the question over the
section's own words, which is all a section no topic is placed in has. Nothing leaves the
process.
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bot.core.policy import Passage, PolicyDocument, Section
from bot.core.policy_knowledge import Knowledge, Topic
from bot.core.policy_map import (
    Basis,
    Placement,
    SectionTexts,
    best_passages,
    place_topics,
    topic_profiles,
)
from bot.core.policy_words import Analyzer

# A cue is what the knowledge says points to a topic; an example question is a phrasing.
CUE_WEIGHT = 1.5
ASK_WEIGHT = 1.0
# Every term of a cue present in the question: the cue's idea is there, not only its words.
CUE_MATCH_BONUS = 1.0
K1 = 2.0
B = 0.5
# The question over a section's own words: the policy's words, which staff rarely use.
TEXT_WEIGHT = 3.0
# A topic placed by content may be placed wrongly, and a document the knowledge was not written
# for has sections it knows nothing of: there the section's own words count for more.
CONTENT_PLACED_TRUST = 0.3
# The question is also read in a policy's words: the profiles of the topics the knowledge says it
# is most likely about (what their sections say) join its own words, weighted by how likely.
# This needs no placement, so it helps most where topics were placed by content.
EXPANDED_TOPICS = 1
EXPANSION_WEIGHT = 0.1
# The staff phrasings (bot/knowledge/phrasings.tsv) vote too: the areas of the few most like
# the question, weighted by how alike they are.
NEIGHBOURS = 5
PHRASING_WEIGHT = 5.0
UNSEEN_IDF = 0.5
# And a naive Bayes model of the same phrasings (with the topics' cues and examples) adds its
# probability for each area: it learns which words go with which area across all of them.
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
    placement: Placement | None = None


@dataclass(frozen=True, slots=True)
class Ranking:
    question_terms: tuple[str, ...]
    sections: tuple[SectionScore, ...]  # best first

    @property
    def best(self) -> SectionScore | None:
        return self.sections[0] if self.sections else None


@dataclass
class _TopicEntry:
    topic: Topic
    weights: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    cues: list[frozenset[str]] = field(default_factory=list)
    length: float = 0.0


class KnowledgeModel:
    """What the knowledge says about a question, whatever the document: each topic's score and
    each area's votes. Built once per knowledge and shared by every version of the document."""

    def __init__(self, knowledge: Knowledge) -> None:
        self.knowledge = knowledge
        self.analyzer = Analyzer(knowledge.concepts)
        self.entries: list[_TopicEntry] = []
        for topic in knowledge.topics:
            entry = _TopicEntry(topic)
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
            self.entries.append(entry)
        count = len(self.entries)
        self._average = sum(e.length for e in self.entries) / max(count, 1)
        frequency: Counter[str] = Counter()
        for entry in self.entries:
            frequency.update(entry.weights.keys())
        self._idf = {
            term: math.log(1 + (count - seen + 0.5) / (seen + 0.5))
            for term, seen in frequency.items()
        }
        # The words of the everyday concepts (a pupil, a parent): every school document has them.
        self.everyday_words = {
            term
            for concept in knowledge.generic_concepts
            for phrase in knowledge.concepts.get(concept, ())
            for term in self.analyzer.terms(phrase)
            if not term.startswith("@")
        }
        self.profiles = topic_profiles(knowledge, self.analyzer)
        self.policy_words = {
            term
            for phrase in knowledge.policy_words
            for term in self.analyzer.terms(phrase)
            if not term.startswith("@")
        }
        areas = {a.key for a in knowledge.areas}
        self._phrasings = [
            (frozenset(self.analyzer.terms(p.question)), keys)
            for p in knowledge.phrasings
            if (keys := tuple(k for k in p.areas if k in areas))
        ]
        self._bayes = _NaiveBayes(self._phrasings, self._topic_examples())
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

    def idf(self, term: str) -> float:
        return self._idf.get(term, 0.0)

    def _topic_examples(self) -> list[tuple[frozenset[str], str]]:
        """Each topic's cues and example questions, as examples of its area."""
        examples: list[tuple[frozenset[str], str]] = []
        for topic in self.knowledge.topics:
            for cue in topic.cues:
                examples.append((frozenset(self.analyzer.cue_terms(cue)), topic.area))
            for ask in topic.asks:
                examples.append((frozenset(self.analyzer.terms(ask)), topic.area))
        return examples

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

    def topic_scores(self, present: set[str]) -> dict[str, float]:
        """Each topic's score for the question: its own BM25 and cues, and its area's votes."""
        votes: dict[str, float] = defaultdict(float)
        for key, vote in self._neighbours(present).items():
            votes[key] += PHRASING_WEIGHT * vote
        for key, chance in self._bayes.chances(present).items():
            votes[key] += BAYES_WEIGHT * chance
        scores: dict[str, float] = {}
        for entry in self.entries:
            score = votes.get(entry.topic.area, 0.0)
            norm = K1 * (1 - B + B * entry.length / self._average)
            for term in present:
                weight = entry.weights.get(term)
                if weight:
                    score += self._idf[term] * weight * (K1 + 1) / (weight + norm)
            for cue in entry.cues:
                if cue <= present:
                    score += CUE_MATCH_BONUS * sum(self._idf.get(t, 0.0) for t in cue)
            scores[entry.topic.key] = score
        return scores


# The models of the last few knowledges read. A process serving a school reads the packaged
# knowledge once; one that reads it again and again (a test suite) must not keep every model it
# ever built: their millions of small objects would make each garbage collection pass long
# enough to hold up a request.
_MODELS: OrderedDict[int, KnowledgeModel] = OrderedDict()
MODELS_KEPT = 2


def model_of(knowledge: Knowledge) -> KnowledgeModel:
    """One model per knowledge, built once while it is in use."""
    model = _MODELS.get(id(knowledge))
    if model is None or model.knowledge is not knowledge:
        model = _MODELS[id(knowledge)] = KnowledgeModel(knowledge)
        while len(_MODELS) > MODELS_KEPT:
            _MODELS.popitem(last=False)
    _MODELS.move_to_end(id(knowledge))
    return model


TRUSTED = (Basis.WORD_FOR_WORD, Basis.DECIDED)
# How many of a question's words one section must use, none of them everyday ones, for the
# question to be about the document even with no word the knowledge knows.
DOCUMENT_WORDS = 2


class PolicyIndex:
    """The loaded document and the knowledge placed in it, ready to rank questions."""

    def __init__(
        self,
        document: PolicyDocument,
        knowledge: Knowledge,
        placements: dict[str, Placement] | None = None,
    ) -> None:
        self.document = document
        self.knowledge = knowledge
        self.model = model_of(knowledge)
        self.analyzer = self.model.analyzer
        self._profiles = self.model.profiles
        self.texts = SectionTexts(document, self.analyzer)
        self.placements = (
            placements
            if placements is not None
            else place_topics(document, knowledge, self.analyzer, self.texts)
        )
        # For each section, the topics placed in it and how strongly.
        self._placed: dict[int, list[tuple[Placement, float, float]]] = defaultdict(list)
        for placement in self.placements.values():
            trust = 1.0 if placement.basis in TRUSTED else CONTENT_PLACED_TRUST
            for section, weight in placement.sections:
                self._placed[id(section)].append((placement, weight, trust))

    def with_placements(self, placements: dict[str, Placement]) -> PolicyIndex:
        """The same document and knowledge with the topics placed otherwise (a review)."""
        return PolicyIndex(self.document, self.knowledge, placements)

    def about_policy(self, terms: Iterable[str]) -> bool:
        """Whether a question touches the policy's subject at all: a concept other than the
        everyday ones (a pupil, a colleague), a word such as 'online' or 'policy', or words the
        document itself uses that say what a section is about (its Class Dojo, its Marketing
        Lead), not words any school document has."""
        generic = self.knowledge.generic_concepts
        asked = set(terms)
        if any(
            (t.startswith("@") and t[1:] not in generic) or t in self.model.policy_words
            for t in asked
        ):
            return True
        return self.texts.shares_words(asked - self.model.everyday_words, DOCUMENT_WORDS)

    def idf(self, term: str) -> float:
        return self.model.idf(term) or self.texts.idf.get(term, 0.0)

    def rank(self, question: str) -> Ranking:
        terms = self.analyzer.terms(question)
        present = set(terms)
        topic_scores = self.model.topic_scores(present)
        query: dict[str, float] = dict.fromkeys(present, TEXT_WEIGHT)
        likely = sorted(topic_scores.items(), key=lambda t: -t[1])[:EXPANDED_TOPICS]
        total = sum(score for _, score in likely)
        if total > 0 and EXPANSION_WEIGHT:
            for key, score in likely:
                share = EXPANSION_WEIGHT * score / total
                for term, weight in self._profiles[key].items():
                    query[term] = query.get(term, 0.0) + share * weight
        lexical = self.texts.scores(query)
        ranked: list[SectionScore] = []
        for section, text_score in zip(self.texts.sections, lexical, strict=True):
            # The topic the question is about is the best placed here, however it was placed
            # (a reworded passage must not hand its question to a neighbour's short answer);
            # how far its placement is trusted weighs only against other sections.
            best: tuple[float, float, Placement | None] = (0.0, 0.0, None)
            for placed, weight, trust in self._placed.get(id(section), ()):
                score = weight * topic_scores.get(placed.topic.key, 0.0)
                if best[2] is None or score > best[0]:
                    best = (score, score * trust, placed)
            chosen = best[2]
            ranked.append(
                SectionScore(
                    section, text_score + best[1], chosen.topic if chosen else None, chosen
                )
            )
        ranked.sort(key=lambda s: -s.score)
        return Ranking(tuple(terms), tuple(ranked))

    def passages(
        self, section: Section, question_terms: Sequence[str], topic: Topic | None, limit: int = 2
    ) -> tuple[Passage, ...]:
        """The passages of `section` that best fit the question (and its topic's cues)."""
        wanted: dict[str, float] = defaultdict(float, {t: 2.0 for t in question_terms})
        if topic is not None:
            for cue in topic.cues:
                for term in self.analyzer.cue_terms(cue):
                    wanted[term] += 1.0
        idf = {t: self.idf(t) for t in wanted}
        return best_passages(section, wanted, self.analyzer, idf, limit)

"""Policy questions: which section of the school's policy answers a question in staff words.

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
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from bot.core.people import UNSIGNED, Signature
from bot.core.policy import Passage, PolicyDocument, Section, title_key


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


class AnswerKind(StrEnum):
    ANSWERED = "answered"  # a section the bot is confident of
    UNSURE = "unsure"  # nearest passages shown, the IT Network Manager offered
    OFF_TOPIC = "off_topic"
    NO_POLICY = "no_policy"
    LEARNED = "learned"  # an answer the IT Network Manager gave before


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


# --- words ---------------------------------------------------------------------------------

_TOKEN = re.compile(r"[a-z0-9]+")
# Words that say nothing about which section a question is for; phrases still see them.
_STOPWORD_TEXT = """a an the and or but if of to in on at for from by with about as into onto
over under is am are was were be been being do does did doing have has had having can could
would should shall will may might must i me my mine we us our you your it its this that these
those there here what which who whom whose when where why how so too very just really quite
also any some all not no yes than then them they their he she him her his hers up out off get
got go going gone went s t ll re ve d m im ive id dont cant wont isnt arent wasnt didnt doesnt
shouldnt couldnt wouldnt ok okay please thanks hi hello one ask asked asking need want wanted
know think like let make made still even actually someone something thing bit lot anyone
anything everything mean meant suppose"""


# Four-letter words whose final s is not a plural.
_KEEP_S = frozenset(
    {"news", "does", "goes", "this", "thus", "has", "was", "yes", "bus", "gas", "plus"}
    | {"less", "miss", "boss", "loss", "pass"}
)


def _stem(token: str) -> str:
    if len(token) == 4 and token.endswith("s") and token not in _KEEP_S:
        return token if token.endswith(("ss", "us", "is")) else token[:-1]  # pics, kids, mums
    if len(token) <= 4 or token.isdigit():
        return token
    for suffix, keep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if suffix == "es" and token[-3:-2] not in ("s", "x", "z", "h"):
            continue  # sites -> site, but boxes -> box
        if token.endswith(suffix) and not token.endswith(("ss", "us", "is")):
            stem = token[: -len(suffix)] + keep
            if len(stem) >= 3:
                token = stem
                break
    if len(token) > 4 and token[-1] == token[-2] and token[-1] not in "aeioulsz":
        token = token[:-1]
    if len(token) > 4 and token.endswith("e"):
        token = token[:-1]
    return token


_STOPWORDS = frozenset(_STOPWORD_TEXT.split()) | {_stem(w) for w in _STOPWORD_TEXT.split()}


def tokens(text: str) -> list[str]:
    """Lower-case word stems; numbers become '#', apostrophes vanish ("don't" -> dont)."""
    lowered = text.casefold().replace("\u2019", "'").replace("'s ", " ").replace("'", "")
    out: list[str] = []
    for raw in _TOKEN.findall(lowered):
        if raw.isdigit():
            out.append("#")
        elif len(raw) <= 3 and raw[0] in "yk" and raw[1:].isdigit():
            out.append(raw[0] + "#")  # Y8, KS3
        else:
            out.append(_stem(raw))
    return out


class Analyzer:
    """Turns text into terms: word stems (stopwords dropped) and concept tags ('@pupil')."""

    def __init__(self, concepts: Mapping[str, Iterable[str]]) -> None:
        self._phrases: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for concept, terms in concepts.items():
            for term in terms:
                sequence = tuple(tokens(term))
                if sequence:
                    self._phrases.setdefault(sequence[0], []).append((sequence, "@" + concept))
        for candidates in self._phrases.values():
            candidates.sort(key=lambda c: -len(c[0]))

    def terms(self, text: str) -> list[str]:
        words = tokens(text)
        found: list[str] = [w for w in words if (w not in _STOPWORDS and len(w) > 1) or w == "#"]
        seen: set[str] = set()
        covered_to = 0
        for index, word in enumerate(words):
            longest = 0
            for sequence, concept in self._phrases.get(word, ()):
                if len(sequence) < longest:
                    break
                end = index + len(sequence)
                # Inside a longer phrase already read ("social media"), a shorter one
                # ("media") is not a concept of its own.
                if end <= covered_to or tuple(words[index:end]) != sequence:
                    continue
                longest = len(sequence)
                if concept not in seen:
                    found.append(concept)
                    seen.add(concept)
            covered_to = max(covered_to, index + longest)
        return found

    def cue_terms(self, cue: str) -> list[str]:
        """A cue may name concepts directly ('@pupil @friend_request') or be plain words."""
        named = [part for part in cue.split() if part.startswith("@")]
        plain = " ".join(part for part in cue.split() if not part.startswith("@"))
        return named + (self.terms(plain) if plain else [])


# --- ranking -------------------------------------------------------------------------------

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


# --- answering -----------------------------------------------------------------------------

# Calibrated by cross-validation on the staff phrasings (bench/policy_accuracy.py): a best
# section this strong and this far ahead of the next (a share of its score) was the right one
# for about nine questions in ten (84% of them were confident); below it the bot says it is
# not sure.
CONFIDENT = ((20.0, 0.3), (15.0, 0.5))
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
    held_for_review: bool = False  # the best section's short answer waits for review


def answer_question(index: PolicyIndex, question: str) -> Answer:
    ranking = index.rank(question)
    ranked = ranking.sections[:NEAREST]
    best = ranking.best
    if best is None or best.score <= 0 or not index.about_policy(ranking.question_terms):
        # Rather than the nearest passages to a question about lunch or the wifi.
        return Answer(AnswerKind.OFF_TOPIC, OFF_TOPIC, False, (), ())
    runner_up = ranking.sections[1].score if len(ranking.sections) > 1 else 0.0
    lead = (best.score - runner_up) / best.score
    confident = any(best.score >= score and lead >= share for score, share in CONFIDENT)
    if confident:
        passages = index.passages(best.section, ranking.question_terms, best.topic)
        held = best.topic is None and any(
            title_key(r.title) == title_key(best.section.title) for r in index.reviews
        )
        text = best.topic.answer if best.topic else HELD if held else FROM_SECTION
        return Answer(
            AnswerKind.ANSWERED,
            text,
            True,
            ranked,
            (Quoted(best.section, passages),),
            best.topic,
            held,
        )
    quoted = tuple(
        Quoted(s.section, index.passages(s.section, ranking.question_terms, s.topic, limit=1))
        for s in ranked
    )
    return Answer(AnswerKind.UNSURE, UNSURE, False, ranked, quoted)


OFF_TOPIC = (
    "That does not look like a question about the staff Social Media Policy, which is what I "
    "answer. Ask me about it in your own words - for example, whether you can use your own "
    "phone for photos of a school trip."
)
UNSURE = (
    "I am not sure the policy settles that, so I will not guess. These are the nearest "
    "passages; the IT Network Manager can give you a proper answer."
)
FROM_SECTION = "This is what the policy says about it."
HELD = (
    "The policy's wording here has changed since my short answer was checked, so here is what "
    "it says now."
)


def similar_learned(
    index: PolicyIndex, question: str, learned: Sequence[LearnedAnswer]
) -> LearnedAnswer | None:
    """An earlier answer from the IT Network Manager to much the same question, while the
    policy it was given for still reads the same."""
    asked = set(index.analyzer.terms(question))
    if not asked:
        return None
    generic = index.knowledge.generic_concepts

    def ideas(terms: set[str]) -> set[str]:
        return {t for t in terms if t.startswith("@") and t[1:] not in generic}

    best: tuple[float, LearnedAnswer] | None = None
    for entry in learned:
        if not entry.still_fits(index.document):
            continue
        theirs = set(index.analyzer.terms(entry.question))
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

"""How often the bot puts an acceptable section of a policy first, and within the first three,
for questions phrased the way staff phrase them; how often its confident answers are right; and
how long answering takes.

    .venv/bin/python bench/policy_accuracy.py [--show-misses] [--set NAME ...]

The sets, each a policy and `question<TAB>acceptable title|another title` lines (# comments):
- first-school: ../shared/policy/social-media-policy.txt with bench/questions/held-out.tsv,
  written apart from the bot's knowledge and never tuned on (skipped where ../shared is absent);
- first-school-renamed: the same document with every heading renamed by
  bench/rename_headings.py (body untouched) and the labels renamed with it;
- willowbrook-primary and harbour-trust: policies of fictional schools in bench/policies, with
  questions written before anyone saw how they rank. The knowledge was written without either
  document or its questions (nothing in bot/knowledge comes from them), so each is held out.
The staff phrasings the bot ships (bot/knowledge/phrasings.tsv) are also measured by 5-fold
cross-validation on the first school's policy: each fifth is asked of a bot that knows only the
other four fifths. "Confident" is an answer marked as the answer (not "not sure").
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.core.policy import PolicyDocument, parse_policy, title_key
from bot.core.questions import (
    AnswerKind,
    Knowledge,
    PolicyIndex,
    answer_question,
)
from bot.knowledge import load_knowledge, read_phrasings

HERE = Path(__file__).parent
SHARED_POLICY = HERE.parent.parent / "shared" / "policy" / "social-media-policy.txt"
QUESTIONS = HERE / "questions"
POLICIES = HERE / "policies"
# Two more schools' policies and questions, written the same way, that the ranking's constants
# were tuned on: their figures are not held out, and are printed as "dev".
DEV = HERE / "dev"
FOLDS = 5

Labelled = list[tuple[str, set[str]]]


def read_set(text: str) -> Labelled:
    """The same format as the bot's own phrasings, read the same way."""
    return [(p.question, {title_key(t) for t in p.areas}) for p in read_phrasings(text)]


@dataclasses.dataclass
class Score:
    asked: int = 0
    first: int = 0
    top3: int = 0
    confident: int = 0
    confident_right: int = 0
    off_topic: int = 0

    def line(self) -> str:
        n = max(self.asked, 1)
        return (
            f"{self.asked} questions, first {self.first / n:.1%}, top three {self.top3 / n:.1%}; "
            f"confident for {self.confident / n:.0%}, right when confident "
            f"{self.confident_right / max(self.confident, 1):.1%}; off-topic {self.off_topic}"
        )


def measure(
    index: PolicyIndex,
    rows: Labelled,
    timings: list[float],
    show_misses: bool = False,
    keys: Callable[[str], set[str]] | None = None,
) -> Score:
    score = Score()
    for question, wanted in rows:
        started = time.perf_counter()
        answer = answer_question(index, question)
        timings.append(time.perf_counter() - started)
        ranking = index.rank(question)
        titles = [title_key(s.section.title) for s in ranking.sections]
        if keys is not None:
            wanted = {k for area in wanted for k in keys(area)}
        score.asked += 1
        score.first += titles[0] in wanted
        score.top3 += bool(wanted & set(titles[:3]))
        score.off_topic += answer.kind is AnswerKind.OFF_TOPIC
        if answer.confident:
            score.confident += 1
            right = title_key(answer.ranked[0].section.title) in wanted
            score.confident_right += right
            if show_misses and not right:
                print(f"  WRONG CONFIDENT {question[:90]!r} -> {titles[0]}")
        if show_misses and titles[0] not in wanted:
            got = ", ".join(
                f"{s.section.short_title[:30]} {s.score:.1f}" for s in ranking.sections[:3]
            )
            print(f"  MISS {question[:90]!r}\n       want {sorted(wanted)} got {got}")
    return score


def area_sections(index: PolicyIndex) -> Callable[[str], set[str]]:
    """Where the document holds an area: every section one of its topics is placed in."""

    def keys(area: str) -> set[str]:
        return {
            title_key(section.title)
            for placement in index.placements.values()
            if placement.topic.area == area
            for section, _ in placement.sections
        }

    return keys


def cross_validate(document: PolicyDocument, knowledge: Knowledge, timings: list[float]) -> Score:
    phrasings = knowledge.phrasings
    total = Score()
    for fold in range(FOLDS):
        kept = tuple(p for i, p in enumerate(phrasings) if i % FOLDS != fold)
        asked = [(p.question, set(p.areas)) for i, p in enumerate(phrasings) if i % FOLDS == fold]
        index = PolicyIndex(document, dataclasses.replace(knowledge, phrasings=kept))
        score = measure(index, asked, timings, keys=area_sections(index))
        for field in dataclasses.fields(Score):
            setattr(total, field.name, getattr(total, field.name) + getattr(score, field.name))
    return total


def sets() -> dict[str, tuple[PolicyDocument, Labelled] | str]:
    """Each set's document and questions, or why it is skipped."""
    found: dict[str, tuple[PolicyDocument, Labelled] | str] = {}
    held_out = (QUESTIONS / "held-out.tsv").read_text("utf-8")
    if SHARED_POLICY.exists():
        from bench.rename_headings import relabel, renamed

        text = SHARED_POLICY.read_text("utf-8")
        found["first-school"] = (
            parse_policy(text.encode(), SHARED_POLICY.name),
            read_set(held_out),
        )
        try:
            new_text, renaming = renamed(text)
        except Exception as error:
            new_text, renaming = text, {}
            print(error)
        found["first-school-renamed"] = (
            parse_policy(new_text.encode(), SHARED_POLICY.name),
            read_set(relabel(held_out, renaming)),
        )
    else:
        found["first-school"] = found["first-school-renamed"] = f"{SHARED_POLICY} is absent"
    for folder, prefix in ((HERE, ""), (DEV, "dev ")):
        for policy in sorted((folder / "policies").glob("*.*")):
            questions = folder / "questions" / f"{policy.stem}.tsv"
            if questions.exists():
                document = parse_policy(policy.read_bytes(), policy.name)
                found[prefix + policy.stem] = (document, read_set(questions.read_text("utf-8")))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--set", action="append", dest="only", help="measure only these sets")
    parser.add_argument("--show-misses", action="store_true")
    args = parser.parse_args()

    started = time.perf_counter()
    knowledge = load_knowledge()
    timings: list[float] = []
    for name, found in sets().items():
        if args.only and name not in args.only:
            continue
        if isinstance(found, str):
            print(f"{name}: skipped ({found})")
            continue
        document, rows = found
        index = PolicyIndex(document, knowledge)
        print(f"{name}: {measure(index, rows, timings, args.show_misses).line()}", flush=True)
        if name == "first-school" and not args.only:
            print(f"phrasings, {FOLDS}-fold: {cross_validate(document, knowledge, timings).line()}")
            off = [x for x in (QUESTIONS / "off-topic.txt").read_text("utf-8").splitlines()]
            lines = [x for x in off if x.strip() and not x.startswith("#")]
            caught = sum(answer_question(index, x).kind is AnswerKind.OFF_TOPIC for x in lines)
            print(f"off-topic.txt: {caught} of {len(lines)} said to be off-topic")
    ms = sorted(t * 1000 for t in timings)
    if ms:
        print(
            f"answer: {len(ms)} questions, p50 {statistics.median(ms):.2f} ms, "
            f"p95 {ms[int(len(ms) * 0.95)]:.2f} ms, max {ms[-1]:.2f} ms "
            f"(all sets in {time.perf_counter() - started:.0f} s)"
        )


if __name__ == "__main__":
    main()

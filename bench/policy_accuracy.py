"""How often the bot puts the right section of the policy first, and within the first three,
for questions phrased the way staff phrase them; and how long ranking a question takes.

    .venv/bin/python bench/policy_accuracy.py [--policy PATH] [--show-misses] [FILE.tsv ...]

Each file holds `question<TAB>acceptable title|another title` lines (# starts a comment).
bench/questions/held-out.tsv was written apart from the bot's knowledge and never tuned on: its
figure is the honest one. The staff phrasings the bot ships (bot/knowledge/phrasings.tsv) are
also measured by 5-fold cross-validation: each fifth is asked of a bot that knows only the
other four fifths.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path

from bot.core.policy import PolicyDocument, parse_policy, title_key
from bot.core.questions import AnswerKind, Knowledge, PolicyIndex, answer_question
from bot.knowledge import load_knowledge, read_phrasings

HERE = Path(__file__).parent
DEFAULT_POLICY = HERE.parent.parent / "shared" / "policy" / "social-media-policy.txt"
DEFAULT_SETS = [HERE / "questions" / "held-out.tsv"]
FOLDS = 5

Labelled = list[tuple[str, set[str]]]


def read_set(path: Path) -> Labelled:
    """The same format as the bot's own phrasings, read the same way."""
    return [
        (p.question, {title_key(t) for t in p.titles})
        for p in read_phrasings(path.read_text("utf-8"))
    ]


def measure(index: PolicyIndex, rows: Labelled, show_misses: bool, timings: list[float]) -> str:
    first = top3 = 0
    for question, wanted in rows:
        started = time.perf_counter()
        ranking = index.rank(question)
        timings.append(time.perf_counter() - started)
        titles = [title_key(s.section.title) for s in ranking.sections]
        first += titles[0] in wanted
        top3 += bool(wanted & set(titles[:3]))
        if show_misses and titles[0] not in wanted:
            got = ", ".join(
                f"{s.section.short_title[:30]} {s.score:.1f}" for s in ranking.sections[:3]
            )
            print(f"  MISS {question[:90]!r}\n       want {sorted(wanted)} got {got}")
    n = len(rows)
    return f"{n} questions, first {first / n:.1%}, top three {top3 / n:.1%}"


def cross_validate(document: PolicyDocument, knowledge: Knowledge, timings: list[float]) -> str:
    phrasings = knowledge.phrasings
    first = top3 = confident = confident_right = off_topic = 0
    for fold in range(FOLDS):
        kept = tuple(p for i, p in enumerate(phrasings) if i % FOLDS != fold)
        asked = [p for i, p in enumerate(phrasings) if i % FOLDS == fold]
        index = PolicyIndex(document, dataclasses.replace(knowledge, phrasings=kept))
        for phrasing in asked:
            wanted = {title_key(t) for t in phrasing.titles}
            started = time.perf_counter()
            titles = [title_key(s.section.title) for s in index.rank(phrasing.question).sections]
            timings.append(time.perf_counter() - started)
            first += titles[0] in wanted
            top3 += bool(wanted & set(titles[:3]))
            answer = answer_question(index, phrasing.question)
            off_topic += answer.kind is AnswerKind.OFF_TOPIC
            if answer.confident:
                confident += 1
                confident_right += title_key(answer.ranked[0].section.title) in wanted
    n = len(phrasings)
    return (
        f"{n} questions, first {first / n:.1%}, top three {top3 / n:.1%}; confident for "
        f"{confident / n:.0%}, right when confident {confident_right / max(confident, 1):.1%}; "
        f"taken for off-topic {off_topic}"
    )


def off_topic(index: PolicyIndex, path: Path) -> str:
    lines = [x for x in path.read_text("utf-8").splitlines() if x.strip() and x[0] != "#"]
    caught = sum(answer_question(index, x).kind is AnswerKind.OFF_TOPIC for x in lines)
    return f"{caught} of {len(lines)} said to be off-topic"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("sets", nargs="*", type=Path, default=DEFAULT_SETS)
    parser.add_argument("--policy", type=Path, default=DEFAULT_POLICY)
    parser.add_argument("--show-misses", action="store_true")
    args = parser.parse_args()

    started = time.perf_counter()
    document = parse_policy(args.policy.read_bytes(), args.policy.name)
    knowledge = load_knowledge()
    index = PolicyIndex(document, knowledge)
    print(f"load: policy and knowledge ready in {(time.perf_counter() - started) * 1000:.0f} ms")

    timings: list[float] = []
    for path in args.sets:
        print(f"{path.name}: {measure(index, read_set(path), args.show_misses, timings)}")
    print(f"phrasings, {FOLDS}-fold: {cross_validate(document, knowledge, timings)}")
    print(f"off-topic.txt: {off_topic(index, HERE / 'questions' / 'off-topic.txt')}")
    ms = sorted(t * 1000 for t in timings)
    print(
        f"rank: {len(ms)} questions, p50 {statistics.median(ms):.2f} ms, "
        f"p95 {ms[int(len(ms) * 0.95)]:.2f} ms, max {ms[-1]:.2f} ms"
    )


if __name__ == "__main__":
    main()

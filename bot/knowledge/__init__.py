"""What the bot knows beyond the school's policy document, kept as data beside the code
(policy-answers.yaml) and read into the core's types."""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import yaml

from bot.core.policy_knowledge import (
    Area,
    Knowledge,
    NextKind,
    NextStep,
    Phrasing,
    SmallTalk,
    Topic,
)
from bot.core.reports import ReportKind

KNOWLEDGE_FILE = "policy-answers.yaml"
PHRASINGS_FILE = "phrasings.tsv"


class KnowledgeError(Exception):
    pass


def load_knowledge(text: str | None = None, phrasings: str | None = None) -> Knowledge:
    """The packaged knowledge, or `text` (and `phrasings`) in the same formats."""
    if text is None and phrasings is None:
        return _packaged()
    return _read(text, phrasings)


@functools.cache
def _packaged() -> Knowledge:
    """Read once per process: the package's files do not change while it runs, and every
    policy read (each new version, each bot a test starts) would otherwise parse them and build
    the ranking's model of them again."""
    return _read(None, None)


def _read(text: str | None, phrasings: str | None) -> Knowledge:
    package = resources.files(__package__)
    if text is None:
        text = package.joinpath(KNOWLEDGE_FILE).read_text("utf-8")
    if phrasings is None:
        phrasings = package.joinpath(PHRASINGS_FILE).read_text("utf-8")
    raw = yaml.safe_load(text)
    if not isinstance(raw, dict):
        raise KnowledgeError("the knowledge file is not a mapping")
    concepts = {
        str(name): tuple(str(t) for t in _list(terms, f"concept {name}"))
        for name, terms in (raw.get("concepts") or {}).items()
    }
    smalltalk = tuple(
        SmallTalk(
            str(kind),
            tuple(str(t) for t in _list(entry.get("terms"), kind)),
            str(entry["reply"]).strip(),
        )
        for kind, entry in (raw.get("smalltalk") or {}).items()
    )
    areas = []
    for area in _list(raw.get("areas"), "areas"):
        key = str(area["area"])
        topics = tuple(_topic(key, t) for t in _list(area.get("topics"), key))
        areas.append(Area(key, " ".join(str(area.get("describe") or "").split()), topics))
    keys = [t.key for a in areas for t in a.topics]
    if len(keys) != len(set(keys)):
        raise KnowledgeError("topic keys must be unique")
    known = {a.key for a in areas}
    read = read_phrasings(phrasings)
    for phrasing in read:
        unknown = [a for a in phrasing.areas if a not in known]
        if unknown:
            raise KnowledgeError(f"{PHRASINGS_FILE}: {phrasing.question!r} names no area {unknown}")
    return Knowledge(
        concepts,
        smalltalk,
        tuple(areas),
        read,
        generic_concepts=frozenset(str(c) for c in _list(raw.get("generic_concepts"), "generic")),
        policy_words=tuple(str(w) for w in _list(raw.get("policy_words"), "policy_words")),
        example_policy=frozenset(str(d) for d in _list(raw.get("example_policy"), "example")),
    )


def read_phrasings(text: str) -> tuple[Phrasing, ...]:
    """`question<TAB>area|another area` lines (for the bench: section titles); # starts a
    comment."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        question, tab, titles = line.partition("\t")
        if not tab or not question.strip() or not titles.strip():
            raise KnowledgeError(f"{PHRASINGS_FILE} line {number}: expected question<TAB>areas")
        found.append(Phrasing(question.strip(), tuple(t.strip() for t in titles.split("|"))))
    return tuple(found)


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise KnowledgeError(f"{where}: expected a list")
    return value


def _topic(area: str, raw: dict[str, Any]) -> Topic:
    step = raw.get("next")
    if step and step.get("report") and step["report"] not in {k.value for k in ReportKind}:
        raise KnowledgeError(f"{raw['key']}: next.report {step['report']!r} is not a report kind")
    return Topic(
        key=str(raw["key"]),
        area=area,
        answer=" ".join(str(raw.get("answer") or "").split()),
        cues=tuple(str(c) for c in _list(raw.get("cues"), raw["key"])),
        asks=tuple(str(a) for a in _list(raw.get("asks"), raw["key"])),
        next=NextStep(
            NextKind(step["kind"]),
            " ".join(str(step["text"]).split()),
            str(step["report"]) if step.get("report") else None,
        )
        if step
        else None,
        rests_on=tuple(
            frozenset(str(group).split()) for group in _list(raw.get("rests_on"), raw["key"])
        ),
    )

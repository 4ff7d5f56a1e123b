"""Reference numbers people quote: P-0001 for draft posts, R-0001 for reports, Q-0001
for policy questions sent to the IT Network Manager."""

from __future__ import annotations

import re
from enum import StrEnum


class RefKind(StrEnum):
    POST = "P"
    REPORT = "R"
    QUESTION = "Q"


_REF = re.compile(r"^(?P<kind>[A-Z])-(?P<number>\d{4,})$")


def format_reference(kind: RefKind, number: int) -> str:
    if number < 1:
        raise ValueError("reference numbers start at 1")
    return f"{kind.value}-{number:04d}"


def parse_reference(text: str) -> tuple[RefKind, int] | None:
    match = _REF.match(text.strip().upper())
    if match is None:
        return None
    try:
        kind = RefKind(match["kind"])
    except ValueError:
        return None
    return kind, int(match["number"])

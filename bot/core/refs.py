"""Reference numbers people quote: P-0001 for draft posts, R-0001 for reports, Q-0001
for policy questions sent to the IT Network Manager."""

from __future__ import annotations

from enum import StrEnum


class RefKind(StrEnum):
    POST = "P"
    REPORT = "R"
    QUESTION = "Q"


def format_reference(kind: RefKind, number: int) -> str:
    if number < 1:
        raise ValueError("reference numbers start at 1")
    return f"{kind.value}-{number:04d}"

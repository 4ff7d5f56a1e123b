"""Text as people typed it, made safe to keep and show."""

from __future__ import annotations


def printable(text: str) -> str:
    """Text as typed, without control characters or lone surrogates (PostgreSQL refuses NUL
    in text, and no encoder takes a lone surrogate)."""
    return "".join(c for c in text if c.isprintable() or c in "\n\t")

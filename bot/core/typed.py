"""Text as people typed it, made safe to keep and show."""

from __future__ import annotations


def printable(text: str) -> str:
    """Text as typed, without control characters or lone surrogates (PostgreSQL refuses NUL
    in text, and no encoder takes a lone surrogate)."""
    return "".join(c for c in text if c.isprintable() or c in "\n\t")


# The store keeps ids as 32-bit integers; a longer number is not one of ours, and a
# database would refuse it (PostgreSQL: "value out of int32 range") rather than find nothing.
ID_MAX = 2**31 - 1


def parse_id(text: str, *, signed: bool = False) -> int | None:
    """A record's id as a button's value or a form's context carries it; None for anything
    else. `signed`: ids kept apart from the shared sequences are negative (an anonymous
    report's, see bot.store.models.detached_ids)."""
    digits = text.removeprefix("-") if signed else text
    if not (digits.isascii() and digits.isdecimal() and 0 < len(digits) <= len(str(ID_MAX))):
        return None
    number = int(text)
    return number if -ID_MAX <= number <= ID_MAX else None

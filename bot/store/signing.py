"""How a row keeps who acted: the name and identity the directory gave them then, beside
their key, so that a record still says who it was after the configuration changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.core.people import UNSIGNED, Signature

Signer = Callable[[str | None], Signature]


def unsigned(key: str | None) -> Signature:
    return UNSIGNED


def signed_values(prefix: str, signed: Signature) -> dict[str, str | None]:
    return {f"{prefix}_name": signed.name, f"{prefix}_identity": signed.identity}


def signature_in(row: Any, prefix: str) -> Signature:
    return Signature(getattr(row, f"{prefix}_name"), getattr(row, f"{prefix}_identity"))

"""A Slack modal's submitted state, read through the handlers' FormValues protocol.

Slack keys `view.state.values` by block id and then by action id; the bot gives every input
block and its element the input's name, so both keys are the name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.core.people import Directory, Identity, Platform
from bot.core.posts import AttachmentRef
from bot.slack import blockkit


class SlackFormValues:
    def __init__(self, view: Mapping[str, Any], directory: Directory) -> None:
        state = view.get("state")
        values = state.get("values") if isinstance(state, dict) else None
        self._values: Mapping[str, Any] = values if isinstance(values, dict) else {}
        self._directory = directory
        view_id = view.get("id")
        self._form_key = f"slack:{view_id}" if isinstance(view_id, str) else None
        metadata = view.get("private_metadata")
        self._context = metadata if isinstance(metadata, str) else ""

    @property
    def form_key(self) -> str | None:
        return self._form_key

    @property
    def context(self) -> str:
        return self._context

    def names(self) -> tuple[str, ...]:
        return tuple(self._values)

    def _element(self, name: str) -> Mapping[str, Any]:
        block = self._values.get(name)
        element = block.get(name) if isinstance(block, dict) else None
        return element if isinstance(element, dict) else {}

    def _string(self, name: str, key: str) -> str | None:
        value = self._element(name).get(key)
        return value if isinstance(value, str) else None

    def text(self, name: str) -> str:
        return self._string(name, "value") or ""

    def choice(self, name: str) -> str:
        chosen = self._element(name).get("selected_option")
        return str(chosen.get("value") or "") if isinstance(chosen, dict) else ""

    def searched(self, name: str) -> str:
        # An external select answers with selected_option, as a static one does.
        return self.choice(name)

    def choices(self, name: str) -> tuple[str, ...]:
        options = self._element(name).get("selected_options")
        if not isinstance(options, list):
            return ()
        return tuple(str(o["value"]) for o in options if isinstance(o, dict) and "value" in o)

    def confirmed(self, name: str) -> bool:
        return blockkit.CONFIRMED in self.choices(name)

    def date(self, name: str) -> str | None:
        return self._string(name, "selected_date")

    def time(self, name: str) -> str | None:
        return self._string(name, "selected_time")

    def people(self, name: str) -> tuple[str, ...]:
        users = self._element(name).get("selected_users")
        return tuple(
            self._directory.resolve(Identity(Platform.SLACK, user)).key
            for user in (users if isinstance(users, list) else [])
            if isinstance(user, str) and user
        )

    def files(self, name: str) -> tuple[AttachmentRef, ...]:
        files = self._element(name).get("files")
        found = (slack_file(f) for f in (files if isinstance(files, list) else []))
        return tuple(ref for ref in found if ref)


def slack_file(raw: Any) -> AttachmentRef | None:
    """A file as a file input (or a message) carries it."""
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
        return None
    url = raw.get("url_private_download") or raw.get("url_private")
    if not isinstance(url, str):
        return None
    size = raw.get("size")
    return AttachmentRef(
        platform=Platform.SLACK,
        source_id=raw["id"],
        name=str(raw.get("name") or raw.get("title") or raw["id"])[:500],
        mimetype=str(raw.get("mimetype") or "application/octet-stream")[:200],
        size=size if isinstance(size, int) and size >= 0 else 0,
        download_url=url,
    )

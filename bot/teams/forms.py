"""What a person sends the bot in Teams, read into the handlers' neutral shapes: a card's
submitted inputs through the FormValues protocol, and the files sent with a chat message.

Adaptive Card inputs come back as strings: a multi-select as its values joined by commas, a
toggle as its on or off value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from botbuilder.schema import Activity

from bot.core.people import Platform
from bot.core.posts import MAX_ATTACHMENTS, AttachmentRef
from bot.teams import cards as adaptive

FILE_DOWNLOAD_INFO = "application/vnd.microsoft.teams.file.download.info"


class TeamsFormValues:
    """`files`: the files sent in the chat for this form, kept on the server (a card cannot
    carry files, and what comes back from a card is the client's to change)."""

    def __init__(
        self,
        data: Mapping[str, Any],
        prefix: str,
        files: Sequence[AttachmentRef] = (),
    ) -> None:
        self._data = data
        self._prefix = prefix
        self._files = tuple(files)
        key = str(data.get(adaptive.FORM_ID_KEY) or "")[:64]
        self._form_key = f"teams:{key}" if key else None
        self._context = str(data.get(adaptive.CONTEXT_KEY) or "")

    @property
    def form_key(self) -> str | None:
        return self._form_key

    @property
    def context(self) -> str:
        return self._context

    def typed(self) -> dict[str, Any]:
        """The values a person entered, by input name, without the card's own data: to fill
        the form in again after a refusal."""
        prefix = self._prefix
        return {
            key[len(prefix) :]: value
            for key, value in self._data.items()
            if key.startswith(prefix) and not key.startswith(adaptive.RESERVED_PREFIX)
        }

    def names(self) -> tuple[str, ...]:
        return tuple(self.typed())

    def text(self, name: str) -> str:
        value = self._data.get(self._prefix + name)
        return value if isinstance(value, str) else ""

    def choice(self, name: str) -> str:
        return self.text(name)

    def searched(self, name: str) -> str:
        return self.text(name)

    def choices(self, name: str) -> tuple[str, ...]:
        return tuple(value for value in self.text(name).split(",") if value)

    def confirmed(self, name: str) -> bool:
        return self.text(name) == adaptive.CONFIRMED

    def date(self, name: str) -> str | None:
        return self.text(name) or None

    def time(self, name: str) -> str | None:
        return self.text(name) or None

    def people(self, name: str) -> tuple[str, ...]:
        # Teams has no people picker in a card: the choices are the directory's keys.
        return self.choices(name)

    def files(self, name: str) -> tuple[AttachmentRef, ...]:
        return self._files


def files_sent(activity: Activity) -> list[AttachmentRef]:
    """Photos and files sent with a message: Teams' file download info for files, and an
    image's own address for a picture pasted into the message."""
    found: list[AttachmentRef] = []
    for index, attachment in enumerate(activity.attachments or []):
        content_type = str(attachment.content_type or "")
        content = attachment.content if isinstance(attachment.content, dict) else {}
        if content_type == FILE_DOWNLOAD_INFO:
            url = content.get("downloadUrl")
            source = content.get("uniqueId") or f"{activity.id}:{index}"
            kind = str(content.get("fileType") or "")
            mimetype = _MIME.get(kind.lower(), "application/octet-stream")
        elif content_type.startswith("image/"):
            url = attachment.content_url
            source = f"{activity.id}:{index}"
            kind = content_type.split("/", 1)[1]
            mimetype = content_type
        else:
            continue
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            continue
        # A pasted picture comes as image/*: Teams names neither it nor its type.
        extension = f".{kind}" if kind and kind != "*" else ""
        name = str(attachment.name or f"photo-{index + 1}{extension}")[:500]
        found.append(
            AttachmentRef(
                platform=Platform.TEAMS,
                source_id=str(source)[:200],
                name=name,
                mimetype=mimetype[:200],
                size=0,
                download_url=url,
            )
        )
    return found[: MAX_ATTACHMENTS + 1]


_MIME = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "heic": "image/heic",
    "webp": "image/webp",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "pdf": "application/pdf",
}

"""What the platform edges keep in the database, kept for them here so that no edge holds SQL
or imports the store: the Slack requests already taken, and where each person is reached in
Teams, the files they sent in the chat, and which card a click came from.

Work done for a request shares its database budget (Runtime.write and .read); work done for
the delivery worker is bounded by the statement timeouts instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.outcome import Outcome
from bot.core.people import Platform
from bot.core.ports import UnitOfWork
from bot.core.posts import AttachmentRef
from bot.runtime import Runtime
from bot.store import outbox, seen
from bot.store import teams as teams_store
from bot.store.teams import SentFile, TeamsConversation

__all__ = ["SeenRequests", "SentFile", "TeamsConversation", "TeamsRecords"]


class SeenRequests:
    """Slack requests already acted on (bot/slack/replay.py decides what names one)."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    async def first_sighting(self, digest: str, keep_until: datetime, now: datetime) -> bool:
        return await self._runtime.write(
            lambda db: seen.first_sighting(db, digest, keep_until, now)
        )

    async def purge(self, now: datetime) -> int:
        return await self._runtime.write(lambda db: seen.purge(db, now))


class TeamsRecords:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._reach = runtime.teams_reach

    # --- for a request -----------------------------------------------------------------------

    def unchanged(self, record: TeamsConversation) -> bool:
        """Whether the database already holds this address for them, as far as known."""
        return self._reach.unchanged(record)

    async def remember(self, record: TeamsConversation, now: datetime, *, release: bool) -> bool:
        """Keep where the person is reached; True if messages waiting for them are now due."""
        aad = record.aad_object_id
        self._reach.drop(aad)
        released = await self._runtime.write(
            lambda db: teams_store.remember(db, record, now, release=release)
        )
        self._reach.knew(aad, record)
        return released

    async def removed(self, aad_object_id: str, reason: str, now: datetime) -> None:
        """They removed the app: their messages wait until they add it again."""
        self._reach.drop(aad_object_id)
        await self._runtime.write(lambda db: teams_store.forget(db, aad_object_id, reason, now))
        self._reach.knew(aad_object_id, None)

    async def keep_uploads(
        self, form_key: str, aad_object_id: str, files: Sequence[AttachmentRef], now: datetime
    ) -> None:
        kept = [_file_json(f) for f in files]
        await self._runtime.write(
            lambda db: teams_store.keep_uploads(db, form_key, aad_object_id, kept, now)
        )

    async def uploads(self, form_key: str, aad_object_id: str) -> tuple[AttachmentRef, ...]:
        """The files kept under `form_key` for the person who sent them; () for anyone else."""
        if not form_key or not aad_object_id:
            return ()
        kept = await self._runtime.read(
            lambda db: teams_store.uploads_for(db, form_key, aad_object_id)
        )
        return tuple(ref for ref in (_file_of(f) for f in kept) if ref)

    async def perform_on_card(
        self,
        work: Callable[[UnitOfWork], Awaitable[Outcome]],
        conversation_id: str | None,
        message_id: str | None,
    ) -> tuple[Outcome, str | None]:
        """Run `work`, and say which tracked card (by key) the message clicked is, read in the
        same transaction rather than on another connection."""
        clicked: str | None = None

        async def find_clicked_card(db: AsyncConnection) -> None:
            nonlocal clicked
            if conversation_id and message_id:
                clicked = await teams_store.card_at(db, conversation_id, message_id)

        outcome = await self._runtime.perform(work, also=find_clicked_card)
        return outcome, clicked

    async def queue_answer(
        self, recipient_key: str, aad_object_id: str, payload: Mapping[str, Any], now: datetime
    ) -> None:
        """An answer Teams would not take now: it waits in the outbox like every message."""
        await self._runtime.write(
            lambda db: outbox.queue(db, [_message(recipient_key, aad_object_id, payload, now)])
        )
        self._runtime.wake_delivery()

    # --- for the delivery worker ------------------------------------------------------------

    def address_of(self, aad_object_id: str) -> TeamsConversation | None:
        return self._reach.address_of(aad_object_id)

    async def conversation_with(self, aad_object_id: str) -> TeamsConversation | None:
        async with self._runtime.engine.connect() as db:
            return await self._reach.conversation_with(db, aad_object_id)

    def known_service_url(self, conversation_id: str) -> str | None:
        return self._reach.known_service_url(conversation_id)

    async def service_url_of(self, conversation_id: str) -> str | None:
        async with self._runtime.engine.connect() as db:
            return await self._reach.service_url_of(db, conversation_id)

    async def unreachable(self, aad_object_id: str, reason: str, now: datetime) -> None:
        """Teams said they blocked or removed the bot: the next activity from them is
        written again."""
        self._reach.drop(aad_object_id)
        async with self._runtime.engine.begin() as db:
            await teams_store.forget(db, aad_object_id, reason, now)

    async def sent_file(self, url: str) -> tuple[SentFile | None, set[str]]:
        """Who sent the file at `url`, and the Bot Connector addresses the bot's token may go."""
        async with self._runtime.engine.connect() as db:
            return await teams_store.sent_file(db, url), await teams_store.service_urls(db)

    async def queue_notice(
        self, recipient_key: str, aad_object_id: str, payload: Mapping[str, Any], now: datetime
    ) -> None:
        async with self._runtime.engine.begin() as db:
            await outbox.queue(db, [_message(recipient_key, aad_object_id, payload, now)])
        self._runtime.wake_delivery()


def _message(
    recipient_key: str, aad_object_id: str, payload: Mapping[str, Any], now: datetime
) -> outbox.Row:
    return outbox.message(
        platform=Platform.TEAMS.value,
        recipient_key=recipient_key,
        address=aad_object_id,
        card_key=None,
        payload=payload,
        now=now,
    )


def _file_json(ref: AttachmentRef) -> dict[str, Any]:
    return {"id": ref.source_id, "name": ref.name, "type": ref.mimetype, "url": ref.download_url}


def _file_of(raw: Any) -> AttachmentRef | None:
    if not isinstance(raw, dict):
        return None
    url, name = raw.get("url"), raw.get("name")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        return None
    return AttachmentRef(
        platform=Platform.TEAMS,
        source_id=str(raw.get("id") or url)[:200],
        name=str(name or "file")[:500],
        mimetype=str(raw.get("type") or "application/octet-stream")[:200],
        size=0,
        download_url=url,
    )

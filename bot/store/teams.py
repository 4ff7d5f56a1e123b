"""Where the bot can reach each person in Teams, and the messages that wait for it.

A bot may message someone in Teams only once it has a conversation with them: the person (or
their admin) installs the app, Teams tells the bot, and the bot keeps the conversation's
address. Until then, and while someone has blocked or removed the bot, their messages wait in
the outbox; installing it again sends them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.models import CARDS, OUTBOX, TEAMS_CONVERSATIONS, TEAMS_UPLOADS
from bot.store.outbox import MESSAGE, PENDING, SHARE, UPDATE

TEAMS = "teams"


@dataclass(frozen=True, slots=True)
class TeamsConversation:
    aad_object_id: str
    tenant_id: str | None
    service_url: str
    conversation_id: str
    user_id: str
    bot_id: str
    name: str | None = None


async def remember(
    db: AsyncConnection, conversation: TeamsConversation, now: datetime, *, release: bool = False
) -> bool:
    """Keep (or refresh) where a person is reached. Messages waiting for them are made due
    when they were not reachable before, or when `release` says so (an install: a card
    update Teams refused while they had blocked the bot left their row as it was). True if
    any were."""
    before = (
        await db.execute(
            select(
                TEAMS_CONVERSATIONS.c.conversation_id,
                TEAMS_CONVERSATIONS.c.service_url,
                TEAMS_CONVERSATIONS.c.unreachable_since,
            ).where(TEAMS_CONVERSATIONS.c.aad_object_id == conversation.aad_object_id)
        )
    ).one_or_none()
    if (
        before is not None
        and before.unreachable_since is None
        and before.conversation_id == conversation.conversation_id
        and before.service_url == conversation.service_url
    ):
        # Every message refreshes the address; most change nothing, so skip the write.
        return release and await release_waiting(db, conversation.aad_object_id, now) > 0
    values = {
        "tenant_id": conversation.tenant_id,
        "service_url": conversation.service_url,
        "conversation_id": conversation.conversation_id,
        "user_id": conversation.user_id,
        "bot_id": conversation.bot_id,
        "name": conversation.name[:200] if conversation.name else None,
        # To the day only: a person's own row touched at the second they make an anonymous
        # report (their first message after a restart, a new conversation) would name them.
        "updated_at": now.replace(hour=0, minute=0, second=0, microsecond=0),
        "unreachable_since": None,
        "unreachable_reason": None,
    }
    insert = (
        postgresql_insert(TEAMS_CONVERSATIONS)
        if db.dialect.name == "postgresql"
        else sqlite_insert(TEAMS_CONVERSATIONS)
    )
    await db.execute(
        insert.values(aad_object_id=conversation.aad_object_id, **values).on_conflict_do_update(
            index_elements=[TEAMS_CONVERSATIONS.c.aad_object_id], set_=values
        )
    )
    return await release_waiting(db, conversation.aad_object_id, now) > 0


async def release_waiting(db: AsyncConnection, aad_object_id: str, now: datetime) -> int:
    """Messages, card updates and the files beneath cards waiting for this person are due
    now."""
    result = await db.execute(
        update(OUTBOX)
        .where(
            OUTBOX.c.platform == TEAMS,
            OUTBOX.c.address == aad_object_id,
            OUTBOX.c.status == PENDING,
            OUTBOX.c.kind.in_((MESSAGE, UPDATE, SHARE)),
        )
        .values(next_attempt_at=now)
    )
    return int(result.rowcount)


async def forget(db: AsyncConnection, aad_object_id: str, reason: str, now: datetime) -> None:
    """The person removed or blocked the bot: their messages wait until they add it again."""
    await db.execute(
        update(TEAMS_CONVERSATIONS)
        .where(
            TEAMS_CONVERSATIONS.c.aad_object_id == aad_object_id,
            TEAMS_CONVERSATIONS.c.unreachable_since.is_(None),
        )
        .values(unreachable_since=now, unreachable_reason=reason[:200])
    )


async def conversation_with(db: AsyncConnection, aad_object_id: str) -> TeamsConversation | None:
    row = (
        await db.execute(
            select(TEAMS_CONVERSATIONS).where(
                TEAMS_CONVERSATIONS.c.aad_object_id == aad_object_id,
                TEAMS_CONVERSATIONS.c.unreachable_since.is_(None),
            )
        )
    ).one_or_none()
    return None if row is None else _conversation(row)


def _conversation(row: Any) -> TeamsConversation:
    return TeamsConversation(
        row.aad_object_id,
        row.tenant_id,
        row.service_url,
        row.conversation_id,
        row.user_id,
        row.bot_id,
        row.name,
    )


async def service_url_of(db: AsyncConnection, conversation_id: str) -> str | None:
    url: str | None = await db.scalar(
        select(TEAMS_CONVERSATIONS.c.service_url)
        .where(TEAMS_CONVERSATIONS.c.conversation_id == conversation_id)
        .limit(1)
    )
    return url


@dataclass(frozen=True, slots=True)
class TeamsReach:
    """An operator's view of one configured Teams identity."""

    aad_object_id: str
    conversation_id: str | None
    unreachable_since: datetime | None
    unreachable_reason: str | None


async def reach_of(db: AsyncConnection, aad_object_ids: Iterable[str]) -> dict[str, TeamsReach]:
    wanted = sorted(set(aad_object_ids))
    rows = await db.execute(
        select(TEAMS_CONVERSATIONS).where(TEAMS_CONVERSATIONS.c.aad_object_id.in_(wanted))
    )
    return {
        r.aad_object_id: TeamsReach(
            r.aad_object_id, r.conversation_id, r.unreachable_since, r.unreachable_reason
        )
        for r in rows
    }


async def names(db: AsyncConnection) -> dict[str, str]:
    """Display names Teams gave, for showing people the configuration does not name."""
    rows = await db.execute(
        select(TEAMS_CONVERSATIONS.c.aad_object_id, TEAMS_CONVERSATIONS.c.name).where(
            TEAMS_CONVERSATIONS.c.name.is_not(None)
        )
    )
    return {r.aad_object_id: r.name for r in rows}


@dataclass(frozen=True, slots=True)
class TeamsMember:
    """Someone who has added the bot in Teams, as Teams named them."""

    aad_object_id: str
    name: str | None
    # Since when they have removed or blocked it, if they have.
    unreachable_since: datetime | None


async def members(db: AsyncConnection) -> list[TeamsMember]:
    """Everyone who has ever added the bot in Teams, by name: Teams tells the bot nobody
    else's object id."""
    rows = await db.execute(
        select(
            TEAMS_CONVERSATIONS.c.aad_object_id,
            TEAMS_CONVERSATIONS.c.name,
            TEAMS_CONVERSATIONS.c.unreachable_since,
        ).order_by(TEAMS_CONVERSATIONS.c.name, TEAMS_CONVERSATIONS.c.aad_object_id)
    )
    return [TeamsMember(r.aad_object_id, r.name, r.unreachable_since) for r in rows]


async def service_urls(db: AsyncConnection) -> set[str]:
    """The Bot Connector addresses Teams has sent from: the bot's token goes only there."""
    rows = await db.execute(select(TEAMS_CONVERSATIONS.c.service_url).distinct())
    return {r.service_url for r in rows}


# A draft form is filled in within minutes; its files' record is kept a week, then dropped.
UPLOADS_KEPT = timedelta(days=7)


async def keep_uploads(
    db: AsyncConnection,
    form_key: str,
    aad_object_id: str,
    files: Sequence[Mapping[str, Any]],
    now: datetime,
) -> None:
    await purge_uploads(db, now)
    await db.execute(
        insert(TEAMS_UPLOADS).values(
            form_key=form_key,
            aad_object_id=aad_object_id,
            files=[dict(f) for f in files],
            created_at=now,
        )
    )


async def purge_uploads(db: AsyncConnection, now: datetime) -> None:
    await db.execute(delete(TEAMS_UPLOADS).where(TEAMS_UPLOADS.c.created_at < now - UPLOADS_KEPT))


async def uploads_for(
    db: AsyncConnection, form_key: str, aad_object_id: str
) -> list[dict[str, Any]]:
    """The files sent with the `post` that opened this form, by the person it was sent to."""
    files = await db.scalar(
        select(TEAMS_UPLOADS.c.files).where(
            TEAMS_UPLOADS.c.form_key == form_key,
            TEAMS_UPLOADS.c.aad_object_id == aad_object_id,
        )
    )
    return [f for f in files if isinstance(f, dict)] if isinstance(files, list) else []


class ReachCache:
    """Who can be reached in Teams, and where, as this instance last read or wrote it.

    Routing a message, and every activity a person sends, would otherwise read their row.
    An entry lasts a minute, so that a change another instance sharing the database made (an
    install, a block) is seen soon; in this instance a change updates it at once. Only a
    known address is trusted for sending: "not reachable" is read afresh before a message is
    put back to wait, since an install elsewhere may just have released it.
    """

    def __init__(self, ttl_seconds: float = 60.0) -> None:
        self._ttl = ttl_seconds
        self._entries: dict[str, tuple[TeamsConversation | None, float]] = {}
        self._service_urls: dict[str, tuple[str, float]] = {}

    def _fresh(self, aad_object_id: str) -> tuple[bool, TeamsConversation | None]:
        entry = self._entries.get(aad_object_id)
        if entry is None or time.monotonic() - entry[1] > self._ttl:
            return False, None
        return True, entry[0]

    def knew(self, aad_object_id: str, conversation: TeamsConversation | None) -> None:
        now = time.monotonic()
        self._entries[aad_object_id] = (conversation, now)
        if conversation is not None:
            self._service_urls[conversation.conversation_id] = (conversation.service_url, now)

    def drop(self, aad_object_id: str) -> None:
        """Before a write about them: until it commits, ask the database."""
        self._entries.pop(aad_object_id, None)

    def address_of(self, aad_object_id: str) -> TeamsConversation | None:
        """Where to send to them, if this instance knows it now."""
        return self._fresh(aad_object_id)[1]

    def unchanged(self, conversation: TeamsConversation) -> bool:
        """Whether the database already holds this address for them, as far as known."""
        known = self.address_of(conversation.aad_object_id)
        return known is not None and (known.conversation_id, known.service_url) == (
            conversation.conversation_id,
            conversation.service_url,
        )

    async def conversation_with(
        self, db: AsyncConnection, aad_object_id: str
    ) -> TeamsConversation | None:
        found = await conversation_with(db, aad_object_id)
        self.knew(aad_object_id, found)
        return found

    def known_service_url(self, conversation_id: str) -> str | None:
        entry = self._service_urls.get(conversation_id)
        if entry is None or time.monotonic() - entry[1] > self._ttl:
            return None
        return entry[0]

    async def service_url_of(self, db: AsyncConnection, conversation_id: str) -> str | None:
        """Where to reach the chat a card was sent to (Teams may move a chat)."""
        known = await service_url_of(db, conversation_id)
        if known is not None:
            self._service_urls[conversation_id] = (known, time.monotonic())
        return known

    async def reachable(self, db: AsyncConnection, aad_object_ids: Iterable[str]) -> set[str]:
        found: set[str] = set()
        missing: list[str] = []
        for aad in set(aad_object_ids):
            fresh, known = self._fresh(aad)
            if not fresh:
                missing.append(aad)
            elif known is not None:
                found.add(aad)
        if missing:
            rows = await db.execute(
                select(TEAMS_CONVERSATIONS).where(
                    TEAMS_CONVERSATIONS.c.aad_object_id.in_(sorted(missing)),
                    TEAMS_CONVERSATIONS.c.unreachable_since.is_(None),
                )
            )
            read = {r.aad_object_id: _conversation(r) for r in rows}
            for aad in missing:
                self.knew(aad, read.get(aad))
            found.update(read)
        return found


async def card_at(db: AsyncConnection, conversation_id: str, message_id: str) -> str | None:
    """Which tracked card the message `message_id` of a Teams chat is, if any."""
    key: str | None = await db.scalar(
        select(CARDS.c.card_key).where(
            CARDS.c.platform == TEAMS,
            CARDS.c.channel == conversation_id,
            CARDS.c.message_id == message_id,
        )
    )
    return key


@dataclass(frozen=True, slots=True)
class SentFile:
    aad_object_id: str
    name: str
    mimetype: str


async def sent_file(db: AsyncConnection, url: str) -> SentFile | None:
    """Who sent the file at `url`, under what name and claiming what type: as the Teams
    message that brought it was recorded (kept a week; a file is fetched once its form is
    sent, well within that)."""
    rows = await db.execute(
        select(TEAMS_UPLOADS.c.aad_object_id, TEAMS_UPLOADS.c.files).order_by(
            TEAMS_UPLOADS.c.created_at.desc()
        )
    )
    for row in rows:
        for file in row.files if isinstance(row.files, list) else []:
            if isinstance(file, dict) and file.get("url") == url:
                return SentFile(
                    row.aad_object_id,
                    str(file.get("name") or "file"),
                    str(file.get("type") or "application/octet-stream"),
                )
    return None

"""A draft's whole story for the record: every version, every change of state and who made it, and
the links it went live at."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.ports import HistoryEntry, UnitOfWork, VersionEntry
from bot.core.posts import (
    LiveLink,
    PostRecord,
)


@dataclass(frozen=True, slots=True)
class PostHistory:
    post: PostRecord
    versions: tuple[VersionEntry, ...]
    events: tuple[HistoryEntry, ...]
    links: tuple[LiveLink, ...]


async def history_of(uow: UnitOfWork, reference: str) -> PostHistory | None:
    post = await uow.posts.find(reference)
    if post is None:
        return None
    versions = await uow.posts.versions(post.id)
    return PostHistory(
        post=post,
        versions=tuple(versions),
        events=tuple(await uow.history.of("post", post.id)),
        links=await uow.posts.links(post.id),
    )

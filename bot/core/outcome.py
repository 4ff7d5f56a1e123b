"""What a handler returns: what the actor sees now, and what others are sent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bot.core.people import Person, Platform
from bot.core.ui import Form, FormErrors, Message


@dataclass(frozen=True, slots=True)
class Notify:
    """A message for someone, stored before it is sent and delivered at least once.

    `card_key` names the card so that a later outcome can update every copy in place.
    `attachments` are ids of files the bot keeps, delivered after the message (in its thread
    where the platform has threads), because the recipient may not be able to open the
    submitter's own copy.
    """

    recipient: Person
    message: Message
    card_key: str | None = None
    attachments: tuple[int, ...] = ()
    # Which state of its subject the card shows (see CardUpdate).
    revision: int | None = None


@dataclass(frozen=True, slots=True)
class CardUpdate:
    """Show `message` on every copy of the card `card_key`, for everyone it was sent to.

    `revision` orders updates: a copy already showing a later revision is left alone, so
    updates delivered out of order never put an old state back.
    """

    card_key: str
    message: Message
    revision: int
    # Only these people (by key) still see `message`; the other copies show `withdrawn`
    # (someone whose role has gone, or who is now named in what the card shows). None: all.
    visible_to: frozenset[str] | None = None
    withdrawn: Message | None = None


@dataclass(frozen=True, slots=True)
class Schedule:
    """Run the timer `name` at `due` (UTC), once, even with several instances running."""

    name: str
    due: datetime
    args: Mapping[str, str | int]


@dataclass(frozen=True, slots=True)
class FetchAttachment:
    """Fetch a file the platform holds, so the bot keeps its own copy."""

    attachment_id: int
    platform: Platform
    download_url: str


@dataclass(frozen=True, slots=True)
class Outcome:
    reply: Message | None = None
    form: Form | None = None
    errors: FormErrors = field(default_factory=FormErrors)
    notifications: tuple[Notify, ...] = ()
    fetches: tuple[FetchAttachment, ...] = ()
    card_updates: tuple[CardUpdate, ...] = ()
    schedules: tuple[Schedule, ...] = ()
    # It concerns an anonymous report: the messages and timers it queues take ids outside
    # the shared sequence, so none sits next to a row of whoever made it.
    detached: bool = False
    # The message clicked (or the one its form sits in), as it now reads, shown in its place
    # to the clicker alone: for a message no card_key tracks, such as an answer only its asker
    # was shown. Ignored where the click's route keeps the card as it is (beside_card).
    replaces_clicked: Message | None = None

    @property
    def refused(self) -> bool:
        return bool(self.errors)

"""What the terminal chat holds in place of Slack and Teams: each person's inbox (the messages
and cards the bot sent them), and the timers the bot asked for.

A card is kept by its card_key and changed in place by a CardUpdate, as on a platform: a copy
already showing a later revision stays, and someone the update no longer shows it to sees what
it says instead (`withdrawn`). Each button in a person's inbox has a number of its own, never
reused, so a number typed for a card since changed presses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.core import plaintext
from bot.core.outcome import CardUpdate, Notify, Outcome, Schedule
from bot.core.people import Person
from bot.core.ui import Button, Message


@dataclass
class Shown:
    """One message in a person's inbox, as they last saw it or as it now stands."""

    message: Message
    card_key: str | None = None
    revision: int | None = None
    # The number of its first button; the others follow.
    first_button: int = 0
    files: int = 0
    seen: bool = False
    changed: bool = False

    @property
    def buttons(self) -> tuple[Button, ...]:
        return plaintext.buttons_of(self.message.blocks)

    def render(self) -> str:
        text = plaintext.render_message(self.message, self.first_button)
        if self.files:
            text += (
                f"\n({self.files} file{'s' if self.files != 1 else ''} with this message: "
                "not shown in the terminal)"
            )
        return text


@dataclass
class Timer:
    schedule: Schedule
    ran: bool = False


@dataclass
class Inboxes:
    """Everyone's inbox, by person key; and the timers asked for, in the order asked."""

    _messages: dict[str, list[Shown]] = field(default_factory=dict)
    _next_button: dict[str, int] = field(default_factory=dict)
    timers: list[Timer] = field(default_factory=list)
    # Files the bot would have fetched from a platform: none here (the terminal takes none).
    fetches_skipped: int = 0
    # Whose inbox the follow-ups taken since `touched` was last asked reached.
    _touched: set[str] = field(default_factory=set)

    def take(self, outcome: Outcome) -> None:
        """A committed outcome's follow-ups, kept here instead of the outbox."""
        for notify in outcome.notifications:
            self._deliver(notify)
        for update in outcome.card_updates:
            self._update(update)
        self.timers.extend(Timer(s) for s in outcome.schedules)
        self.fetches_skipped += len(outcome.fetches)

    def touched(self) -> set[str]:
        """The keys of everyone whose inbox changed since this was last asked."""
        touched, self._touched = self._touched, set()
        return touched

    def reply(self, person: Person, message: Message) -> Shown:
        """An answer to what the person did, shown to them at once. Kept in their inbox only
        if it has buttons to press later: a receipt code is shown once, as on a platform, and
        never again to whoever takes `/as` at this terminal afterwards."""
        shown = Shown(message, seen=True)
        self._number(person.key, shown)
        if shown.buttons:
            self._messages.setdefault(person.key, []).append(shown)
        return shown

    def redraw(self, person: Person, shown: Shown, message: Message) -> None:
        """A message of the person's own that no card key tracks (an answer, now with their
        vote), changed in place as the click's outcome says it now reads."""
        self._change(person.key, shown, message, shown.revision)

    def unseen(self, person: Person) -> list[Shown]:
        """What arrived or changed for the person since they last looked, now seen."""
        fresh = [s for s in self._messages.get(person.key, []) if not s.seen]
        for shown in fresh:
            shown.seen = True
        return fresh

    def all_of(self, person: Person) -> list[Shown]:
        return list(self._messages.get(person.key, []))

    def waiting(self, key: str) -> int:
        """How many unseen messages the person with this key has."""
        return sum(1 for s in self._messages.get(key, []) if not s.seen)

    def button(self, person: Person, number: int) -> tuple[Shown, Button] | None:
        for shown in self._messages.get(person.key, []):
            buttons = shown.buttons
            if shown.first_button <= number < shown.first_button + len(buttons):
                return shown, buttons[number - shown.first_button]
        return None

    def _number(self, key: str, shown: Shown) -> None:
        first = self._next_button.get(key, 1)
        shown.first_button = first
        self._next_button[key] = first + len(shown.buttons)

    def _deliver(self, notify: Notify) -> None:
        key = notify.recipient.key
        if notify.card_key is not None:
            kept = self._card(key, notify.card_key)
            if kept is not None:
                # The same card sent again (a reminder that replaces it): changed in place.
                if _newer(notify.revision, kept.revision):
                    self._change(key, kept, notify.message, notify.revision)
                return
        shown = Shown(
            notify.message, notify.card_key, notify.revision, files=len(notify.attachments)
        )
        self._touched.add(key)
        self._number(key, shown)
        self._messages.setdefault(key, []).append(shown)

    def _update(self, update: CardUpdate) -> None:
        for key, messages in self._messages.items():
            for shown in messages:
                if shown.card_key != update.card_key or not _newer(update.revision, shown.revision):
                    continue
                hidden = update.visible_to is not None and key not in update.visible_to
                message = (
                    update.withdrawn if hidden and update.withdrawn is not None else update.message
                )
                self._change(key, shown, message, update.revision)

    def _change(self, key: str, shown: Shown, message: Message, revision: int | None) -> None:
        self._touched.add(key)
        shown.message = message
        shown.revision = revision
        # "Changed" only to someone who saw it before; to anyone else it is simply new.
        shown.changed = shown.seen or shown.changed
        shown.seen = False
        self._number(key, shown)

    def _card(self, key: str, card_key: str) -> Shown | None:
        return next((s for s in self._messages.get(key, []) if s.card_key == card_key), None)


def _newer(revision: int | None, than: int | None) -> bool:
    """Whether a card at `revision` may replace one at `than`: never an older state."""
    return revision is None or than is None or revision >= than

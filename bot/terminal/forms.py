"""A form filled in the terminal, one input at a time, and read back through the FormValues
protocol as any edge reads a submitted form.

Each input is asked with its label, hint and (numbered) choices. A choice is given by its
number, its label or its value; several, separated by commas. A blank answer skips an optional
input, or keeps what it already holds; `-` empties an optional one. A line ending in a backslash
goes on to the next line (for inputs that take several lines). `/cancel` abandons the form.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import date, time

from bot.core.posts import AttachmentRef
from bot.core.ui import (
    Choice,
    Confirmation,
    DateInput,
    FileInput,
    FormInput,
    MultiChoice,
    PeoplePicker,
    SingleChoice,
    TextInput,
    TimeInput,
    UrlInput,
)

Answer = str | tuple[str, ...] | bool
CANCEL = "/cancel"
# Clears what an optional input holds (a blank answer keeps it).
CLEAR = "-"
CONTINUES = "\\"
NO_FILES = "This terminal takes no files"


class Cancelled(Exception):
    """The person typed /cancel: nothing of the form is sent."""


class TerminalFormValues:
    """A form's answers as typed in the terminal, by input name."""

    def __init__(self, answers: dict[str, Answer], context: str, form_key: str) -> None:
        self._answers = answers
        self._context = context
        self._form_key = form_key

    @property
    def form_key(self) -> str | None:
        return self._form_key

    @property
    def context(self) -> str:
        return self._context

    def names(self) -> tuple[str, ...]:
        return tuple(self._answers)

    def text(self, name: str) -> str:
        value = self._answers.get(name)
        return value if isinstance(value, str) else ""

    def choice(self, name: str) -> str:
        return self.text(name)

    def searched(self, name: str) -> str:
        return self.text(name)

    def choices(self, name: str) -> tuple[str, ...]:
        value = self._answers.get(name)
        return value if isinstance(value, tuple) else ()

    def confirmed(self, name: str) -> bool:
        return self._answers.get(name) is True

    def date(self, name: str) -> str | None:
        return self.text(name) or None

    def time(self, name: str) -> str | None:
        return self.text(name) or None

    def people(self, name: str) -> tuple[str, ...]:
        # The people offered are the configured ones, by key (see PeoplePicker.choices).
        return self.choices(name)

    def files(self, name: str) -> tuple[AttachmentRef, ...]:
        return ()


# Reads one line typed by the person (None at the end of input); says one line to them.
Read = Callable[[str], Awaitable[str | None]]
Say = Callable[[str], None]


class EndOfInput(Exception):
    """The terminal's input ended (EOF) part way through."""


@dataclass
class InputAsker:
    """Asks for one input at a time, and reads the answer into what FormValues gives back."""

    read: Read
    say: Say
    # The chat's own commands: typed while a form is being filled, they are not its answers.
    outside: frozenset[str] = frozenset()

    async def ask(self, item: FormInput, now: Answer | None) -> Answer:
        """The answer for `item`; `now`: what it holds already (its initial value, or what was
        typed before a refusal), kept on a blank answer."""
        if isinstance(item, FileInput):
            self.say(f"{item.label}: {NO_FILES}; this stays empty.")
            return ()
        self.say(_label(item, now))
        if item_hint := getattr(item, "hint", None):
            self.say(f"  ({item_hint})")
        if isinstance(item, SingleChoice | MultiChoice | PeoplePicker):
            for number, choice in enumerate(item.choices, start=1):
                self.say(f"  {number}. {choice.label}")
        while True:
            typed = await self._line(item)
            if typed.strip() == CLEAR and not _required(item):
                return () if isinstance(item, MultiChoice | PeoplePicker) else ""
            if not typed.strip():
                if now is not None and now not in ("", ()):
                    return now
                if isinstance(item, Confirmation):
                    return False
                if _required(item):
                    self.say("  This one is needed.")
                    continue
                return () if isinstance(item, MultiChoice | PeoplePicker) else ""
            answer = _read(item, typed)
            if answer is not None:
                return answer
            self.say(f"  {_how_to_answer(item)}")

    async def _line(self, item: FormInput) -> str:
        lines: list[str] = []
        prompt = "> "
        while True:
            line = await self.read(prompt)
            if line is None:
                raise EndOfInput
            if line.strip() == CANCEL:
                raise Cancelled
            if line.strip().split(" ")[0].lower() in self.outside:
                self.say(
                    f"  You are filling in a form: answer it, or {CANCEL} to abandon it first."
                )
                continue
            multiline = isinstance(item, TextInput) and item.multiline
            if multiline and line.endswith(CONTINUES):
                lines.append(line.removesuffix(CONTINUES))
                prompt = "... "
                continue
            lines.append(line)
            return "\n".join(lines)


def _required(item: FormInput) -> bool:
    return bool(getattr(item, "required", False))


def _label(item: FormInput, now: Answer | None) -> str:
    if isinstance(item, Confirmation):
        return f"{item.label}: {item.statement} [y/n]"
    kind = {
        DateInput: " (a date, YYYY-MM-DD)",
        TimeInput: " (a time, HH:MM)",
        UrlInput: " (a web address)",
        MultiChoice: " (one or more: numbers or names, separated by commas)",
        PeoplePicker: " (numbers or names, separated by commas)",
        SingleChoice: " (a number or a name)",
    }.get(type(item), "")
    optional = "" if _required(item) else " [optional: blank skips]"
    if isinstance(item, TextInput) and item.multiline:
        kind += " (end a line with \\ to go on to another)"
    shown = f"{item.label}{kind}{optional}"
    if now not in (None, "", (), False):
        held = ", ".join(now) if isinstance(now, tuple) else str(now)
        clears = "" if _required(item) else f"; {CLEAR} clears it"
        shown += f"\n  (blank keeps: {held}{clears})"
    elif isinstance(item, TextInput) and item.placeholder:
        shown += f"\n  (for example: {item.placeholder})"
    return shown


def _read(item: FormInput, typed: str) -> Answer | None:
    """What the answer means for the input; None when it is none of the choices offered."""
    if isinstance(item, Confirmation):
        word = typed.strip().lower()
        if word in ("y", "yes"):
            return True
        return False if word in ("n", "no") else None
    if isinstance(item, SingleChoice):
        return _choice(item.choices, typed)
    if isinstance(item, MultiChoice | PeoplePicker):
        chosen = [_choice(item.choices, part) for part in typed.split(",") if part.strip()]
        if any(c is None for c in chosen):
            return None
        return tuple(dict.fromkeys(c for c in chosen if c is not None))
    if isinstance(item, TextInput):
        return typed
    if isinstance(item, DateInput):
        return _checked(typed.strip(), _is_date)
    if isinstance(item, TimeInput):
        return _checked(typed.strip(), _is_time)
    return typed.strip()


def _checked(typed: str, check: Callable[[str], bool]) -> str | None:
    return typed if check(typed) else None


def _is_date(typed: str) -> bool:
    # Asked as it is typed, so one wrong answer does not move every later answer up a field.
    try:
        return len(typed) == 10 and bool(date.fromisoformat(typed))
    except ValueError:
        return False


def _is_time(typed: str) -> bool:
    try:
        return len(typed) == 5 and bool(time.fromisoformat(typed))
    except ValueError:
        return False


def _choice(choices: Iterable[Choice], typed: str) -> str | None:
    offered = tuple(choices)
    word = typed.strip()
    if word.isdecimal() and 1 <= int(word) <= len(offered):
        return offered[int(word) - 1].value
    folded = word.casefold()
    for choice in offered:
        if folded in (choice.label.casefold(), choice.value.casefold()):
            return choice.value
    return None


def _how_to_answer(item: FormInput) -> str:
    if isinstance(item, Confirmation):
        return "Answer y or n."
    if isinstance(item, DateInput):
        return "That is not a date: give one as YYYY-MM-DD, such as 2026-09-01."
    if isinstance(item, TimeInput):
        return "That is not a time: give one as HH:MM, such as 16:30."
    count = len(getattr(item, "choices", ()))
    return f"That is not one of the choices: type a number from 1 to {count}, or its name."

"""A small platform-neutral UI model.

Handlers describe what a person should see with these types; the edges render them to
Block Kit, Adaptive Cards or plain text. Every string here is plain text: renderers escape
it for their markup, so text typed by a user can never become markup (a ping, a link).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bot.core.people import Person


@dataclass(frozen=True, slots=True)
class Mention:
    """A person shown by reference: the renderer turns it into a platform mention."""

    person: Person


Inline = str | Mention


@dataclass(frozen=True, slots=True)
class Heading:
    text: str


@dataclass(frozen=True, slots=True)
class Paragraph:
    parts: tuple[Inline, ...]

    @classmethod
    def of(cls, *parts: Inline) -> Paragraph:
        return cls(parts)


@dataclass(frozen=True, slots=True)
class Quote:
    """Text written by a user, shown as a quotation and never interpreted."""

    text: str


@dataclass(frozen=True, slots=True)
class Fields:
    pairs: tuple[tuple[str, Inline], ...]


@dataclass(frozen=True, slots=True)
class BulletList:
    title: str
    items: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Note:
    """Small print under a message: references, versions, times."""

    text: str


@dataclass(frozen=True, slots=True)
class Divider:
    pass


class ButtonStyle(StrEnum):
    DEFAULT = "default"
    PRIMARY = "primary"
    DANGER = "danger"


@dataclass(frozen=True, slots=True)
class ConfirmDialog:
    """Asked before a button acts, for steps that cannot be undone."""

    title: str
    text: str
    confirm: str
    deny: str = "Cancel"


@dataclass(frozen=True, slots=True)
class Button:
    """`form` is what the click will ask for, when the button always asks (a reason, a live
    link): a platform that can show a form inside the card does so, and submitting it is the
    click. Elsewhere the click's outcome opens the form."""

    label: str
    action: str
    value: str
    style: ButtonStyle = ButtonStyle.DEFAULT
    confirm: ConfirmDialog | None = None
    form: Form | None = None
    # The click opens a form in a window of its own (a Slack modal, a Teams dialog), never
    # in the chat: for reports, whose words should not stay in a chat history.
    dialog: bool = False


@dataclass(frozen=True, slots=True)
class Buttons:
    buttons: tuple[Button, ...]


Block = Heading | Paragraph | Quote | Fields | BulletList | Note | Divider | Buttons


@dataclass(frozen=True, slots=True)
class Message:
    """A message or card. `summary` is the one-line text notifications and screen readers use."""

    summary: str
    blocks: tuple[Block, ...]

    @classmethod
    def saying(cls, text: str) -> Message:
        """A message of one paragraph, which is also its summary."""
        return cls(summary=text, blocks=(Paragraph.of(text),))


# --- forms -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Choice:
    value: str
    label: str


@dataclass(frozen=True, slots=True)
class TextInput:
    name: str
    label: str
    multiline: bool = False
    max_length: int | None = None
    required: bool = True
    hint: str | None = None
    initial: str | None = None
    placeholder: str | None = None


@dataclass(frozen=True, slots=True)
class MultiChoice:
    name: str
    label: str
    choices: tuple[Choice, ...]
    required: bool = True
    hint: str | None = None
    initial: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SingleChoice:
    name: str
    label: str
    choices: tuple[Choice, ...]
    required: bool = True
    hint: str | None = None
    initial: str | None = None


@dataclass(frozen=True, slots=True)
class PeoplePicker:
    """People to name. Slack shows its own user picker (the answer is Slack user ids); where
    the platform has none, `choices` (the configured people, by key) are offered instead."""

    name: str
    label: str
    choices: tuple[Choice, ...]
    required: bool = False
    hint: str | None = None


@dataclass(frozen=True, slots=True)
class TimeInput:
    name: str
    label: str
    required: bool = False
    hint: str | None = None


@dataclass(frozen=True, slots=True)
class Confirmation:
    """A statement the person must tick; `statement` is what they confirm."""

    name: str
    label: str
    statement: str
    hint: str | None = None


@dataclass(frozen=True, slots=True)
class UrlInput:
    """A web address; the platform may check its shape, and the handler always does."""

    name: str
    label: str
    required: bool = True
    hint: str | None = None


@dataclass(frozen=True, slots=True)
class DateInput:
    name: str
    label: str
    required: bool = False
    hint: str | None = None
    initial: str | None = None  # YYYY-MM-DD


@dataclass(frozen=True, slots=True)
class FileInput:
    name: str
    label: str
    max_files: int
    file_types: tuple[str, ...] = ()
    required: bool = False
    hint: str | None = None
    # How files reach this form where the platform's forms take none (they are sent in the
    # chat instead): said in place of the input.
    elsewhere: str = ""


FormInput = (
    TextInput
    | UrlInput
    | MultiChoice
    | SingleChoice
    | PeoplePicker
    | Confirmation
    | DateInput
    | TimeInput
    | FileInput
)


@dataclass(frozen=True, slots=True)
class Form:
    form_id: str
    title: str
    submit_label: str
    intro: tuple[Block, ...]
    inputs: tuple[FormInput, ...]
    context: str = ""  # opaque to the person; carried back with the submission


@dataclass(frozen=True, slots=True)
class FormErrors:
    """Refusals shown inside the form, each on the input it concerns."""

    by_input: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.by_input)

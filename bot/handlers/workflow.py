"""What a workflow answers, declared in one table that every edge dispatches from.

A workflow lists its commands (`/post` in Slack, `post` typed in a Teams chat or a terminal),
its forms (by form id) and its clicks (by a button's action), each with the handler that
answers it. An edge reads what arrived into the neutral shapes below (`Said`, `Submitted`,
`Clicked`, a form read through `FormValues`), looks the route up in `bot.handlers.routes`, runs it
and renders the outcome. No edge names a workflow's forms or buttons, so a new workflow adds a
table here and needs no code in `bot/slack/` or `bot/teams/`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.core.outcome import Outcome
from bot.core.people import Person, Platform
from bot.core.ports import UnitOfWork
from bot.core.posts import AttachmentRef
from bot.core.ui import Button, Form, Message
from bot.handlers import HandlerContext, TimerHandler

# What a person is told when the database could not save what they sent (it stalled, or
# another process held its lock): each says what was lost, so a report is never called a draft.
DRAFT_FAILED = "Sorry, your draft could not be saved just now. Nothing was sent; please try again."
REPORT_FAILED = (
    "Sorry, your report could not be saved just now. Nothing was sent; please try again. If a "
    "child is at immediate risk, phone the DSL now."
)
SAVE_FAILED = "Sorry, that could not be saved just now. Nothing was changed; please try again."
DONE_FAILED = "Sorry, that could not be done just now. Nothing was changed; please try again."
QUESTION_FAILED = "Sorry, I could not answer just now. Nothing was kept; please ask again."

# A button's value that names files sent in the chat and kept on the server under the key that
# follows (a platform whose cards take no files, such as Teams), rather than anything stored.
KEPT_FILES_PREFIX = "files:"


class FormValues(Protocol):
    """A submitted form, read the same way whatever platform sent it. Anything missing or
    malformed reads as empty, so the handler refuses it with a reason instead of an edge
    failing."""

    @property
    def form_key(self) -> str | None:
        """Names this copy of the form, qualified by platform (`slack:V123`), so the same form
        sent twice (a lost answer, a retry) finds what the first made."""

    @property
    def context(self) -> str:
        """What the form was opened with (`Form.context`), carried back untouched."""

    def names(self) -> tuple[str, ...]:
        """The inputs the form came back with, in the form's order."""

    def text(self, name: str) -> str: ...

    def choice(self, name: str) -> str:
        """The one value chosen, or ""."""

    def choices(self, name: str) -> tuple[str, ...]: ...

    def searched(self, name: str) -> str:
        """A choice the server searched as the person typed (Slack's external select, Teams'
        data query): read like `choice`."""

    def confirmed(self, name: str) -> bool:
        """Whether a `Confirmation` was ticked."""

    def date(self, name: str) -> str | None:
        """YYYY-MM-DD as given, unchecked."""

    def time(self, name: str) -> str | None:
        """HH:MM as given, unchecked."""

    def people(self, name: str) -> tuple[str, ...]:
        """The people named, by key in the school's directory."""

    def files(self, name: str) -> tuple[AttachmentRef, ...]: ...


@dataclass(frozen=True, slots=True)
class Said:
    """A command: its words after the command word, where it was typed, and any files that
    came with it (kept on the server under `files_key`, where the platform sends files in the
    chat rather than in a form)."""

    actor: Person
    text: str
    platform: Platform
    files_key: str | None = None
    files: int = 0


@dataclass(frozen=True, slots=True)
class Clicked:
    actor: Person
    # What the button's value names, as the route's `reads` made of it.
    target: Any
    platform: Platform


@dataclass(frozen=True, slots=True)
class Submitted:
    actor: Person
    # What the form's context names, as the route's `reads` made of it.
    target: Any
    values: FormValues
    platform: Platform


# FormRoute.field: a refusal of the whole form goes on whichever input came back first.
FIRST_INPUT = ""


def as_is(value: str) -> str:
    return value


def _never(target: Any, values: FormValues) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class CommandRoute:
    """A command word. `opens` answers at once without the database (a form to open, a menu);
    `asks` answers from the database. One of the two is set."""

    word: str
    opens: Callable[[HandlerContext, Said], Outcome] | None = None
    asks: Callable[[HandlerContext, UnitOfWork, Said], Awaitable[Outcome]] | None = None
    # What the person is told when it could not be done (the database did not answer, the
    # platform would not open the form).
    unsaved: str = SAVE_FAILED
    # Offered as a Slack slash command (manifests/slack/manifest.yaml); otherwise chat only.
    slash: bool = True
    # It may start something anonymous: the bot asks the platform nothing about the sender.
    anonymous: bool = False
    # Typed in a chat: other words that mean the same (an empty message asks for help).
    aliases: tuple[str, ...] = ()
    # Typed in a chat: the word counts only on its own; with more words they are a question.
    alone: bool = False
    # Typed in a chat: what files sent with the word are for ("put photos on a draft"); ""
    # when it takes none.
    files_for: str = ""
    # Typed in a chat as a question ("post photos of my class?"), the words are a question.
    asked_is_question: bool = False
    # Typed in a chat: any words no other command takes are this one's (a policy question).
    catch_all: bool = False
    # What help says of it: "post - <about>", with what follows the word (` <your question>`)
    # and what is added on Slack, where it is a slash command, or in a chat, where it is typed.
    # Without `about` it is not listed; a command that is not a slash command is listed only
    # in a chat.
    about: str = ""
    usage: str = ""
    on_slack: str = ""
    in_chat: str = ""
    # Buttons help offers in a chat, to start it there without typing (a report's dialog).
    shortcuts: tuple[Button, ...] = ()

    @property
    def takes_files(self) -> bool:
        return bool(self.files_for)


@dataclass(frozen=True, slots=True)
class ClickRoute:
    action: str
    handler: Callable[[HandlerContext, UnitOfWork, Clicked], Awaitable[Outcome]]
    # The button's value read into its target; None: it names nothing this version knows (an
    # old card, a changed value), and nothing is run.
    reads: Callable[[str], Any] = as_is
    # The card clicked stays as it is: a reply is a note to the clicker, and a form comes in
    # a message of its own (where a platform would otherwise show them in the card).
    beside_card: bool = False
    anonymous: bool = False
    # Its form opens only in a window of its own (a Slack modal, a Teams dialog), never in a
    # card in the chat: what a report says, and its receipt, never stay in a chat's history.
    in_window: bool = False


@dataclass(frozen=True, slots=True)
class FormRoute:
    form_id: str
    handler: Callable[[HandlerContext, UnitOfWork, Submitted], Awaitable[Outcome]]
    # The input told when the form as a whole failed (could not be read, or saved).
    field: str
    # The title of what is shown once it is sent, where the form's window stays (a modal).
    done: str
    unsaved: str = SAVE_FAILED
    # The form's context read into its target; None: it names nothing this version knows.
    reads: Callable[[str], Any] = as_is
    # The form shown again, as typed, with its refusals, on a platform whose forms sit in the
    # chat and would otherwise be lost; None: the refusal is told in a note and the form stays.
    again: Callable[[HandlerContext, Submitted], Form] | None = None
    # Sent by someone the bot must not identify (an anonymous report, its follow-up): the bot
    # asks the platform nothing about the sender, and takes it only from a window of its own.
    anonymous: Callable[[Any, FormValues], bool] = _never
    # Taken only from a window of its own (a Slack modal, a Teams dialog), never from a card
    # in the chat (see ClickRoute.in_window).
    in_window: bool = False

    def only_in_window(self, target: Any, values: FormValues) -> bool:
        return self.in_window or self.anonymous(target, values)


@dataclass(frozen=True)
class Workflow:
    name: str
    commands: tuple[CommandRoute, ...] = ()
    forms: tuple[FormRoute, ...] = ()
    clicks: tuple[ClickRoute, ...] = ()
    timers: Mapping[str, TimerHandler] = field(default_factory=dict)
    # The first message after someone adds the bot (one workflow says it).
    welcome: Callable[[HandlerContext, Platform], Message] | None = None

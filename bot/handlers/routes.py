"""Every workflow's table, joined: what each edge dispatches from.

`ROUTES` finds the handler for a command word, a form id or a button's action, and reads a
line typed in a chat into the command it asks for. Adding a workflow means adding its table
to `WORKFLOWS`; the edges need nothing new.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from bot.core.people import Platform
from bot.core.ui import Message
from bot.handlers import (
    HandlerContext,
    TimerHandler,
    help,
    policy_review,
    posts,
    questions,
    reports,
)
from bot.handlers.workflow import ClickRoute, CommandRoute, FormRoute, FormValues, Workflow

# In the order their commands are listed (the Slack and Teams manifests list them so).
WORKFLOWS: tuple[Workflow, ...] = (
    posts.WORKFLOW,
    reports.WORKFLOW,
    questions.WORKFLOW,
    policy_review.WORKFLOW,
    help.WORKFLOW,
)


@dataclass(frozen=True, slots=True)
class ChatTurn:
    """A line typed in a chat, read: the command it asks for and that command's words, or a
    refusal to say instead."""

    command: CommandRoute | None
    text: str = ""
    refusal: str | None = None


def _unique(kind: str, pairs: Iterable[tuple[str, object]]) -> None:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise ValueError(f"two workflows answer the {kind} {key!r}")
        seen.add(key)


@dataclass(frozen=True)
class Routes:
    commands: Mapping[str, CommandRoute]
    forms: Mapping[str, FormRoute]
    clicks: Mapping[str, ClickRoute]
    timers: Mapping[str, TimerHandler]
    welcome: Callable[[HandlerContext, Platform], Message]
    # A chat's first word (a command's own, or an alias), and the command it names.
    typed: Mapping[str, CommandRoute]
    # The command that takes any words no other does.
    catch_all: CommandRoute

    @classmethod
    def of(cls, workflows: Iterable[Workflow]) -> Routes:
        flows = tuple(workflows)
        commands = [(c.word, c) for w in flows for c in w.commands]
        typed = [(word, c) for _, c in commands for word in (c.word, *c.aliases)]
        forms = [(f.form_id, f) for w in flows for f in w.forms]
        clicks = [(c.action, c) for w in flows for c in w.clicks]
        timers = [(name, t) for w in flows for name, t in w.timers.items()]
        for kind, pairs in (
            ("command", commands),
            ("chat word", typed),
            ("form", forms),
            ("button", clicks),
            ("timer", timers),
        ):
            _unique(kind, pairs)
        catch_all = [c for _, c in commands if c.catch_all]
        if len(catch_all) != 1:
            raise ValueError("exactly one command takes the words no other command takes")
        welcomes = [w.welcome for w in flows if w.welcome is not None]
        if len(welcomes) != 1:
            raise ValueError("exactly one workflow says the welcome")
        return cls(
            dict(commands),
            dict(forms),
            dict(clicks),
            dict(timers),
            welcomes[0],
            dict(typed),
            catch_all[0],
        )

    @property
    def files_without_command(self) -> str:
        """Said of files sent in a chat with no command that takes them: where they go."""
        takers = [c for c in self.commands.values() if c.takes_files]
        if not takers:
            return "Files sent here go nowhere: no command takes them."
        first, *others = takers
        said = f"To {first.files_for}, send them in one message with the word {first.word}"
        said += "".join(f"; to {c.files_for}, with the word {c.word}" for c in others)
        return said + "."

    @property
    def slash_commands(self) -> tuple[CommandRoute, ...]:
        return tuple(c for c in self.commands.values() if c.slash)

    def read_chat(self, text: str, with_files: bool) -> ChatTurn:
        """A line typed in a chat with the bot (Teams, a terminal): its first word names a
        command, and the rest are that command's words."""
        text = text.strip()
        word, _, rest = text.partition(" ")
        command = self.typed.get(word.lower().strip())
        if command is not None and (
            (command.alone and rest.strip())
            or (command.asked_is_question and rest.strip().endswith("?") and not with_files)
        ):
            command = None
        if with_files:
            if command is not None and command.takes_files:
                return ChatTurn(command, rest)
            return ChatTurn(None, refusal=self.files_without_command)
        if command is not None:
            return ChatTurn(command, rest)
        return ChatTurn(self.catch_all, text)

    def may_be_anonymous(
        self,
        *,
        command: str | None = None,
        click: str | None = None,
        form: str | None = None,
        values: FormValues | None = None,
    ) -> bool:
        """Whether a request may make or follow up an anonymous report: the bot then asks the
        platform nothing about whoever sent it, so no call of the bot's lines up with the
        report. (Opening the report form counts: the person has not said yet whether it is
        anonymous.)"""
        if command is not None and (found := self.commands.get(command)) is not None:
            return found.anonymous
        if click is not None and (pressed := self.clicks.get(click)) is not None:
            return pressed.anonymous
        if form is not None and values is not None and (sent := self.forms.get(form)) is not None:
            target = sent.reads(values.context)
            return target is not None and sent.anonymous(target, values)
        return False


ROUTES = Routes.of(WORKFLOWS)

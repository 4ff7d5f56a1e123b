"""`socialdesk chat`: a typed chat in the terminal, dispatching from the same workflow tables
(bot/handlers/routes.py) as the Slack and Teams edges.

You act as a configured person (`/as NAME`); a line is read into a command exactly as Teams
reads one (`post`, `report`, a policy question), with or without a leading slash. Forms are
filled one input at a time (bot/terminal/forms.py); a card's buttons are pressed by number.
What the bot sends anyone else waits in their inbox here (bot/terminal/inbox.py), shown when
you switch to them: the runtime hands the chat every follow-up instead of the outbox, so
nothing reaches Slack or Teams. The database is the configured one: what is done here is real.
"""

from __future__ import annotations

import logging
import unicodedata
import uuid
from collections.abc import Awaitable, Callable
from typing import TextIO

from bot.core import plaintext
from bot.core.outcome import Outcome, Schedule
from bot.core.people import Directory, Identity, Person, Platform
from bot.core.ports import UnitOfWork
from bot.core.typed import printable
from bot.core.ui import Button, FileInput, Form, Message
from bot.handlers import HandlerContext
from bot.handlers.routes import ROUTES
from bot.handlers.workflow import (
    SAVE_FAILED,
    Clicked,
    CommandRoute,
    FormRoute,
    Said,
    Submitted,
)
from bot.runtime import DatabaseUnavailable, Runtime
from bot.terminal.forms import (
    NO_FILES,
    Answer,
    Cancelled,
    EndOfInput,
    InputAsker,
    TerminalFormValues,
)
from bot.terminal.inbox import Inboxes, Shown

log = logging.getLogger(__name__)

# The handlers word what they say for a platform. The terminal is a typed chat, as Teams is,
# so it passes TEAMS: help lists typed words, and a report starts from a menu. The platform is
# wording only: records name who acted by their key and the identities the configuration gives
# them (Directory.signature), never by this value, so nobody is recorded with a Teams identity
# they do not have; someone with no Teams id is recorded with their Slack id, or by name alone.
# A Platform of its own would ripple through the store and delivery (outbox rows, card copies,
# file fetches are keyed by platform) for no difference a handler makes.
PLATFORM = Platform.TEAMS

# What leaves the chat, beside the end of its input.
LEAVING = frozenset({"/quit", "/exit"})
UNKNOWN_BUTTON = "That button is no longer in use. Nothing was changed."
FORM_NEEDS_FILES = (
    "This form needs files, which the terminal cannot take: use Slack or Teams for it. "
    "Nothing was sent."
)
CHAT_COMMANDS = (
    ("/as NAME", "act as a configured person (a unique start of the name will do)"),
    ("/who", "list the configured people and their roles"),
    ("/inbox", "show again everything the person you are has received here"),
    ("NUMBER or /press NUMBER", "press the button shown with that number"),
    ("/timers", "list the timers the bot asked for (they are not scheduled: see below)"),
    ("/run-timers [all]", "run the timers that are due now (or all of them)"),
    ("/cancel", "while filling a form: abandon it, sending nothing"),
    ("/help", "this list, and the bot's own help"),
    ("/quit", "leave (so does the end of input)"),
)


def shown(text: str) -> str:
    """Text as the terminal may show it: nothing that a terminal would act on (escape
    sequences that move the cursor, retitle the window or hide what follows)."""
    return printable(text)


class TerminalChat:
    def __init__(
        self,
        runtime: Runtime,
        inboxes: Inboxes,
        person: Person,
        stdin: TextIO,
        stdout: TextIO,
    ) -> None:
        self._runtime = runtime
        self._inboxes = inboxes
        self._person = person
        self._stdin = stdin
        self._stdout = stdout
        # A command typed into a form is a slip, not an answer ("/policy questions" kept as a
        # thumbs-down reason): the chat's own, and every workflow's as typed with its slash.
        commands = frozenset("/" + word for word in ROUTES.typed)
        self._asker = InputAsker(self._read, self.say, outside=frozenset(CHAT) | LEAVING | commands)

    @property
    def _ctx(self) -> HandlerContext:
        return self._runtime.context

    @property
    def _directory(self) -> Directory:
        return self._ctx.directory

    # --- the terminal ------------------------------------------------------------------------

    def say(self, text: str) -> None:
        self._stdout.write(shown(text) + "\n")
        self._stdout.flush()

    async def _read(self, prompt: str) -> str | None:
        self._stdout.write(shown(prompt))
        self._stdout.flush()
        # Read on the event loop's own thread: nothing else runs while the person types, and
        # Ctrl-C then interrupts at once (a read in a worker thread would hold the exit until
        # the next line).
        line = self._stdin.readline()
        if not line:
            return None
        return line.rstrip("\r\n")

    async def run(self) -> int:
        """Reads and answers lines until /quit or the end of input: the exit status."""
        self.say(f"You are {describe(self._person)}. /help lists what you can type here.")
        self._show_arrivals()
        try:
            while True:
                line = await self._read(f"{self._person.name or self._person.key}> ")
                if line is None or line.strip() in LEAVING:
                    break
                if line.strip():
                    await self._answer(line.strip())
        except EndOfInput:
            pass
        self.say("Bye.")
        return 0

    async def _answer(self, line: str) -> None:
        word, _, rest = line.partition(" ")
        rest = rest.strip()
        chat_command = CHAT.get(word.lower())
        if chat_command is not None:
            await chat_command(self, rest)
        elif word.isdecimal():
            await self._press(word)
        elif word.startswith("/") and word[1:].lower() not in ROUTES.typed:
            self.say(f"There is no command {word}: /help lists them.")
        else:
            await self._typed(line.removeprefix("/"))

    # --- the chat's own commands ------------------------------------------------------------

    async def _switch(self, name: str) -> None:
        found = find_person(self._directory, name)
        if isinstance(found, str):
            self.say(found)
            return
        self._person = found
        self.say(f"You are now {describe(found)}.")
        if not self._show_arrivals():
            self.say("Nothing new has arrived for you here.")

    async def _who(self, rest: str) -> None:
        for person in self._directory.people:
            you = "  <- you" if person.key == self._person.key else ""
            self.say(f"  {describe(person)}{you}")

    async def _help(self, rest: str) -> None:
        self.say("What you can type here:")
        for usage, what in CHAT_COMMANDS:
            self.say(f"  {usage}: {what}")
        self.say(
            "Anything else is read as in a Teams chat with the bot (a leading / is optional). "
            f"{NO_FILES}: send photos and screenshots in Slack or Teams. Messages the bot sends "
            "are shown only here; timers are not scheduled, and run only with /run-timers."
        )
        self.say("")
        await self._typed("help")

    async def _show_inbox(self, rest: str) -> None:
        everything = self._inboxes.all_of(self._person)
        if not everything:
            self.say("Nothing has arrived for you here.")
        for item in everything:
            self._show(item)
        self._inboxes.unseen(self._person)

    async def _press_command(self, rest: str) -> None:
        if not rest:
            self.say("Say which button: /press NUMBER (the number shown beside it).")
            return
        await self._press(rest)

    async def _list_timers(self, rest: str) -> None:
        if not self._inboxes.timers:
            self.say("No timers were asked for in this session.")
            return
        now = self._ctx.clock.now()
        for number, timer in enumerate(self._inboxes.timers, start=1):
            schedule = timer.schedule
            state = "ran" if timer.ran else ("due" if schedule.due <= now else "waiting")
            args = ", ".join(f"{k}={v}" for k, v in schedule.args.items())
            when = self._ctx.school_time.show(schedule.due)
            self.say(f"  {number}. {schedule.name} ({args}) at {when}: {state}")

    async def _run_timers(self, rest: str) -> None:
        every = rest.lower() == "all"
        if rest and not every:
            self.say("/run-timers runs the timers due now; /run-timers all runs every one.")
            return
        now = self._ctx.clock.now()
        chosen = [t for t in self._inboxes.timers if not t.ran and (every or t.schedule.due <= now)]
        if not chosen:
            self.say("No timer to run: /timers lists them.")
            return
        for timer in chosen:
            timer.ran = True
            work = _timer_work(timer.schedule, self._ctx)
            if work is None:
                self.say(f"No timer called {timer.schedule.name!r} in this version.")
                continue
            outcome = await self._perform(work)
            if outcome is None:
                self.say(f"The timer {timer.schedule.name} could not run: {SAVE_FAILED}")
                continue
            self.say(f"Ran {timer.schedule.name}.")
            self._after(outcome)

    # --- commands, buttons and forms, from the workflow tables ------------------------------

    async def _typed(self, text: str) -> None:
        turn = ROUTES.read_chat(text, with_files=False)
        if turn.command is None:
            self.say(turn.refusal or "")
            return
        said = Said(self._person, turn.text, PLATFORM)
        outcome = await self._command(turn.command, said)
        await self._show_outcome(outcome)

    async def _command(self, command: CommandRoute, said: Said) -> Outcome:
        ctx = self._ctx
        if command.opens is not None:
            return command.opens(ctx, said)
        asks = command.asks
        assert asks is not None
        outcome = await self._perform(lambda uow: asks(ctx, uow, said))
        if outcome is None or not (outcome.reply or outcome.form):
            return Outcome(reply=Message.saying(command.unsaved))
        return outcome

    async def _press(self, number_text: str) -> None:
        number = int(number_text) if number_text.isdecimal() else None
        found = self._inboxes.button(self._person, number) if number is not None else None
        if found is None:
            self.say(f"No button [{number_text}] in your messages: /inbox shows them.")
            return
        pressed, button = found
        route = ROUTES.clicks.get(button.action)
        target = route.reads(button.value) if route is not None else None
        if route is None or target is None:
            self.say(UNKNOWN_BUTTON)
            return
        if not await self._confirmed(button):
            self.say("Not pressed. Nothing was changed.")
            return
        clicked, ctx, handler = Clicked(self._person, target, PLATFORM), self._ctx, route.handler
        outcome = await self._perform(lambda uow: handler(ctx, uow, clicked))
        if outcome is None:
            self.say(SAVE_FAILED)
            return
        if outcome.refused:
            # Permissions are the handler's to check, at the click, as on every platform.
            self.say(_reasons(outcome) or "That could not be done.")
            return
        # A route that keeps the card as it is (beside_card) never has it shown again.
        await self._show_outcome(outcome, None if route.beside_card else pressed)

    async def _confirmed(self, button: Button) -> bool:
        if button.confirm is None:
            return True
        ask = button.confirm
        self.say(f"{ask.title}: {ask.text}")
        answer = await self._read(f"{ask.confirm} [y/n]> ")
        if answer is None:
            raise EndOfInput
        return answer.strip().lower() in ("y", "yes")

    async def _show_outcome(self, outcome: Outcome, clicked: Shown | None = None) -> None:
        """`clicked`: the message whose button was pressed, which the outcome (or that of the
        form it opens) may show again as it now reads."""
        self._redraw(outcome, clicked)
        if outcome.reply is not None:
            self._show(self._inboxes.reply(self._person, outcome.reply))
        self._after(outcome)
        if outcome.form is not None:
            await self._fill(outcome.form, clicked)

    def _redraw(self, outcome: Outcome, clicked: Shown | None) -> None:
        if outcome.replaces_clicked is not None and clicked is not None:
            self._inboxes.redraw(self._person, clicked, outcome.replaces_clicked)

    async def _fill(self, form: Form | None, clicked: Shown | None = None) -> None:
        """Asks for each input, sends the form through its route, and asks again for the
        inputs a refusal names; a form that follows (the next step) is filled in turn."""
        answers: dict[str, Answer] = {}
        ask_only: set[str] | None = None
        form_key = f"terminal:{uuid.uuid4().hex}"
        while form is not None:
            route = ROUTES.forms.get(form.form_id)
            if route is None:
                self.say(UNKNOWN_BUTTON)
                return
            if any(isinstance(i, FileInput) and i.required for i in form.inputs):
                self.say(FORM_NEEDS_FILES)
                return
            try:
                answers = await self._answers(form, answers, ask_only)
            except Cancelled:
                self.say(f"{form.title}: abandoned. Nothing was sent.")
                return
            outcome, sent = await self._submit(route, form, answers, form_key)
            if outcome is None or sent is None:
                return
            if outcome.refused:
                form, ask_only = self._refused(route, form, sent, outcome)
                continue
            self.say(f"{route.done}.")
            self._redraw(outcome, clicked)
            if outcome.reply is not None:
                self._show(self._inboxes.reply(self._person, outcome.reply))
            self._after(outcome)
            form, answers, ask_only = outcome.form, {}, None
            form_key = f"terminal:{uuid.uuid4().hex}"

    async def _answers(
        self, form: Form, before: dict[str, Answer], ask_only: set[str] | None
    ) -> dict[str, Answer]:
        if ask_only is None:
            self.say(form.title)
            self.say("=" * len(form.title))
            if form.intro:
                self.say(plaintext.render_blocks(form.intro))
            self.say("(/cancel abandons the form)")
        answers: dict[str, Answer] = {}
        for item in form.inputs:
            now = before.get(item.name, _initial(item))
            if ask_only is None or item.name in ask_only:
                answers[item.name] = await self._asker.ask(item, now)
            else:
                answers[item.name] = now if now is not None else ""
        return answers

    async def _submit(
        self, route: FormRoute, form: Form, answers: dict[str, Answer], form_key: str
    ) -> tuple[Outcome | None, Submitted | None]:
        values = TerminalFormValues(answers, form.context, form_key)
        target = route.reads(values.context)
        if target is None:
            self.say(UNKNOWN_BUTTON)
            return None, None
        # The terminal's form is a window of its own (route.only_in_window): what it says is
        # asked here, one input at a time, and never kept in any platform's chat history.
        sent = Submitted(self._person, target, values, PLATFORM)
        ctx, handler = self._ctx, route.handler
        outcome = await self._perform(lambda uow: handler(ctx, uow, sent))
        if outcome is None:
            self.say(route.unsaved)
        return outcome, sent

    def _refused(
        self, route: FormRoute, form: Form, sent: Submitted, outcome: Outcome
    ) -> tuple[Form, set[str]]:
        """The form to ask again (the route's own, as a platform shows it again), and the
        inputs whose refusals must be answered afresh."""
        again = route.again(self._ctx, sent) if route.again is not None else None
        shown_again = again or outcome.form or form
        names = {i.name for i in shown_again.inputs}
        first = next((i.name for i in shown_again.inputs if not isinstance(i, FileInput)), "")
        self.say("Not sent:")
        refused: set[str] = set()
        for name, reason in outcome.errors.by_input.items():
            on = name if name in names else (route.field if route.field in names else first)
            label = next((i.label for i in shown_again.inputs if i.name == on), on)
            self.say(f"  {label}: {reason}")
            refused.add(on)
        self.say("Please answer those again (/cancel abandons the form).")
        return shown_again, refused

    async def _perform(self, work: Callable[[UnitOfWork], Awaitable[Outcome]]) -> Outcome | None:
        try:
            return await self._runtime.perform(work)
        except DatabaseUnavailable as error:
            # Said to the person as on any platform ("could not be saved"); no traceback.
            log.warning("terminal: the database did not answer: %s", error)
            return None
        except Exception:
            log.exception("terminal: the work could not be done")
            return None

    # --- what arrived -----------------------------------------------------------------------

    def _after(self, outcome: Outcome) -> None:
        """After the committed work: what arrived for you, who else got something, and the
        follow-ups the terminal did not carry out."""
        self._show_arrivals()
        for key in sorted(self._inboxes.touched() - {self._person.key}):
            count = self._inboxes.waiting(key)
            person = self._directory.by_key(key)
            name = (person.name if person else None) or key
            if count:
                self.say(f"({count} new for {name}: /as {name} to read)")
        if self._inboxes.fetches_skipped:
            self.say("(Files were not fetched: the terminal takes none.)")
            self._inboxes.fetches_skipped = 0
        for schedule in outcome.schedules:
            when = self._ctx.school_time.show(schedule.due)
            self.say(
                f"(Not scheduled: the timer {schedule.name} due {when}. It is kept in this "
                "session only: /timers lists it, /run-timers runs it.)"
            )

    def _show_arrivals(self) -> bool:
        fresh = self._inboxes.unseen(self._person)
        for item in fresh:
            self._show(item)
        return bool(fresh)

    def _show(self, item: Shown) -> None:
        heading = "--- changed ---" if item.changed else "---"
        self.say(heading)
        self.say(item.render())


def _timer_work(
    schedule: Schedule, ctx: HandlerContext
) -> Callable[[UnitOfWork], Awaitable[Outcome]] | None:
    """The timer's work, from the same table a serving bot's delivery worker runs it from."""
    handler = ROUTES.timers.get(schedule.name)
    if handler is None:
        return None

    async def work(uow: UnitOfWork) -> Outcome:
        return await handler(ctx, uow, schedule.args)

    return work


def _initial(item: object) -> Answer | None:
    initial = getattr(item, "initial", None)
    if isinstance(initial, tuple):
        return initial
    return initial if isinstance(initial, str) and initial else None


def _reasons(outcome: Outcome) -> str:
    return " ".join(outcome.errors.by_input.values())


def describe(person: Person) -> str:
    roles = ", ".join(sorted(r.value.replace("_", " ") for r in person.roles)) or "staff"
    return f"{person.name or person.key} ({roles})"


def find_person(directory: Directory, name: str) -> Person | str:
    """The configured person named (case-insensitive; a unique start of the name will do), or
    the line to say when none or several are."""
    wanted = _folded(name)
    people = directory.people
    listed = ", ".join(p.name or p.key for p in people)
    if not wanted:
        return f"Say who: /as NAME, one of {listed}."
    exact = [p for p in people if wanted in (_folded(p.name or ""), _folded(p.key))]
    if len(exact) == 1:
        return exact[0]
    starting = exact or [p for p in people if _folded(p.name or p.key).startswith(wanted)]
    if len(starting) == 1:
        return starting[0]
    if starting:
        several = ", ".join(f"{p.name or p.key} ({p.key})" for p in starting)
        return f"{name!r} could be {several}: say more of the name, or the key in brackets."
    platform, _, external_id = name.strip().partition(":")
    if platform.lower() in {p.value for p in Platform} and external_id:
        # Anyone the configuration does not list is staff: they are found by an identity,
        # as a platform finds them (`/as slack:U0TERRY`).
        return directory.resolve(Identity(Platform(platform.lower()), external_id))
    return (
        f"Nobody called {name!r} is configured. The people are: {listed}; anyone else is "
        "staff, found by an identity, as in /as slack:U0TERRY."
    )


def _folded(name: str) -> str:
    """A name as typed on any keyboard: case and accents aside (`/as sian` is Siân)."""
    decomposed = unicodedata.normalize("NFKD", name.strip().casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


CHAT: dict[str, Callable[[TerminalChat, str], Awaitable[None]]] = {
    "/as": TerminalChat._switch,
    "/who": TerminalChat._who,
    "/help": TerminalChat._help,
    "/inbox": TerminalChat._show_inbox,
    "/press": TerminalChat._press_command,
    "/timers": TerminalChat._list_timers,
    "/run-timers": TerminalChat._run_timers,
}

"""The command line's policy commands: answer a question as the bot would, show the policy as
loaded with where each topic was found, and the school's review of the topics that need it."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from bot.cli_database import existing_database, sqlite_file_missing
from bot.core.questions import CONFIDENT, CONFIDENT_BY_CONTENT, trusted_placement
from bot.settings import Settings, SettingsError, UsageError

if TYPE_CHECKING:
    from bot.core.people import Person
    from bot.core.policy import Section
    from bot.core.policy_review import Decision, DecisionKind, Proposal
    from bot.core.questions import LearnedAnswer, PolicyIndex

NO_POLICY = (
    "SOCIALDESK_POLICY: no policy document configured (or policy: in the YAML), so there is "
    "nothing to answer from"
)


def _loaded_index(settings: Settings) -> PolicyIndex | None:
    from bot.config import load_config
    from bot.policy_source import open_policy, policy_setting

    path = settings.policy_path
    if path is None and settings.config_path.exists():
        path = load_config(settings.config_path).policy_path
    return open_policy(path, policy_setting(settings.policy_path, settings.config_path)).current()


async def _stored_decisions(settings: Settings) -> list[Decision]:
    """The school's review decisions, from the bot's database as it is (none before there is
    one)."""
    from bot.store.review_repo import SqlReviews

    if sqlite_file_missing(settings.database_url):
        return []
    async with existing_database(settings) as engine, engine.connect() as db:
        return await SqlReviews(db).all()


def _reviewed_index(settings: Settings) -> PolicyIndex | None:
    """The policy as the bot answers from it: with the school's decisions applied, where the
    database can be read (said on standard error where it cannot)."""
    from bot.core.policy_review import reviewed

    index = _loaded_index(settings)
    if index is None:
        return None
    try:
        decisions = asyncio.run(_stored_decisions(settings))
    except SettingsError as error:
        print(f"socialdesk: the school's review decisions were not read: {error}", file=sys.stderr)
        return index
    return reviewed(index, decisions)


@dataclass
class _Asked:
    """One question's answer as the console shows it: the chat answer's text, the sections
    ranked with their match scores and the passages quoted from them, and what the chat answer
    would offer next."""

    answer: str
    confident: bool = False
    sections: list[dict[str, Any]] = field(default_factory=list)
    next_step: str | None = None
    also: str | None = None
    lead: float | None = None  # how far the best section leads the next, as a share of its score
    thresholds: tuple[tuple[float, float], ...] = CONFIDENT

    def as_json(self) -> str:
        return json.dumps(
            {
                "answer": self.answer,
                "confident": self.confident,
                "sections": self.sections,
                "next_step": self.next_step,
            }
        )

    def as_text(self) -> str:
        lines = [self.answer]
        for section in self.sections:
            for passage in section["quoted"]:
                quoted = passage.replace("\n", "\n    ")
                lines.append(f"  > {section['title']}: {quoted}")
        if not self.sections:
            return "\n".join(lines)
        best = self.sections[0]["score"]
        ahead = f", {self.lead:.0%} ahead of the next" if self.lead is not None else ""
        lines.append(
            f"confident: {'yes' if self.confident else 'no'} (the best section's match score is "
            f"{best:g}{ahead}; {_confident_when(self.thresholds)})"
        )
        if self.next_step:
            lines.append(f"next step (in chat): {self.next_step}")
        if self.also:
            lines.append(f"also (in chat): {self.also}")
        lines.append("sections by match score (higher is a closer match; not a percentage):")
        lines.extend(f"  {s['score']:>8.3f}  {s['title']}" for s in self.sections)
        return "\n".join(lines)


# Read from the thresholds themselves, so what the console says stays what the bot does.
def _confident_when(thresholds: tuple[tuple[float, float], ...]) -> str:
    return "confident needs " + " or ".join(
        f"{score:g} with a {share:.0%} lead" for score, share in thresholds
    )


_SEND_ON = "this question can be sent on to the IT Network Manager (Ask the IT Network Manager)"


def _answered(index: PolicyIndex, text: str) -> _Asked:
    from bot.core.questions import AnswerKind, answer_question

    found = answer_question(index, text)
    if found.kind is AnswerKind.OFF_TOPIC:
        return _Asked(found.text)
    quoted = {q.section.short_title: [p.quoted for p in q.passages] for q in found.quoted}
    sections = [
        {
            "title": s.section.short_title,
            "score": round(s.score, 3),
            "quoted": quoted.get(s.section.short_title, []),
        }
        for s in found.ranked
    ]
    best = found.ranked[0].score
    runner_up = found.ranked[1].score if len(found.ranked) > 1 else 0.0
    asked = _Asked(found.text, found.confident, sections, lead=(best - runner_up) / best)
    if not trusted_placement(found.ranked[0]):
        asked.thresholds = CONFIDENT_BY_CONTENT
    step = found.topic.next if found.topic and found.confident else None
    if step is not None:
        # The chat answer names the command as each platform has it.
        report = "/report in Slack (report in Teams)"
        asked.next_step = step.text.replace("{report}", report)
        asked.also = _SEND_ON
    else:
        asked.next_step = _SEND_ON if found.confident else f"not sure: {_SEND_ON}"
    return asked


def ask(settings: Settings, question: str, as_json: bool) -> int:
    from bot.core.questions import smalltalk_in
    from bot.handlers.questions import QUESTION_MAX

    if question != "-" and not question.strip():
        raise UsageError("the question is empty: give one, or - to read one a line from stdin")
    index = _reviewed_index(settings)
    if index is None:
        raise SettingsError(NO_POLICY)
    # One line in, one answer out, at once: a program may send a question and wait for it.
    lines = sys.stdin if question == "-" else [question]
    answered = 0
    for line in lines:
        text = " ".join(line.split())
        if not text:
            continue  # a blank line between questions is not a question
        if answered and not as_json:
            print()  # each answer takes several lines of text
        answered += 1
        talk = smalltalk_in(index.knowledge, text)
        if talk is not None:
            asked = _Asked(talk.reply)
        elif len(text) > QUESTION_MAX:
            asked = _Asked(f"Please ask in fewer than {QUESTION_MAX} characters.")
        else:
            asked = _answered(index, text)
        print(asked.as_json() if as_json else asked.as_text(), flush=True)
    return 0


async def show_policy(settings: Settings) -> int:
    from bot.core.policy_review import proposals, reviewed
    from bot.policy_source import placement_summary
    from bot.store.question_repo import SqlQuestions
    from bot.store.review_repo import SqlReviews

    loaded = _loaded_index(settings)
    if loaded is None:
        print("no policy document configured (SOCIALDESK_POLICY, or policy: in the YAML)")
        return 0
    document = loaded.document
    print(f"{document.source}: version {document.digest[:12]}, {len(document.sections)} sections")
    for number, section in enumerate(document.sections, start=1):
        count = len(section.passages)
        kind = f"{count} passage{'' if count == 1 else 's'}" if count else "heading only"
        print(f"  [{number}] {section.short_title} ({kind})")
    decisions: list[Decision] = []
    learned: Sequence[LearnedAnswer] = ()
    unread: str | None = None
    if sqlite_file_missing(settings.database_url):
        unread = "no database yet"
    else:
        try:
            async with existing_database(settings) as engine, engine.connect() as db:
                decisions = await SqlReviews(db).all()
                learned = await SqlQuestions(db).learned()
        except SettingsError as error:
            unread = str(error)
    index = reviewed(loaded, decisions)
    print(f"topics: {placement_summary(index)}")
    if unread is not None:
        print(f"the school's review decisions and kept answers not read: {unread}")
    waiting = [p for p in proposals(loaded, decisions) if p.needs_review]
    for proposal in waiting:
        placed = proposal.section
        where = placed.short_title if placed is not None else "no section"
        print(f"needs review: {proposal.topic_key} -> {where} ({proposal.why})")
    if waiting:
        print("review them with: socialdesk policy review (or /policy review in the chat)")
    for entry in learned:
        if not entry.still_fits(document):
            # By reference (or, for one kept from the question report and never sent on,
            # its number) only: the question is the asker's, not the console's.
            which = entry.reference or f"question #{entry.question_id}"
            print(
                f"held back for review: the IT Network Manager's kept answer to "
                f"{which}; the policy it was given for has changed"
            )
    return 0


# --- socialdesk policy review ------------------------------------------------------------------

STATUS_WORD_FOR_WORD = "word for word"
STATUS_NEEDS_REVIEW = "needs review"
STATUS_DECIDED = "decided"
STATUS_NOT_COVERED = "not covered"
# A topic with no short answer, found by content: its section's own words are the answer.
STATUS_OWN_WORDS = "own words"


@dataclass(frozen=True)
class ReviewRequest:
    """What `socialdesk policy review` was asked to do: list, walk, or one decision."""

    list_only: bool = False
    as_json: bool = False
    accept: str | None = None
    reassign: str | None = None
    section: str | None = None
    rewrite: str | None = None
    answer: str | None = None
    not_covered: str | None = None
    reviewer: str | None = None

    def scripted(self) -> tuple[str, DecisionKind] | None:
        from bot.core.policy_review import DecisionKind

        asked = [
            (topic, kind)
            for topic, kind in (
                (self.accept, DecisionKind.ACCEPT),
                (self.reassign, DecisionKind.REASSIGN),
                (self.rewrite, DecisionKind.REWRITE),
                (self.not_covered, DecisionKind.NOT_COVERED),
            )
            if topic is not None
        ]
        if len(asked) > 1:
            raise UsageError(
                "one decision at a time: --accept, --reassign, --rewrite or --not-covered"
            )
        if self.section is not None and self.reassign is None:
            raise UsageError("--section goes with --reassign TOPIC")
        if self.answer is not None and self.rewrite is None:
            raise UsageError("--answer goes with --rewrite TOPIC")
        if self.reassign is not None and self.section is None:
            raise UsageError('--reassign needs --section "TITLE or NUMBER"')
        if self.rewrite is not None and self.answer is None:
            raise UsageError("--rewrite needs --answer TEXT")
        if asked and (self.list_only or self.as_json):
            raise UsageError("--list and --json only list: give them without a decision")
        return asked[0] if asked else None


def status_of(proposal: Proposal) -> str:
    from bot.core.policy_map import Basis

    if proposal.decision is not None:
        return STATUS_DECIDED
    if proposal.needs_review:
        return STATUS_NEEDS_REVIEW
    if proposal.placement.basis is Basis.WORD_FOR_WORD:
        return STATUS_WORD_FOR_WORD
    if proposal.placement.basis is Basis.NOT_COVERED:
        return STATUS_NOT_COVERED
    return STATUS_OWN_WORDS


def _number_of(index: PolicyIndex, section: Section | None) -> int | None:
    return next((n for n, s in enumerate(index.document.sections, start=1) if s is section), None)


def _listed(index: PolicyIndex, decisions: list[Decision], as_json: bool, out: TextIO) -> None:
    from bot.core.policy_review import proposals

    found = proposals(index, decisions)
    if as_json:
        topics = [
            {
                "topic": p.topic_key,
                "status": status_of(p),
                "section": p.section.short_title if p.section else None,
                "section_number": _number_of(index, p.section),
                "why": p.why,
                "passages": [passage.quoted for passage in p.passages],
                "short_answer": p.short_answer if p.section else None,
            }
            for p in found
        ]
        out.write(json.dumps({"version": index.document.digest, "topics": topics}) + "\n")
        return
    for p in found:
        number = _number_of(index, p.section)
        where = f"[{number}] {p.section.short_title}" if p.section and number else "no section"
        out.write(f"{status_of(p):<13} {p.topic_key}: {where} ({p.why})\n")


def _reviewer(settings: Settings, named: str | None) -> Person:
    """Who the decisions are recorded as made by: the configured IT Network Manager."""
    from bot.config import load_config
    from bot.core.people import Role
    from bot.terminal.chat import find_person

    directory = load_config(settings.config_path).directory
    managers = directory.holders(Role.NETWORK_MANAGER)
    if named is not None:
        found = find_person(directory, named)
        if isinstance(found, str):
            raise UsageError(f"--as: {found.removeprefix('Say who: /as NAME, one of ')}")
        if not found.holds(Role.NETWORK_MANAGER):
            raise UsageError(
                f"--as: {found.name or found.key} is not an IT Network Manager in the "
                "configuration; only the IT Network Manager reviews the policy's answers"
            )
        return found
    if len(managers) == 1:
        return managers[0]
    if not managers:
        raise SettingsError(
            f"{settings.config_path}: no IT Network Manager is configured (roles: "
            "[network_manager]), and only they review the policy's answers"
        )
    names = ", ".join(p.name or p.key for p in managers)
    raise UsageError(
        f"{len(managers)} IT Network Managers are configured ({names}): say which with --as NAME"
    )


def _section_named(index: PolicyIndex, named: str) -> Section:
    from bot.core.policy import title_key

    sections = index.document.sections
    position = named.strip().startswith("[")
    wanted = named.strip().removeprefix("[").removesuffix("]")
    if wanted.isdecimal():
        numbered = [
            s for s in sections if re.match(rf"^\(?0*{int(wanted)}(?:[.)]|\s)", s.short_title)
        ]
        if 1 <= int(wanted) <= len(sections):
            at = sections[int(wanted) - 1]
            if not position and numbered and numbered[0] is not at:
                # Word documents number their own headings: "8" may mean either.
                raise UsageError(
                    f"--section {wanted} could be section [{wanted}] ({at.short_title!r}) or the "
                    f"heading numbered {wanted} ({numbered[0].short_title!r}): give the title, "
                    f"or [{wanted}] for the position socialdesk policy shows"
                )
            return at
        raise UsageError(
            f"--section: there is no section {wanted}; the policy has {len(sections)} "
            "(socialdesk policy numbers them)"
        )
    found = [s for s in sections if title_key(s.short_title) == title_key(wanted)] or [
        s for s in sections if title_key(s.title) == title_key(wanted)
    ]
    if len(found) != 1:
        raise UsageError(
            f"--section: no section called {named!r} in the policy (socialdesk policy lists "
            "them, numbered)"
        )
    return found[0]


async def review_policy(
    settings: Settings, request: ReviewRequest, stdin: TextIO, stdout: TextIO
) -> int:
    from bot.core.clock import SystemClock
    from bot.core.policy_review import ReviewError, decide, reviewed

    scripted = request.scripted()
    index = _loaded_index(settings)
    if index is None:
        raise SettingsError(NO_POLICY)
    listing = request.list_only or request.as_json or (scripted is None and not stdin.isatty())
    if listing and not (request.list_only or request.as_json) and scripted is None:
        print(
            "socialdesk: standard input is not a terminal, so here is the list; decide with "
            "--accept, --reassign, --rewrite or --not-covered",
            file=sys.stderr,
        )
    reviewer = None if listing else _reviewer(settings, request.reviewer)
    async with existing_database(settings) as engine:
        async with engine.connect() as db:
            from bot.store.review_repo import SqlReviews

            decisions = await SqlReviews(db).all()
        if listing:
            _listed(index, decisions, request.as_json, stdout)
            return 0
        assert reviewer is not None
        if scripted is None:
            return await _walk(settings, engine, index, decisions, reviewer, stdin, stdout)
        topic, kind = scripted
        section = _section_named(index, request.section) if request.section else None
        try:
            decision = decide(
                reviewed(index, decisions),
                topic,
                kind,
                reviewer.key,
                SystemClock().now(),
                section=section,
                answer=request.answer,
            )
        except ReviewError as error:
            raise UsageError(f"{topic}: {error}") from error
        await _keep(engine, settings, decision)
        stdout.write(f"{_saved(index, decisions, decision)}\n")
    return 0


async def _keep(engine: Any, settings: Settings, decision: Decision) -> None:
    """One decision, in a transaction of its own: kept at once, whatever comes next."""
    from bot.config import load_config
    from bot.handlers.policy_review import record
    from bot.store.repos import SqlUnitOfWork

    directory = load_config(settings.config_path).directory
    async with engine.begin() as db:
        await record(SqlUnitOfWork(db, directory), decision)


def _saved(index: PolicyIndex, decisions: list[Decision], decision: Decision) -> str:
    from bot.core.policy_review import DECIDED, reviewed

    placed = reviewed(index, [*decisions, decision]).placements.get(decision.topic_key)
    where = f" ({placed.section.short_title})" if placed and placed.section else ""
    return f"saved: {decision.topic_key}{where}: {DECIDED[decision.kind]}"


CHOICES = "[a]ccept / [r]eassign / [w]rite / [n]ot covered / [s]kip / [q]uit> "


async def _walk(
    settings: Settings,
    engine: Any,
    index: PolicyIndex,
    decisions: list[Decision],
    reviewer: Person,
    stdin: TextIO,
    stdout: TextIO,
) -> int:
    """The topics needing review, one at a time; then, if wanted, the rest."""
    from bot.core.policy_review import proposals

    def say(text: str = "") -> None:
        stdout.write(text + "\n")
        stdout.flush()

    def ask(prompt: str) -> str | None:
        stdout.write(prompt)
        stdout.flush()
        line = stdin.readline()
        return None if not line else line.strip()

    found = proposals(index, decisions)
    waiting = [p.topic_key for p in found if p.needs_review]
    rest = [p.topic_key for p in found if not p.needs_review]
    say(
        f"{index.document.source}: version {index.document.digest[:12]}; "
        f"{len(waiting)} of {len(found)} topics need review. Each decision is saved at once, "
        f"as made by {reviewer.name or reviewer.key}."
    )
    queue = waiting
    while True:
        for number, key in enumerate(queue, start=1):
            outcome = await _review_one(
                settings,
                engine,
                index,
                decisions,
                reviewer,
                key,
                f"[{number}/{len(queue)}]",
                say,
                ask,
            )
            if outcome == QUIT:
                say("Stopped. What was decided is saved.")
                return 0
            if not isinstance(outcome, str):
                decisions.append(outcome)
        if queue is rest or not rest:
            break
        more = ask(
            f"{'All' if waiting else 'No'} topics needing review done. Review the other "
            f"{len(rest)} too (word for word, decided or not covered)? [y/N]> "
        )
        if (more or "").lower() not in ("y", "yes"):
            break
        queue = rest
    say("Done.")
    return 0


SKIP, QUIT, BACK = "skip", "quit", "back"


async def _review_one(
    settings: Settings,
    engine: Any,
    index: PolicyIndex,
    decisions: list[Decision],
    reviewer: Person,
    key: str,
    counter: str,
    say: Callable[..., None],
    ask: Callable[[str], str | None],
) -> Decision | str:
    """One topic shown and decided: the decision, kept; else SKIP or QUIT."""
    from bot.core.clock import SystemClock
    from bot.core.policy_review import DecisionKind, ReviewError, decide, proposals, reviewed

    proposal = next(p for p in proposals(index, decisions) if p.topic_key == key)
    number = _number_of(index, proposal.section)
    say()
    say(f"{counter} {key}: {status_of(proposal)}")
    where = f"[{number}] {proposal.section.short_title}" if proposal.section else "none"
    say(f"  section: {where}")
    say(f"  why: {proposal.why}")
    for passage in proposal.passages:
        say("  passage: " + passage.quoted.replace("\n", "\n    "))
    if proposal.section is not None:
        say(f"  short answer: {proposal.short_answer}")
    kinds = {
        "a": DecisionKind.ACCEPT,
        "r": DecisionKind.REASSIGN,
        "w": DecisionKind.REWRITE,
        "n": DecisionKind.NOT_COVERED,
    }
    while True:
        choice = ask(CHOICES)
        if choice is None or choice.lower() in ("q", "quit"):
            return QUIT
        if choice[:1].lower() == "s":
            return SKIP
        kind = kinds.get(choice[:1].lower())
        if kind is None:
            say("Type a, r, w, n, s or q.")
            continue
        details = _details(index, kind, say, ask)
        if details == QUIT:
            return QUIT
        if isinstance(details, str):
            continue
        section, answer = details
        try:
            decision = decide(
                reviewed(index, decisions),
                key,
                kind,
                reviewer.key,
                SystemClock().now(),
                section=section,
                answer=answer,
            )
        except ReviewError as error:
            say(f"Not saved: {error}.")
            continue
        await _keep(engine, settings, decision)
        say(_saved(index, decisions, decision))
        return decision


def _details(
    index: PolicyIndex,
    kind: DecisionKind,
    say: Callable[..., None],
    ask: Callable[[str], str | None],
) -> tuple[Section | None, str | None] | str:
    """The section a reassigned topic goes to, or the answer a rewritten one gets; BACK to
    choose again, QUIT at the end of input."""
    from bot.core.policy_review import DecisionKind

    if kind is DecisionKind.REASSIGN:
        for n, s in enumerate(index.document.sections, start=1):
            if s.passages:
                say(f"  [{n}] {s.short_title}")
        picked = ask("section number (blank: back)> ")
        if picked is None:
            return QUIT
        if not picked:
            return BACK
        try:
            # The walk lists sections by position, so a number here is one.
            typed = f"[{picked.strip()}]" if picked.strip().isdecimal() else picked
            return _section_named(index, typed), None
        except UsageError as error:
            say(str(error).removeprefix("--section: "))
            return BACK
    if kind is DecisionKind.REWRITE:
        answer = ask("short answer, on one line (blank: back)> ")
        if answer is None:
            return QUIT
        return (None, answer) if answer else BACK
    return None, None

"""Concern reports: what staff report, who receives it, and how long they have to acknowledge it.

The routes are the policy's own:
- "Protecting our business reputation": content that disparages the school, its staff, pupils,
  parents, governors or suppliers goes to the Co-Headteachers without unreasonable delay.
- "Personal Use of Social Media": friend requests from pupils are notified to the Network
  Manager / DSL so that they may be logged. Staff should not befriend parents either, so a
  parent's request is logged by the Network Manager.
- "Personnel Responsible for Implementing This Policy": misuse goes to the IT Network Manager
  in the first instance.
- A safeguarding concern seen online is the DSL's, as every school's child protection policy has it.

Schools keep such records as CPOMS and MyConcern do: categorised, sent to the right people, with
a chronology that is only ever added to.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from bot.core.people import UNSIGNED, Directory, Role, Signature
from bot.core.posts import MAX_ATTACHMENT_BYTES, AttachmentRef
from bot.core.states import StateMachine
from bot.core.typed import printable
from bot.core.ui import FormErrors

REPUTATION = "Protecting our business reputation"
PERSONAL_USE = "Personal Use of Social Media"
PERSONNEL = "Personnel Responsible for Implementing This Policy"


class ReportKind(StrEnum):
    DISPARAGING = "disparaging"
    PUPIL_REQUEST = "pupil_request"
    PARENT_REQUEST = "parent_request"
    STAFF_MISUSE = "staff_misuse"
    SAFEGUARDING = "safeguarding"


@dataclass(frozen=True, slots=True)
class KindRules:
    label: str
    short: str
    section: str
    roles: tuple[Role, ...]
    # The DSL's categories are acknowledged within working hours, the others within a day.
    urgent: bool
    friend_request: bool
    guidance: tuple[str, ...]


KINDS: dict[ReportKind, KindRules] = {
    ReportKind.DISPARAGING: KindRules(
        label="Disparaging or defamatory content about the school, its staff, pupils, parents, "
        "governors or suppliers",
        short="Disparaging content",
        section=REPUTATION,
        roles=(Role.CO_HEAD,),
        urgent=False,
        friend_request=False,
        guidance=(
            "Do not reply to it, share it or comment on it, however unfair it is.",
            "Keep the link; the Co-Headteachers decide whether to ask for it to be taken down.",
        ),
    ),
    ReportKind.PUPIL_REQUEST: KindRules(
        label="A friend or follow request from a pupil",
        short="Pupil friend request",
        section=PERSONAL_USE,
        roles=(Role.DSL, Role.NETWORK_MANAGER),
        urgent=True,
        friend_request=True,
        guidance=(
            "Do not accept the request and do not reply to it.",
            "Do not delete or decline it until the DSL says so: it may be needed as it is.",
        ),
    ),
    ReportKind.PARENT_REQUEST: KindRules(
        label="A friend request from a parent",
        short="Parent friend request",
        section=PERSONAL_USE,
        roles=(Role.NETWORK_MANAGER,),
        urgent=False,
        friend_request=True,
        guidance=(
            "The policy asks staff not to befriend parents of pupils: do not accept it.",
            "Leave it as it is until the Network Manager has logged it.",
        ),
    ),
    ReportKind.STAFF_MISUSE: KindRules(
        label="Misuse of social media by a member of staff",
        short="Staff misuse",
        section=PERSONNEL,
        roles=(Role.NETWORK_MANAGER,),
        urgent=False,
        friend_request=False,
        guidance=(
            "Do not raise it with the colleague or discuss it with others.",
            "Do not forward or screenshot anything further; the link is enough.",
        ),
    ),
    ReportKind.SAFEGUARDING: KindRules(
        label="A safeguarding concern seen online",
        short="Safeguarding concern",
        section=PERSONAL_USE,
        roles=(Role.DSL,),
        urgent=True,
        friend_request=False,
        guidance=(
            "If a child is at immediate risk, phone the DSL now, or the police on 999.",
            "Do not investigate yourself, contact the child or family about it, or copy any image.",
        ),
    ),
}


class ReportState(StrEnum):
    OPEN = "open"  # waiting to be acknowledged
    ACKNOWLEDGED = "acknowledged"
    CLOSED = "closed"


REPORT_MACHINE: StateMachine[ReportState] = StateMachine(
    name="report",
    initial=ReportState.OPEN,
    transitions={
        ReportState.OPEN: frozenset({ReportState.ACKNOWLEDGED, ReportState.CLOSED}),
        ReportState.ACKNOWLEDGED: frozenset({ReportState.CLOSED}),
        ReportState.CLOSED: frozenset(),
    },
)


def moves_into(state: ReportState) -> tuple[ReportState, ...]:
    """The states a report may reach `state` from."""
    return tuple(s for s in ReportState if REPORT_MACHINE.allows(s, state))


class EventKind(StrEnum):
    SUBMITTED = "submitted"
    SENT = "sent"
    HELD = "held"
    ACKNOWLEDGED = "acknowledged"
    NOTE = "note"
    QUESTION = "question"
    REPLY = "reply"
    CHASED = "chased"
    ESCALATED = "escalated"
    CLOSED = "closed"


# What the reporter may read of the chronology (with a receipt, or in their messages).
REPORTER_SEES = frozenset(
    {EventKind.ACKNOWLEDGED, EventKind.QUESTION, EventKind.REPLY, EventKind.CLOSED}
)


class ReportOutcome(StrEnum):
    ACTION_TAKEN = "action_taken"
    REFERRED = "referred"
    LOGGED = "logged"
    NO_FURTHER_ACTION = "no_further_action"


OUTCOMES: dict[ReportOutcome, str] = {
    ReportOutcome.ACTION_TAKEN: "Action taken",
    ReportOutcome.REFERRED: "Referred on (safeguarding partners, police or HR)",
    ReportOutcome.LOGGED: "Logged; nothing more needed",
    ReportOutcome.NO_FURTHER_ACTION: "No further action",
}

# The one who made an anonymous report: no key, in any table, names them.
ANONYMOUS = "anonymous"
SYSTEM = "socialdesk"


# --- working time ----------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkingCalendar:
    """The school's working time: hours on working days, in term, not on bank holidays.

    With no term dates configured every week counts; with some, only days inside a term."""

    zone: ZoneInfo
    starts: time = time(8, 0)
    ends: time = time(17, 0)
    weekdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    terms: tuple[tuple[date, date], ...] = ()
    holidays: frozenset[date] = frozenset()

    def is_working_day(self, day: date) -> bool:
        if day.weekday() not in self.weekdays or day in self.holidays:
            return False
        return not self.terms or any(first <= day <= last for first, last in self.terms)

    @property
    def day_length(self) -> timedelta:
        today = date(2026, 1, 1)
        return datetime.combine(today, self.ends) - datetime.combine(today, self.starts)

    def add(self, start: datetime, working: timedelta) -> datetime:
        """The instant (UTC) when `working` time has passed inside working hours from `start`."""
        remaining = working
        local = start.astimezone(self.zone)
        day = local.date()
        # Two years of days without a working one means the calendar is wrong; rather than
        # never chase, count plain time.
        for _ in range(750):
            if self.is_working_day(day):
                opens = datetime.combine(day, self.starts, tzinfo=self.zone)
                closes = datetime.combine(day, self.ends, tzinfo=self.zone)
                begin = max(opens, local)
                if begin < closes:
                    available = closes - begin
                    if remaining <= available:
                        return (begin + remaining).astimezone(UTC)
                    remaining -= available
            day += timedelta(days=1)
        return (start + working).astimezone(UTC)


@dataclass(frozen=True)
class Deadlines:
    """How long recipients have to acknowledge a report, in working time."""

    urgent: timedelta = timedelta(hours=1)
    other: timedelta | None = None  # None: one working day

    def for_kind(self, kind: ReportKind, calendar: WorkingCalendar) -> timedelta:
        if KINDS[kind].urgent:
            return self.urgent
        return self.other if self.other is not None else calendar.day_length


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(h|hours?|d|days?|m|minutes?)\s*$", re.IGNORECASE)


def parse_working_duration(text: str, calendar: WorkingCalendar) -> timedelta | None:
    """'1h', '2 hours', '1d', '30m': working time; a working day is the school's day length."""
    match = _DURATION.match(text)
    if match is None:
        return None
    amount = float(match[1])
    unit = match[2][0].lower()
    if amount <= 0:
        return None
    if unit == "h":
        return timedelta(hours=amount)
    if unit == "m":
        return timedelta(minutes=amount)
    return calendar.day_length * amount


# --- what staff submit -----------------------------------------------------------------------

KIND = "kind"
WHERE = "where"
LINKS = "links"
SEEN_ON = "seen_on"
SEEN_AT = "seen_at"
DETAILS = "details"
INVOLVED = "involved"
INVOLVED_TEXT = "involved_text"
ANONYMOUSLY = "anonymously"
EVIDENCE = "evidence"

DETAILS_MAX = 3000
WHERE_MAX = 100
LINKS_MAX = 10
LINK_MAX = 2000
INVOLVED_TEXT_MAX = 500
EVIDENCE_MAX = 10


@dataclass(frozen=True, slots=True)
class ReportSubmission:
    """A report form as it came back, read by an edge; the handler checks all of it."""

    kind: str
    where: str
    links: str
    seen_on: str | None
    seen_at: str | None
    details: str
    involved: tuple[str, ...] = ()  # people's keys
    involved_text: str = ""
    anonymous: bool = False
    attachments: tuple[AttachmentRef, ...] = ()
    form_key: str | None = None
    # The receipt code the form was opened with, used if the report is made anonymously: a
    # form sent twice (a lost answer, a retry) then shows the same code again.
    receipt: str | None = None


@dataclass(frozen=True, slots=True)
class ValidReport:
    kind: ReportKind
    where: str
    links: tuple[str, ...]
    seen_at: datetime | None  # UTC
    details: str
    involved: tuple[str, ...]
    involved_text: str
    anonymous: bool
    attachments: tuple[AttachmentRef, ...]


@dataclass(frozen=True, slots=True)
class Anonymity:
    """What an anonymous report keeps of whoever made it: nothing that leads back to them."""

    # The maker's key in every row about the report; None: it names nobody, and its events
    # are by ANONYMOUS.
    maker_key: str | None
    # Even the form's id is kept only as a digest: the platform could tie it to a person.
    form_key: str | None
    # Numbered in turn (R-0007), or drawn at random: R-0007 would sit next to the R-0006 its
    # maker sent a minute before under their own name.
    numbered: bool
    # The rows about it, and the messages and timers it queues, take ids apart from the
    # shared sequences, so none sits next to a row of whoever made it.
    detached: bool
    # Why it cannot be made anonymously, by form input.
    refusals: Mapping[str, str]


def anonymity(
    kind: ReportKind | None,
    attachments: Sequence[AttachmentRef],
    maker_key: str,
    form_key: str | None,
    *,
    anonymous: bool = True,
) -> Anonymity:
    """Every rule an anonymous report follows, in one place. Only a colleague's misuse may be
    reported anonymously ("Personnel Responsible for Implementing This Policy": misuse goes to
    the IT Network Manager); the other kinds need someone to follow them up with. It carries no
    files, whose uploader the platform records. Who made it plays no part in where it goes
    (bot.core.routing.route): leaving them out would name them by their absence. The reporter
    follows it up with a receipt code, never in their own chat (bot.handlers.reports)."""
    if not anonymous:
        return Anonymity(maker_key, form_key, numbered=True, detached=False, refusals={})
    refusals: dict[str, str] = {}
    if kind is not None and kind is not ReportKind.STAFF_MISUSE:
        refusals[ANONYMOUSLY] = (
            "Only a report of a member of staff's misuse can be made anonymously; "
            "the others need someone to follow them up with."
        )
    if attachments:
        refusals[EVIDENCE] = (
            "An anonymous report cannot carry files: the chat platform records who uploaded "
            "them. Untick anonymity, or start the report again without files and describe "
            "what you saw, with the links."
        )
    digest = "anonymous:" + hashlib.sha256(form_key.encode()).hexdigest() if form_key else None
    return Anonymity(None, digest, numbered=False, detached=True, refusals=refusals)


def validate_report(
    submission: ReportSubmission, directory: Directory, zone: ZoneInfo, now: datetime
) -> tuple[ValidReport | None, FormErrors]:
    errors: dict[str, str] = {}
    try:
        kind = ReportKind(submission.kind)
    except ValueError:
        kind = None
        errors[KIND] = "Choose what kind of concern this is."
    where = " ".join(printable(submission.where).split())
    if len(where) > WHERE_MAX:
        errors[WHERE] = f"Name the site or app in under {WHERE_MAX} characters."
    links = tuple(line.strip() for line in printable(submission.links).splitlines() if line.strip())
    bad = [link for link in links if not is_web_address(link)]
    if bad:
        errors[LINKS] = (
            f"{bad[0][:80]!r} is not a web address: give each link in full, starting "
            "https://, one per line."
        )
    elif len(links) > LINKS_MAX:
        errors[LINKS] = f"Give at most {LINKS_MAX} links."
    details = printable(submission.details).strip()
    if not details:
        errors[DETAILS] = "Say what you saw or what happened."
    elif len(details) > DETAILS_MAX:
        errors[DETAILS] = f"Keep this under {DETAILS_MAX} characters."
    seen_at = _seen_at(submission, zone, now, errors)
    unknown = [key for key in submission.involved if directory.by_key(key) is None]
    if unknown:
        errors[INVOLVED] = "Choose people from the list."
    involved_text = " ".join(printable(submission.involved_text).split())
    if len(involved_text) > INVOLVED_TEXT_MAX:
        errors[INVOLVED_TEXT] = f"Keep this under {INVOLVED_TEXT_MAX} characters."
    if submission.anonymous:
        errors.update(anonymity(kind, submission.attachments, "", None).refusals)
    if submission.attachments and not submission.anonymous:
        if len(submission.attachments) > EVIDENCE_MAX:
            errors[EVIDENCE] = f"Attach at most {EVIDENCE_MAX} files."
        else:
            too_big = [a.name for a in submission.attachments if a.size > MAX_ATTACHMENT_BYTES]
            if too_big:
                errors[EVIDENCE] = (
                    f"Each file may be at most {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB: "
                    f"{', '.join(too_big)[:200]} is larger."
                )
    if errors or kind is None:
        return None, FormErrors(errors)
    return (
        ValidReport(
            kind=kind,
            where=where,
            links=links,
            seen_at=seen_at,
            details=details,
            involved=tuple(dict.fromkeys(submission.involved)),
            involved_text=involved_text,
            anonymous=submission.anonymous,
            attachments=submission.attachments,
        ),
        FormErrors(),
    )


def is_web_address(text: str) -> bool:
    if len(text) > LINK_MAX or any(c.isspace() for c in text):
        return False
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and "." in (parts.hostname or "")


def _seen_at(
    submission: ReportSubmission, zone: ZoneInfo, now: datetime, errors: dict[str, str]
) -> datetime | None:
    if not submission.seen_on:
        if submission.seen_at:
            errors[SEEN_ON] = "Give the date as well as the time."
        return None
    try:
        day = date.fromisoformat(submission.seen_on)
    except ValueError:
        errors[SEEN_ON] = "Give the date it was seen."
        return None
    clock = time(0, 0)
    if submission.seen_at:
        try:
            clock = time.fromisoformat(submission.seen_at.strip()[:5])
        except ValueError:
            errors[SEEN_AT] = "Give the time as hours and minutes, such as 19:30."
            return None
    seen = datetime.combine(day, clock, tzinfo=zone).astimezone(UTC)
    if seen > now + timedelta(minutes=5) and day > now.astimezone(zone).date():
        errors[SEEN_ON] = "That date is still to come."
        return None
    if seen > now + timedelta(minutes=5):
        errors[SEEN_AT] = "That time is still to come."
        return None
    return seen


# --- receipts for anonymous reports ----------------------------------------------------------

# Crockford's base32: no I, L, O or U, so a code read aloud or copied by hand survives.
_RECEIPT_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RECEIPT_GROUPS = 5
RECEIPT_GROUP = 4


def new_receipt() -> str:
    """100 random bits: guessing one is hopeless, and none is stored, only its digest."""
    chars = "".join(
        secrets.choice(_RECEIPT_ALPHABET) for _ in range(RECEIPT_GROUPS * RECEIPT_GROUP)
    )
    return "-".join(chars[i : i + RECEIPT_GROUP] for i in range(0, len(chars), RECEIPT_GROUP))


ANONYMOUS_REFERENCE_CHARS = 5


def anonymous_reference() -> str:
    """R-A3K9QZ: an anonymous report's reference is drawn at random, not counted in turn with
    the others, so it says nothing of which report came before it."""
    chars = "".join(secrets.choice(_RECEIPT_ALPHABET) for _ in range(ANONYMOUS_REFERENCE_CHARS))
    return f"R-A{chars}"


def receipt_digest(code: str) -> str | None:
    """The digest a receipt is found by; None for text that cannot be a receipt."""
    normal = code.upper().replace("O", "0").replace("I", "1").replace("L", "1")
    normal = "".join(c for c in normal if c not in "- ")
    if len(normal) != RECEIPT_GROUPS * RECEIPT_GROUP or any(
        c not in _RECEIPT_ALPHABET for c in normal
    ):
        return None
    return hashlib.sha256(f"socialdesk-receipt:{normal}".encode()).hexdigest()


# --- what is stored --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportEvent:
    at: datetime
    kind: EventKind
    actor_key: str
    text: str | None = None
    # Who the actor was then, as stored (read back from the records; never the reporter of
    # an anonymous report).
    signed: Signature = UNSIGNED


@dataclass(frozen=True, slots=True)
class NewReport:
    reference: str
    report: ValidReport
    reporter_key: str | None
    receipt_digest: str | None
    recipients: tuple[str, ...]
    held: bool
    at: datetime
    due_at: datetime | None
    form_key: str | None


@dataclass(frozen=True, slots=True)
class ReportRecord:
    id: int
    reference: str
    kind: ReportKind
    state: ReportState
    reporter_key: str | None  # None: made anonymously
    where: str
    links: tuple[str, ...]
    seen_at: datetime | None
    details: str
    involved: tuple[str, ...]
    involved_text: str
    recipients: tuple[str, ...]
    held: bool
    escalated: bool
    created_at: datetime
    due_at: datetime | None
    step: int
    outcome: ReportOutcome | None = None
    attachments: tuple[int, ...] = ()
    events: tuple[ReportEvent, ...] = field(default=())
    reporter_signed: Signature = UNSIGNED

    @property
    def anonymous(self) -> bool:
        return self.reporter_key is None

    @property
    def rules(self) -> KindRules:
        return KINDS[self.kind]

    def last(self, kind: EventKind) -> ReportEvent | None:
        return next((e for e in reversed(self.events) if e.kind is kind), None)


def outcome_label(outcome: ReportOutcome | None) -> str:
    return OUTCOMES.get(outcome, "") if outcome else ""


def seen_for_reporter(events: Sequence[ReportEvent]) -> tuple[ReportEvent, ...]:
    return tuple(e for e in events if e.kind in REPORTER_SEES)

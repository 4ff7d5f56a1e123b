"""Concern reports: made by staff, sent to the people the policy names, acknowledged, followed
up and closed, with a chronology that is only ever added to.

Who receives each kind is `bot.core.reports.route`; it is worked out again at every click, so
someone whose role has gone, or who is named in the report, cannot act on it. A report of a
colleague's misuse may be made anonymously: then no key, message, log line or card names its
maker, and they follow it up with the receipt code they were shown once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.core.outcome import CardUpdate, FetchAttachment, Notify, Outcome, Schedule
from bot.core.people import UNSIGNED, Person, Platform, Signature
from bot.core.ports import UnitOfWork
from bot.core.refs import RefKind, format_reference
from bot.core.reports import (
    ANONYMOUS,
    ANONYMOUSLY,
    DETAILS,
    DETAILS_MAX,
    EVIDENCE,
    EVIDENCE_MAX,
    INVOLVED,
    INVOLVED_TEXT,
    INVOLVED_TEXT_MAX,
    KIND,
    KINDS,
    LINKS,
    OUTCOMES,
    SEEN_AT,
    SEEN_ON,
    SYSTEM,
    WHERE,
    EventKind,
    NewReport,
    ReportEvent,
    ReportKind,
    ReportOutcome,
    ReportRecord,
    ReportState,
    ReportSubmission,
    anonymity,
    anonymous_reference,
    moves_into,
    new_receipt,
    outcome_label,
    receipt_digest,
    seen_for_reporter,
    validate_report,
)
from bot.core.routing import Route, route
from bot.core.typed import printable
from bot.core.ui import (
    Block,
    BulletList,
    Button,
    Buttons,
    ButtonStyle,
    Choice,
    DateInput,
    Fields,
    FileInput,
    Form,
    FormErrors,
    FormInput,
    Heading,
    Inline,
    Mention,
    Message,
    MultiChoice,
    Note,
    Paragraph,
    PeoplePicker,
    Quote,
    SingleChoice,
    TextInput,
    TimeInput,
)
from bot.handlers import HandlerContext
from bot.handlers.workflow import (
    KEPT_FILES_PREFIX,
    REPORT_FAILED,
    Clicked,
    ClickRoute,
    CommandRoute,
    FormRoute,
    FormValues,
    Said,
    Submitted,
    Workflow,
)

log = logging.getLogger(__name__)

REPORT_FORM = "report.form"
RECEIPT_FORM = "report.receipt"
NOTE_FORM = "report.note_form"
ASK_FORM = "report.ask_form"
CLOSE_FORM = "report.close_form"
REPLY_FORM = "report.reply_form"

# Buttons on a recipient's card, and on the messages a reporter receives.
ACKNOWLEDGE = "report.acknowledge"
ADD_NOTE = "report.note"
ASK = "report.ask"
CLOSE = "report.close"
REPLY = "report.reply"
# Buttons that open a form of their own, before any report exists.
OPEN_FORM = "report.open"
FOLLOW_UP = "report.follow_up"

NOTE = "note"
QUESTION = "question"
OUTCOME = "outcome"
SUMMARY = "summary"
ANSWER = "answer"
RECEIPT = "receipt"
# An anonymous reporter's answer form carries their receipt, after this, as its context.
RECEIPT_CONTEXT = "receipt:"
TEXT_MAX = 2000
CHRONOLOGY_SHOWN = 12

CHASE = "report.chase"
ESCALATE = "report.escalate"

GONE = "That report cannot be found."
NOT_YOURS = "Only the people this report was sent to can act on it."
NOT_THE_REPORTER = "Only the person who made this report can answer on it."


def report_id(value: str) -> int | None:
    """A report's id as a button or form carries it; None for anything else. An anonymous
    report's id is negative (see bot.store.models.detached_ids)."""
    digits = value.removeprefix("-")
    if not (digits.isascii() and digits.isdecimal() and len(digits) < 12):
        return None
    return int(value)


def card_key(report_id: int) -> str:
    return f"report:{report_id}"


_told = Message.saying


def _refuse(text: str) -> Outcome:
    return Outcome(reply=_told(text))


# --- the form --------------------------------------------------------------------------------

IMAGE_WARNING = (
    "Never capture, save or forward an indecent image of a child, even as evidence: that is an "
    "offence in itself. Report it without the image, saying where it is."
)
RISK_WARNING = (
    "If a child is at immediate risk, do not wait for this form: phone the DSL now, or the "
    "police on 999."
)


def report_form(
    ctx: HandlerContext,
    kind: str | None = None,
    platform: Platform = Platform.SLACK,
    files_sent: bool = False,
) -> Form:
    """`files_sent`: in Teams, whose cards take no files, the screenshots sent in the chat with
    the word report, which the form then lists."""
    people = tuple(
        Choice(p.key, p.name or p.key)
        for p in sorted(ctx.directory.people, key=lambda p: (p.name or p.key).lower())
    )
    inputs: list[FormInput] = [
        SingleChoice(
            KIND,
            "What kind of concern is it?",
            tuple(Choice(k.value, rules.label) for k, rules in KINDS.items()),
            initial=kind if kind in {k.value for k in ReportKind} else None,
        ),
        TextInput(
            WHERE,
            "Where: which site or app",
            required=False,
            max_length=100,
            placeholder="Facebook, Instagram, TikTok, WhatsApp...",
        ),
        TextInput(
            LINKS,
            "Link(s), one per line",
            multiline=True,
            required=False,
            max_length=4000,
            hint="The full address of the post, profile or message, starting https://.",
        ),
        DateInput(SEEN_ON, "When you saw it: the date", required=False),
        TimeInput(SEEN_AT, "and the time, if you know it", required=False),
        TextInput(
            DETAILS,
            "What happened",
            multiline=True,
            max_length=DETAILS_MAX,
            hint="What you saw, in your own words. Facts, not opinions.",
        ),
        PeoplePicker(
            INVOLVED,
            "Staff involved, if any",
            people,
            hint="Whoever you name here never receives or sees this report.",
        ),
        TextInput(
            INVOLVED_TEXT,
            "Anyone else involved",
            required=False,
            max_length=INVOLVED_TEXT_MAX,
            hint="Pupils, parents or others, as you know them: initials and year group will do.",
        ),
    ]
    if platform is Platform.SLACK or files_sent:
        inputs.append(
            FileInput(
                EVIDENCE,
                "Evidence files (screenshots of what was said)",
                max_files=EVIDENCE_MAX,
                hint=IMAGE_WARNING,
            )
        )
    inputs.append(
        MultiChoice(
            ANONYMOUSLY,
            "Anonymity",
            (Choice(ANONYMOUSLY, "Make this report anonymously (misuse by a member of staff)"),),
            required=False,
            hint="Nothing will record who you are, so nobody can come back to you except "
            "through the receipt code you are shown next. It cannot carry files. If such "
            "reports come to you, this one will too: leaving you out would show it was you.",
        )
    )
    return Form(
        form_id=REPORT_FORM,
        title="Report a concern",
        submit_label="Send report",
        intro=(Paragraph.of(RISK_WARNING), Paragraph.of(IMAGE_WARNING)),
        inputs=tuple(inputs),
        # Used only if the report is made anonymously; see ReportSubmission.receipt.
        context=new_receipt(),
    )


def receipt_form() -> Form:
    return Form(
        form_id=RECEIPT_FORM,
        title="Follow up a report",
        submit_label="Open",
        intro=(
            Paragraph.of(
                "Give the receipt code you were shown when you made an anonymous report, to "
                "read what has happened and answer any questions."
            ),
        ),
        inputs=(TextInput(RECEIPT, "Receipt code", max_length=40, placeholder="XXXX-XXXX-..."),),
    )


def start_menu(
    ctx: HandlerContext, platform: Platform, files_key: str | None = None, files: int = 0
) -> Message:
    """Where reporting starts when it cannot open the form at once (a chat, not a command).
    `files_key`: screenshots sent with the word report are kept under it for the form."""
    evidence = (
        f"The {files} file{'s' if files != 1 else ''} you sent will go with the report. "
        if files_key
        else "To add screenshots, send them in this chat in one message with the word report. "
    )
    return Message(
        summary="Report a concern",
        blocks=(
            Paragraph.of(
                "Report disparaging content, a friend request from a pupil or parent, misuse of "
                "social media by a member of staff, or a safeguarding concern seen online. The "
                "form opens in a window of its own; what you write there stays out of this chat."
            ),
            Paragraph.of(RISK_WARNING),
            Paragraph.of(evidence + IMAGE_WARNING),
            Buttons(
                (
                    Button(
                        "Make a report",
                        OPEN_FORM,
                        f"{KEPT_FILES_PREFIX}{files_key}" if files_key else "",
                        ButtonStyle.PRIMARY,
                        dialog=True,
                    ),
                    Button("Follow up an anonymous report", FOLLOW_UP, "", dialog=True),
                )
            ),
        ),
    )


async def open_form(ctx: HandlerContext, uow: UnitOfWork, actor: Person, value: str) -> Outcome:
    return Outcome(form=report_form(ctx, value or None))


# --- making a report -------------------------------------------------------------------------


async def submit(
    ctx: HandlerContext, uow: UnitOfWork, actor: Person, submission: ReportSubmission
) -> Outcome:
    now = ctx.clock.now()
    valid, errors = validate_report(submission, ctx.directory, ctx.school_time.zone, now)
    if valid is None:
        return Outcome(errors=errors)
    maker = anonymity(
        valid.kind, valid.attachments, actor.key, submission.form_key, anonymous=valid.anonymous
    )
    form_key = maker.form_key
    receipt: str | None = None
    if valid.anonymous:
        receipt = submission.receipt if receipt_digest(submission.receipt or "") else None
    if form_key:
        earlier = await uow.reports.reference_for_form(form_key)
        if earlier is not None:
            # The same form sent twice (a retry, a double click): one report.
            again = f"This report was already sent, as {earlier}."
            if receipt:
                # Only the code it was made with, never one a changed form brought.
                made = await uow.reports.by_receipt(receipt_digest(receipt) or "")
                again += (
                    f" Your receipt code: {receipt}."
                    if made is not None and made.reference == earlier
                    else " Use the receipt code shown when it was sent."
                )
            return Outcome(reply=_told(again))
    if valid.anonymous:
        digest = receipt_digest(receipt or "")
        if digest is None or await uow.reports.by_receipt(digest) is not None:
            receipt = new_receipt()
    reporter_key = maker.maker_key
    chosen = route(ctx.directory, valid.kind, valid.involved, reporter_key)
    reference = (
        format_reference(RefKind.REPORT, await uow.references.next_number(RefKind.REPORT))
        if maker.numbered
        else anonymous_reference()
    )
    held = not chosen.recipients
    due = None if held else _due(ctx, valid.kind, now)
    new_id, attachments = await uow.reports.create(
        NewReport(
            reference=reference,
            report=valid,
            reporter_key=reporter_key,
            receipt_digest=receipt_digest(receipt) if receipt else None,
            recipients=tuple(sorted(chosen.keys)),
            held=held,
            at=now,
            due_at=due,
            form_key=form_key,
        )
    )
    await uow.reports.append(
        new_id, ReportEvent(now, EventKind.SUBMITTED, reporter_key or ANONYMOUS)
    )
    if held:
        await uow.reports.append(
            new_id, ReportEvent(now, EventKind.HELD, SYSTEM, "nobody configured can receive it")
        )
        # The operator hears that one waits, and nothing of what it says.
        log.warning(
            "report %s is held: nobody in the configuration can receive it; give the roles "
            "it needs to someone and restart (see `socialdesk reports --held`)",
            reference,
        )
    else:
        await uow.reports.append(new_id, _sent_event(now, chosen))
    await uow.audit.append(
        reporter_key or ANONYMOUS,
        "report.made",
        "report",
        reference,
        now,
        {
            "kind": valid.kind.value,
            "recipients": len(chosen.recipients),
            "anonymous": int(valid.anonymous),
            "files": len(attachments),
        },
        detached=maker.detached,
    )
    record = await uow.reports.get(new_id)
    assert record is not None  # written above, in this transaction
    shown = _receipt_message(ctx, record, receipt)
    notifications = list(_send_card(ctx, record, chosen.recipients))
    if reporter_key is not None:
        # A copy of the receipt where they will also hear how it goes (a named report has no
        # receipt code to keep out of the chat).
        notifications.append(Notify(recipient=actor, message=shown))
    return Outcome(
        reply=shown,
        notifications=tuple(notifications),
        fetches=tuple(
            FetchAttachment(attachment_id, ref.platform, ref.download_url)
            for attachment_id, ref in zip(attachments, valid.attachments, strict=True)
        ),
        schedules=() if held else (Schedule(CHASE, due or now, {"report_id": new_id}),),
        detached=maker.detached,
    )


def _due(ctx: HandlerContext, kind: ReportKind, now: datetime) -> datetime:
    calendar = ctx.calendar
    return calendar.add(now, ctx.deadlines.for_kind(kind, calendar))


def _sent_event(now: datetime, chosen: Route) -> ReportEvent:
    text = f"sent to {len(chosen.recipients)}"
    if chosen.oversight:
        text += ", with the Co-Headteachers (or the chair of governors) for oversight"
    return ReportEvent(now, EventKind.SENT, SYSTEM, text)


def _send_card(
    ctx: HandlerContext, record: ReportRecord, recipients: Sequence[Person]
) -> tuple[Notify, ...]:
    card = report_card(ctx, record)
    return tuple(
        Notify(
            recipient=person,
            message=card,
            card_key=card_key(record.id),
            revision=record.step,
            attachments=record.attachments,
        )
        for person in recipients
    )


def _receipt_message(ctx: HandlerContext, record: ReportRecord, receipt: str | None) -> Message:
    rules = record.rules
    blocks: list[Block] = [
        Paragraph.of(f"Your report is {record.reference}. Thank you for making it."),
    ]
    if record.held:
        blocks.append(
            Paragraph.of(
                "Nobody is set up to receive this kind of report yet, so it is kept safely and "
                "the person who runs socialdesk has been told that one is waiting (not what it "
                "says). Please also tell the Co-Headteachers in person."
            )
        )
    else:
        blocks.append(
            Paragraph.of(
                f"It has gone to the people the policy names (\u201c{rules.section}\u201d)"
                + (
                    f", who are asked to acknowledge it by {ctx.school_time.show(record.due_at)}."
                    if record.due_at
                    else "."
                )
            )
        )
    blocks.append(BulletList("What to do now", rules.guidance))
    if receipt is not None:
        blocks.append(
            Paragraph.of(
                f"Your receipt code: {receipt}. Write it down now. It is shown only this once "
                "and cannot be recovered: nothing records who made this report, so nobody can "
                "look it up for you. Use it with Follow up an anonymous report (in Slack, "
                "/report receipt) to read and answer the handlers' questions."
            )
        )
    else:
        blocks.append(
            Paragraph.of("You will hear here when it is acknowledged and when it is closed.")
        )
    blocks.append(Note(f"{record.reference} \u00b7 {ctx.school_time.show(record.created_at)}"))
    return Message(summary=f"Report {record.reference} sent", blocks=tuple(blocks))


# --- the recipients' card --------------------------------------------------------------------


def recorded_name(ctx: HandlerContext, key: str, signed: Signature = UNSIGNED) -> str:
    """Who acted, for the records (`socialdesk report`, the exports): as they were when they
    acted, "Terry Teacher (Slack U0TERRY)", whether or not the configuration names them now.
    Rows from before that was kept are named as the configuration names them today."""
    return _as_recorded(ctx, key, signed).describe(fallback=key)


def _as_recorded(ctx: HandlerContext, key: str, signed: Signature) -> Signature:
    if key == ANONYMOUS:
        return Signature("the reporter (anonymous)", None)
    if key == SYSTEM:
        return Signature("socialdesk", None)
    if signed.name or signed.identity:
        return signed
    return ctx.directory.signature(key)


def _recorded_columns(
    ctx: HandlerContext, column: str, key: str | None, signed: Signature = UNSIGNED
) -> dict[str, str]:
    """`column` (the name, as they were then) and `column_identity` ("slack:U0TERRY")."""
    if key is None:
        return {column: "", f"{column}_identity": ""}
    found = _as_recorded(ctx, key, signed)
    return {
        column: found.name or found.describe(fallback=key),
        f"{column}_identity": found.identity or "",
    }


def _name(ctx: HandlerContext, key: str) -> str:
    if key == ANONYMOUS:
        return "the reporter (anonymous)"
    if key == SYSTEM:
        return "socialdesk"
    person = ctx.directory.by_key(key)
    return (person.name if person else None) or "a member of staff"


_EVENT_WORDS = {
    EventKind.SUBMITTED: "Reported by {who}",
    EventKind.SENT: "Sent ({text})",
    EventKind.HELD: "Held: {text}",
    EventKind.ACKNOWLEDGED: "Acknowledged by {who}",
    EventKind.NOTE: "Note by {who}: {text}",
    EventKind.QUESTION: "{who} asked the reporter: {text}",
    EventKind.REPLY: "The reporter answered: {text}",
    EventKind.CHASED: "Reminder sent: not acknowledged in time",
    EventKind.ESCALATED: "Escalated: {text}",
    EventKind.CLOSED: "Closed by {who}: {text}",
}


def chronology_line(
    ctx: HandlerContext, event: ReportEvent, budget: int | None = None, *, recorded: bool = False
) -> str:
    """`recorded`: for the records, naming each actor as they were then (recorded_name)."""
    text = event.text or ""
    if budget is not None:
        text = _fit(text, budget)
    who = (
        recorded_name(ctx, event.actor_key, event.signed)
        if recorded
        else _name(ctx, event.actor_key)
    )
    template = _EVENT_WORDS[event.kind]
    if event.kind is EventKind.REPLY and event.actor_key != ANONYMOUS:
        # A named reporter's answer says who answered, as every other step does.
        template = "The reporter answered ({who}): {text}"
    words = template.format(who=who, text=text)
    return f"{ctx.school_time.show(event.at)} - {words}"


# A card has room for so much: Slack takes 50 blocks of 3,000 characters (after escaping, which
# makes "&" five), Teams about 28 KB of JSON (where an emoji is four bytes and a quote mark
# two). What people wrote is shown on a card within these budgets, in bytes of JSON, and in
# full by `socialdesk report` and the exports.
CARD_DETAILS_BYTES = 7500
CARD_LINE_BYTES = 450
CARD_LINK_BYTES = 240
CARD_INVOLVED_BYTES = 1200


def _cost(text: str) -> int:
    """What a text takes up in a message sent as JSON in UTF-8."""
    return len(json.dumps(text, ensure_ascii=False).encode()) - 2


def _fit(text: str, budget: int) -> str:
    if _cost(text) <= budget:
        return text
    shortest, longest = 0, len(text)
    while shortest < longest:
        middle = (shortest + longest + 1) // 2
        if _cost(text[:middle]) + 3 <= budget:
            shortest = middle
        else:
            longest = middle - 1
    return text[:shortest] + "\u2026"


def report_card(ctx: HandlerContext, record: ReportRecord) -> Message:
    rules = record.rules
    state = {
        ReportState.OPEN: "Waiting to be acknowledged",
        ReportState.ACKNOWLEDGED: "Acknowledged",
        ReportState.CLOSED: f"Closed: {outcome_label(record.outcome)}",
    }[record.state]
    reporter: Inline
    if record.reporter_key is None:
        reporter = "Anonymous (they can read and answer your questions with their receipt)"
    else:
        person = ctx.directory.by_key(record.reporter_key)
        reporter = Mention(person) if person else "a member of staff"
    fields: list[tuple[str, Inline]] = [
        ("Kind", rules.short),
        ("Reported by", reporter),
        ("Reported", ctx.school_time.show(record.created_at)),
        ("Seen", ctx.school_time.show(record.seen_at) if record.seen_at else "not given"),
        ("Where", _fit(record.where, CARD_INVOLVED_BYTES) or "not given"),
        ("State", state),
    ]
    if record.state is ReportState.OPEN and record.due_at is not None:
        fields.append(("Acknowledge by", ctx.school_time.show(record.due_at)))
    blocks: list[Block] = [
        Heading(f"{rules.short} \u00b7 {record.reference}"),
        Fields(tuple(fields)),
        Paragraph.of("What happened:"),
        Quote(_fit(record.details, CARD_DETAILS_BYTES)),
    ]
    if _cost(record.details) > CARD_DETAILS_BYTES:
        blocks.append(Note("Cut short here; the report's record holds all of it."))
    if record.links:
        blocks.append(BulletList("Links", tuple(_fit(x, CARD_LINK_BYTES) for x in record.links)))
    named = [ctx.directory.by_key(k) for k in record.involved]
    if named or record.involved_text:
        parts: list[Inline] = ["People involved: "]
        for number, person in enumerate(p for p in named if p is not None):
            if number:
                parts.append(", ")
            parts.append(person.name or "a member of staff")
        if record.involved_text:
            parts.append(("; " if named else "") + _fit(record.involved_text, CARD_INVOLVED_BYTES))
        blocks.append(Paragraph(tuple(parts)))
    if record.attachments:
        count = len(record.attachments)
        blocks.append(Note(f"{count} evidence file{'s' if count != 1 else ''}, sent below."))
    shown = record.events[-CHRONOLOGY_SHOWN:]
    blocks.append(
        BulletList(
            "Chronology" + (" (latest)" if len(record.events) > len(shown) else ""),
            tuple(chronology_line(ctx, e, CARD_LINE_BYTES) for e in shown),
        )
    )
    if record.state is not ReportState.CLOSED:
        buttons = []
        if record.state is ReportState.OPEN:
            buttons.append(Button("Acknowledge", ACKNOWLEDGE, str(record.id), ButtonStyle.PRIMARY))
        buttons += [
            Button("Add a note", ADD_NOTE, str(record.id), form=note_form(record)),
            Button("Ask the reporter", ASK, str(record.id), form=ask_form(record)),
            Button("Close", CLOSE, str(record.id), ButtonStyle.DANGER, form=close_form(record)),
        ]
        blocks.append(Buttons(tuple(buttons)))
    blocks.append(Note(f"{record.reference} \u00b7 \u201c{rules.section}\u201d"))
    return Message(summary=f"{rules.short} reported ({record.reference})", blocks=tuple(blocks))


async def _reach_new_handlers(
    ctx: HandlerContext, uow: UnitOfWork, record: ReportRecord
) -> tuple[Notify, ...]:
    """Someone who has come to hold a role the report goes to (a new DSL, say) and has no copy
    of its card is sent one, with its evidence."""
    if record.held:
        return ()
    newcomers = [p for p in handlers_of(ctx, record) if p.key not in record.recipients]
    if not newcomers:
        return ()
    everyone = sorted({*record.recipients, *(p.key for p in newcomers)})
    await uow.reports.set_recipients(record.id, everyone)
    return _send_card(ctx, record, newcomers)


def _card_update(ctx: HandlerContext, record: ReportRecord) -> CardUpdate:
    """Every copy of the card shows the report as it now is; a copy held by someone who may no
    longer act on it (a role gone) stops showing it."""
    return CardUpdate(
        card_key(record.id),
        report_card(ctx, record),
        record.step,
        visible_to=frozenset(p.key for p in handlers_of(ctx, record)),
        withdrawn=_told(f"{record.reference} is no longer shown to you."),
    )


def note_form(record: ReportRecord) -> Form:
    return Form(
        NOTE_FORM,
        "Add a note",
        "Add note",
        (Paragraph.of(f"A note on {record.reference}, for everyone handling it."),),
        (
            TextInput(
                NOTE,
                "Note",
                multiline=True,
                max_length=TEXT_MAX,
                hint="Added to the chronology for good: it cannot be edited or removed.",
            ),
        ),
        context=str(record.id),
    )


def ask_form(record: ReportRecord) -> Form:
    return Form(
        ASK_FORM,
        "Ask the reporter",
        "Send question",
        (Paragraph.of(f"A question for whoever made {record.reference}."),),
        (TextInput(QUESTION, "Your question", multiline=True, max_length=TEXT_MAX),),
        context=str(record.id),
    )


def close_form(record: ReportRecord) -> Form:
    return Form(
        CLOSE_FORM,
        "Close the report",
        "Close report",
        (Paragraph.of(f"Close {record.reference}. The reporter is told the outcome."),),
        (
            SingleChoice(
                OUTCOME, "Outcome", tuple(Choice(o.value, label) for o, label in OUTCOMES.items())
            ),
            TextInput(
                SUMMARY,
                "What was done",
                multiline=True,
                max_length=TEXT_MAX,
                hint="Kept in the chronology; not shown to the reporter.",
            ),
        ),
        context=str(record.id),
    )


def reply_form(record: ReportRecord, context: str, question: str | None = None) -> Form:
    """`question`: the one just asked, when `record` was read before it."""
    if question is None:
        asked = record.last(EventKind.QUESTION)
        question = asked.text if asked else None
    return Form(
        REPLY_FORM,
        "Answer a question",
        "Send answer",
        (Quote(question),) if question else (),
        (TextInput(ANSWER, "Your answer", multiline=True, max_length=TEXT_MAX),),
        context=context,
    )


# --- acting on a report ----------------------------------------------------------------------


def current_route(ctx: HandlerContext, record: ReportRecord) -> Route:
    return route(ctx.directory, record.kind, record.involved, record.reporter_key, record.escalated)


def handlers_of(ctx: HandlerContext, record: ReportRecord) -> tuple[Person, ...]:
    """Who may act on a report now: whom its kind goes to under today's configuration (with
    those above, once escalated), never anyone named in it, nor its maker. Worked out at each
    click, because roles change and a card outlives them."""
    return current_route(ctx, record).recipients


async def _handling(
    ctx: HandlerContext, uow: UnitOfWork, actor: Person, report: int
) -> ReportRecord | Outcome:
    """The report, if `actor` may act on it now: roles change, and a card outlives them."""
    record = await uow.reports.get(report)
    if record is None:
        return _refuse(GONE)
    if actor.key not in {p.key for p in handlers_of(ctx, record)}:
        return _refuse(NOT_YOURS)
    if record.state is ReportState.CLOSED:
        by = record.last(EventKind.CLOSED)
        who = _name(ctx, by.actor_key) if by else "someone"
        return _refuse(f"{record.reference} was already closed by {who}.")
    return record


async def _after(
    ctx: HandlerContext,
    uow: UnitOfWork,
    record_id: int,
    told: str,
    reporter_message: Message | None = None,
    extra: Sequence[Notify] = (),
) -> Outcome:
    record = await uow.reports.get(record_id)
    assert record is not None
    notifications = list(extra) + list(await _reach_new_handlers(ctx, uow, record))
    if reporter_message is not None and record.reporter_key is not None:
        reporter = ctx.directory.by_key(record.reporter_key)
        if reporter is not None:
            notifications.append(Notify(recipient=reporter, message=reporter_message))
    return Outcome(
        reply=_told(told),
        notifications=tuple(notifications),
        card_updates=(_card_update(ctx, record),),
        detached=record.anonymous,
    )


async def acknowledge(ctx: HandlerContext, uow: UnitOfWork, actor: Person, report: int) -> Outcome:
    found = await _handling(ctx, uow, actor, report)
    if isinstance(found, Outcome):
        return found
    record = found
    now = ctx.clock.now()
    acknowledged = ReportState.ACKNOWLEDGED
    if not await uow.reports.move(record.id, moves_into(acknowledged), acknowledged):
        fresh = await uow.reports.get(record.id)
        by = fresh.last(EventKind.ACKNOWLEDGED) if fresh else None
        who = _name(ctx, by.actor_key) if by else "someone else"
        return _refuse(f"{record.reference} was already acknowledged by {who}.")
    await uow.reports.append(record.id, ReportEvent(now, EventKind.ACKNOWLEDGED, actor.key))
    await uow.audit.append(
        actor.key, "report.acknowledged", "report", record.reference, now, detached=record.anonymous
    )
    return await _after(
        ctx,
        uow,
        record.id,
        f"You acknowledged {record.reference}.",
        _for_reporter(
            record,
            f"Your report {record.reference} has been acknowledged by "
            f"{actor.name or 'the person handling it'}.",
        ),
    )


def _for_reporter(record: ReportRecord, text: str, *extra: Block) -> Message:
    return Message(summary=text, blocks=(Paragraph.of(text), *extra, Note(record.reference)))


async def open_click_form(
    ctx: HandlerContext, uow: UnitOfWork, actor: Person, report: int, which: str
) -> Outcome:
    found = await _handling(ctx, uow, actor, report)
    if isinstance(found, Outcome):
        return found
    forms = {ADD_NOTE: note_form, ASK: ask_form, CLOSE: close_form}
    return Outcome(form=forms[which](found))


def _text(value: str, name: str, missing: str) -> tuple[str | None, FormErrors]:
    text = printable(value).strip()
    if not text:
        return None, FormErrors({name: missing})
    if len(text) > TEXT_MAX:
        return None, FormErrors({name: f"Keep it under {TEXT_MAX} characters."})
    return text, FormErrors()


# A person whose Submit got no answer (the bot restarting, a dropped connection) presses it
# again, and the form arrives again as a new request: the same words from the same person on
# the same report this soon after are that form again. The chronology keeps every entry for
# good, so it gets one, and the person is told it is there.
SENT_AGAIN_WITHIN = timedelta(minutes=15)


def _sent_again(
    record: ReportRecord, kind: EventKind, actor: Person, text: str, now: datetime
) -> ReportEvent | None:
    return next(
        (
            event
            for event in reversed(record.events)
            if event.kind is kind
            and event.actor_key == actor.key
            and event.text == text
            and now - event.at <= SENT_AGAIN_WITHIN
        ),
        None,
    )


def _already_there(ctx: HandlerContext, what: str, event: ReportEvent) -> Outcome:
    shown = ctx.school_time.show(event.at)
    return Outcome(reply=_told(f"{what} (added {shown}); it was not added twice."))


async def add_note(
    ctx: HandlerContext, uow: UnitOfWork, actor: Person, report: int, note: str
) -> Outcome:
    text, errors = _text(note, NOTE, "Write the note to add.")
    if text is None:
        return Outcome(errors=errors)
    found = await _handling(ctx, uow, actor, report)
    if isinstance(found, Outcome):
        return _in_form(found, NOTE)
    record, now = found, ctx.clock.now()
    if (same := _sent_again(record, EventKind.NOTE, actor, text, now)) is not None:
        return _already_there(ctx, f"That note is already on {record.reference}", same)
    await uow.reports.append(record.id, ReportEvent(now, EventKind.NOTE, actor.key, text))
    await uow.audit.append(
        actor.key, "report.note", "report", record.reference, now, detached=record.anonymous
    )
    return await _after(ctx, uow, record.id, f"Note added to {record.reference}.")


async def ask_reporter(
    ctx: HandlerContext, uow: UnitOfWork, actor: Person, report: int, question: str
) -> Outcome:
    text, errors = _text(question, QUESTION, "Write the question to ask.")
    if text is None:
        return Outcome(errors=errors)
    found = await _handling(ctx, uow, actor, report)
    if isinstance(found, Outcome):
        return _in_form(found, QUESTION)
    record, now = found, ctx.clock.now()
    if (same := _sent_again(record, EventKind.QUESTION, actor, text, now)) is not None:
        return _already_there(ctx, f"That question is already on {record.reference}", same)
    await uow.reports.append(record.id, ReportEvent(now, EventKind.QUESTION, actor.key, text))
    await uow.audit.append(
        actor.key, "report.asked", "report", record.reference, now, detached=record.anonymous
    )
    if record.reporter_key is None:
        told = (
            f"Question added to {record.reference}. It was made anonymously: the reporter sees "
            "your question when they next open it with their receipt."
        )
        return await _after(ctx, uow, record.id, told)
    question_message = _for_reporter(
        record,
        f"{actor.name or 'The person handling it'} has a question about your report "
        f"{record.reference}:",
        Quote(text),
        Buttons(
            (
                Button(
                    "Answer",
                    REPLY,
                    str(record.id),
                    ButtonStyle.PRIMARY,
                    form=reply_form(record, str(record.id), text),
                ),
            )
        ),
    )
    return await _after(
        ctx, uow, record.id, f"Question sent for {record.reference}.", question_message
    )


async def close(
    ctx: HandlerContext,
    uow: UnitOfWork,
    actor: Person,
    report: int,
    outcome: str,
    summary: str,
) -> Outcome:
    try:
        chosen = ReportOutcome(outcome)
    except ValueError:
        return Outcome(errors=FormErrors({OUTCOME: "Choose the outcome."}))
    text, errors = _text(summary, SUMMARY, "Say what was done.")
    if text is None:
        return Outcome(errors=errors)
    found = await _handling(ctx, uow, actor, report)
    if isinstance(found, Outcome):
        return _in_form(found, SUMMARY)
    record, now = found, ctx.clock.now()
    closed = ReportState.CLOSED
    if not await uow.reports.move(record.id, moves_into(closed), closed, chosen.value):
        return _in_form(_refuse(f"{record.reference} was already closed."), SUMMARY)
    await uow.reports.append(
        record.id, ReportEvent(now, EventKind.CLOSED, actor.key, f"{OUTCOMES[chosen]}. {text}")
    )
    await uow.audit.append(
        actor.key,
        "report.closed",
        "report",
        record.reference,
        now,
        {"outcome": chosen.value},
        detached=record.anonymous,
    )
    return await _after(
        ctx,
        uow,
        record.id,
        f"{record.reference} is closed.",
        _for_reporter(
            record,
            f"Your report {record.reference} is closed: {OUTCOMES[chosen]}. Thank you for "
            "reporting it.",
        ),
    )


def _in_form(refusal: Outcome, name: str) -> Outcome:
    """A refusal said in the form itself, which stays open with what was typed."""
    text = refusal.reply.summary if refusal.reply else "That cannot be done."
    return Outcome(errors=FormErrors({name: text}))


# --- the reporter's side ---------------------------------------------------------------------


async def open_reply_form(
    ctx: HandlerContext, uow: UnitOfWork, actor: Person, report: int
) -> Outcome:
    record = await uow.reports.get(report)
    if record is None or record.reporter_key != actor.key:
        return _refuse(NOT_THE_REPORTER)
    return Outcome(form=reply_form(record, str(record.id)))


async def reply(
    ctx: HandlerContext, uow: UnitOfWork, actor: Person, report: int, answer: str
) -> Outcome:
    record = await uow.reports.get(report)
    if record is None or record.reporter_key != actor.key:
        return Outcome(errors=FormErrors({ANSWER: NOT_THE_REPORTER}))
    return await _reply(ctx, uow, record, answer, actor.key)


async def reply_anonymously(
    ctx: HandlerContext, uow: UnitOfWork, code: str, answer: str
) -> Outcome:
    """`code`: the receipt, as the reporter typed it; only its digest is stored, so the digest
    alone (read from a backup, say) opens nothing."""
    digest = receipt_digest(code)
    record = await uow.reports.by_receipt(digest) if digest else None
    if record is None:
        return Outcome(errors=FormErrors({ANSWER: "That receipt no longer opens a report."}))
    outcome = await _reply(ctx, uow, record, answer, ANONYMOUS)
    if outcome.refused:
        # The form again, with the reason: a dialog closes otherwise, and what was typed goes.
        shown = await follow_up(ctx, uow, code)
        return Outcome(errors=outcome.errors, form=shown.form)
    return outcome


async def _reply(
    ctx: HandlerContext, uow: UnitOfWork, record: ReportRecord, answer: str, by: str
) -> Outcome:
    text, errors = _text(answer, ANSWER, "Write your answer.")
    if text is None:
        return Outcome(errors=errors)
    if record.state is ReportState.CLOSED:
        return Outcome(errors=FormErrors({ANSWER: f"{record.reference} is closed."}))
    if not awaiting_answer(record):
        # One answer a question: the handlers are told of each, and the card has its limits.
        return Outcome(errors=FormErrors({ANSWER: "There is no question waiting for your answer."}))
    now = ctx.clock.now()
    # Two answers sent at once to the same question: one is kept.
    if (
        await uow.reports.append_if_unchanged(
            record.id, record.step, ReportEvent(now, EventKind.REPLY, by, text)
        )
        is None
    ):
        return Outcome(
            errors=FormErrors({ANSWER: "The report changed meanwhile; open it again to answer."})
        )
    await uow.audit.append(
        by, "report.answered", "report", record.reference, now, detached=record.anonymous
    )
    fresh = await uow.reports.get(record.id)
    assert fresh is not None
    # Those handling it hear of the answer; their cards show it.
    heads_up = _told(f"The reporter has answered your question on {record.reference}.")
    return Outcome(
        reply=_told(f"Your answer was added to {record.reference}."),
        notifications=tuple(Notify(recipient=p, message=heads_up) for p in handlers_of(ctx, fresh)),
        card_updates=(_card_update(ctx, fresh),),
        detached=fresh.anonymous,
    )


def awaiting_answer(record: ReportRecord) -> bool:
    """A question was asked of the reporter and not answered since."""
    for event in reversed(record.events):
        if event.kind is EventKind.REPLY:
            return False
        if event.kind is EventKind.QUESTION:
            return True
    return False


async def follow_up(ctx: HandlerContext, uow: UnitOfWork, code: str) -> Outcome:
    """An anonymous reporter opens their report with its receipt: what they may read of it,
    and a place to answer."""
    digest = receipt_digest(code)
    record = await uow.reports.by_receipt(digest) if digest else None
    if record is None:
        return Outcome(
            errors=FormErrors({RECEIPT: "No report has that receipt code. Check it and try again."})
        )
    seen = seen_for_reporter(record.events)
    lines = tuple(_for_reporter_line(ctx, e) for e in seen) or ("Nothing yet.",)
    state = {
        ReportState.OPEN: "Sent; waiting to be acknowledged.",
        ReportState.ACKNOWLEDGED: "Acknowledged; being looked into.",
        ReportState.CLOSED: f"Closed: {outcome_label(record.outcome)}.",
    }[record.state]
    intro: tuple[Block, ...] = (
        Paragraph.of(f"{record.reference}: {state}"),
        BulletList("What has happened", lines),
    )
    if record.state is ReportState.CLOSED or not awaiting_answer(record):
        return Outcome(reply=Message(summary=f"{record.reference}: {state}", blocks=intro))
    return Outcome(
        form=Form(
            REPLY_FORM,
            f"Report {record.reference}",
            "Send answer",
            intro,
            (
                TextInput(
                    ANSWER,
                    "Your answer",
                    multiline=True,
                    max_length=TEXT_MAX,
                    hint="Goes to the people handling it, without your name.",
                ),
            ),
            context=f"{RECEIPT_CONTEXT}{code.strip()}",
        )
    )


def _for_reporter_line(ctx: HandlerContext, event: ReportEvent) -> str:
    when = ctx.school_time.show(event.at)
    if event.kind is EventKind.QUESTION:
        return f"{when} - Question: {event.text}"
    if event.kind is EventKind.REPLY:
        return f"{when} - You answered: {event.text}"
    if event.kind is EventKind.CLOSED:
        return f"{when} - Closed"
    return f"{when} - Acknowledged"


# --- timers: chase, then escalate --------------------------------------------------------------


async def chase(ctx: HandlerContext, uow: UnitOfWork, args: Mapping[str, str | int]) -> Outcome:
    record = await uow.reports.get(int(args["report_id"]))
    if record is None or record.state is not ReportState.OPEN or record.held:
        return Outcome()
    # Locks the report and looks again: an acknowledgement committed meanwhile wins.
    if not await uow.reports.move(record.id, (ReportState.OPEN,), ReportState.OPEN):
        return Outcome()
    now = ctx.clock.now()
    await uow.reports.append(record.id, ReportEvent(now, EventKind.CHASED, SYSTEM))
    await uow.audit.append(
        SYSTEM, "report.chased", "report", record.reference, now, detached=record.anonymous
    )
    fresh = await uow.reports.get(record.id)
    assert fresh is not None
    reminder = Message(
        summary=f"{record.reference} is waiting to be acknowledged",
        blocks=(
            Paragraph.of(
                f"{record.reference} ({record.rules.short}) was reported "
                f"{ctx.school_time.show(record.created_at)} and nobody has acknowledged it yet. "
                "If it is not acknowledged soon it goes to those above you."
            ),
            Buttons((Button("Acknowledge", ACKNOWLEDGE, str(record.id), ButtonStyle.PRIMARY),)),
        ),
    )
    escalate_at = ctx.calendar.add(now, ctx.deadlines.for_kind(record.kind, ctx.calendar))
    return Outcome(
        notifications=tuple(Notify(recipient=p, message=reminder) for p in handlers_of(ctx, record))
        + await _reach_new_handlers(ctx, uow, fresh),
        card_updates=(_card_update(ctx, fresh),),
        schedules=(Schedule(ESCALATE, escalate_at, {"report_id": record.id}),),
        detached=record.anonymous,
    )


async def escalate(ctx: HandlerContext, uow: UnitOfWork, args: Mapping[str, str | int]) -> Outcome:
    record = await uow.reports.get(int(args["report_id"]))
    if record is None or record.state is not ReportState.OPEN or record.held:
        return Outcome()
    if not await uow.reports.mark_escalated(record.id):
        return Outcome()
    now = ctx.clock.now()
    wider = route(ctx.directory, record.kind, record.involved, record.reporter_key, True)
    added = [p for p in wider.recipients if p.key not in set(record.recipients)]
    await uow.reports.set_recipients(record.id, sorted(set(record.recipients) | wider.keys))
    text = (
        f"not acknowledged in time; sent to {len(added)} more"
        if added
        else ("not acknowledged in time; nobody above to send it to")
    )
    await uow.reports.append(record.id, ReportEvent(now, EventKind.ESCALATED, SYSTEM, text))
    await uow.audit.append(
        SYSTEM,
        "report.escalated",
        "report",
        record.reference,
        now,
        {"added": len(added)},
        detached=record.anonymous,
    )
    if not added:
        log.warning(
            "report %s was not acknowledged in time and nobody stands above", record.reference
        )
    fresh = await uow.reports.get(record.id)
    assert fresh is not None
    return Outcome(
        notifications=_send_card(ctx, fresh, added),
        card_updates=(_card_update(ctx, fresh),),
        detached=fresh.anonymous,
    )


async def release_held(ctx: HandlerContext, uow: UnitOfWork) -> Outcome:
    """Send on the reports nobody could receive, now that someone can (run at start-up)."""
    notifications: list[Notify] = []
    schedules: list[Schedule] = []
    detached = False
    now = ctx.clock.now()
    for held_id in await uow.reports.held():
        record = await uow.reports.get(held_id)
        if record is None:
            continue
        chosen = current_route(ctx, record)
        if not chosen.recipients:
            log.warning(
                "report %s is still held: nobody configured can receive it", record.reference
            )
            continue
        due = _due(ctx, record.kind, now)
        # Two instances starting at once: one sends it.
        if not await uow.reports.release(record.id, sorted(chosen.keys), due):
            continue
        await uow.reports.append(record.id, _sent_event(now, chosen))
        await uow.audit.append(
            SYSTEM, "report.released", "report", record.reference, now, detached=record.anonymous
        )
        fresh = await uow.reports.get(record.id)
        assert fresh is not None
        notifications.extend(_send_card(ctx, fresh, chosen.recipients))
        schedules.append(Schedule(CHASE, due, {"report_id": record.id}))
        # One anonymous report among them keeps all their messages apart from the sequence.
        detached = detached or record.anonymous
        log.info("report %s was held and has now been sent", record.reference)
    return Outcome(
        notifications=tuple(notifications), schedules=tuple(schedules), detached=detached
    )


# --- records: exports for the Co-Headteachers, governors or an inspection --------------------

REPORT_COLUMNS = (
    "reference",
    "kind",
    "state",
    "outcome",
    "reported_at",
    "seen_at",
    "where",
    "links",
    "what_happened",
    "reported_by",
    "reported_by_identity",
    "staff_involved",
    "others_involved",
    "sent_to",
    "escalated",
    "acknowledged_at",
    "acknowledged_by",
    "acknowledged_by_identity",
    "closed_at",
    "closed_by",
    "closed_by_identity",
    "chronology",
)
FRIEND_REQUEST_COLUMNS = (
    "reference",
    "request_from",
    "reported_at",
    "seen_at",
    "where",
    "links",
    "reported_by",
    "reported_by_identity",
    "state",
    "acknowledged_by",
    "acknowledged_by_identity",
    "outcome",
    "closed_at",
)


def export_row(ctx: HandlerContext, record: ReportRecord) -> dict[str, str]:
    """A report as one row of text, times in the school's time zone."""
    acknowledged = record.last(EventKind.ACKNOWLEDGED)
    closed = record.last(EventKind.CLOSED)
    stamp = ctx.school_time.stamp
    return {
        "reference": record.reference,
        "kind": record.rules.short,
        "state": record.state.value,
        "outcome": outcome_label(record.outcome),
        "reported_at": stamp(record.created_at),
        "seen_at": stamp(record.seen_at) if record.seen_at else "",
        "where": record.where,
        "links": " ".join(record.links),
        "what_happened": record.details,
        **(
            {"reported_by": "anonymous", "reported_by_identity": ""}
            if record.reporter_key is None
            else _recorded_columns(ctx, "reported_by", record.reporter_key, record.reporter_signed)
        ),
        "staff_involved": "; ".join(recorded_name(ctx, k) for k in record.involved),
        "others_involved": record.involved_text,
        "sent_to": "; ".join(recorded_name(ctx, k) for k in record.recipients)
        or ("nobody yet (held)" if record.held else ""),
        "escalated": "yes" if record.escalated else "no",
        "acknowledged_at": stamp(acknowledged.at) if acknowledged else "",
        **_recorded_columns(
            ctx,
            "acknowledged_by",
            acknowledged.actor_key if acknowledged else None,
            acknowledged.signed if acknowledged else UNSIGNED,
        ),
        "closed_at": stamp(closed.at) if closed else "",
        **_recorded_columns(
            ctx,
            "closed_by",
            closed.actor_key if closed else None,
            closed.signed if closed else UNSIGNED,
        ),
        "chronology": " | ".join(
            chronology_line(ctx, e, recorded=True).replace("\n", " ") for e in record.events
        ),
    }


def friend_request_row(ctx: HandlerContext, record: ReportRecord) -> dict[str, str]:
    full = export_row(ctx, record)
    full["request_from"] = "a pupil" if record.kind is ReportKind.PUPIL_REQUEST else "a parent"
    return {column: full[column] for column in FRIEND_REQUEST_COLUMNS}


FRIEND_REQUESTS = tuple(k for k, rules in KINDS.items() if rules.friend_request)


def chronology_text(ctx: HandlerContext, record: ReportRecord) -> str:
    """A case as text: what was reported, then every step, oldest first."""
    row = export_row(ctx, record)
    lines = [
        f"{record.reference}: {record.rules.short} ({record.state.value})",
        f"Reported: {row['reported_at']}",
        "Reported by: "
        + (
            "anonymous"
            if record.reporter_key is None
            else recorded_name(ctx, record.reporter_key, record.reporter_signed)
        ),
        f"Seen: {row['seen_at'] or 'not given'}",
        f"Where: {record.where or 'not given'}",
    ]
    lines += [f"Link: {link}" for link in record.links]
    if row["staff_involved"] or record.involved_text:
        lines.append(
            "Involved: " + "; ".join(x for x in (row["staff_involved"], record.involved_text) if x)
        )
    lines += ["", "What happened:", record.details, "", "Chronology:"]
    lines += [f"  {chronology_line(ctx, e, recorded=True)}" for e in record.events]
    if record.attachments:
        lines += ["", f"Evidence files kept: {len(record.attachments)}"]
    return "\n".join(lines)


# --- what this workflow answers ---------------------------------------------------------------


def report_submission(values: FormValues) -> ReportSubmission:
    """The report form as it came back; the handler checks all of it."""
    return ReportSubmission(
        kind=values.choice(KIND),
        where=values.text(WHERE),
        links=values.text(LINKS),
        seen_on=values.date(SEEN_ON),
        seen_at=values.time(SEEN_AT),
        details=values.text(DETAILS),
        involved=values.people(INVOLVED),
        involved_text=values.text(INVOLVED_TEXT),
        anonymous=ANONYMOUSLY in values.choices(ANONYMOUSLY),
        attachments=values.files(EVIDENCE),
        form_key=values.form_key,
        receipt=values.context or None,
    )


def _open_report(ctx: HandlerContext, said: Said) -> Outcome:
    """Slack's `/report` opens the form (`/report receipt`, the follow-up of an anonymous
    report); a chat cannot open a window of its own, so there it offers one."""
    if said.platform is Platform.TEAMS:
        return Outcome(reply=start_menu(ctx, said.platform, said.files_key, said.files))
    if said.text.strip().lower().startswith(("receipt", "follow")):
        return Outcome(form=receipt_form())
    return Outcome(form=report_form(ctx, None, said.platform))


async def _form_opened(ctx: HandlerContext, uow: UnitOfWork, clicked: Clicked) -> Outcome:
    """`Make a report`: the form, with the kind the button named, or listing the files sent in
    the chat that the button's value names."""
    value: str = clicked.target
    with_files = value.startswith(KEPT_FILES_PREFIX)
    kind = None if with_files else value or None
    return Outcome(form=report_form(ctx, kind, clicked.platform, files_sent=with_files))


async def _follow_up_opened(ctx: HandlerContext, uow: UnitOfWork, clicked: Clicked) -> Outcome:
    return Outcome(form=receipt_form())


def _on_report(
    click: Callable[[HandlerContext, UnitOfWork, Person, int], Awaitable[Outcome]],
) -> Callable[[HandlerContext, UnitOfWork, Clicked], Awaitable[Outcome]]:
    def clicked_on(ctx: HandlerContext, uow: UnitOfWork, clicked: Clicked) -> Awaitable[Outcome]:
        return click(ctx, uow, clicked.actor, clicked.target)

    return clicked_on


def _opens_form(
    action: str,
) -> Callable[[HandlerContext, UnitOfWork, Clicked], Awaitable[Outcome]]:
    def clicked_on(ctx: HandlerContext, uow: UnitOfWork, clicked: Clicked) -> Awaitable[Outcome]:
        return open_click_form(ctx, uow, clicked.actor, clicked.target, action)

    return clicked_on


def _report_sent(ctx: HandlerContext, uow: UnitOfWork, sent: Submitted) -> Awaitable[Outcome]:
    return submit(ctx, uow, sent.actor, report_submission(sent.values))


def _report_again(ctx: HandlerContext, sent: Submitted) -> Form:
    form = report_form(ctx, None, sent.platform, files_sent=bool(sent.values.files(EVIDENCE)))
    context = sent.values.context
    # Shown again after a refusal, the form keeps the receipt it was opened with.
    return replace(form, context=context) if receipt_digest(context) else form


def _made_anonymously(target: object, values: FormValues) -> bool:
    return ANONYMOUSLY in values.choices(ANONYMOUSLY)


def _receipt_sent(ctx: HandlerContext, uow: UnitOfWork, sent: Submitted) -> Awaitable[Outcome]:
    return follow_up(ctx, uow, sent.values.text(RECEIPT))


@dataclass(frozen=True, slots=True)
class Receipt:
    """An anonymous reporter's answer names their report by the receipt they typed."""

    code: str


def _reply_target(context: str) -> Receipt | int | None:
    if context.startswith(RECEIPT_CONTEXT):
        return Receipt(context.removeprefix(RECEIPT_CONTEXT))
    return report_id(context)


def _reply_sent(ctx: HandlerContext, uow: UnitOfWork, sent: Submitted) -> Awaitable[Outcome]:
    answer = sent.values.text(ANSWER)
    if isinstance(sent.target, Receipt):
        return reply_anonymously(ctx, uow, sent.target.code, answer)
    return reply(ctx, uow, sent.actor, sent.target, answer)


def _by_receipt(target: object, values: FormValues) -> bool:
    return isinstance(target, Receipt)


def _always(target: object, values: FormValues) -> bool:
    return True


def _text_sent(
    action: Callable[[HandlerContext, UnitOfWork, Person, int, str], Awaitable[Outcome]],
    name: str,
) -> Callable[[HandlerContext, UnitOfWork, Submitted], Awaitable[Outcome]]:
    def sent_in(ctx: HandlerContext, uow: UnitOfWork, sent: Submitted) -> Awaitable[Outcome]:
        return action(ctx, uow, sent.actor, sent.target, sent.values.text(name))

    return sent_in


def _closed(ctx: HandlerContext, uow: UnitOfWork, sent: Submitted) -> Awaitable[Outcome]:
    values = sent.values
    return close(ctx, uow, sent.actor, sent.target, values.choice(OUTCOME), values.text(SUMMARY))


UPDATED = "Report updated"

WORKFLOW = Workflow(
    name="reports",
    commands=(
        CommandRoute(
            "report",
            opens=_open_report,
            unsaved="The report form could not be opened just now. Please try /report again. "
            "If a child is at immediate risk, phone the DSL now.",
            anonymous=True,
            takes_files=True,
        ),
    ),
    forms=(
        FormRoute(
            REPORT_FORM,
            _report_sent,
            DETAILS,
            "Report sent",
            REPORT_FAILED,
            again=_report_again,
            anonymous=_made_anonymously,
        ),
        FormRoute(
            RECEIPT_FORM,
            _receipt_sent,
            RECEIPT,
            "Report",
            again=lambda ctx, sent: receipt_form(),
            anonymous=_always,
        ),
        FormRoute(
            REPLY_FORM,
            _reply_sent,
            ANSWER,
            "Answer sent",
            reads=_reply_target,
            anonymous=_by_receipt,
        ),
        FormRoute(NOTE_FORM, _text_sent(add_note, NOTE), NOTE, "Report updated", reads=report_id),
        FormRoute(
            ASK_FORM,
            _text_sent(ask_reporter, QUESTION),
            QUESTION,
            "Report updated",
            reads=report_id,
        ),
        FormRoute(CLOSE_FORM, _closed, SUMMARY, "Report updated", reads=report_id),
    ),
    clicks=(
        ClickRoute(ACKNOWLEDGE, _on_report(acknowledge), report_id),
        ClickRoute(REPLY, _on_report(open_reply_form), report_id),
        *(ClickRoute(action, _opens_form(action), report_id) for action in (ADD_NOTE, ASK, CLOSE)),
        ClickRoute(OPEN_FORM, _form_opened, anonymous=True),
        ClickRoute(FOLLOW_UP, _follow_up_opened, anonymous=True),
    ),
    timers={CHASE: chase, ESCALATE: escalate},
)

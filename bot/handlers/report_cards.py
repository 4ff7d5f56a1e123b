"""A report of a concern as people see it: its forms, the recipients' card, its chronology line by
line and the receipt its maker is shown; and the ids the forms and buttons carry."""

from __future__ import annotations

import json

from bot.core.people import UNSIGNED, Platform, Signature
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
    ReportEvent,
    ReportKind,
    ReportRecord,
    ReportState,
    new_receipt,
    outcome_label,
)
from bot.core.typed import parse_id
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
)

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


def report_id(value: str) -> int | None:
    """A report's id as a button or form carries it; None for anything else. An anonymous
    report's id is negative (see bot.store.models.detached_ids)."""
    return parse_id(value, signed=True)


def card_key(report_id: int) -> str:
    return f"report:{report_id}"


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


def receipt_message(ctx: HandlerContext, record: ReportRecord, receipt: str | None) -> Message:
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


def recorded_name(ctx: HandlerContext, key: str, signed: Signature = UNSIGNED) -> str:
    """Who acted, for the records (`socialdesk report`, the exports): as they were when they
    acted, "Terry Teacher (Slack U0TERRY)", whether or not the configuration names them now.
    Rows from before that was kept are named as the configuration names them today."""
    return as_recorded(ctx, key, signed).describe(fallback=key)


def as_recorded(ctx: HandlerContext, key: str, signed: Signature) -> Signature:
    if key == ANONYMOUS:
        return Signature("the reporter (anonymous)", None)
    if key == SYSTEM:
        return Signature("socialdesk", None)
    if signed.name or signed.identity:
        return signed
    return ctx.directory.signature(key)


def recorded_columns(
    ctx: HandlerContext, column: str, key: str | None, signed: Signature = UNSIGNED
) -> dict[str, str]:
    """`column` (the name, as they were then) and `column_identity` ("slack:U0TERRY")."""
    if key is None:
        return {column: "", f"{column}_identity": ""}
    found = as_recorded(ctx, key, signed)
    return {
        column: found.name or found.describe(fallback=key),
        f"{column}_identity": found.identity or "",
    }


def name_of(ctx: HandlerContext, key: str) -> str:
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
        else name_of(ctx, event.actor_key)
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


def reporter_line(ctx: HandlerContext, event: ReportEvent) -> str:
    when = ctx.school_time.show(event.at)
    if event.kind is EventKind.QUESTION:
        return f"{when} - Question: {event.text}"
    if event.kind is EventKind.REPLY:
        return f"{when} - You answered: {event.text}"
    if event.kind is EventKind.CLOSED:
        return f"{when} - Closed"
    return f"{when} - Acknowledged"

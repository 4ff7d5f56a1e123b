"""Concern reports: made by staff, sent to the people the policy names, acknowledged, followed
up and closed, with a chronology that is only ever added to.

Who receives each kind is `bot.core.routing.route`; it is worked out again at every click, so
someone whose role has gone, or who is named in the report, cannot act on it. A report of a
colleague's misuse may be made anonymously: then no key, message, log line or card names its
maker, and they follow it up with the receipt code they were shown once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from bot.core.outcome import FetchAttachment, Notify, Outcome, Schedule
from bot.core.people import Person, Platform
from bot.core.ports import UnitOfWork
from bot.core.refs import RefKind, format_reference
from bot.core.reports import (
    ANONYMOUS,
    ANONYMOUSLY,
    DETAILS,
    EVIDENCE,
    INVOLVED,
    INVOLVED_TEXT,
    KIND,
    LINKS,
    OUTCOMES,
    SEEN_AT,
    SEEN_ON,
    SYSTEM,
    WHERE,
    EventKind,
    NewReport,
    ReportEvent,
    ReportOutcome,
    ReportState,
    ReportSubmission,
    anonymity,
    anonymous_reference,
    moves_into,
    new_receipt,
    receipt_digest,
    validate_report,
)
from bot.core.routing import route
from bot.core.ui import (
    Button,
    Buttons,
    ButtonStyle,
    Form,
    FormErrors,
    Message,
    Quote,
)
from bot.handlers import HandlerContext
from bot.handlers.report_cards import (
    ACKNOWLEDGE,
    ADD_NOTE,
    ANSWER,
    ASK,
    ASK_FORM,
    CLOSE,
    CLOSE_FORM,
    FOLLOW_UP,
    NOTE,
    NOTE_FORM,
    OPEN_FORM,
    OUTCOME,
    QUESTION,
    RECEIPT,
    RECEIPT_CONTEXT,
    RECEIPT_FORM,
    REPLY,
    REPLY_FORM,
    REPORT_FORM,
    SUMMARY,
    ask_form,
    close_form,
    name_of,
    note_form,
    receipt_form,
    receipt_message,
    reply_form,
    report_form,
    report_id,
    start_menu,
)

# report_card and REPORT_COLUMNS are read through this module by the tests.
from bot.handlers.report_cards import report_card as report_card
from bot.handlers.report_handling import (
    CHASE,
    ESCALATE,
    already_there,
    checked_text,
    due_by,
    for_reporter,
    handled_record,
    in_form,
    refuse,
    send_card,
    sent_again,
    sent_event,
    step_taken,
)
from bot.handlers.report_records import REPORT_COLUMNS as REPORT_COLUMNS
from bot.handlers.report_replies import follow_up, open_reply_form, reply, reply_anonymously
from bot.handlers.report_timers import chase, escalate
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


# --- the form --------------------------------------------------------------------------------


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
            return Outcome(reply=Message.saying(again))
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
    due = None if held else due_by(ctx, valid.kind, now)
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
        await uow.reports.append(new_id, sent_event(now, chosen))
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
    shown = receipt_message(ctx, record, receipt)
    notifications = list(send_card(ctx, record, chosen.recipients))
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


# --- the recipients' card --------------------------------------------------------------------


# --- acting on a report ----------------------------------------------------------------------


async def acknowledge(ctx: HandlerContext, uow: UnitOfWork, actor: Person, report: int) -> Outcome:
    found = await handled_record(ctx, uow, actor, report)
    if isinstance(found, Outcome):
        return found
    record = found
    now = ctx.clock.now()
    acknowledged = ReportState.ACKNOWLEDGED
    if not await uow.reports.move(record.id, moves_into(acknowledged), acknowledged):
        fresh = await uow.reports.get(record.id)
        by = fresh.last(EventKind.ACKNOWLEDGED) if fresh else None
        who = name_of(ctx, by.actor_key) if by else "someone else"
        return refuse(f"{record.reference} was already acknowledged by {who}.")
    await uow.reports.append(record.id, ReportEvent(now, EventKind.ACKNOWLEDGED, actor.key))
    await uow.audit.append(
        actor.key, "report.acknowledged", "report", record.reference, now, detached=record.anonymous
    )
    return await step_taken(
        ctx,
        uow,
        record.id,
        f"You acknowledged {record.reference}.",
        for_reporter(
            record,
            f"Your report {record.reference} has been acknowledged by "
            f"{actor.name or 'the person handling it'}.",
        ),
    )


async def open_click_form(
    ctx: HandlerContext, uow: UnitOfWork, actor: Person, report: int, which: str
) -> Outcome:
    found = await handled_record(ctx, uow, actor, report)
    if isinstance(found, Outcome):
        return found
    forms = {ADD_NOTE: note_form, ASK: ask_form, CLOSE: close_form}
    return Outcome(form=forms[which](found))


async def add_note(
    ctx: HandlerContext, uow: UnitOfWork, actor: Person, report: int, note: str
) -> Outcome:
    text, errors = checked_text(note, NOTE, "Write the note to add.")
    if text is None:
        return Outcome(errors=errors)
    found = await handled_record(ctx, uow, actor, report)
    if isinstance(found, Outcome):
        return in_form(found, NOTE)
    record, now = found, ctx.clock.now()
    if (same := sent_again(record, EventKind.NOTE, actor, text, now)) is not None:
        return already_there(ctx, f"That note is already on {record.reference}", same)
    await uow.reports.append(record.id, ReportEvent(now, EventKind.NOTE, actor.key, text))
    await uow.audit.append(
        actor.key, "report.note", "report", record.reference, now, detached=record.anonymous
    )
    return await step_taken(ctx, uow, record.id, f"Note added to {record.reference}.")


async def ask_reporter(
    ctx: HandlerContext, uow: UnitOfWork, actor: Person, report: int, question: str
) -> Outcome:
    text, errors = checked_text(question, QUESTION, "Write the question to ask.")
    if text is None:
        return Outcome(errors=errors)
    found = await handled_record(ctx, uow, actor, report)
    if isinstance(found, Outcome):
        return in_form(found, QUESTION)
    record, now = found, ctx.clock.now()
    if (same := sent_again(record, EventKind.QUESTION, actor, text, now)) is not None:
        return already_there(ctx, f"That question is already on {record.reference}", same)
    await uow.reports.append(record.id, ReportEvent(now, EventKind.QUESTION, actor.key, text))
    await uow.audit.append(
        actor.key, "report.asked", "report", record.reference, now, detached=record.anonymous
    )
    if record.reporter_key is None:
        told = (
            f"Question added to {record.reference}. It was made anonymously: the reporter sees "
            "your question when they next open it with their receipt."
        )
        return await step_taken(ctx, uow, record.id, told)
    question_message = for_reporter(
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
    return await step_taken(
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
    text, errors = checked_text(summary, SUMMARY, "Say what was done.")
    if text is None:
        return Outcome(errors=errors)
    found = await handled_record(ctx, uow, actor, report)
    if isinstance(found, Outcome):
        return in_form(found, SUMMARY)
    record, now = found, ctx.clock.now()
    closed = ReportState.CLOSED
    if not await uow.reports.move(record.id, moves_into(closed), closed, chosen.value):
        return in_form(refuse(f"{record.reference} was already closed."), SUMMARY)
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
    return await step_taken(
        ctx,
        uow,
        record.id,
        f"{record.reference} is closed.",
        for_reporter(
            record,
            f"Your report {record.reference} is closed: {OUTCOMES[chosen]}. Thank you for "
            "reporting it.",
        ),
    )


# --- the reporter's side ---------------------------------------------------------------------


# --- timers: chase, then escalate --------------------------------------------------------------


# --- records: exports for the Co-Headteachers, governors or an inspection --------------------


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
            files_for="add them to a report of a concern",
            about="report disparaging content, a friend request from a pupil or parent, misuse of "
            "social media by a member of staff (anonymously if you wish) or a safeguarding concern "
            "seen online; it goes to the people the policy names",
            on_slack=", and /report receipt follows up an anonymous report",
            shortcuts=(
                Button("Report a concern", OPEN_FORM, "", dialog=True),
                Button("Follow up an anonymous report", FOLLOW_UP, "", dialog=True),
            ),
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
            in_window=True,
        ),
        FormRoute(
            RECEIPT_FORM,
            _receipt_sent,
            RECEIPT,
            "Report",
            again=lambda ctx, sent: receipt_form(),
            anonymous=_always,
            in_window=True,
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
        ClickRoute(OPEN_FORM, _form_opened, anonymous=True, in_window=True),
        ClickRoute(FOLLOW_UP, _follow_up_opened, anonymous=True, in_window=True),
    ),
    timers={CHASE: chase, ESCALATE: escalate},
)

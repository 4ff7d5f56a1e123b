"""The reporter's side of a report: answering the questions put to them, by name or with the
receipt of an anonymous report, and following it up with that receipt."""

from __future__ import annotations

from bot.core.outcome import Notify, Outcome
from bot.core.people import Person
from bot.core.ports import UnitOfWork
from bot.core.reports import (
    ANONYMOUS,
    EventKind,
    ReportEvent,
    ReportRecord,
    ReportState,
    outcome_label,
    receipt_digest,
    seen_for_reporter,
)
from bot.core.ui import (
    Block,
    BulletList,
    Form,
    FormErrors,
    Message,
    Paragraph,
    TextInput,
)
from bot.handlers import HandlerContext
from bot.handlers.report_cards import (
    ANSWER,
    RECEIPT,
    RECEIPT_CONTEXT,
    REPLY_FORM,
    TEXT_MAX,
    reply_form,
    reporter_line,
)
from bot.handlers.report_handling import (
    NOT_THE_REPORTER,
    card_update,
    checked_text,
    handlers_of,
    refuse,
)


async def open_reply_form(
    ctx: HandlerContext, uow: UnitOfWork, actor: Person, report: int
) -> Outcome:
    record = await uow.reports.get(report)
    if record is None or record.reporter_key != actor.key:
        return refuse(NOT_THE_REPORTER)
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
    text, errors = checked_text(answer, ANSWER, "Write your answer.")
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
    heads_up = Message.saying(f"The reporter has answered your question on {record.reference}.")
    return Outcome(
        reply=Message.saying(f"Your answer was added to {record.reference}."),
        notifications=tuple(Notify(recipient=p, message=heads_up) for p in handlers_of(ctx, fresh)),
        card_updates=(card_update(ctx, fresh),),
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
    lines = tuple(reporter_line(ctx, e) for e in seen) or ("Nothing yet.",)
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

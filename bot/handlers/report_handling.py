"""What every step on a report shares: who may act on it now, the checks before acting, and
telling everyone once it is taken (the recipients' cards, whoever newly handles it, its maker)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.core.outcome import CardUpdate, Notify, Outcome
from bot.core.people import Person
from bot.core.ports import UnitOfWork
from bot.core.reports import (
    SYSTEM,
    EventKind,
    ReportEvent,
    ReportKind,
    ReportRecord,
    ReportState,
)
from bot.core.routing import Route, route
from bot.core.typed import printable
from bot.core.ui import (
    Block,
    FormErrors,
    Message,
    Note,
    Paragraph,
)
from bot.handlers import HandlerContext
from bot.handlers.report_cards import TEXT_MAX, card_key, name_of, report_card

CHASE = "report.chase"


ESCALATE = "report.escalate"


GONE = "That report cannot be found."


NOT_YOURS = "Only the people this report was sent to can act on it."


NOT_THE_REPORTER = "Only the person who made this report can answer on it."


def refuse(text: str) -> Outcome:
    return Outcome(reply=Message.saying(text))


def due_by(ctx: HandlerContext, kind: ReportKind, now: datetime) -> datetime:
    calendar = ctx.calendar
    return calendar.add(now, ctx.deadlines.for_kind(kind, calendar))


def sent_event(now: datetime, chosen: Route) -> ReportEvent:
    text = f"sent to {len(chosen.recipients)}"
    if chosen.oversight:
        text += ", with the Co-Headteachers (or the chair of governors) for oversight"
    return ReportEvent(now, EventKind.SENT, SYSTEM, text)


def send_card(
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


async def reach_new_handlers(
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
    return send_card(ctx, record, newcomers)


def card_update(ctx: HandlerContext, record: ReportRecord) -> CardUpdate:
    """Every copy of the card shows the report as it now is; a copy held by someone who may no
    longer act on it (a role gone) stops showing it."""
    return CardUpdate(
        card_key(record.id),
        report_card(ctx, record),
        record.step,
        visible_to=frozenset(p.key for p in handlers_of(ctx, record)),
        withdrawn=Message.saying(f"{record.reference} is no longer shown to you."),
    )


def current_route(ctx: HandlerContext, record: ReportRecord) -> Route:
    return route(ctx.directory, record.kind, record.involved, record.reporter_key, record.escalated)


def handlers_of(ctx: HandlerContext, record: ReportRecord) -> tuple[Person, ...]:
    """Who may act on a report now: whom its kind goes to under today's configuration (with
    those above, once escalated), never anyone named in it, nor its maker. Worked out at each
    click, because roles change and a card outlives them."""
    return current_route(ctx, record).recipients


async def handled_record(
    ctx: HandlerContext, uow: UnitOfWork, actor: Person, report: int
) -> ReportRecord | Outcome:
    """The report, if `actor` may act on it now: roles change, and a card outlives them."""
    record = await uow.reports.get(report)
    if record is None:
        return refuse(GONE)
    if actor.key not in {p.key for p in handlers_of(ctx, record)}:
        return refuse(NOT_YOURS)
    if record.state is ReportState.CLOSED:
        by = record.last(EventKind.CLOSED)
        who = name_of(ctx, by.actor_key) if by else "someone"
        return refuse(f"{record.reference} was already closed by {who}.")
    return record


async def step_taken(
    ctx: HandlerContext,
    uow: UnitOfWork,
    record_id: int,
    told: str,
    reporter_message: Message | None = None,
    extra: Sequence[Notify] = (),
) -> Outcome:
    record = await uow.reports.get(record_id)
    assert record is not None
    notifications = list(extra) + list(await reach_new_handlers(ctx, uow, record))
    if reporter_message is not None and record.reporter_key is not None:
        reporter = ctx.directory.by_key(record.reporter_key)
        if reporter is not None:
            notifications.append(Notify(recipient=reporter, message=reporter_message))
    return Outcome(
        reply=Message.saying(told),
        notifications=tuple(notifications),
        card_updates=(card_update(ctx, record),),
        detached=record.anonymous,
    )


def for_reporter(record: ReportRecord, text: str, *extra: Block) -> Message:
    return Message(summary=text, blocks=(Paragraph.of(text), *extra, Note(record.reference)))


def checked_text(value: str, name: str, missing: str) -> tuple[str | None, FormErrors]:
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


def sent_again(
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


def already_there(ctx: HandlerContext, what: str, event: ReportEvent) -> Outcome:
    shown = ctx.school_time.show(event.at)
    return Outcome(reply=Message.saying(f"{what} (added {shown}); it was not added twice."))


def in_form(refusal: Outcome, name: str) -> Outcome:
    """A refusal said in the form itself, which stays open with what was typed."""
    text = refusal.reply.summary if refusal.reply else "That cannot be done."
    return Outcome(errors=FormErrors({name: text}))

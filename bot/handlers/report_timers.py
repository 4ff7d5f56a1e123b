"""Reports nobody acknowledged in time: chased, then escalated to those above whoever has them;
and reports held for want of a recipient, sent once the configuration names one."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from bot.core.outcome import Notify, Outcome, Schedule
from bot.core.ports import UnitOfWork
from bot.core.reports import (
    SYSTEM,
    EventKind,
    ReportEvent,
    ReportState,
)
from bot.core.routing import route
from bot.core.ui import (
    Button,
    Buttons,
    ButtonStyle,
    Message,
    Paragraph,
)
from bot.handlers import HandlerContext
from bot.handlers.report_cards import ACKNOWLEDGE
from bot.handlers.report_handling import (
    CHASE,
    ESCALATE,
    card_update,
    current_route,
    due_by,
    handlers_of,
    reach_new_handlers,
    send_card,
    sent_event,
)

log = logging.getLogger(__name__)


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
        + await reach_new_handlers(ctx, uow, fresh),
        card_updates=(card_update(ctx, fresh),),
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
        notifications=send_card(ctx, fresh, added),
        card_updates=(card_update(ctx, fresh),),
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
        due = due_by(ctx, record.kind, now)
        # Two instances starting at once: one sends it.
        if not await uow.reports.release(record.id, sorted(chosen.keys), due):
            continue
        await uow.reports.append(record.id, sent_event(now, chosen))
        await uow.audit.append(
            SYSTEM, "report.released", "report", record.reference, now, detached=record.anonymous
        )
        fresh = await uow.reports.get(record.id)
        assert fresh is not None
        notifications.extend(send_card(ctx, fresh, chosen.recipients))
        schedules.append(Schedule(CHASE, due, {"report_id": record.id}))
        # One anonymous report among them keeps all their messages apart from the sequence.
        detached = detached or record.anonymous
        log.info("report %s was held and has now been sent", record.reference)
    return Outcome(
        notifications=tuple(notifications), schedules=tuple(schedules), detached=detached
    )

"""Reports as records: the exports for the Co-Headteachers, governors or an inspection, and a
report's whole chronology as text."""

from __future__ import annotations

from bot.core.people import UNSIGNED
from bot.core.reports import (
    KINDS,
    EventKind,
    ReportKind,
    ReportRecord,
    outcome_label,
)
from bot.handlers import HandlerContext
from bot.handlers.report_cards import chronology_line, recorded_columns, recorded_name

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
            else recorded_columns(ctx, "reported_by", record.reporter_key, record.reporter_signed)
        ),
        "staff_involved": "; ".join(recorded_name(ctx, k) for k in record.involved),
        "others_involved": record.involved_text,
        "sent_to": "; ".join(recorded_name(ctx, k) for k in record.recipients)
        or ("nobody yet (held)" if record.held else ""),
        "escalated": "yes" if record.escalated else "no",
        "acknowledged_at": stamp(acknowledged.at) if acknowledged else "",
        **recorded_columns(
            ctx,
            "acknowledged_by",
            acknowledged.actor_key if acknowledged else None,
            acknowledged.signed if acknowledged else UNSIGNED,
        ),
        "closed_at": stamp(closed.at) if closed else "",
        **recorded_columns(
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
